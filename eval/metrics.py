"""Evaluation metrics for binary melanoma classification (pure numpy + scikit-learn).

This module is the single source of truth for every number reported about a model: ranking
metrics (AUROC, average precision, the ISIC 2024 partial AUC above 80% TPR), operating-point
metrics at a decision threshold, threshold selection, calibration (Brier score, ECE, reliability
curve), percentile bootstrap confidence intervals (optionally resampling whole patients/lesions),
and per-subgroup tables.

Design rules:

* Invalid input (empty, length mismatch, NaN or out-of-range probabilities, labels other than
  0/1, a metric that needs both classes but gets one) raises :class:`MetricError` with a
  human-readable message. No function silently returns NaN.
* The decision rule everywhere is ``prob >= threshold`` -> positive (melanoma).
* Results are plain Python ``float``/``int``/``list``/``dict`` so they can go straight into
  ``metrics.json``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_curve

logger = logging.getLogger(__name__)

# ISIC 2024 challenge: partial AUC over the region where TPR >= 80%.
DEFAULT_MIN_TPR: float = 0.8
# Sensitivity that a screening-style operating point must reach.
DEFAULT_SENSITIVITY_TARGET: float = 0.9
# The naive operating point that is always reported, whatever thresholds the caller selects.
DEFAULT_THRESHOLD: float = 0.5
# Equal-width calibration bins on [0, 1].
DEFAULT_N_BINS: int = 10
# Bootstrap defaults: 1000 resamples, 95% percentile interval, fixed seed for reproducibility.
DEFAULT_N_BOOT: int = 1000
DEFAULT_ALPHA: float = 0.05
DEFAULT_SEED: int = 0
# If more than this fraction of bootstrap resamples cannot be scored (e.g. they contain a single
# class), the interval would describe a biased subset of resamples, so we refuse to report it.
DEFAULT_MAX_SKIP_FRACTION: float = 0.5
# Subgroup analysis: below these sizes an AUROC is too noisy to report (flagged, not hidden).
DEFAULT_SUBGROUP_MIN_N: int = 20
DEFAULT_SUBGROUP_MIN_POS: int = 5
# Age bands (lower edges, years) used for subgroup analysis: <30, 30-44, 45-59, 60-74, >=75.
AGE_BAND_EDGES: tuple[int, ...] = (30, 45, 60, 75)
AGE_BAND_UNKNOWN: str = "unknown"
SUBGROUP_MISSING_VALUE: str = "missing"


class MetricError(ValueError):
    """Raised when a metric cannot be computed from the given input.

    The message always says what was wrong in terms a person can act on (counts, ranges), e.g.
    ``"AUROC needs both classes: got 37 negatives and 0 positives"``.
    """


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _validate(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert inputs to 1-D arrays and check them.

    Args:
        y_true: Binary labels (0/1 or bool), array-like of length n.
        y_prob: Predicted probabilities of the positive class, array-like of length n.

    Returns:
        ``(y, p)``: ``y`` as an int8 array of 0/1 and ``p`` as a float64 array in [0, 1].

    Raises:
        MetricError: On empty input, length mismatch, non-1-D input, labels other than 0/1,
            non-numeric / NaN / infinite probabilities, or probabilities outside [0, 1].
    """
    y_arr = np.asarray(y_true)
    p_arr = np.asarray(y_prob)
    if y_arr.ndim != 1 or p_arr.ndim != 1:
        raise MetricError(
            f"y_true and y_prob must be 1-D; got shapes {y_arr.shape} and {p_arr.shape}"
        )
    if y_arr.shape[0] != p_arr.shape[0]:
        raise MetricError(
            f"y_true and y_prob have different lengths: {y_arr.shape[0]} vs {p_arr.shape[0]}"
        )
    if y_arr.shape[0] == 0:
        raise MetricError("empty input: y_true and y_prob have no samples")

    try:
        p = p_arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"y_prob must be numeric; got dtype {p_arr.dtype}") from exc
    n_nan = int(np.isnan(p).sum())
    if n_nan:
        raise MetricError(f"y_prob contains {n_nan} NaN value(s) out of {p.shape[0]}")
    n_inf = int(np.isinf(p).sum())
    if n_inf:
        raise MetricError(f"y_prob contains {n_inf} infinite value(s) out of {p.shape[0]}")
    p_min, p_max = float(p.min()), float(p.max())
    if p_min < 0.0 or p_max > 1.0:
        raise MetricError(
            f"y_prob must be probabilities in [0, 1]; got min={p_min:.6g}, max={p_max:.6g} "
            "(did you pass logits?)"
        )

    # Labels: accept bool, ints and floats that are exactly 0/1; anything else (NaN, 2, -1,
    # 0.5, strings) is a data bug that must not be coerced silently.
    if y_arr.dtype == bool:
        y = y_arr.astype(np.int8)
    else:
        try:
            y_float = y_arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise MetricError(f"y_true must be 0/1 labels; got dtype {y_arr.dtype}") from exc
        bad = ~((y_float == 0.0) | (y_float == 1.0))
        if bad.any():
            examples = sorted({repr(v) for v in y_arr[bad][:5].tolist()})
            raise MetricError(
                f"y_true must contain only 0/1 labels; {int(bad.sum())} value(s) are not "
                f"(e.g. {', '.join(examples)})"
            )
        y = y_float.astype(np.int8)
    return y, p


