"""Calibration: Brier score, expected calibration error and reliability-diagram data.

All binned quantities use the same equal-width bins on [0, 1] as
``sklearn.calibration.calibration_curve(strategy="uniform")``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eval.metrics.checks import MetricError, _validate

# Equal-width calibration bins on [0, 1].
DEFAULT_N_BINS: int = 10


def brier_score(y_true: Any, y_prob: Any) -> float:
    """Brier score: mean squared difference between probability and outcome (lower is better)."""
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
    """Expected calibration error over ``n_bins`` equal-width bins, weighted by bin count.

    ``ECE = sum_b (n_b / n) * |mean_prob_b - observed_frequency_b|`` over non-empty bins.
    """
    y, p = _validate(y_true, y_prob)
    _, count, sum_prob, sum_true = _calibration_bins(y, p, n_bins)
    # |sum_prob - sum_true| / n equals (n_b / n) * |mean_prob_b - freq_b| and handles empty
    # bins (0 - 0) without a division.
    return float(np.sum(np.abs(sum_prob - sum_true)) / y.shape[0])


def reliability_curve(
    y_true: Any, y_prob: Any, n_bins: int = DEFAULT_N_BINS
) -> dict[str, list[float] | list[int] | int]:
    """Reliability-diagram data over ``n_bins`` equal-width bins, non-empty bins only.

    Equal-length lists ``bin_lower, bin_upper, bin_center, mean_predicted, observed_frequency,
    count`` plus ``n_bins``. Empty bins are left out so every list plots directly without
    NaN handling; ``bin_lower``/``bin_upper`` say which bins remain.
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
