"""Tests for eval.metrics.summary: the metrics.json core of one split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from eval.metrics.calibration import expected_calibration_error
from eval.metrics.checks import MetricError
from eval.metrics.summary import summarize
from eval.metrics.thresholds import binary_metrics_at, select_thresholds
from tests.eval.metrics.conftest import kaggle_pauc, make_data


def test_summarize_structure_and_values():
    y, p = make_data(14, 800, 0.2)
    groups = np.repeat(np.arange(400), 2)
    thr = select_thresholds(y, p)
    s = summarize(y, p, thr, groups=groups, n_boot=200, seed=0)
    for key in ["n", "n_pos", "n_neg", "auroc", "auroc_ci", "average_precision", "pauc80",
                "pauc80_ci", "brier", "ece", "thresholds"]:
        assert key in s, key
    assert (s["n"], s["n_pos"], s["n_neg"]) == (800, int(y.sum()), 800 - int(y.sum()))
    assert s["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert s["pauc80"] == pytest.approx(kaggle_pauc(y, p))
    assert s["average_precision"] == pytest.approx(average_precision_score(y, p))
    assert s["brier"] == pytest.approx(brier_score_loss(y, p))
    assert s["ece"] == pytest.approx(expected_calibration_error(y, p))
    assert s["auroc_ci"][0] < s["auroc"] < s["auroc_ci"][1]
    assert s["pauc80_ci"][0] < s["pauc80"] < s["pauc80_ci"][1]
    assert s["grouped_bootstrap"] is True
    assert set(s["thresholds"]) == {"closest_to_corner", "sensitivity_target", "0.5"}
    for name, entry in s["thresholds"].items():
        assert entry == {**binary_metrics_at(y, p, entry["threshold"]), **entry}
        lo, hi = entry["sensitivity_ci"]
        assert lo <= entry["sensitivity"] <= hi, name
        lo, hi = entry["specificity_ci"]
        assert lo <= entry["specificity"] <= hi, name
    assert s["thresholds"]["0.5"]["threshold"] == 0.5
    assert s["thresholds"]["sensitivity_target"]["sensitivity"] >= 0.9
    json.dumps(s)  # must be JSON serialisable as-is


def test_summarize_min_tpr_key_and_no_bootstrap():
    y, p = make_data(15, 300)
    s = summarize(y, p, {"custom": 0.3}, n_boot=0, min_tpr=0.9)
    assert "pauc90" in s and "pauc90_ci" in s and "pauc80" not in s
    assert s["pauc90_ci"] is None and s["auroc_ci"] is None
    assert s["pauc90"] == pytest.approx(kaggle_pauc(y, p, 0.9))
    assert set(s["thresholds"]) == {"custom", "0.5"}
    assert s["thresholds"]["custom"]["sensitivity_ci"] is None


def test_summarize_rejects_non_numeric_threshold():
    y, p = make_data(15, 100)
    with pytest.raises(MetricError, match="must be a number"):
        summarize(y, p, {"bad": "high"}, n_boot=0)
