"""Percentile bootstrap confidence intervals, optionally resampling whole patients/lesions.

:func:`bootstrap_ci` gives the interval of one metric, :func:`bootstrap_paired_difference` the
interval of the difference between two models scored on the same resamples; both share one
resampling loop (:func:`_bootstrap`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from eval.metrics.checks import MetricError, _validate

logger = logging.getLogger(__name__)

# Bootstrap defaults: 1000 resamples, 95% percentile interval, fixed seed for reproducibility.
DEFAULT_N_BOOT: int = 1000
DEFAULT_ALPHA: float = 0.05
DEFAULT_SEED: int = 0
# If more than this fraction of bootstrap resamples cannot be scored (e.g. they contain a single
# class), the interval would describe a biased subset of resamples, so we refuse to report it.
DEFAULT_MAX_SKIP_FRACTION: float = 0.5


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
    """``(point, low, high)``: a metric on all rows and its percentile bootstrap interval.

    Without ``groups`` rows are resampled with replacement; with ``groups`` (patient or lesion
    ids) whole groups are (cluster bootstrap): images of one patient are correlated, and treating
    them as independent would make the interval too narrow. Resamples on which ``metric_fn``
    raises MetricError or gives a non-finite value (typically a single-class resample) are
    skipped and counted; more than ``max_skip_fraction`` of them is an error. The interval is the
    [alpha/2, 1 - alpha/2] percentile range; ``seed`` makes it reproducible.
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
    """``(b - a, low, high)``: the paired percentile bootstrap interval of ``metric(b) -
    metric(a)``.

    Both models are scored on the same resample each time, so the interval reflects the
    difference between them rather than the (much larger) variation of either score: two
    overlapping single-model intervals say little about which model is better. The other
    arguments are :func:`bootstrap_ci`'s.
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
