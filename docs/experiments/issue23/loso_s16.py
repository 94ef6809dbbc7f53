"""The leave-one-source-out table of a recipe from eval.evaluate TTA predictions (session 16).

training.loso summarises `pl_train --val-source` runs from their single-view validation
predictions; the session-16 runs hold out a whole source by leaving it out of the data instead,
and are scored on it with 8-view TTA. This feeds those predictions to the same summary
(training.loso.summarise: AUROC with lesion-grouped CI, pAUC, ECE, one pooled out-of-source
threshold for 80 % sensitivity and each source's sensitivity / specificity at it).
Usage: loso_s16.py OUT_JSON NAME=PREDICTIONS_CSV [NAME=PREDICTIONS_CSV ...]
"""
import json
import sys
from pathlib import Path

import pandas as pd

from training.loso import print_table, summarise

out, pairs = Path(sys.argv[1]), [a.split("=", 1) for a in sys.argv[2:]]
held = {name: pd.read_csv(path, dtype={"image_id": str, "group_id": str})
        .rename(columns={"label": "target"}) for name, path in pairs}
summary = {"predictions": dict(pairs), **summarise(held, 0.8, 1000)}
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(summary, indent=2) + "\n")
print_table(summary)
