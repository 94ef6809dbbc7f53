"""Leave-one-source-out summary: `python -m training.loso --runs RUN [RUN ...]`.

Each run is a `pl_train --val-source S` run folder (trained on the other sources, validated on
S). This command pools their `val_predictions.csv` and writes `loso_summary.json` (+ a printed
table):

- per held-out source: images, melanomas, AUROC with its lesion-grouped bootstrap interval,
  pAUC above 80 % TPR, expected calibration error;
- one decision threshold chosen on the **pooled out-of-source** predictions (the situation the
  model is used in: a clinic it never saw) for `--sensitivity-target`, and the sensitivity and
  specificity that threshold gives on each held-out source.

The pooled predictions come from different models (one per held-out source); the threshold is
therefore the recipe's out-of-source operating point, which a model trained on every source
inherits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from configs.cli import Command
from configs.studies import LOSO_SUMMARY_FILE, LosoSettings
from eval.metrics.bootstrap import bootstrap_ci
from eval.metrics.calibration import expected_calibration_error
from eval.metrics.ranking import auroc, pauc_above_tpr
from eval.metrics.thresholds import binary_metrics_at, threshold_for_sensitivity
from training.components.fit import TRAINING_ERRORS

SUMMARY_FILE = LOSO_SUMMARY_FILE
PREDICTIONS_FILE = "val_predictions.csv"


def read_run(run: Path) -> tuple[str, pd.DataFrame]:
    """(held-out source name, its predictions) of one leave-source-out run.

    Raises:
        ValueError: not a --val-source run, or no predictions.
    """
    bundle = json.loads((run / "bundle" / "bundle.json").read_text())
    held = bundle.get("training_data", {}).get("val_sources")
    if not held:
        raise ValueError(f"{run}: not a leave-source-out run (trained without --val-source)")
    preds = pd.read_csv(run / PREDICTIONS_FILE, dtype={"image_id": str, "group_id": str})
    return "+".join(held), preds


def source_row(y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_boot: int) -> dict[str, Any]:
    """Ranking and calibration of one held-out source."""
    _, low, high = bootstrap_ci(y, p, auroc, groups=groups, n_boot=n_boot)
    return {"n": len(y), "n_pos": int(y.sum()), "auroc": auroc(y, p), "auroc_ci": [low, high],
            "pauc": pauc_above_tpr(y, p), "ece": expected_calibration_error(y, p)}


def summarise(held_out: dict[str, pd.DataFrame], sensitivity_target: float,
              n_boot: int) -> dict[str, Any]:
    """The per-source table and the pooled out-of-source threshold (see the module docstring)."""
    pooled = pd.concat(held_out.values(), ignore_index=True)
    threshold = threshold_for_sensitivity(pooled["target"], pooled["prob"], sensitivity_target)
    rows = {}
    for name, preds in held_out.items():
        y, p = preds["target"].to_numpy(), preds["prob"].to_numpy()
        rows[name] = {**source_row(y, p, preds["group_id"].to_numpy(), n_boot),
                      "at_pooled_threshold": binary_metrics_at(y, p, threshold)}
    return {"sources": rows, "pooled_threshold": threshold,
            "sensitivity_target": sensitivity_target,
            "pooled": {"n": len(pooled), "n_pos": int(pooled["target"].sum()),
                       "auroc": auroc(pooled["target"], pooled["prob"])},
            "min_auroc": min(r["auroc"] for r in rows.values())}


def print_table(summary: dict[str, Any]) -> None:
    """The leave-one-source-out table (CLI output)."""
    table = Table(title=f"Leave-one-source-out; threshold {summary['pooled_threshold']:.4f} "
                  f"(pooled out-of-source, sensitivity {summary['sensitivity_target']})")
    for column in ("held-out source", "images", "melanomas", "AUROC [95% CI]", "pAUC",
                   "ECE", "sens @thr", "spec @thr"):
        table.add_column(column)
    for name, r in summary["sources"].items():
        at = r["at_pooled_threshold"]
        table.add_row(name, str(r["n"]), str(r["n_pos"]),
                      f"{r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}]",
                      f"{r['pauc']:.3f}", f"{r['ece']:.3f}", f"{at['sensitivity']:.3f}",
                      f"{at['specificity']:.3f}")
    Console().print(table)


def run(s: LosoSettings) -> Path:
    """Summarise the runs; returns the summary file."""
    held_out = dict(read_run(r) for r in s.runs)
    summary = {"runs": [str(r) for r in s.runs],
               **summarise(held_out, s.sensitivity_target, s.n_boot)}
    s.out.parent.mkdir(parents=True, exist_ok=True)
    s.out.write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    return s.out


# A folder that is not a --val-source run, or has no predictions: ValueError/OSError, one line.
COMMAND = Command(LosoSettings, run, bad_input=(*TRAINING_ERRORS, ValueError, OSError),
                  writes_to=lambda s: s.out, errors="log")
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
