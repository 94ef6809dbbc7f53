"""Tests for eval.metrics.ranking: agreement with sklearn / ISIC reference code, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from isic_challenge_scoring.metrics import auc_above_sensitivity
from sklearn.metrics import average_precision_score, roc_auc_score

from eval.metrics.checks import MetricError
from eval.metrics.ranking import auroc, average_precision, pauc_above_tpr
from tests.eval.metrics.conftest import (
    RANDOM_CASES,
    isic_package_pauc_converted,
    kaggle_pauc,
    make_data,
)


@pytest.mark.parametrize(("seed", "n", "prev", "dec"), RANDOM_CASES)
def test_auroc_and_ap_agree_with_sklearn(seed, n, prev, dec):
    y, p = make_data(seed, n, prev, decimals=dec)
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_auroc_agrees_with_sklearn_on_bootstrap_like_resamples():
    # Resamples contain many duplicated rows (exact ties between classes too).
    y, p = make_data(11, 300, 0.2, decimals=2)
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            assert auroc(y[idx], p[idx]) == pytest.approx(roc_auc_score(y[idx], p[idx]), abs=1e-12)


@pytest.mark.parametrize(
    ("p", "expected"),
    [([0.1, 0.2, 0.8, 0.9], 1.0), ([0.9, 0.8, 0.2, 0.1], 0.0), ([0.5, 0.5, 0.5, 0.5], 0.5)],
)
def test_auroc_known_values(p, expected):
    assert auroc([0, 0, 1, 1], p) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(("seed", "n", "prev", "dec"), RANDOM_CASES)
@pytest.mark.parametrize("min_tpr", [0.8, 0.5, 0.9, 0.0])
def test_pauc_agrees_with_kaggle_isic2024_formula(seed, n, prev, dec, min_tpr):
    y, p = make_data(seed, n, prev, decimals=dec)
    assert pauc_above_tpr(y, p, min_tpr) == pytest.approx(kaggle_pauc(y, p, min_tpr), abs=1e-12)


@pytest.mark.parametrize(("seed", "n", "prev", "dec"), RANDOM_CASES)
@pytest.mark.parametrize("min_tpr", [0.8, 0.6])
def test_pauc_agrees_with_isic_challenge_scoring(seed, n, prev, dec, min_tpr):
    y, p = make_data(seed, n, prev, decimals=dec)
    ours = pauc_above_tpr(y, p, min_tpr)
    assert ours == pytest.approx(isic_package_pauc_converted(y, p, min_tpr), abs=1e-12)
    assert 0.0 <= ours <= 1.0 - min_tpr


EDGE_Y = np.r_[np.zeros(40), np.ones(10)]


@pytest.mark.parametrize(
    ("name", "p", "expected"),
    [
        ("perfect", EDGE_Y * 0.9 + 0.05, 0.2),
        ("inverted", 1.0 - EDGE_Y, 0.0),
        ("constant", np.full(50, 0.3), 0.02),  # diagonal ROC: triangle 0.2 * 0.2 / 2
        ("all_ones", np.ones(50), 0.02),
    ],
)
def test_pauc_edge_cases(name, p, expected):
    ours = pauc_above_tpr(EDGE_Y, p)
    assert ours == pytest.approx(expected, abs=1e-12), name
    assert ours == pytest.approx(kaggle_pauc(EDGE_Y, p), abs=1e-12), name
    assert ours == pytest.approx(isic_package_pauc_converted(EDGE_Y, p), abs=1e-12), name


def test_isic_package_uses_a_different_scale():
    # Documents why the package value needs conversion: it is 1.0 for a perfect ranking.
    p = EDGE_Y * 0.9 + 0.05
    raw = auc_above_sensitivity(
        pd.Series(EDGE_Y), pd.Series(p), pd.Series(np.ones(len(p))), 0.8
    )
    assert raw == pytest.approx(1.0)
    assert pauc_above_tpr(EDGE_Y, p) == pytest.approx(0.2)


@pytest.mark.parametrize("min_tpr", [-0.1, 1.0, 1.5])
def test_pauc_rejects_bad_min_tpr(min_tpr):
    y, p = make_data(0, 50)
    with pytest.raises(MetricError, match="min_tpr"):
        pauc_above_tpr(y, p, min_tpr)
