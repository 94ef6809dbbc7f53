"""DecisionRule: which score decides, its calibration map, and the JSON it is stored as."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.bundle.decision import DecisionRule, DecisionRuleError

PLATT = {"method": "platt", "slope": 2.0, "intercept": -1.0}
TEMPERATURE = {"method": "temperature", "temperature": 2.0}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_absent_rule_is_the_single_view_uncalibrated():
    rule = DecisionRule.from_dict(None)
    assert rule == DecisionRule() and rule.score == "single" and rule.method is None
    assert not rule.needs_tta
    p = np.array([0.1, 0.5, 0.93])
    np.testing.assert_array_equal(rule.calibrate(p), p)
    np.testing.assert_array_equal(rule.decide(np.array([[0.2, 0.9], [0.7, 0.1]])), [0.2, 0.7])


@pytest.mark.parametrize(("calibration", "p", "expected"), [
    (PLATT, 0.5, _sigmoid(-1.0)),  # logit 0 -> 2*0 - 1
    (PLATT, 0.8, _sigmoid(2.0 * math.log(4.0) - 1.0)),
    (TEMPERATURE, 0.8, _sigmoid(math.log(4.0) / 2.0)),
    (TEMPERATURE, 0.5, 0.5),
])
def test_maps_by_hand(calibration, p, expected):
    rule = DecisionRule(score="single", calibration=calibration)
    assert rule.calibrate(np.array([p]))[0] == pytest.approx(expected, abs=1e-12)


def test_tta_mean_is_calibrated_after_averaging():
    views = np.array([[0.2, 0.4, 0.6, 0.8, 0.2, 0.4, 0.6, 0.8]])
    rule = DecisionRule(score="tta_mean", calibration=PLATT)
    assert rule.needs_tta
    assert rule.score_of(views)[0] == pytest.approx(0.5)
    assert rule.decide(views)[0] == pytest.approx(_sigmoid(-1.0))
    # Not the mean of the calibrated views (the map is not linear).
    assert rule.decide(views)[0] != pytest.approx(rule.calibrate(views).mean())


@pytest.mark.parametrize("calibration", [PLATT, TEMPERATURE])
def test_maps_keep_the_ranking(calibration):
    p = np.random.default_rng(0).uniform(0.001, 0.999, 500)
    q = DecisionRule(calibration=calibration).calibrate(p)
    np.testing.assert_array_equal(np.argsort(p), np.argsort(q))
    assert ((q > 0) & (q < 1)).all()


def test_tta_mean_of_a_single_view_is_refused():
    with pytest.raises(DecisionRuleError, match="TTA"):
        DecisionRule(score="tta_mean").decide(np.array([[0.3], [0.4]]))


@pytest.mark.parametrize(("d", "fact"), [
    ({"score": "median"}, "decision score"),
    ({"calibration": {"method": "isotonic"}}, "calibration method"),
    ({"calibration": {"method": "platt", "slope": -1.0, "intercept": 0.0}}, "slope"),
    ({"calibration": {"method": "platt", "slope": 1.0}}, "intercept"),
    ({"calibration": {"method": "temperature", "temperature": 0.0}}, "temperature"),
    ({"calibration": {"method": "temperature", "temperature": "hot"}}, "temperature"),
    ({"calibration": [1, 2]}, "object"),
    ("platt", "object"),
])
def test_invalid_rules_say_why(d, fact):
    with pytest.raises(DecisionRuleError, match=fact):
        DecisionRule.from_dict(d)


@pytest.mark.parametrize("rule", [
    DecisionRule(),
    DecisionRule(score="tta_mean"),
    DecisionRule(score="tta_mean", calibration={**PLATT, "fitted_on": "BCN", "n": 10}),
    DecisionRule(calibration=TEMPERATURE),
])
def test_json_round_trip(rule):
    back = DecisionRule.from_dict(rule.to_dict())
    assert back.to_dict() == rule.to_dict()
    p = np.array([0.05, 0.5, 0.95])
    np.testing.assert_array_equal(back.calibrate(p), rule.calibrate(p))


def test_to_dict_is_a_copy():
    rule = DecisionRule(calibration=dict(PLATT))
    rule.to_dict()["calibration"]["slope"] = 100.0
    assert rule.calibration["slope"] == 2.0


@pytest.mark.parametrize(("rule", "text"), [
    (DecisionRule(), "single view, uncalibrated"),
    (DecisionRule(score="tta_mean", calibration=PLATT),
     "mean of the 8 TTA views, platt-calibrated"),
])
def test_describe(rule, text):
    assert rule.describe() == text
