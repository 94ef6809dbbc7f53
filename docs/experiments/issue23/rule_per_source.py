"""A calibrated bundle's decision rule applied to uncalibrated TTA predictions of each source:
sensitivity / specificity at its default threshold and ECE before/after (what the model card
reports per held-out source). Predictions of the uncalibrated bundle: the rule is applied to
their per-view columns; of the calibrated bundle (its metrics.json says so): `prob` already is
the decision probability (the per-view columns are then calibrated views, not raw scores).
Usage: rule_per_source.py BUNDLE NAME=PREDICTIONS.csv ..."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from eval.metrics.calibration import expected_calibration_error
from eval.metrics.ranking import auroc
from models.bundle.decision import DecisionRule

info = json.loads((Path(sys.argv[1]) / "bundle.json").read_text())
rule = DecisionRule.from_dict(info["decision"])
name = info.get("default_threshold", "sensitivity_target")
t = float(info["thresholds"][name])
print(f"{info['bundle_id']}: {rule.describe()}, T {rule.calibration.get('temperature')}, "
      f"threshold {name} = {t:.4f}")
print(f"{'source':10s} {'n':>6s} {'mel':>5s} {'AUROC':>7s} {'sens':>6s} {'spec':>6s} "
      f"{'ECE raw':>8s} {'ECE cal':>8s}")
for arg in sys.argv[2:]:
    src, path = arg.split("=", 1)
    df = pd.read_csv(path)
    metrics = json.loads((Path(path).parent / "metrics.json").read_text())
    if (metrics["bundles"][0].get("decision_rule") or {}).get("calibration"):
        cal = df["prob"].to_numpy(np.float64)
        logit = np.log(cal / (1 - cal)) * float(rule.calibration["temperature"])
        raw = 1 / (1 + np.exp(-logit))
    else:
        views = df[[c for c in df.columns if c.startswith("prob_") and c != "prob_no_tta"]]
        raw = rule.score_of(views.to_numpy())
        cal = rule.calibrate(raw)
    y = df["label"].to_numpy()
    pos = cal >= t
    sens, spec = pos[y == 1].mean(), (~pos[y == 0]).mean()
    print(f"{src:10s} {len(df):6d} {int(y.sum()):5d} {auroc(y, cal):7.4f} {sens:6.3f} {spec:6.3f} "
          f"{expected_calibration_error(y, raw):8.3f} {expected_calibration_error(y, cal):8.3f}")
