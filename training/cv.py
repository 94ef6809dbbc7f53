"""Cross-validation: `python -m training.cv <pl_train flags> --folds all`.

Trains every requested fold with the same settings and seed (each fold a `pl_train` run in
`<output-dir>/<run-name>/fold<k>/`), resumes a half-finished fold from its `last.ckpt`, skips
finished ones, and writes next to them:

- `oof_predictions.csv`: every training image's out-of-fold probability (the model that did not
  train on it), with its id, group, fold and label;
- `cv_summary.json` (+ a printed table): each fold's AUROC/pAUC, mean and sd across folds, and
  the pooled out-of-fold AUROC with its group-level bootstrap interval;
- `ensemble/ensemble.json`: the fold models as one ensemble (mean probability), with decision
  thresholds chosen on the pooled out-of-fold scores; every entry point takes it as `--bundle`.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from configs.cli import Command
from configs.studies import CVSettings
from eval.metrics.bootstrap import bootstrap_ci
from eval.metrics.multiclass import balanced_accuracy
from eval.metrics.ranking import auroc
from eval.metrics.thresholds import select_thresholds
from models.bundle.ensemble import save_ensemble
from models.bundle.io import META_FILE, load_bundle
from models.bundle.operating import OperatingCurve
from training.components.fit import TRAINING_ERRORS, train

log = logging.getLogger("training.cv")

OOF_FILE = "oof_predictions.csv"
CLASS_PREFIX = "prob_class_"  # a diagnosis model's class columns in val_predictions.csv
SUMMARY_FILE = "cv_summary.json"
ENSEMBLE_DIR = "ensemble"


def cv_dir(s: CVSettings) -> Path:
    """The cross-validation folder (created)."""
    name = s.run_name or time.strftime(f"{s.backbone}-cv{s.n_folds}-%Y%m%d-%H%M%S")
    path = Path(s.output_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def train_fold(s: CVSettings, root: Path, fold: int) -> Path:
    """Train one fold (or resume it, or skip it when its bundle exists); its run folder."""
    run = root / f"fold{fold}"
    if (run / "bundle" / META_FILE).is_file():
        log.info("fold %d: finished earlier (%s), skipped", fold, run / "bundle")
        return run
    last = run / "checkpoints" / "last.ckpt"
    resume = last if last.is_file() else None
    if resume:
        log.info("fold %d: resuming from %s", fold, last)
    fold_settings = s.model_copy(update={"fold": fold, "output_dir": root,
                                         "run_name": f"fold{fold}", "resume_from": resume})
    train(fold_settings)
    return run


def out_of_fold(runs: dict[int, Path]) -> pd.DataFrame:
    """Every fold's validation predictions in one table (fold column added)."""
    frames = []
    for fold, run in runs.items():
        frame = pd.read_csv(run / "val_predictions.csv", dtype={"image_id": str,
                                                                "group_id": str})
        frames.append(frame.assign(fold=fold))
    columns = ["image_id", "group_id", "fold", "target", "prob"]
    oof = pd.concat(frames, ignore_index=True)
    return oof[columns + [c for c in oof.columns if c not in columns]]


