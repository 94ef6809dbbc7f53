"""Split a training.stack oof_predictions.csv into one eval.compare-ready file per component.

`python components.py STACK_DIR`: writes STACK_DIR/component-<name>.csv (image_id, group_id,
label, prob) for the CNN, every set of trees and the blend, so any two can be compared with
`python -m eval.compare --baseline A --candidate B`.
"""

import sys
from pathlib import Path

import pandas as pd

folder = Path(sys.argv[1])
oof = pd.read_csv(folder / "oof_predictions.csv", dtype={"image_id": str, "group_id": str})
names = {"cnn": "cnn_prob", "blend": "prob",
         **{c.removesuffix("_prob"): c for c in oof.columns
            if c.endswith("_prob") and c not in ("cnn_prob", "prob")}}
for name, column in names.items():
    oof[["image_id", "group_id", "label"]].assign(prob=oof[column]).to_csv(
        folder / f"component-{name}.csv", index=False)
    print(folder / f"component-{name}.csv")
