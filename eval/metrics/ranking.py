"""Ranking metrics: AUROC, average precision and the ISIC 2024 partial AUC above a minimum TPR.

They judge how well the scores order melanomas above benign lesions, whatever the threshold.
``auroc`` and ``pauc_above_tpr`` are hand-written (rank formula, direct ROC integration) because
bootstrap intervals call them a thousand times; both are tested against sklearn / ISIC code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from eval.metrics.checks import MetricError, _class_counts, _class_counts_requiring_both, _validate

# ISIC 2024 challenge: partial AUC over the region where TPR >= 80%.
DEFAULT_MIN_TPR: float = 0.8


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank (like scipy's rankdata)."""
    order = np.argsort(x, kind="mergesort")
    x_sorted = x[order]
    # Start index of each run of equal values in sorted order.
    is_start = np.empty(x_sorted.shape[0], dtype=bool)
    is_start[0] = True
    np.not_equal(x_sorted[1:], x_sorted[:-1], out=is_start[1:])
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], x_sorted.shape[0])  # exclusive
    # Average of 1-based ranks start+1 .. end is (start + 1 + end) / 2.
    run_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(x_sorted.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def auroc(y_true: Any, y_prob: Any) -> float:
    """Area under the ROC curve, by the Mann-Whitney rank formula (ties count one half).

    Equal to ``sklearn.metrics.roc_auc_score`` but several times faster, which matters because
    bootstrap intervals evaluate it a thousand times. Needs both classes.
    """
    y, p = _validate(y_true, y_prob)
    n_neg, n_pos = _class_counts_requiring_both(y, "AUROC")
    ranks = _average_ranks(p)
    rank_sum_pos = float(ranks[y == 1].sum())
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def average_precision(y_true: Any, y_prob: Any) -> float:
    """Average precision (step-wise area under the precision-recall curve), as sklearn.

    Needs a positive: sklearn would warn and return 0 without one, which would look like a score.
    """
    y, p = _validate(y_true, y_prob)
    _, n_pos = _class_counts(y)
    if n_pos == 0:
        raise MetricError(f"average precision needs at least one positive: got 0 of {y.shape[0]}")
    return float(average_precision_score(y, p))


def _roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full ROC curve (FPR, TPR), one point per distinct score, starting at (0, 0).

    Identical to ``sklearn.metrics.roc_curve(..., drop_intermediate=False)`` but without its
    input checking overhead; tied scores produce a single (diagonal) step, as in sklearn.
    """
    order = np.argsort(-p, kind="mergesort")
    p_sorted = p[order]
    y_sorted = y[order].astype(np.int64)
    # Last index of every run of equal scores: the ROC point after admitting that whole run.
    last_of_run = np.flatnonzero(np.diff(p_sorted) != 0)
    last_of_run = np.append(last_of_run, p_sorted.shape[0] - 1)
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = last_of_run + 1 - tps
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    return fpr, tpr


def pauc_above_tpr(y_true: Any, y_prob: Any, min_tpr: float = DEFAULT_MIN_TPR) -> float:
    """Partial AUC above a minimum TPR, as defined by the ISIC 2024 challenge, in [0, 1 - min_tpr].

    The area between the (linearly interpolated) ROC curve and the line ``TPR = min_tpr``: the
    integral over FPR in [0, 1] of ``max(TPR(FPR) - min_tpr, 0)``. For the challenge's 0.8 it is
    0.2 for a perfect ranking, 0.02 for a constant score and 0 for an inverted one.

    The official Kaggle metric gets the same number by flipping labels and scores, calling
    ``roc_auc_score(..., max_fpr=1 - min_tpr)`` and undoing sklearn's McClish standardisation;
    integrating the curve directly is faster in the bootstrap (agreement tested to 1e-12).
    ``isic_challenge_scoring.metrics.auc_above_sensitivity`` (the ISIC 2016-2020 scorer)
    integrates TPR itself from where the curve reaches ``min_tpr``: its value is this one plus
    ``min_tpr * (1 - FPR(min_tpr))``.
    """
    if not 0.0 <= min_tpr < 1.0:
        raise MetricError(f"min_tpr must be in [0, 1); got {min_tpr}")
    y, p = _validate(y_true, y_prob)
    _class_counts_requiring_both(y, f"partial AUC above TPR={min_tpr}")
    fpr, tpr = _roc_points(y, p)
    # First ROC point with TPR >= min_tpr; 'left' so a run of points exactly at min_tpr starts
    # at its smallest FPR (the curve reaches min_tpr there).
    k = int(np.searchsorted(tpr, min_tpr, side="left"))
    if k == 0:
        fpr_at_min = 0.0  # only when min_tpr == 0: the whole curve counts
    else:
        # tpr[k-1] < min_tpr <= tpr[k], so the interpolation is well defined.
        frac = (min_tpr - tpr[k - 1]) / (tpr[k] - tpr[k - 1])
        fpr_at_min = fpr[k - 1] + frac * (fpr[k] - fpr[k - 1])
    seg_fpr = np.concatenate(([fpr_at_min], fpr[k:]))
    seg_height = np.concatenate(([0.0], tpr[k:] - min_tpr))
    # Trapezoids between consecutive points (the ROC curve is piecewise linear).
    area = float(np.sum(np.diff(seg_fpr) * (seg_height[1:] + seg_height[:-1]) / 2.0))
    # Guard against -1e-17 style rounding so the documented range holds exactly.
    return min(max(area, 0.0), 1.0 - min_tpr)