def summarise(runs: dict[int, Path], oof: pd.DataFrame, n_boot: int = 1000) -> dict[str, Any]:
    """Per-fold metrics, their mean and sd, and the pooled out-of-fold AUROC with its CI."""
    folds = {}
    for fold, run in runs.items():
        val = json.loads((run / "bundle" / META_FILE).read_text())["metrics"]["validation"]
        folds[fold] = {"auroc": val["auroc"], "pauc80": val["pauc80"], "n": val["n"],
                       "n_pos": val["n_pos"],
                       **({"balanced_accuracy": val["diagnosis"]["balanced_accuracy"]}
                          if "balanced_accuracy" in val.get("diagnosis", {}) else {})}
    y, p, groups = oof["target"].to_numpy(), oof["prob"].to_numpy(), oof["group_id"].to_numpy()
    point, low, high = bootstrap_ci(y, p, auroc, groups=groups, n_boot=n_boot)
    summary: dict[str, Any] = {"folds": folds, "pooled_oof": {
        "auroc": point, "auroc_ci": [low, high], "n": len(oof), "n_pos": int(y.sum()),
        "n_groups": int(pd.Series(groups).nunique())}}
    keys = ["auroc", "pauc80"] + (["balanced_accuracy"] if all(
        "balanced_accuracy" in f for f in folds.values()) else [])
    for key in keys:
        values = [f[key] for f in folds.values()]
        summary[f"{key}_mean"] = statistics.fmean(values)
        summary[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    columns = [c for c in oof.columns if c.startswith(CLASS_PREFIX)]
    if "balanced_accuracy" in keys and columns:  # a diagnosis model's pooled differential
        classes = [c[len(CLASS_PREFIX):] for c in columns]
        labels = oof["diagnosis"].map({c: i for i, c in enumerate(classes)})
        known = labels.notna().to_numpy()
        summary["pooled_oof"]["balanced_accuracy"] = balanced_accuracy(
            labels[known].astype(int).to_numpy(), oof.loc[known, columns].to_numpy())
    return summary


def write_ensemble(root: Path, runs: dict[int, Path], oof: pd.DataFrame,
                   sensitivity_target: float) -> Path:
    """The fold models as one mean-probability ensemble, thresholds from the pooled OOF scores.

    Each image's out-of-fold score comes from the one member that did not train on it: the
    closest honest stand-in for the ensemble's own validation scores.
    """
    members = [load_bundle(run / "bundle") for run in runs.values()]
    chosen = select_thresholds(oof["target"].to_numpy(), oof["prob"].to_numpy(),
                               sensitivity_target=sensitivity_target)
    thresholds = {k: v for k, v in chosen.items() if k != "sensitivity_target_value"}
    curve = OperatingCurve.from_scores(oof["target"], oof["prob"], include=thresholds.values())
    return save_ensemble(
        root / ENSEMBLE_DIR, members, name=f"{root.name}-folds", combiner="mean",
        thresholds=thresholds, default_threshold=members[0].default_threshold_name,
        operating_curve=curve,
        notes=f"chosen on the {len(oof)} pooled out-of-fold predictions (each image scored "
              "by the fold model that did not train on it)")


def print_table(summary: dict[str, Any], root: Path) -> None:
    """The CLI result table (stdout)."""
    table = Table(title=f"Cross-validation: {root}")
    for col in ("fold", "images", "melanomas", "AUROC", "pAUC80"):
        table.add_column(col, justify="right")
    for fold, m in summary["folds"].items():
        table.add_row(str(fold), str(m["n"]), str(m["n_pos"]), f"{m['auroc']:.4f}",
                      f"{m['pauc80']:.4f}")
    table.add_row("mean ± sd", "", "", f"{summary['auroc_mean']:.4f} ± {summary['auroc_sd']:.4f}",
                  f"{summary['pauc80_mean']:.4f} ± {summary['pauc80_sd']:.4f}")
    if "balanced_accuracy_mean" in summary:
        table.add_row("balanced accuracy (diagnosis)", "", "",
                      f"{summary['balanced_accuracy_mean']:.4f} ± "
                      f"{summary['balanced_accuracy_sd']:.4f} (pooled OOF "
                      f"{summary['pooled_oof']['balanced_accuracy']:.4f})", "")
    pooled = summary["pooled_oof"]
    table.add_row("pooled OOF", str(pooled["n"]), str(pooled["n_pos"]),
                  f"{pooled['auroc']:.4f} [{pooled['auroc_ci'][0]:.4f}, "
                  f"{pooled['auroc_ci'][1]:.4f}]", "")
    Console().print(table)


def run(s: CVSettings) -> Path:
    """Train the folds, then write the OOF table, the summary and the ensemble.

    Returns:
        The cross-validation folder.
    """
    folds = s.fold_list()
    root = cv_dir(s)
    runs = {fold: train_fold(s, root, fold) for fold in folds}
    oof = out_of_fold(runs)
    oof.to_csv(root / OOF_FILE, index=False)
    summary = {"settings": s.model_dump(mode="json"), **summarise(runs, oof)}
    (root / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    write_ensemble(root, runs, oof, s.sensitivity_target)
    print_table(summary, root)
    return root


COMMAND = Command(CVSettings, run, bad_input=TRAINING_ERRORS, writes_to=lambda s: s.output_dir,
                  errors="log")
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
