"""Operating points: metrics at a decision threshold and the choice of that threshold.

The decision rule everywhere is ``prob >= threshold`` -> positive (melanoma). Thresholds are
normally selected on validation data (:func:`select_thresholds`) and then applied to test data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from eval.metrics.checks import MetricError, _class_counts, _class_counts_requiring_both, _validate

# Sensitivity that a screening-style operating point must reach.
DEFAULT_SENSITIVITY_TARGET: float = 0.9
# The naive operating point that is always reported, whatever thresholds the caller selects.
DEFAULT_THRESHOLD: float = 0.5


def confusion_at(y_true: Any, y_prob: Any, threshold: float) -> dict[str, int]:
    """``{"tn", "fp", "fn", "tp"}`` at a decision threshold (``prob >= threshold`` is positive)."""
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


def threshold_closest_to_corner(y_true: Any, y_prob: Any) -> float:
    """The observed score whose ROC point is closest (Euclidean) to the corner (FPR=0, TPR=1).

    Every distinct score is a candidate (``drop_intermediate=False``: a collinear point sklearn
    would drop can still be the closest). sklearn's first threshold (``inf``, the point (0, 0))
    is excluded: its distance, 1, equals that of (1, 1) at the lowest score, so excluding it
    never loses and the result is a finite score. Ties go to the higher threshold (fewer false
    positives).
    """
    y, p = _validate(y_true, y_prob)
    _class_counts_requiring_both(y, "threshold selection (closest to ROC corner)")
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    fpr, tpr, thr = fpr[1:], tpr[1:], thr[1:]  # drop the (0, 0) / inf point
    dist = np.hypot(fpr, 1.0 - tpr)
    # argmin returns the first minimum; thresholds are decreasing, so that is the highest.
    return float(thr[int(np.argmin(dist))])


def threshold_for_sensitivity(
    y_true: Any, y_prob: Any, target: float = DEFAULT_SENSITIVITY_TARGET
) -> float:
    """Highest threshold whose sensitivity (``prob >= t``) is at least ``target`` (in (0, 1]).

    Raising the threshold only removes positive calls, so the highest threshold meeting the
    target has the best specificity under it. Sensitivity only changes at positive scores, so
    the answer is the k-th highest positive score, k the smallest count with ``k / n_pos >=
    target``: always an observed score in [0, 1] (sklearn's ``roc_curve`` starts at ``inf``).
    With distinct scores, any higher threshold falls short of ``target``.
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
    """The standard operating thresholds, normally chosen on validation data.

    ``{"closest_to_corner": t1, "sensitivity_target": t2, "sensitivity_target_value":
    sensitivity_target}``.
    """
    return {
        "closest_to_corner": threshold_closest_to_corner(y_true, y_prob),
        "sensitivity_target": threshold_for_sensitivity(y_true, y_prob, sensitivity_target),
        "sensitivity_target_value": float(sensitivity_target),
    }
