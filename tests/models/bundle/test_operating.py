"""Operating curve: exact figures against a brute-force count, lookups, JSON, threshold choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.bundle.operating import (
    OperatingCurve,
    OperatingPointError,
    choose_threshold,
)


def _brute(y: np.ndarray, p: np.ndarray, t: float) -> tuple[float, float, float]:
    flagged = p >= t
    return (flagged[y == 1].mean(), 1.0 - flagged[y == 0].mean(), flagged.mean())


@pytest.mark.parametrize("seed", range(4))
def test_every_lookup_equals_counting_the_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    y[:2] = [0, 1]
    p = np.round(rng.random(300), 2)  # ties on purpose
    curve = OperatingCurve.from_scores(y, p)
    for t in [0.0, *np.unique(p), 0.333, 1.0]:
        op = curve.at(t)
        assert (op["sensitivity"], op["specificity"], op["flagged"]) == pytest.approx(
            _brute(y, p, t))


def test_subsampled_curve_is_exact_at_included_thresholds_and_conservative_elsewhere() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 2000)
    p = rng.random(2000)
    keep = float(np.sort(p)[1234])
    curve = OperatingCurve.from_scores(y, p, max_points=50, include=[keep])
    assert len(curve.thresholds) <= 51
    op = curve.at(keep)
    assert (op["sensitivity"], op["specificity"], op["flagged"]) == pytest.approx(
        _brute(y, p, keep))
    for t in rng.random(20):
        # Between stored points the nearest stored threshold above is reported: it never
        # claims more sensitivity than the requested threshold really gives.
        assert curve.at(t)["sensitivity"] <= _brute(y, p, t)[0] + 1e-12


def test_threshold_for_sensitivity_is_the_highest_reaching_it() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.35, 0.2, 0.7, 0.4, 0.3, 0.25, 0.1, 0.05])
    curve = OperatingCurve.from_scores(y, p)
    assert curve.threshold_for_sensitivity(0.75) == 0.35
    assert curve.threshold_for_sensitivity(0.76) == 0.2
    assert curve.threshold_for_sensitivity(1.0) == 0.2
    assert curve.at(0.95) == {"threshold": 0.95, "sensitivity": 0.0, "specificity": 1.0,
                              "flagged": 0.0}


def test_json_round_trip_keeps_thresholds_exact() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 100), rng.random(100).astype(np.float32).astype(np.float64)
    y[:2] = [0, 1]
    curve = OperatingCurve.from_scores(y, p)
    back = OperatingCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    np.testing.assert_array_equal(back.thresholds, curve.thresholds)
    for t in p[:10]:
        assert back.at(t)["sensitivity"] == pytest.approx(curve.at(t)["sensitivity"], abs=1e-6)


@pytest.mark.parametrize(("bad", "reason"), [
    ({"n": 1}, "malformed"),
    ({"n": 2, "n_pos": 1, "thresholds": [0.2, 0.5], "sensitivity": [0, 1],
      "specificity": [1, 0], "flagged": [0, 1]}, "strictly decrease"),
    ({"n": 2, "n_pos": 1, "thresholds": [0.5], "sensitivity": [0, 1], "specificity": [1],
      "flagged": [0]}, "unequal length"),
])
def test_malformed_json_is_refused(bad: dict, reason: str) -> None:
    with pytest.raises(OperatingPointError, match=reason):
        OperatingCurve.from_dict(bad)


@pytest.mark.parametrize(("y", "p"), [([1, 1], [0.2, 0.3]), ([0, 1], [0.2, float("nan")]),
                                      ([0, 1, 1], [0.2, 0.3])])
def test_unusable_scores_are_refused(y: list, p: list) -> None:
    with pytest.raises(OperatingPointError):
        OperatingCurve.from_scores(y, p)


CURVE = OperatingCurve.from_scores([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1])


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, (0.45, "sensitivity_target")),
    ({"threshold": ""}, (0.45, "sensitivity_target")),
    ({"threshold": 0.4504, "tolerance": 0.0005}, (0.45, "sensitivity_target")),
    ({"threshold": 0.46, "tolerance": 0.0005}, (0.46, "custom")),
    ({"threshold": "0.7"}, (0.7, "custom")),
    ({"target_sensitivity": 1.0}, (0.4, "sensitivity_1")),
    ({"target_sensitivity": 0.5, "threshold": 0.1}, (0.8, "sensitivity_0.5")),
])
def test_choose_threshold(kwargs: dict, expected: tuple) -> None:
    assert choose_threshold("sensitivity_target", 0.45, CURVE, **kwargs) == expected


@pytest.mark.parametrize(("curve", "kwargs", "reason"), [
    (CURVE, {"threshold": -0.1}, "outside 0..1"),
    (CURVE, {"threshold": "high"}, "not a number"),
    (CURVE, {"target_sensitivity": 1.2}, "outside 0..1"),
    (None, {"target_sensitivity": 0.9}, "stores no validation curve"),
])
def test_choose_threshold_refuses_with_the_reason(curve, kwargs: dict, reason: str) -> None:
    with pytest.raises(OperatingPointError, match=reason):
        choose_threshold("sensitivity_target", 0.45, curve, **kwargs)
