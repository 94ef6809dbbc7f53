"""Temperature scaling: ranking unchanged, recovers a known temperature, refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics.ranking import auroc
from models.bundle.calibration import (
    apply_platt,
    apply_temperature,
    fit_platt,
    fit_temperature,
    nll,
)


def test_identity_and_monotone():
    p = np.array([0.01, 0.2, 0.5, 0.7, 0.99])
    np.testing.assert_allclose(apply_temperature(p, 1.0), p, atol=1e-9)
    for t in (0.3, 2.5):
        q = apply_temperature(p, t)
        assert (np.diff(q) > 0).all()
        assert q[2] == pytest.approx(0.5)
    # By hand: logit(0.2) = -ln 4; / 2 -> sigmoid(-ln 2) = 1/3.
    assert apply_temperature(np.array([0.2]), 2.0)[0] == pytest.approx(1 / 3)


def test_fit_recovers_the_temperature_of_overconfident_scores():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, 20000)  # 3z stays inside the clip range: no ties from saturation
    y = (rng.random(20000) < 1 / (1 + np.exp(-z))).astype(int)  # calibrated at T = 1
    overconfident = 1 / (1 + np.exp(-3 * z))  # the model's log-odds are 3x too large
    t = fit_temperature(y, overconfident)
    assert t == pytest.approx(3.0, rel=0.05)
    calibrated = apply_temperature(overconfident, t)
    assert nll(y, calibrated) < nll(y, overconfident)
    assert auroc(y, calibrated) == pytest.approx(auroc(y, overconfident), abs=1e-12)


@pytest.mark.parametrize(("y", "p", "message"), [
    ([1, 1], [0.2, 0.3], "both"), ([0, 1], [0.2], "equal 1-D")])
def test_fit_refuses_bad_input(y, p, message):
    with pytest.raises(ValueError, match=message):
        fit_temperature(y, p)


@pytest.mark.parametrize("t", [0.0, -1.0, float("inf"), float("nan")])
def test_apply_refuses_bad_temperature(t):
    with pytest.raises(ValueError, match="positive and finite"):
        apply_temperature([0.5], t)


def test_platt_recovers_a_shifted_and_scaled_model_and_beats_temperature():
    rng = np.random.default_rng(1)
    z = rng.normal(-2, 1.5, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-z))).astype(int)
    # The model's log-odds are 2z + 3: overconfident and shifted up (a balanced sampler's prior).
    shifted = 1 / (1 + np.exp(-(2 * z + 3)))
    slope, intercept = fit_platt(y, shifted)
    assert slope == pytest.approx(0.5, rel=0.05) and intercept == pytest.approx(-1.5, abs=0.1)
    platt = apply_platt(shifted, slope, intercept)
    temperature = apply_temperature(shifted, fit_temperature(y, shifted))
    assert nll(y, platt) < nll(y, temperature) < nll(y, shifted)
    assert auroc(y, platt) == pytest.approx(auroc(y, shifted), abs=1e-12)
    # By hand: logit(0.5) = 0 -> sigmoid(intercept).
    assert apply_platt([0.5], 2.0, np.log(3))[0] == pytest.approx(0.75)


@pytest.mark.parametrize(("slope", "intercept"), [(0.0, 0.0), (-1.0, 0.0), (1.0, float("nan"))])
def test_platt_refuses_bad_parameters(slope, intercept):
    with pytest.raises(ValueError, match="slope must be positive"):
        apply_platt([0.5], slope, intercept)
