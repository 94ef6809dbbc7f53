"""HAM10000 copies whose images are shrunk to a shorter side of N px (same table, same folds)."""
from paths import DATA_ROOT, REPO, RUNS, SCRATCH  # noqa: F401  (paths.py)
import sys, os
from pathlib import Path
from PIL import Image
src = DATA_ROOT / "ham10000"
for n in map(int, sys.argv[1:]):
    dst = SCRATCH / f"ham{n}"
    (dst / "images").mkdir(parents=True, exist_ok=True)
    if not (dst / "HAM10000_metadata.csv").exists():
        os.symlink(src / "HAM10000_metadata.csv", dst / "HAM10000_metadata.csv")
    for p in (src / "images").glob("*.jpg"):
        img = Image.open(p); s = n / min(img.size)
        img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.Resampling.BILINEAR, reducing_gap=2.0).save(dst / "images" / p.name, quality=95)
