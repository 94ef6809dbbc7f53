"""Per-source AUROC (grouped bootstrap 95 % CI) of eval.evaluate predictions on fold0.csv,
and paired differences against a baseline. Usage:
per_source.py FOLD_CSV BASELINE_NAME=PRED_CSV NAME=PRED_CSV ... (score column: prob)"""
import sys

import pandas as pd

from eval.metrics.bootstrap import bootstrap_ci, bootstrap_paired_difference
from eval.metrics.ranking import auroc

fold = pd.read_csv(sys.argv[1])[["image_id", "source"]]
runs = dict(a.split("=", 1) for a in sys.argv[2:])
names = list(runs)
tables = {n: pd.read_csv(p).merge(fold, on="image_id", how="inner") for n, p in runs.items()}
base = names[0]
print(f"{'source':14s} {'n':>5s} {'mel':>4s} " + " ".join(f"{n:>26s}" for n in names)
      + f"   (differences vs {base})")
for src in ["all", *sorted(fold["source"].unique())]:
    cells, diffs = [], []
    ref = tables[base] if src == "all" else tables[base][tables[base]["source"] == src]
    y = ref["label"].to_numpy()
    for n in names:
        t = tables[n].set_index("image_id").loc[ref["image_id"]]
        point, lo, hi = bootstrap_ci(y, t["prob"].to_numpy(), auroc, groups=ref["group_id"],
                                     n_boot=1000)
        cells.append(f"{point:.3f} [{lo:.3f}, {hi:.3f}]".rjust(26))
        if n != base:
            d, dlo, dhi = bootstrap_paired_difference(
                y, ref["prob"].to_numpy(), t["prob"].to_numpy(), auroc, groups=ref["group_id"],
                n_boot=1000)
            diffs.append(f"{n}: {d:+.3f} [{dlo:+.3f}, {dhi:+.3f}]")
    print(f"{src:14s} {len(y):5d} {int(y.sum()):4d} " + " ".join(cells) + "   " + "; ".join(diffs))
