"""Temperature fitted on the candidate's validation predictions; ECE before/after on the eval sets."""
from paths import DATA_ROOT, REPO, RUNS, SCRATCH  # noqa: F401  (paths.py)
import json, sys
import pandas as pd
sys.path.insert(0, str(REPO))
from models.bundle.calibration import fit_temperature, apply_temperature
from eval.metrics.calibration import expected_calibration_error as ece
from eval.metrics.ranking import auroc
R = str(RUNS)
val = pd.read_csv(f"{R}/ms-f0-224/val_predictions.csv")
t = fit_temperature(val["target"], val["prob"])
out = {"temperature": t, "fitted_on": f"{len(val)} validation images (multi-source fold 0)"}
for name in ("ham10000-fold0", "isic2017"):
    for label, d in (("candidate", f"{R}/eval-{name}"), ("previous default", f"{REPO}/docs/eval/{name}")):
        p = pd.read_csv(f"{d}/predictions.csv")
        row = {}
        for col in ("prob", "prob_no_tta"):
            if col in p:
                row[col] = {"auroc": auroc(p["label"], p[col]), "ece": ece(p["label"], p[col])}
                if label == "candidate":
                    q = apply_temperature(p[col], t)
                    row[col].update({"ece_calibrated": ece(p["label"], q), "auroc_calibrated": auroc(p["label"], q)})
        out[f"{name} {label}"] = row
print(json.dumps(out, indent=1))

# Platt (slope + intercept on the log-odds), fitted on the same validation predictions.
from models.bundle.calibration import fit_platt, apply_platt
a, b = fit_platt(val["target"], val["prob"])
for name in ("ham10000-fold0", "isic2017"):
    p = pd.read_csv(f"{R}/eval-{name}/predictions.csv")
    print(name, f"platt slope {a:.3f} intercept {b:.3f}: ECE {ece(p['label'], p['prob']):.3f}"
          f" -> {ece(p['label'], apply_platt(p['prob'], a, b)):.3f}")
