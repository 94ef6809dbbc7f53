"""The mean ensemble of members' eval.evaluate predictions, offline (what models.bundle.ensemble's
"mean" combiner gives: the average of each member's TTA-mean probability, image by image).
Usage: PYTHONPATH=. mean_ens.py OUT_DIR MEMBER_DIR...   (writes OUT_DIR/predictions.csv for eval.compare)"""
import sys
from pathlib import Path

import pandas as pd

from models.bundle.ensemble import combine

out, members = Path(sys.argv[1]), [Path(m) for m in sys.argv[2:]]
keep = ["image_id", "label", "age", "sex", "site", "group_id"]
frames = [pd.read_csv(m / "predictions.csv", dtype={"image_id": str, "group_id": str}).set_index("image_id")
          for m in members]
base = frames[0]
for f, m in zip(frames[1:], members[1:]):
    if set(f.index) != set(base.index) or not (f.loc[base.index, "label"] == base["label"]).all():
        sys.exit(f"{m}: not the same images or labels as {members[0]}")
res = base.reset_index()[keep].copy()
for col in ("prob", "prob_no_tta"):
    res[col] = combine([f.loc[base.index, col].to_numpy() for f in frames], "mean")
out.mkdir(parents=True, exist_ok=True)
res.to_csv(out / "predictions.csv", index=False, float_format="%.17g")
print(f"{len(frames)} members, {len(res)} images -> {out}")
