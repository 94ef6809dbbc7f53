"""Diagnosis (multi-class) evaluation: the differential's metrics next to the melanoma ones.

For diagnosis bundles the class probabilities are averaged over TTA views and members (the
soft vote), and scored with `eval.metrics.multiclass` against the canonical `diagnosis`
column. Images whose diagnosis is unknown, or a class the model does not have, cannot be
scored as classes: they are left out of these metrics only, and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from data.diagnoses import UNKNOWN_DIAGNOSIS
from eval.metrics.multiclass import multiclass_summary
from eval.pipeline.inference import Predictions
from models.bundle.io import Bundle

MIN_CLASSES = 2  # a multi-class metric needs at least two classes with images


def model_classes(bundles: Sequence[Bundle]) -> tuple[str, ...]:
    """The members' shared classes (() for melanoma models; compatibility is checked before)."""
    return bundles[0].classes if bundles else ()


def class_probabilities(preds: Predictions) -> np.ndarray | None:
    """Class probabilities over views and members (N, K), or None for melanoma models."""
    tables = [m.class_prob for m in preds.members]
    if any(t is None for t in tables):
        return None
    return np.mean(tables, axis=0)


def diagnosis_metrics(df: pd.DataFrame, probs: np.ndarray, classes: Sequence[str], *,
                      groups: np.ndarray | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """The multi-class part of metrics.json.

    Args:
        df: the scored rows (canonical table, `diagnosis` column).
        probs: (N, K) class probabilities, rows aligned with `df`.
        classes: the model's classes, in column order.
        groups: patient/lesion id per row (grouped bootstrap of the balanced accuracy CI).
        n_boot: bootstrap resamples (0 = no interval).

    Returns:
        `multiclass_summary`'s dict plus `n` (images scored as classes) and `left_out`
        (images that could not be: unknown diagnosis, or a class the model lacks). With fewer
        than two known classes in the labels (binary melanoma/other labels give the other
        images no diagnosis) there is nothing to score as classes: the dict then holds `n`,
        `left_out`, `classes_present` and `not_computed` (why), and the melanoma metrics stand
        alone.
    """
    truth = df["diagnosis"].astype(str).to_numpy()
    index = {c: i for i, c in enumerate(classes)}
    known = np.array([t in index for t in truth])
    unknown = int((truth == UNKNOWN_DIAGNOSIS).sum())
    left_out = {"unknown diagnosis": unknown,
                "class not in the model": int((~known).sum()) - unknown}
    present = sorted(set(truth[known]), key=index.__getitem__)
    if len(present) < MIN_CLASSES:
        return {"n": int(known.sum()), "left_out": left_out, "classes_present": present,
                "not_computed": not_computed_reason(present, unknown)}
    labels = np.array([index[t] for t in truth[known]], dtype=np.int64)
    summary = multiclass_summary(labels, probs[known], list(classes),
                                 groups=None if groups is None else groups[known], n_boot=n_boot)
    return {**summary, "n": int(known.sum()), "left_out": left_out}


def not_computed_reason(present: Sequence[str], unknown: int) -> str:
    """Why a diagnosis model's multi-class metrics are absent (one sentence)."""
    reason = (f"fewer than {MIN_CLASSES} known diagnosis classes in the labels (present: "
              f"{', '.join(present) or 'none'})")
    if unknown:
        reason += (f"; {unknown} image(s) have no known diagnosis (binary melanoma/other "
                   "labels give the other images none)")
    return reason + ": the melanoma metrics are computed as for any model"


CLASS_COLUMN = "prob_class_{}"  # predictions.csv column of each class (training's too)


def class_columns(probs: np.ndarray | None, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """predictions.csv's class probability columns (`prob_class_<CLASS>`)."""
    if probs is None:
        return {}
    return {CLASS_COLUMN.format(c): probs[:, i] for i, c in enumerate(classes)}
