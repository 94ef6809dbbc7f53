"""Entry point: `python -m eval.evaluate --bundle PATH [--bundle PATH ...] --data PATH [...]`.

Scores one bundle, or an ensemble, on a labelled dataset and writes to `--out`:
predictions.csv, PNG plots, report.md and, last and atomically, metrics.json (so a failed run
never leaves a metrics.json that looks complete). Bad input ends the run with exit code 2 and
one line on stderr naming the problem. Settings: CLI > MELANOMA_* env > `.env` > defaults
(configs/evaluation.py).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from configs.cli import Command
from configs.evaluation import EvalSettings
from configs.process import runtime_summary
from data.encoding import MetadataError
from data.images import ImageError
from data.readers import DatasetError
from eval.metrics import DEFAULT_THRESHOLD, MetricError
from eval.pipeline.diagnosis import (
    class_columns,
    class_probabilities,
    diagnosis_metrics,
    model_classes,
)
from eval.pipeline.errors import EvalError
from eval.pipeline.inference import Predictions, predict
from eval.pipeline.inputs import (
    check_held_out_fold,
    compatibility_notes,
    dataset_summary,
    decision_rule,
    fold_stratification,
    load_second_stage,
    read_eval_dataset,
    select_fold,
    tta_for,
)
from eval.pipeline.scoring import bootstrap_groups, evaluate_predictions, final_scores, score
from eval.writers.outputs import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    REPORT_FILE,
    predictions_frame,
    write_json_atomic,
    write_predictions,
)
from eval.writers.plots import make_plots, plot_confusion_matrix
from eval.writers.report import write_report
from models.bundle.atomic import atomic_folder
from models.bundle.ensemble import (
    CompatibilityError,
    Ensemble,
    EnsembleError,
    check_compatibility,
)
from models.bundle.io import Bundle, BundleError
from models.bundle.loading import load_models
from models.inference.runtime import DeviceError, device_name, machine_info, resolve_device
from models.second_stage.embedding import EmbeddingError
from models.second_stage.trees import TreeError

log = logging.getLogger("eval")
SCHEMA = "melanoma-eval/1"
# Errors caused by the input (files, flags, data): one line and exit code 2, no traceback.
BAD_INPUT_ERRORS = (DatasetError, BundleError, CompatibilityError, EnsembleError, MetricError,
                    TreeError, EmbeddingError,
                    MetadataError, ImageError, EvalError, DeviceError)


def bundle_summary(b: Bundle) -> dict[str, Any]:
    """What metrics.json records about one bundle."""
    td = b.info.get("training_data") or {}
    trained_on = ""
    if td:
        trained_on = (f"{td.get('format', '?')} {td.get('source', '')}: "
                      f"{td.get('n_train', '?')} train / {td.get('n_val', '?')} val images, "
                      f"fold {td.get('fold', '?')} of {td.get('n_folds', '?')}")
    return {"bundle_id": b.bundle_id, "path": str(b.path), "backbone": b.config.backbone,
            "image_size": b.preprocessing.size, "preprocessing": b.preprocessing.to_dict(),
            "uses_metadata": b.model.uses_metadata, "thresholds": dict(b.thresholds),
            "default_threshold": b.default_threshold_name,
            "decision_rule": b.decision.to_dict(), "training_data": td,
            "trained_on": trained_on,
            "validation_auroc": (b.info.get("metrics") or {}).get("validation", {}).get("auroc")}


def _require_melanomas_and_others(df: pd.DataFrame, data: Path) -> None:
    n_pos = int(df["target"].sum())
    if n_pos == 0 or n_pos == len(df):
        raise EvalError(f"{data}: {len(df)} images with {n_pos} melanomas and "
                        f"{len(df) - n_pos} others: evaluation needs both classes")


def _checked_inputs(s: EvalSettings) -> tuple[list[Bundle], Ensemble | None, pd.DataFrame, int,
                                              list[str], list[str]]:
    """Bundles and dataset (fold selected), checked against each other before any decoding.

    Returns:
        (bundles, the ensemble they form if one was given, rows to score, rows before the fold
        was selected, warnings, report notes).
    """
    bundles, ensemble = load_models(s.bundle)
    df = read_eval_dataset(s.data, s.data_format, s.images, s.on_bad_row)
    n_total, warnings = len(df), []
    if s.fold is not None:
        df = select_fold(df, s.fold, s.n_folds, s.seed, fold_stratification(bundles))
        warnings += check_held_out_fold(bundles, s.fold, s.n_folds, s.seed, n_total, df)
    check_compatibility(bundles, df)
    _require_melanomas_and_others(df, s.data)
    return (bundles, ensemble, df, n_total, warnings,
            compatibility_notes(bundles, df, s.metadata))


def _scored_rows(df: pd.DataFrame, preds: Predictions) -> pd.DataFrame:
    """The rows that were scored (unreadable images dropped and counted in `skipped`)."""
    attrs = dict(df.attrs)
    kept = df[preds.keep].reset_index(drop=True)
    kept.attrs = attrs
    if preds.failures:
        kept.attrs["skipped"] = {**(attrs.get("skipped") or {}),
                                 "unreadable image": len(preds.failures)}
    return kept


def _plots(s: EvalSettings, out: Path, df: pd.DataFrame, preds: Predictions,
           scores: dict[str, Any], results: dict[str, Any], *, n_members: int,
           probabilistic: bool) -> dict[str, str]:
    """Draw the plots: the final score, the plain score with TTA, each ensemble member."""
    main = ("ensemble" if n_members > 1 else "model") + (" (TTA)" if s.tta else "")
    curves = {main: scores["final"]}
    if s.tta:
        curves["without TTA"] = scores["plain"]
    if n_members > 1:
        curves.update({f"member {i}": m.prob for i, m in enumerate(preds.members)})
    plot_thresholds = {name: t["threshold"] for name, t in results["thresholds"].items()}
    return make_plots(out, df["target"].to_numpy(), curves, main, plot_thresholds,
                      probabilistic=probabilistic)


def _speed(s: EvalSettings, preds: Predictions, device: str) -> dict[str, Any]:
    """The speed record of metrics.json (`device`: where the model ran, "cpu" or "cuda")."""
    return {"images": int(preds.keep.sum()), "seconds": round(preds.seconds, 3),
            "images_per_s": round(preds.images_per_s, 2), "forward_images": preds.n_forward,
            "batch_size": s.batch_size, "num_workers": s.num_workers, "prefetch": s.prefetch,
            "backend": preds.backend,
            "device": device_name(device),
            "torch_threads": torch.get_num_threads()}


def run(s: EvalSettings, command: str) -> dict[str, Any]:
    """Evaluate as the settings say and write every output.

    Args:
        s: the settings.
        command: the command line, recorded in the outputs.

    Returns:
        The metrics.json content.

    Raises:
        One of BAD_INPUT_ERRORS for bad input (message names the problem).
    """
    if s.num_threads:
        torch.set_num_threads(s.num_threads)
    log.info("runtime: %s", runtime_summary(torch.get_num_threads()))
    bundles, ensemble, df, n_total, warnings, notes = _checked_inputs(s)
    tta, tta_notes = tta_for(bundles, s.tta)
    s, notes = s.model_copy(update={"tta": tta}), notes + tta_notes
    device = resolve_device(s.device)
    preds = predict(bundles, df, tta=s.tta, metadata=s.metadata, batch_size=s.batch_size,
                    num_workers=s.num_workers, on_bad_row=s.on_bad_row, progress=s.progress,
                    backend=s.backend, device=device, amp=s.amp, precision=s.precision,
                    prefetch_batches=s.prefetch)
    df = _scored_rows(df, preds)
    _require_melanomas_and_others(df, s.data)

    combination, thresholds, rule, default = decision_rule(bundles, ensemble, s.ensemble)
    default = default if default in thresholds else format(DEFAULT_THRESHOLD, "g")
    results = evaluate_predictions(df, preds, bundles, combination=combination,
                                   thresholds=thresholds,
                                   n_boot=s.n_boot, min_tpr=s.min_tpr)
    second = second_stage(s, bundles, df, results)

    # Written beside --out and swapped in whole (models/bundle/atomic.py): a failed or killed run
    # leaves the previous results as they were and no half-written files.
    with atomic_folder(s.out) as out:
        scores = final_scores(preds, combination)
        classes, class_probs = model_classes(bundles), class_probabilities(preds)
        frame = predictions_frame(df, preds, scores, class_columns(class_probs, classes))
        if second is not None:
            frame.insert(3, "prob_second_stage", second)
        write_predictions(out / PREDICTIONS_FILE, frame)

        plots = _plots(s, out, df, preds, scores, results, n_members=len(bundles),
                       probabilistic=combination.probabilistic)
        if class_probs is not None:
            results["diagnosis"] = _diagnosis(df, class_probs, classes, s.n_boot, out, plots)

        metrics: dict[str, Any] = {
            "schema": SCHEMA,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": command,
            "bundles": [bundle_summary(b) for b in bundles],
            "ensemble": ({"method": combination.method, "n_members": len(bundles),
                          **({"weights": list(combination.weights)}
                             if combination.weights else {}),
                          **({"ensemble_id": ensemble.ensemble_id} if ensemble else {})}
                         if len(bundles) > 1 or ensemble else None),
            "dataset": dataset_summary(df, s.data, s.fold, s.n_folds, s.seed, n_total),
            "tta": s.tta,
            "metadata": s.metadata,
            "default_threshold": default,
            "thresholds_rule": rule,
            **results,
            "speed": _speed(s, preds, device),
            "machine": machine_info(),
            "warnings": warnings,
            "notes": notes + results.get("notes", []),
            "plots": plots,
            "files": {"predictions": PREDICTIONS_FILE, "report": REPORT_FILE,
                      "metrics": METRICS_FILE},
        }
        write_report(out / REPORT_FILE, metrics, plots)
        write_json_atomic(out / METRICS_FILE, metrics)  # last: its presence means "complete"
    return metrics


def _diagnosis(df: pd.DataFrame, probs: np.ndarray, classes: tuple[str, ...], n_boot: int,
               out: Path, plots: dict[str, str]) -> dict[str, Any]:
    """A diagnosis model's multi-class block (and its confusion plot, when computable)."""
    block = diagnosis_metrics(df, probs, classes, groups=bootstrap_groups(df), n_boot=n_boot)
    if "not_computed" in block:
        log.warning("diagnosis metrics not computed: %s", block["not_computed"])
    else:
        plots["class_confusion"] = plot_confusion_matrix(block["confusion_matrix"],
                                                         out / "class_confusion.png").name
    return block


