"""Per-source AUROC, sensitivity/specificity and ECE of the shipped rule on the unseen ISIC 2019
set (eval-oos-default holds raw TTA-mean scores; the bundle's map is applied here).
Run from the repository root after make_oos.py: .venv/bin/python docs/experiments/issue16/per_source.py"""
from paths import DATA_ROOT, REPO, RUNS, SCRATCH  # noqa: F401  (paths.py)
import json

import pandas as pd

from data.readers import read_dataset
from eval.metrics import summarize
from models.bundle.decision import DecisionRule

p = pd.read_csv("docs/experiments/issue16/eval-oos-default/predictions.csv")
p = p.merge(read_dataset(RUNS / "oos")[["image_id", "source"]], on="image_id")
info = json.load(open("models/default/bundle.json"))
rule, thr = DecisionRule.from_dict(info["decision"]), info["thresholds"]["sensitivity_target"]
for src, g in p.groupby("source"):
    y, q = g["label"].to_numpy(), rule.calibrate(g["prob"].to_numpy())
    m = summarize(y, q, {"s": thr}, groups=g["group_id"].astype(str).to_numpy(), n_boot=1000)
    op = m["thresholds"]["s"]
    print(src, len(g), int(y.sum()), "AUROC %.3f [%.3f, %.3f]" % (m["auroc"], *m["auroc_ci"]),
          "sens %.3f spec %.3f ECE %.3f" % (op["sensitivity"], op["specificity"], m["ece"]))