def _class_counts(y: np.ndarray) -> tuple[int, int]:
    """Return ``(n_neg, n_pos)`` for a validated 0/1 label array."""
    n_pos = int(y.sum())
    return int(y.shape[0] - n_pos), n_pos


def _require_both_classes(y: np.ndarray, metric_name: str) -> tuple[int, int]:
    """Raise a clear MetricError when a ranking metric gets a single class.

    Args:
        y: Validated 0/1 labels.
        metric_name: Name used in the message (e.g. ``"AUROC"``).

    Returns:
        ``(n_neg, n_pos)``.

    Raises:
        MetricError: If there are no positives or no negatives.
    """
    n_neg, n_pos = _class_counts(y)
    if n_neg == 0 or n_pos == 0:
        raise MetricError(
            f"{metric_name} needs both classes: got {n_neg} negatives and {n_pos} positives"
        )
    return n_neg, n_pos


# --------------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------------


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
    """Area under the ROC curve.

    Computed with the Mann-Whitney rank formula (ties count one half), which equals
    ``sklearn.metrics.roc_auc_score`` but is several times faster; the speed matters because
    bootstrap intervals evaluate it a thousand times.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.

    Returns:
        AUROC in [0, 1].

    Raises:
        MetricError: On invalid input or if only one class is present.
    """
    y, p = _validate(y_true, y_prob)
    n_neg, n_pos = _require_both_classes(y, "AUROC")
    ranks = _average_ranks(p)
    rank_sum_pos = float(ranks[y == 1].sum())
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def average_precision(y_true: Any, y_prob: Any) -> float:
    """Average precision (area under the precision-recall curve, step-wise), as sklearn.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.

    Returns:
        Average precision in [0, 1].

    Raises:
        MetricError: On invalid input or if there are no positives (AP is undefined then;
            sklearn would warn and return 0, which would look like a real score).
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
    """Partial AUC above a minimum TPR, as defined by the ISIC 2024 challenge.

    The value is the area between the (linearly interpolated) ROC curve and the horizontal line
    ``TPR = min_tpr``, i.e. the integral over FPR in [0, 1] of ``max(TPR(FPR) - min_tpr, 0)``.
    Its range is ``[0, 1 - min_tpr]`` (``[0, 0.2]`` for the challenge's 0.8): 0.2 for a perfect
    ranking, 0.02 for a constant score, 0 for a perfectly inverted ranking.

    The official Kaggle metric computes the same number by flipping labels and scores, calling
    ``roc_auc_score(..., max_fpr=1 - min_tpr)`` and undoing sklearn's McClish standardisation.
    We integrate the curve directly (agreement is tested to 1e-12) because it is faster in the
    bootstrap and needs no algebraic round trip.

    Note: ``isic_challenge_scoring.metrics.auc_above_sensitivity`` (the ISIC 2016-2020 scorer)
    integrates TPR itself, not ``TPR - min_tpr``, from the FPR where the curve reaches
    ``min_tpr``; its value equals this one plus ``min_tpr * (1 - FPR(min_tpr))``.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        min_tpr: Minimum true positive rate, in [0, 1).

    Returns:
        Partial AUC in [0, 1 - min_tpr].

    Raises:
        MetricError: On invalid input, an out-of-range ``min_tpr``, or a single class.
    """
    if not 0.0 <= min_tpr < 1.0:
        raise MetricError(f"min_tpr must be in [0, 1); got {min_tpr}")
    y, p = _validate(y_true, y_prob)
    _require_both_classes(y, f"partial AUC above TPR={min_tpr}")
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


# --------------------------------------------------------------------------------------------
# Operating-point metrics
# --------------------------------------------------------------------------------------------


def confusion_at(y_true: Any, y_prob: Any, threshold: float) -> dict[str, int]:
    """Confusion-matrix counts at a decision threshold (``prob >= threshold`` is positive).

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        threshold: Decision threshold.

    Returns:
        ``{"tn": int, "fp": int, "fn": int, "tp": int}``.

    Raises:
        MetricError: On invalid input or a NaN threshold.
    """
    if threshold is None or not isinstance(threshold, (int, float, np.number)) or math.isnan(
        threshold
    ):
        raise MetricError(f"threshold must be a number; got {threshold!r}")
    y, p = _validate(y_true, y_prob)
    pred = p >= threshold
    pos = y == 1
    tp = int(np.count_nonzero(pred & pos))
    fp = int(np.count_nonzero(pred & ~pos))
    fn = int(np.count_nonzero(~pred & pos))
    tn = int(y.shape[0] - tp - fp - fn)
    return {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def binary_metrics_at(y_true: Any, y_prob: Any, threshold: float) -> dict[str, float | int]:
    """Operating-point metrics at a threshold (``prob >= threshold`` is positive).

    Conventions: precision is defined as 0.0 when nothing is predicted positive (no correct
    positive calls were made), and F1 is then 0.0 as well. Sensitivity needs at least one
    positive and specificity at least one negative; otherwise they are undefined and a
    MetricError is raised rather than a made-up value.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        threshold: Decision threshold.

    Returns:
        Dict with keys ``threshold, sensitivity, specificity, precision, f1, accuracy, tn, fp,
        fn, tp``.

    Raises:
        MetricError: On invalid input or if either class is absent.
    """
    cm = confusion_at(y_true, y_prob, threshold)
    tn, fp, fn, tp = cm["tn"], cm["fp"], cm["fn"], cm["tp"]
    n_pos, n_neg = tp + fn, tn + fp
    if n_pos == 0:
        raise MetricError(f"sensitivity is undefined: got 0 positives (and {n_neg} negatives)")
    if n_neg == 0:
        raise MetricError(f"specificity is undefined: got 0 negatives (and {n_pos} positives)")
    sensitivity = tp / n_pos
    specificity = tn / n_neg
    precision = tp / (tp + fp) if (tp + fp) > 0 else 0.0
    f1 = 2 * precision * sensitivity / (precision + sensitivity) if tp > 0 else 0.0
    return {
        "threshold": float(threshold),
        "sensitivity": float(sensitivity),
        "specificity": float(specificity),
        "precision": float(precision),
        "f1": float(f1),
        "accuracy": float((tp + tn) / (n_pos + n_neg)),
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
    }


# --------------------------------------------------------------------------------------------
# Threshold selection
# --------------------------------------------------------------------------------------------


def threshold_closest_to_corner(y_true: Any, y_prob: Any) -> float:
    """Threshold whose ROC point is closest (Euclidean) to the ideal corner (FPR=0, TPR=1).

    All distinct scores are candidates (``drop_intermediate=False``: a collinear point that
    sklearn would drop can still be the closest one). sklearn's first threshold (``inf``,
    "predict nothing", point (0, 0)) is excluded: its distance is 1, the same as the point
    (1, 1) at the lowest score, so excluding it never loses and the result is always a finite
    score in [0, 1]. Ties go to the higher threshold (fewer false positives).

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.

    Returns:
        A threshold equal to one of the observed scores.

    Raises:
        MetricError: On invalid input or a single class.
    """
    y, p = _validate(y_true, y_prob)
    _require_both_classes(y, "threshold selection (closest to ROC corner)")
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    fpr, tpr, thr = fpr[1:], tpr[1:], thr[1:]  # drop the (0, 0) / inf point
    dist = np.hypot(fpr, 1.0 - tpr)
    # argmin returns the first minimum; thresholds are decreasing, so that is the highest.
    return float(thr[int(np.argmin(dist))])


def threshold_for_sensitivity(
    y_true: Any, y_prob: Any, target: float = DEFAULT_SENSITIVITY_TARGET
) -> float:
    """Highest threshold whose sensitivity (``prob >= t``) is at least ``target``.

    Raising the threshold can only remove positive calls, so the highest threshold meeting the
    sensitivity target is the one with the best specificity subject to that target. Sensitivity
    only changes at positive scores, so the answer is the k-th highest positive score, with k
    the smallest count such that ``k / n_pos >= target``. It is therefore always a finite,
    observed score in [0, 1] (unlike sklearn's ``roc_curve`` whose first threshold is ``inf``).
    With distinct scores, any higher threshold gives sensitivity below ``target``.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        target: Required sensitivity, in (0, 1].

    Returns:
        The threshold.

    Raises:
        MetricError: On invalid input, a target outside (0, 1], or no positives.
    """
    if not 0.0 < target <= 1.0:
        raise MetricError(f"sensitivity target must be in (0, 1]; got {target}")
    y, p = _validate(y_true, y_prob)
    _, n_pos = _class_counts(y)
    if n_pos == 0:
        raise MetricError(f"threshold for sensitivity needs positives: got 0 of {y.shape[0]}")
    # Smallest k with k / n_pos >= target, computed with the same float comparison a caller
    # would use to check the result (ceil(target * n_pos) alone can be off by one from
    # rounding, e.g. 0.7 * 10 = 7.000000000000001).
    k = max(1, math.ceil(target * n_pos))
    while k > 1 and (k - 1) / n_pos >= target:
        k -= 1
    while k < n_pos and k / n_pos < target:
        k += 1
    pos_scores_desc = np.sort(p[y == 1])[::-1]
    return float(pos_scores_desc[k - 1])


def select_thresholds(
    y_true: Any, y_prob: Any, sensitivity_target: float = DEFAULT_SENSITIVITY_TARGET
) -> dict[str, float]:
    """Select the standard operating thresholds (normally on the validation set).

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        sensitivity_target: Sensitivity the screening threshold must reach.

    Returns:
        ``{"closest_to_corner": t1, "sensitivity_target": t2,
        "sensitivity_target_value": sensitivity_target}``.

    Raises:
        MetricError: On invalid input or a single class.
    """
    return {
        "closest_to_corner": threshold_closest_to_corner(y_true, y_prob),
        "sensitivity_target": threshold_for_sensitivity(y_true, y_prob, sensitivity_target),
        "sensitivity_target_value": float(sensitivity_target),
    }


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def brier_score(y_true: Any, y_prob: Any) -> float:
    """Brier score: mean squared difference between probability and outcome (lower is better).

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.

    Returns:
        Brier score in [0, 1].

    Raises:
        MetricError: On invalid input.
    """
    y, p = _validate(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def _calibration_bins(
    y: np.ndarray, p: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin counts, sum of probabilities and sum of labels for equal-width bins on [0, 1].

    Bins follow ``sklearn.calibration.calibration_curve(strategy="uniform")``: the first bin is
    [0, 1/n_bins], the others are (lower, upper]. Matching sklearn keeps our reliability plot
    and sklearn's identical, including for scores exactly on a bin edge.

    Returns:
        ``(edges, count, sum_prob, sum_true)``; the last three have length ``n_bins``.
    """
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise MetricError(f"n_bins must be a positive integer; got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], p, side="left")
    count = np.bincount(bin_ids, minlength=n_bins)
    sum_prob = np.bincount(bin_ids, weights=p, minlength=n_bins)
    sum_true = np.bincount(bin_ids, weights=y.astype(np.float64), minlength=n_bins)
    return edges, count, sum_prob, sum_true


def expected_calibration_error(
    y_true: Any, y_prob: Any, n_bins: int = DEFAULT_N_BINS
) -> float:
    """Expected calibration error with equal-width bins, weighted by bin count.

    ``ECE = sum_b (n_b / n) * |mean_prob_b - observed_frequency_b|`` over non-empty bins.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        n_bins: Number of equal-width bins on [0, 1].

    Returns:
        ECE in [0, 1].

    Raises:
        MetricError: On invalid input or a non-positive ``n_bins``.
    """
    y, p = _validate(y_true, y_prob)
    _, count, sum_prob, sum_true = _calibration_bins(y, p, n_bins)
    # |sum_prob - sum_true| / n equals (n_b / n) * |mean_prob_b - freq_b| and handles empty
    # bins (0 - 0) without a division.
    return float(np.sum(np.abs(sum_prob - sum_true)) / y.shape[0])


def reliability_curve(
    y_true: Any, y_prob: Any, n_bins: int = DEFAULT_N_BINS
) -> dict[str, list[float] | list[int] | int]:
    """Data for a reliability diagram (equal-width bins, non-empty bins only).

    Empty bins are left out so that every list can be plotted directly without NaN/None
    handling; ``bin_lower``/``bin_upper`` say which bins remain.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        n_bins: Number of equal-width bins on [0, 1].

    Returns:
        Dict of equal-length lists ``bin_lower, bin_upper, bin_center, mean_predicted,
        observed_frequency, count`` plus ``n_bins`` (int).

    Raises:
        MetricError: On invalid input or a non-positive ``n_bins``.
    """
    y, p = _validate(y_true, y_prob)
    edges, count, sum_prob, sum_true = _calibration_bins(y, p, n_bins)
    keep = count > 0
    lower, upper = edges[:-1][keep], edges[1:][keep]
    return {
        "n_bins": int(n_bins),
        "bin_lower": lower.tolist(),
        "bin_upper": upper.tolist(),
        "bin_center": ((lower + upper) / 2.0).tolist(),
        "mean_predicted": (sum_prob[keep] / count[keep]).tolist(),
        "observed_frequency": (sum_true[keep] / count[keep]).tolist(),
        "count": count[keep].astype(int).tolist(),
    }


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


def _cluster_layout(groups: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order sorted by group, plus per-group start offset and size (for fast resampling).

    Raises:
        MetricError: If ``groups`` has the wrong length or missing values.
    """
    g = groups.to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups, dtype=object)
    if g.ndim != 1 or g.shape[0] != n:
        raise MetricError(f"groups has length {g.shape[0]} but there are {n} samples")
    codes, _ = pd.factorize(g, use_na_sentinel=True)
    n_missing = int((codes < 0).sum())
    if n_missing:
        # A missing patient id cannot be clustered correctly; guessing would understate the CI.
        raise MetricError(f"groups contains {n_missing} missing value(s)")
    order = np.argsort(codes, kind="mergesort")
    sizes = np.bincount(codes)
    starts = np.cumsum(sizes) - sizes
    return order, starts, sizes


def _check_bootstrap_args(n_boot: Any, alpha: float) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise MetricError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise MetricError(f"alpha must be in (0, 1); got {alpha}")


def bootstrap_ci(
    y_true: Any,
    y_prob: Any,
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    groups: Any = None,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
    max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
) -> tuple[float, float, float]:
    """Percentile bootstrap confidence interval of a metric.

    Without ``groups`` rows are resampled with replacement. With ``groups`` (patient or lesion
    ids) whole groups are resampled with replacement (cluster bootstrap): images of the same
    patient are correlated, and treating them as independent would make the interval too
    narrow. Resamples on which the metric is undefined (``metric_fn`` raises MetricError or
    returns a non-finite value, typically a single-class resample) are skipped and counted.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        metric_fn: ``metric_fn(y_true, y_prob) -> float``, e.g. :func:`auroc`.
        groups: Optional cluster id per row (array-like of hashables, length n).
        n_boot: Number of bootstrap resamples (>= 1).
        alpha: Two-sided level; the interval is the [alpha/2, 1 - alpha/2] percentile range.
        seed: Seed of the random generator (results are reproducible).
        max_skip_fraction: Largest tolerated fraction of skipped resamples.

    Returns:
        ``(point, low, high)``: the metric on the full data and the interval bounds.

    Raises:
        MetricError: On invalid input, if the metric is undefined on the full data, or if more
            than ``max_skip_fraction`` of the resamples could not be scored.
    """
    _check_bootstrap_args(n_boot, alpha)
    y, p = _validate(y_true, y_prob)
    return _bootstrap(y.shape[0], lambda idx: metric_fn(y[idx], p[idx]), groups, n_boot, alpha,
                      seed, max_skip_fraction)


def bootstrap_paired_difference(
    y_true: Any,
    y_prob_a: Any,
    y_prob_b: Any,
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    groups: Any = None,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
    max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
) -> tuple[float, float, float]:
    """Paired percentile bootstrap interval of ``metric(b) - metric(a)`` on the same samples.

    Both models are scored on the same resample each time, so the interval reflects the
    difference between them rather than the (much larger) variation of either score; two
    overlapping single-model intervals say little about which model is better.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob_a, y_prob_b: The two models' probabilities for the same n samples.
        metric_fn, groups, n_boot, alpha, seed, max_skip_fraction: as in :func:`bootstrap_ci`.

    Returns:
        ``(difference, low, high)``: b minus a on the full data and the interval bounds.

    Raises:
        MetricError: as :func:`bootstrap_ci`.
    """
    _check_bootstrap_args(n_boot, alpha)
    y, a = _validate(y_true, y_prob_a)
    _, b = _validate(y_true, y_prob_b)

    def diff(idx: np.ndarray) -> float:
        return float(metric_fn(y[idx], b[idx])) - float(metric_fn(y[idx], a[idx]))

    return _bootstrap(y.shape[0], diff, groups, n_boot, alpha, seed, max_skip_fraction)


def _bootstrap(n: int, value_of: Callable[[np.ndarray], float], groups: Any, n_boot: int,
               alpha: float, seed: int, max_skip_fraction: float) -> tuple[float, float, float]:
    """``(point, low, high)`` of ``value_of(row indices)``: all rows, then resampled rows or groups.

    Raises:
        MetricError: non-finite value on all rows, or too many resamples undefined.
    """
    point = float(value_of(np.arange(n)))
    if not math.isfinite(point):
        raise MetricError(f"metric returned a non-finite value ({point}) on the full data")
    rng = np.random.default_rng(seed)
    layout = _cluster_layout(groups, n) if groups is not None else None
    values = np.empty(n_boot, dtype=np.float64)
    n_ok = 0
    n_skipped = 0
    for _ in range(n_boot):
        if layout is None:
            idx = rng.integers(0, n, size=n)
        else:
            order, starts, sizes = layout
            chosen = rng.integers(0, sizes.shape[0], size=sizes.shape[0])
            lens = sizes[chosen]
            # Concatenate the row ranges of the chosen groups without a Python loop:
            # position j of the output is starts[group] + (j - offset of that group's block).
            offsets = np.cumsum(lens) - lens
            pos = np.repeat(starts[chosen] - offsets, lens) + np.arange(int(lens.sum()))
            idx = order[pos]
        try:
            value = float(value_of(idx))
        except MetricError:
            n_skipped += 1
            continue
        if not math.isfinite(value):
            n_skipped += 1
            continue
        values[n_ok] = value
        n_ok += 1

    if n_skipped:
        logger.warning(
            "bootstrap: skipped %d of %d resamples where the metric was undefined",
            n_skipped,
            n_boot,
        )
    if n_ok == 0 or n_skipped / n_boot > max_skip_fraction:
        raise MetricError(
            f"bootstrap failed: the metric was undefined on {n_skipped} of {n_boot} resamples "
            f"(more than {max_skip_fraction:.0%}); too few samples of one class?"
        )
    low, high = np.quantile(values[:n_ok], [alpha / 2.0, 1.0 - alpha / 2.0])
    return point, float(low), float(high)


# --------------------------------------------------------------------------------------------
# Summary for metrics.json
# --------------------------------------------------------------------------------------------


def _threshold_key(t: float) -> str:
    """Name used for an ad-hoc numeric threshold, e.g. 0.5 -> "0.5"."""
    return format(float(t), "g")


def _safe_ci(
    y: np.ndarray,
    p: np.ndarray,
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    groups: Any,
    n_boot: int,
    seed: int,
    label: str,
    notes: list[str],
) -> list[float] | None:
    """Bootstrap CI as ``[low, high]``, or None (with a note) when it cannot be estimated.

    A point estimate that is well defined but whose CI is not (e.g. very few positives) should
    not abort a whole evaluation; the None is explicit and explained in ``notes``.
    """
    if n_boot <= 0:
        return None
    try:
        _, low, high = bootstrap_ci(y, p, metric_fn, groups=groups, n_boot=n_boot, seed=seed)
    except MetricError as exc:
        notes.append(f"{label} CI not computed: {exc}")
        logger.warning("%s CI not computed: %s", label, exc)
        return None
    return [low, high]


def summarize(
    y_true: Any,
    y_prob: Any,
    thresholds: Mapping[str, float],
    groups: Any = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    min_tpr: float = DEFAULT_MIN_TPR,
) -> dict[str, Any]:
    """Compute the core of ``metrics.json`` for one split.

    Every confidence interval uses the same seed, so all metrics are evaluated on the same
    resamples. An entry named ``"0.5"`` (threshold 0.5) is always added so that runs can be
    compared at a fixed, naive operating point even when their selected thresholds differ.

    Args:
        y_true: Binary labels (0/1), length n.
        y_prob: Predicted probabilities of the positive class, length n.
        thresholds: ``{name: threshold}`` operating points, normally chosen on validation data
            (e.g. from :func:`select_thresholds`); non-numeric entries such as
            ``"sensitivity_target_value"`` are ignored.
        groups: Optional patient/lesion id per row for a cluster bootstrap.
        n_boot: Bootstrap resamples per interval; 0 disables intervals (they become None).
        seed: Bootstrap seed.
        min_tpr: Minimum TPR for the partial AUC (key ``f"pauc{round(100 * min_tpr)}"``).

    Returns:
        Dict with ``n, n_pos, n_neg, auroc, auroc_ci, average_precision, pauc80, pauc80_ci,
        brier, ece, ece_n_bins, min_tpr, n_boot, bootstrap_seed, grouped_bootstrap, thresholds,
        notes``; ``thresholds[name]`` is :func:`binary_metrics_at` plus ``sensitivity_ci`` and
        ``specificity_ci``. CIs are ``[low, high]`` lists or None when not computable.

    Raises:
        MetricError: On invalid input or a single class.
    """
    y, p = _validate(y_true, y_prob)
    n_neg, n_pos = _require_both_classes(y, "metrics summary")
    if groups is not None:
        _cluster_layout(groups, y.shape[0])  # fail fast on bad groups, before any work
    notes: list[str] = []
    # round(), not int(): int(0.29 * 100) == 28.
    pauc_key = f"pauc{int(round(min_tpr * 100))}"

    def pauc_fn(yy: np.ndarray, pp: np.ndarray) -> float:
        return pauc_above_tpr(yy, pp, min_tpr=min_tpr)

    result: dict[str, Any] = {
        "n": int(y.shape[0]),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "auroc": auroc(y, p),
        "auroc_ci": _safe_ci(y, p, auroc, groups, n_boot, seed, "AUROC", notes),
        "average_precision": average_precision(y, p),
        pauc_key: pauc_fn(y, p),
        f"{pauc_key}_ci": _safe_ci(y, p, pauc_fn, groups, n_boot, seed, pauc_key, notes),
        "min_tpr": float(min_tpr),
        "brier": brier_score(y, p),
        "ece": expected_calibration_error(y, p, DEFAULT_N_BINS),
        "ece_n_bins": DEFAULT_N_BINS,
        "n_boot": int(n_boot),
        "bootstrap_seed": int(seed),
        "ci_level": 1.0 - DEFAULT_ALPHA,
        "grouped_bootstrap": groups is not None,
    }

    ops: dict[str, float] = {}
    for name, t in thresholds.items():
        # select_thresholds() output carries the target value alongside the thresholds.
        if name == "sensitivity_target_value":
            continue
        if isinstance(t, bool) or not isinstance(t, (int, float, np.number)):
            raise MetricError(f"threshold {name!r} must be a number; got {t!r}")
        ops[str(name)] = float(t)
    ops.setdefault(_threshold_key(DEFAULT_THRESHOLD), DEFAULT_THRESHOLD)

    per_threshold: dict[str, dict[str, Any]] = {}
    for name, t in ops.items():
        entry: dict[str, Any] = dict(binary_metrics_at(y, p, t))

        def sens_fn(yy: np.ndarray, pp: np.ndarray, t: float = t) -> float:
            return float(binary_metrics_at(yy, pp, t)["sensitivity"])

        def spec_fn(yy: np.ndarray, pp: np.ndarray, t: float = t) -> float:
            return float(binary_metrics_at(yy, pp, t)["specificity"])

        entry["sensitivity_ci"] = _safe_ci(
            y, p, sens_fn, groups, n_boot, seed, f"sensitivity@{name}", notes
        )
        entry["specificity_ci"] = _safe_ci(
            y, p, spec_fn, groups, n_boot, seed, f"specificity@{name}", notes
        )
        per_threshold[name] = entry
    result["thresholds"] = per_threshold
    result["notes"] = notes
    return result


# --------------------------------------------------------------------------------------------
# Subgroups
# --------------------------------------------------------------------------------------------


def age_band(age_series: pd.Series) -> pd.Series:
    """Map ages in years to bands ``"<30", "30-44", "45-59", "60-74", ">=75"``.

    Missing, non-numeric or negative ages become ``"unknown"`` so that such rows stay visible
    in subgroup tables instead of being dropped.

    Args:
        age_series: Ages in years (pandas Series; any numeric or object dtype).

    Returns:
        Series of band labels (object dtype) with the same index, named ``"age_band"``.
    """
    ages = pd.to_numeric(pd.Series(age_series), errors="coerce")
    n_negative = int((ages < 0).sum())
    if n_negative:
        logger.warning("age_band: %d negative age(s) mapped to %r", n_negative, AGE_BAND_UNKNOWN)
        ages = ages.mask(ages < 0)
    labels = [f"<{AGE_BAND_EDGES[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_BAND_EDGES[:-1], AGE_BAND_EDGES[1:])]
    labels.append(f">={AGE_BAND_EDGES[-1]}")
    # Band index = number of edges <= age, so 44.9 -> "30-44" and 45 -> "45-59".
    band_idx = np.searchsorted(np.asarray(AGE_BAND_EDGES, dtype=float), ages.to_numpy(
        dtype=float, na_value=np.nan), side="right")
    out = np.asarray(labels, dtype=object)[np.minimum(band_idx, len(labels) - 1)]
    out[ages.isna().to_numpy()] = AGE_BAND_UNKNOWN
    return pd.Series(out, index=ages.index, name="age_band", dtype=object)


def subgroup_table(
    df: pd.DataFrame,
    prob_col: str,
    label_col: str,
    by: Sequence[str],
    min_n: int = DEFAULT_SUBGROUP_MIN_N,
    min_pos: int = DEFAULT_SUBGROUP_MIN_POS,
    min_neg: int | None = None,
) -> list[dict[str, Any]]:
    """AUROC per subgroup (e.g. sex, anatomical site, age band), flagging unscorable groups.

    Every value of every ``by`` column appears in the output, including missing values (as
    ``"missing"``); groups that are too small or lack a class get ``auroc=None`` and a ``flag``
    that says why, so a reader sees them rather than a silently shorter table.

    Args:
        df: One row per image with predictions, labels and subgroup columns.
        prob_col: Column with predicted probabilities.
        label_col: Column with 0/1 labels.
        by: Subgroup columns, each analysed separately.
        min_n: Minimum rows for an AUROC to be reported.
        min_pos: Minimum positives for an AUROC to be reported.
        min_neg: Minimum negatives; defaults to ``min_pos``.

    Returns:
        List of dicts ``{"column", "value", "n", "n_pos", "n_neg", "auroc", "flag"}``, ordered
        by ``by`` then by value; ``flag`` is None when the AUROC is reported, else e.g.
        ``"too small: n=7 < 20; no positives"``.

    Raises:
        MetricError: If a column is missing or labels/probabilities are invalid.
    """
    min_neg = min_pos if min_neg is None else min_neg
    missing_cols = [c for c in [prob_col, label_col, *by] if c not in df.columns]
    if missing_cols:
        raise MetricError(f"subgroup_table: columns not found: {missing_cols}")
    # Validate once on the whole frame so every error names the real problem.
    _validate(df[label_col].to_numpy(), df[prob_col].to_numpy())

    rows: list[dict[str, Any]] = []
    for col in by:
        values = df[col].astype(object).where(df[col].notna(), SUBGROUP_MISSING_VALUE)
        keys = sorted(values.unique(), key=lambda v: (v == SUBGROUP_MISSING_VALUE, str(v)))
        for value in keys:
            sub = df.loc[(values == value).to_numpy()]
            y, p = _validate(sub[label_col].to_numpy(), sub[prob_col].to_numpy())
            n = int(y.shape[0])
            n_neg, n_pos = _class_counts(y)
            reasons: list[str] = []
            if n < min_n:
                reasons.append(f"too small: n={n} < {min_n}")
            if n_pos == 0:
                reasons.append("no positives")
            elif n_pos < min_pos:
                reasons.append(f"too few positives: n_pos={n_pos} < {min_pos}")
            if n_neg == 0:
                reasons.append("no negatives")
            elif n_neg < min_neg:
                reasons.append(f"too few negatives: n_neg={n_neg} < {min_neg}")
            rows.append(
                {
                    "column": col,
                    "value": value if isinstance(value, str) else str(value),
                    "n": n,
                    "n_pos": n_pos,
                    "n_neg": n_neg,
                    "auroc": None if reasons else auroc(y, p),
                    "flag": "; ".join(reasons) if reasons else None,
                }
            )
    return rows
