"""Tests for eval.metrics.calibration: Brier score, ECE and reliability curve vs sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from eval.metrics.calibration import brier_score, expected_calibration_error, reliability_curve
from eval.metrics.checks import MetricError
from tests.eval.metrics.conftest import P8, RANDOM_CASES, Y8, make_data


@pytest.mark.parametrize(("seed", "n", "prev", "dec"), RANDOM_CASES)
def test_brier_agrees_with_sklearn(seed, n, prev, dec):
    y, p = make_data(seed, n, prev, decimals=dec)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)


def test_ece_zero_when_bins_perfectly_calibrated():
    # Each bin's mean probability equals its observed frequency.
    y = np.array([1, 0, 0, 0, 0] + [1, 1, 0, 0] + [1, 1, 1])
    p = np.array([0.2] * 5 + [0.5] * 4 + [1.0] * 3)
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-15)


def test_ece_hand_computed():
    # bin [0, .1]: p=.05,.05 y=1,0 -> |.05-.5|=.45 (2 samples)
    # bin (.3, .4]: p=.32,.38 y=0,1 -> mean .35, freq .5 -> .15 (2 samples)
    # bin (.9, 1]: p=.95 x4 y=1,1,1,0 -> |.95-.75|=.2 (4 samples)
    y = np.array([1, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.05, 0.05, 0.32, 0.38, 0.95, 0.95, 0.95, 0.95])
    expected = (2 * 0.45 + 2 * 0.15 + 4 * 0.2) / 8
    assert expected_calibration_error(y, p) == pytest.approx(expected, abs=1e-12)
    # With a single bin ECE is |mean(p) - mean(y)|.
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(
        abs(p.mean() - y.mean()), abs=1e-12
    )


@pytest.mark.parametrize("n_bins", [0, -3, 2.5])
def test_ece_rejects_bad_bins(n_bins):
    with pytest.raises(MetricError, match="n_bins"):
        expected_calibration_error(Y8, P8, n_bins=n_bins)


@pytest.mark.parametrize("n_bins", [5, 10, 15])
@pytest.mark.parametrize("seed", [0, 1])
def test_reliability_curve_agrees_with_sklearn(n_bins, seed):
    y, p = make_data(seed, 500, 0.3, decimals=1)  # many scores exactly on bin edges
    p = np.r_[p, 0.0, 1.0, 0.1]
    y = np.r_[y, 0, 1, 0]
    rc = reliability_curve(y, p, n_bins=n_bins)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    np.testing.assert_allclose(rc["observed_frequency"], prob_true, atol=1e-12)
    np.testing.assert_allclose(rc["mean_predicted"], prob_pred, atol=1e-12)
    assert sum(rc["count"]) == len(y)
    lengths = {len(rc[k]) for k in rc if k != "n_bins"}
    assert lengths == {len(prob_true)}
    bins = zip(rc["bin_lower"], rc["bin_upper"], rc["bin_center"], rc["mean_predicted"])
    for lo, hi, c, mp in bins:
        # tolerance: the mean of many 0.2s is 0.2000000000000001
        assert lo - 1e-12 <= mp <= hi + 1e-12 and c == pytest.approx((lo + hi) / 2)
    # ECE is the count-weighted gap of the same bins.
    ece = sum(
        n * abs(a - b)
        for n, a, b in zip(rc["count"], rc["mean_predicted"], rc["observed_frequency"])
    ) / len(y)
    assert expected_calibration_error(y, p, n_bins) == pytest.approx(ece, abs=1e-12)
