"""HAM10000 copies whose images are shrunk to a shorter side of N px (same table, same folds)."""
import os
from pathlib import Path as _Path
# Paths (override with env vars): the repository, the shared data, the run folder, scratch space.
REPO = _Path(os.environ.get("REPO", _Path(__file__).resolve().parents[3]))
DATA_ROOT = _Path(os.environ.get("DATA_ROOT", REPO.parent / "shared" / "data"))
RUNS = _Path(os.environ.get("RUNS", REPO.parent / "runs" / "issue16"))
SCRATCH = _Path(os.environ.get("SCRATCH", _Path(os.environ.get("TMPDIR", "/tmp")) / "issue16"))
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
