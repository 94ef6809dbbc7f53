"""HAM10000 minus fold 0 (5 folds, seed 42): the default's 8,012 training images as a folder of
symlinks, for re-estimating a soup's BatchNorm statistics (`eval.adapt --images`)."""
from pathlib import Path
import pandas as pd
D = Path("/work/shared/data/ham10000"); OUT = Path("/work/runs/sel/ham_train")
fold0 = set(pd.read_csv("/work/runs/sel/ham_f0/HAM10000_metadata.csv")["image_id"])
meta = pd.read_csv(D / "HAM10000_metadata.csv")
train = meta[~meta["image_id"].isin(fold0)]
OUT.mkdir(parents=True, exist_ok=True)
for i in train["image_id"]:
    link = OUT / f"{i}.jpg"
    if not link.exists():
        link.symlink_to(D / "images" / f"{i}.jpg")
print(len(meta), len(fold0), len(train), len(list(OUT.iterdir())))
