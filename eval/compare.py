"""Paired comparison of two models on the same images: `python -m eval.compare`.

Reads two `predictions.csv` files written by `eval.evaluate` on the same dataset and reports the
difference (candidate minus baseline) of AUROC and pAUC with paired bootstrap intervals,
resampling whole groups (lesions or patients, the files' `group_id`) when the files have them.
This is the check for "measurably better" before a new default model is committed.

    python -m eval.compare --baseline old/predictions.csv --candidate new/predictions.csv
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from configs.cli import Command
from configs.evaluation import CompareSettings
from eval.metrics import MetricError, auroc, bootstrap_paired_difference, pauc_above_tpr
from eval.pipeline.errors import EvalError

log = logging.getLogger("eval.compare")
KEY, LABEL, GROUP = "image_id", "label", "group_id"


def _read(path: Path, column: str) -> pd.DataFrame:
    """One predictions file, checked for the columns the comparison needs."""
    try:
        frame = pd.read_csv(path, dtype={KEY: str, GROUP: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise EvalError(f"{path}: not a readable predictions CSV ({err})") from None
    missing = [c for c in (KEY, LABEL, column) if c not in frame.columns]
    if missing:
        raise EvalError(f"{path}: lacks column(s) {missing} (write it with eval.evaluate)")
    if frame[KEY].duplicated().any():
        dup = frame.loc[frame[KEY].duplicated(), KEY].iloc[0]
        raise EvalError(f"{path}: image_id {dup!r} appears more than once")
    return frame


def paired_comparison(baseline: pd.DataFrame, candidate: pd.DataFrame, column: str = "prob",
                      n_boot: int = 1000, min_tpr: float = 0.8) -> dict[str, Any]:
    """Candidate-minus-baseline AUROC and pAUC with paired bootstrap intervals.

    Args:
        baseline, candidate: predictions tables (image_id, label, score column, optional
            group_id) of the same images.
        column: the score column compared.
        n_boot: bootstrap resamples.
        min_tpr: partial-AUC lower TPR bound.

    Returns:
        {"n", "n_pos", "grouped", "metrics": {name: {"baseline", "candidate", "difference",
        "ci"}}}.

    Raises:
        EvalError: the files do not hold the same images with the same labels.
    """
    merged = baseline.merge(candidate, on=KEY, how="outer", suffixes=("_a", "_b"),
                            indicator=True)
    only = merged[merged["_merge"] != "both"]
    if len(only):
        first = only.iloc[0]
        side = "baseline" if first["_merge"] == "left_only" else "candidate"
        raise EvalError(f"{len(only)} image(s) are in only one file, e.g. {first[KEY]!r} only "
                        f"in the {side}: compare predictions on the same dataset")
    clash = merged[merged[f"{LABEL}_a"] != merged[f"{LABEL}_b"]]
    if len(clash):
        raise EvalError(f"{len(clash)} image(s) have different labels in the two files, e.g. "
                        f"{clash.iloc[0][KEY]!r}")
    groups = None
    if f"{GROUP}_a" in merged and merged[f"{GROUP}_a"].notna().all():
        groups = merged[f"{GROUP}_a"].to_numpy()
    y = merged[f"{LABEL}_a"].to_numpy()
    a, b = merged[f"{column}_a"].to_numpy(), merged[f"{column}_b"].to_numpy()
    out: dict[str, Any] = {"n": len(y), "n_pos": int(y.sum()), "grouped": groups is not None,
                           "column": column, "metrics": {}}
    for name, fn in (("auroc", auroc), (f"pauc{round(min_tpr * 100)}",
                                        partial(pauc_above_tpr, min_tpr=min_tpr))):
        diff, low, high = bootstrap_paired_difference(y, a, b, fn, groups=groups, n_boot=n_boot)
        out["metrics"][name] = {"baseline": fn(y, a), "candidate": fn(y, b),
                                "difference": diff, "ci": [low, high]}
    return out


def compare(s: CompareSettings) -> dict[str, Any]:
    """The paired bootstrap comparison of the two prediction files."""
    return paired_comparison(_read(s.baseline, s.score_column), _read(s.candidate, s.score_column),
                             s.score_column, s.n_boot, s.min_tpr)


def show(s: CompareSettings, result: dict[str, Any]) -> None:
    """The comparison as a table."""
    table = Table(title=f"{s.candidate} vs {s.baseline}: {result['n']} images, "
                  f"{result['n_pos']} positive, column {s.score_column!r}, "
                  f"{'group' if result['grouped'] else 'image'}-level paired bootstrap")
    for col in ("metric", "baseline", "candidate", "difference [95% CI]"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in result["metrics"].items():
        table.add_row(name, f"{m['baseline']:.4f}", f"{m['candidate']:.4f}",
                      f"{m['difference']:+.4f} [{m['ci'][0]:+.4f}, {m['ci'][1]:+.4f}]")
    Console().print(table)


COMMAND = Command(CompareSettings, compare, bad_input=(EvalError, MetricError), errors="log",
                  show=show)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
