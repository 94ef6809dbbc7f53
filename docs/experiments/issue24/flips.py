"""Decisions that flip between two eval.evaluate runs of one bundle (fp32 vs reduced precision).

`python flips.py FP32_EVAL_DIR OTHER_EVAL_DIR`: from each folder's predictions.csv and
metrics.json, the largest and median |probability difference|, and how many images change side
of the shipped threshold (metrics.json's default threshold), with their labels.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

a_dir, b_dir = Path(sys.argv[1]), Path(sys.argv[2])
a = pd.read_csv(a_dir / "predictions.csv", dtype={"image_id": str})
b = pd.read_csv(b_dir / "predictions.csv", dtype={"image_id": str})
m = a.merge(b, on="image_id", suffixes=("_a", "_b"))
metrics = json.loads((a_dir / "metrics.json").read_text())
# The shipped decision threshold: the bundle's default rule, as eval.evaluate applied it.
threshold = float(metrics["thresholds"][metrics["default_threshold"]]["threshold"])
diff = (m["prob_a"] - m["prob_b"]).abs()
flips = (m["prob_a"] >= threshold) != (m["prob_b"] >= threshold)
print(f"{len(m)} images, threshold {threshold:.4f}: |dp| max {diff.max():.4f}, median "
      f"{np.median(diff):.5f}; decisions flipped {int(flips.sum())} "
      f"({100 * flips.mean():.2f} %), of them melanomas {int(m.loc[flips, 'label_a'].sum())}")
