"""Tests for eval.metrics.thresholds: operating-point metrics and threshold selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.metrics.checks import MetricError
from eval.metrics.thresholds import (
    binary_metrics_at,
    confusion_at,
    select_thresholds,
    threshold_closest_to_corner,
    threshold_for_sensitivity,
)
from tests.eval.metrics.conftest import P8, RANDOM_CASES, Y8, make_data, sensitivity_at


def test_confusion_at_uses_greater_equal():
    # 0.5 ties are positive: preds = [0,0,1,0,1,1,0,1]
    assert confusion_at(Y8, P8, 0.5) == {"tn": 3, "fp": 2, "fn": 1, "tp": 2}
    assert confusion_at(Y8, P8, np.nextafter(0.5, 1.0)) == {"tn": 4, "fp": 1, "fn": 2, "tp": 1}


def test_binary_metrics_at_values():
    m = binary_metrics_at(Y8, P8, 0.5)
    assert set(m) == {
        "threshold", "sensitivity", "specificity", "precision", "f1", "accuracy",
        "tn", "fp", "fn", "tp",
    }
    assert m["threshold"] == 0.5
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["accuracy"] == pytest.approx(5 / 8)


def test_binary_metrics_precision_zero_when_no_predicted_positive():
    m = binary_metrics_at(Y8, P8, 0.95)
    assert m["tp"] == 0 and m["fp"] == 0
    assert m["precision"] == 0.0 and m["f1"] == 0.0 and m["sensitivity"] == 0.0
    assert m["specificity"] == 1.0


def test_binary_metrics_rejects_nan_threshold():
    with pytest.raises(MetricError, match="threshold"):
        binary_metrics_at(Y8, P8, float("nan"))


@pytest.mark.parametrize(("seed", "n", "prev", "dec"), RANDOM_CASES)
@pytest.mark.parametrize("target", [0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
def test_threshold_for_sensitivity_invariants(seed, n, prev, dec, target):
    y, p = make_data(seed, n, prev, decimals=dec)
    t = threshold_for_sensitivity(y, p, target)
    assert math.isfinite(t) and 0.0 <= t <= 1.0
    assert sensitivity_at(y, p, t) >= target
    # It is the highest such threshold: brute force over all candidate scores.
    candidates = np.unique(p)
    feasible = [c for c in candidates if sensitivity_at(y, p, c) >= target]
    assert t == max(feasible)
    if dec is None:  # distinct scores: the next representable threshold misses the target
        assert sensitivity_at(y, p, np.nextafter(t, 2.0)) < target


@pytest.mark.parametrize(("target", "n_pos", "k"), [(0.28, 25, 7), (0.56, 25, 14), (0.14, 50, 7)])
def test_threshold_for_sensitivity_float_rounding(target, n_pos, k):
    # target * n_pos rounds up in floating point (0.28 * 25 == 7.000000000000001), so a naive
    # ceil() would demand k + 1 positives; but k / n_pos >= target already holds.
    assert target * n_pos > k and k / n_pos >= target
    y = np.r_[np.ones(n_pos), np.zeros(5)].astype(int)
    p = np.r_[np.linspace(0.95, 0.5, n_pos), np.linspace(0.0, 0.4, 5)]
    t = threshold_for_sensitivity(y, p, target)
    assert t == p[k - 1]
    assert sensitivity_at(y, p, t) >= target
    assert sensitivity_at(y, p, np.nextafter(t, 2.0)) < target


@pytest.mark.parametrize("target", [0.0, -0.5, 1.01])
def test_threshold_for_sensitivity_rejects_bad_target(target):
    with pytest.raises(MetricError, match="target"):
        threshold_for_sensitivity(Y8, P8, target)


@pytest.mark.parametrize(("seed", "n", "prev", "dec"), RANDOM_CASES)
def test_threshold_closest_to_corner_is_optimal(seed, n, prev, dec):
    y, p = make_data(seed, n, prev, decimals=dec)
    t = threshold_closest_to_corner(y, p)
    assert math.isfinite(t) and 0.0 <= t <= 1.0
    assert t in set(p.tolist())

    def dist(th: float) -> float:
        cm = confusion_at(y, p, th)
        fpr = cm["fp"] / (cm["fp"] + cm["tn"])
        tpr = cm["tp"] / (cm["tp"] + cm["fn"])
        return math.hypot(fpr, 1 - tpr)

    best = min(dist(c) for c in np.unique(p))
    assert dist(t) == pytest.approx(best, abs=1e-12)


def test_threshold_closest_to_corner_perfect_and_inverted():
    y = np.array([0, 0, 1, 1])
    assert threshold_closest_to_corner(y, np.array([0.1, 0.2, 0.8, 0.9])) == 0.8
    t = threshold_closest_to_corner(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert math.isfinite(t) and 0.0 <= t <= 1.0


def test_select_thresholds():
    y, p = make_data(3, 400)
    out = select_thresholds(y, p, sensitivity_target=0.85)
    assert set(out) == {"closest_to_corner", "sensitivity_target", "sensitivity_target_value"}
    assert out["sensitivity_target_value"] == 0.85
    assert out["closest_to_corner"] == threshold_closest_to_corner(y, p)
    assert out["sensitivity_target"] == threshold_for_sensitivity(y, p, 0.85)
    assert select_thresholds(y, p)["sensitivity_target_value"] == 0.9
