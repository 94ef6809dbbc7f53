"""The core of ``metrics.json`` for one split: every metric, with bootstrap intervals.

:func:`summarize` combines the ranking, operating-point and calibration metrics, evaluating
every confidence interval on the same resamples (same seed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from eval.metrics.bootstrap import (
    DEFAULT_ALPHA,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    _cluster_layout,
    bootstrap_ci,
)
from eval.metrics.calibration import DEFAULT_N_BINS, brier_score, expected_calibration_error
from eval.metrics.checks import MetricError, _class_counts_requiring_both, _validate
from eval.metrics.ranking import DEFAULT_MIN_TPR, auroc, average_precision, pauc_above_tpr
from eval.metrics.thresholds import DEFAULT_THRESHOLD, binary_metrics_at

logger = logging.getLogger(__name__)


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
    n_neg, n_pos = _class_counts_requiring_both(y, "metrics summary")
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

    # Per-threshold metrics: the caller's operating points plus the fixed "0.5" one.
    ops = _operating_points(thresholds)
    result["thresholds"] = _per_threshold_metrics(y, p, ops, groups, n_boot, seed, notes)
    result["notes"] = notes
    return result


def _operating_points(thresholds: Mapping[str, float]) -> dict[str, float]:
    """``{name: float threshold}`` from the caller's thresholds, plus the fixed ``"0.5"`` entry.

    Raises:
        MetricError: If a threshold (other than ``"sensitivity_target_value"``) is not a number.
    """
    ops: dict[str, float] = {}
    for name, t in thresholds.items():
        # select_thresholds() output carries the target value alongside the thresholds.
        if name == "sensitivity_target_value":
            continue
        if isinstance(t, bool) or not isinstance(t, (int, float, np.number)):
            raise MetricError(f"threshold {name!r} must be a number; got {t!r}")
        ops[str(name)] = float(t)
    ops.setdefault(_threshold_key(DEFAULT_THRESHOLD), DEFAULT_THRESHOLD)
    return ops


def _per_threshold_metrics(
    y: np.ndarray,
    p: np.ndarray,
    ops: Mapping[str, float],
    groups: Any,
    n_boot: int,
    seed: int,
    notes: list[str],
) -> dict[str, dict[str, Any]]:
    """``{name: binary_metrics_at(...) + sensitivity_ci + specificity_ci}`` per operating point.

    CIs that cannot be estimated are None and explained in ``notes`` (see :func:`_safe_ci`).
    """
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
    return per_threshold
