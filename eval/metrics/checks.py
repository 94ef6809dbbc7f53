"""Input checks shared by every metric: the error type, label/probability validation, class counts.

Every other module of :mod:`eval.metrics` validates its input here, so a bad input gets the same
message whichever metric sees it first.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MetricError(ValueError):
    """Raised when a metric cannot be computed from the given input.

    The message always says what was wrong in terms a person can act on (counts, ranges), e.g.
    ``"AUROC needs both classes: got 37 negatives and 0 positives"``.
    """


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


def _class_counts_requiring_both(y: np.ndarray, metric_name: str) -> tuple[int, int]:
    """``(n_neg, n_pos)`` of validated labels; MetricError naming ``metric_name`` if a class is
    missing.

    Ranking metrics, ROC-based threshold selection and the summary need one positive and one
    negative at least.
    """
    n_neg, n_pos = _class_counts(y)
    if n_neg == 0 or n_pos == 0:
        raise MetricError(
            f"{metric_name} needs both classes: got {n_neg} negatives and {n_pos} positives"
        )
    return n_neg, n_pos