def second_stage(s: EvalSettings, bundles: list[Bundle], df: pd.DataFrame,
                 results: dict[str, Any]) -> np.ndarray | None:
    """The `--second-stage` trees' scores of the scored rows (None without it); their metrics
    go into `results["second_stage"]`.

    Raises:
        EvalError: --second-stage with several bundles; TreeError: another bundle's stack.
    """
    stack = load_second_stage(s.second_stage, bundles)
    if stack is None:
        return None
    scores = stack.score_table(bundles[0], df.reset_index(drop=True), batch_size=s.batch_size,
                               num_workers=s.num_workers)
    results["second_stage"] = score(df["target"].to_numpy(), scores, {},
                                    groups=bootstrap_groups(df), n_boot=s.n_boot,
                                    min_tpr=s.min_tpr)
    return scores


def print_summary(metrics: dict[str, Any], out: Path) -> None:
    """CLI result table (stdout)."""
    pauc_key = f"pauc{round(metrics['min_tpr'] * 100)}"
    table = Table(title=f"{metrics['n']} images, {metrics['n_pos']} melanoma"
                  f"{' (TTA)' if metrics['tta'] else ''}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    ci = metrics["auroc_ci"]
    table.add_row("AUROC", f"{metrics['auroc']:.4f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci
                                                         else ""))
    if metrics["tta"]:
        table.add_row("AUROC without TTA", f"{metrics['without_tta']['auroc']:.4f}")
    table.add_row(pauc_key, f"{metrics[pauc_key]:.4f}")
    if metrics.get("second_stage"):
        table.add_row("AUROC second stage (--second-stage)",
                      f"{metrics['second_stage']['auroc']:.4f}")
    table.add_row("Average precision", f"{metrics['average_precision']:.4f}")
    for name, t in metrics["thresholds"].items():
        table.add_row(f"sens / spec @ {name} ({t['threshold']:.3f})",
                      f"{t['sensitivity']:.3f} / {t['specificity']:.3f}")
    d = metrics.get("diagnosis") or {}
    if "not_computed" in d:
        table.add_row("diagnosis metrics", f"not computed: {d['not_computed']}")
    elif d:
        table.add_row(f"balanced accuracy ({d['n']} images, {len(d['classes'])} classes)",
                      f"{d['balanced_accuracy']:.4f}")
        table.add_row("macro AUROC (one vs rest)", f"{d['macro_auroc']:.4f}")
    table.add_row("images/s", f"{metrics['speed']['images_per_s']:.1f}")
    Console().print(table)
    Console().print(f"Outputs: {out}")


def show(s: EvalSettings, metrics: dict[str, Any]) -> None:
    """The summary table of a finished evaluation."""
    print_summary(metrics, s.out)


# OSError: e.g. an unreadable input, or --out not writable (worded as a failed write).
COMMAND = Command(EvalSettings, run, bad_input=(*BAD_INPUT_ERRORS, OSError),
                  writes_to=lambda s: s.out, show=show, with_invocation=True)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
