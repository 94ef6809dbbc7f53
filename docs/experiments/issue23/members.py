"""Each member's own predictions out of an ensemble's eval.evaluate predictions.csv.

eval.evaluate with several --bundle writes member<i>_prob (TTA mean) and member<i>_prob_no_tta
beside the ensemble's prob; this writes OUT/member<i>/predictions.csv with them as prob and
prob_no_tta, so eval.compare can pair the ensemble with each member on the same images.
Usage: members.py ENSEMBLE_EVAL_DIR OUT_DIR
"""
import json
import sys
from pathlib import Path

import pandas as pd

src, out = Path(sys.argv[1]), Path(sys.argv[2])
df = pd.read_csv(src / "predictions.csv", dtype={"image_id": str, "group_id": str})
bundles = json.loads((src / "metrics.json").read_text())["bundles"]
keep = ["image_id", "label", "age", "sex", "site", "group_id"]
for i, b in enumerate(bundles):
    part = df[keep].copy()
    part["prob"], part["prob_no_tta"] = df[f"member{i}_prob"], df[f"member{i}_prob_no_tta"]
    folder = out / f"member{i}"
    folder.mkdir(parents=True, exist_ok=True)
    part.to_csv(folder / "predictions.csv", index=False, float_format="%.17g")
    print(f"member{i}: {b['bundle_id']} -> {folder}")
