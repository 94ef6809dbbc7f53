"""The validation images of training runs (the same in each) as a generic-CSV dataset.

The members of run_s6.sh hold out the same fold (fold seed 42); a leave-one-source-out run holds
out a source. This writes those images, with labels, metadata and lesion/patient groups, so
`eval.evaluate` can score members, their ensemble, the shipped model (and with TTA) on images
none of them trained on. Usage: val_csv.py RUN_DIR [RUN_DIR ...] OUT_CSV
"""
import sys
from pathlib import Path

import pandas as pd

runs, out = [Path(p) for p in sys.argv[1:-1]], Path(sys.argv[-1])
tables = [pd.read_csv(r / "val_predictions.csv") for r in runs]
ids = [set(t["image_id"]) for t in tables]
assert all(i == ids[0] for i in ids), "members hold out different images"
df = tables[0]
fold = pd.DataFrame({"image_path": df["image_path"], "image_id": df["image_id"],
                     "target": df["target"], "diagnosis": df["diagnosis"], "age": df["age"],
                     "sex": df["sex"], "site": df["site"], "lesion_id": df["group_id"],
                     "source": df["source"]})
out.parent.mkdir(parents=True, exist_ok=True)
fold.to_csv(out, index=False)
print(len(fold), int(fold["target"].sum()), fold["source"].value_counts().to_dict())
