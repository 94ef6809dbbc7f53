"""Out-of-source set for the HAM10000-trained default: ISIC 2019 (BCN, MSK, archive) minus the
ISIC 2017 images and their lesions; BCN subsampled by lesion to ~3000 images (CPU time)."""
from paths import DATA_ROOT, REPO, RUNS, SCRATCH  # noqa: F401  (paths.py)
import sys
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(REPO))
from data.multisource import DatasetSpec, read_sources
D = DATA_ROOT
df = read_sources([DatasetSpec(D / "isic2019_84px")], exclude=[DatasetSpec(D / "isic2017_train")])
print(df["source"].value_counts().to_dict(), len(df))
rng = np.random.default_rng(0)
bcn = df[df["source"] == "BCN"]
groups = bcn["group_id"].unique(); rng.shuffle(groups)
keep_g, n = [], 0
for g in groups:
    if n >= 3000: break
    keep_g.append(g); n += int((bcn["group_id"] == g).sum())
sel = pd.concat([bcn[bcn["group_id"].isin(keep_g)], df[df["source"].isin(["MSK", "ISIC_archive"])]])
ids = set(sel["image_id"])
print(sel["source"].value_counts().to_dict(), len(sel), int(sel["target"].sum()))
out = RUNS / "oos"
for name in ("ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv"):
    t = pd.read_csv(D / "isic2019_84px" / name)
    t[t["image"].isin(ids)].to_csv(out / name, index=False)
link = out / "ISIC_2019_Training_Input"
if not link.exists(): link.symlink_to(D / "isic2019_84px" / "ISIC_2019_Training_Input")
