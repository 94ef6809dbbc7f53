"""Tests for eval.metrics.checks: input validation and class-count errors, via the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics.calibration import brier_score, expected_calibration_error
from eval.metrics.checks import MetricError
from eval.metrics.ranking import auroc, average_precision, pauc_above_tpr
from eval.metrics.summary import summarize
from eval.metrics.thresholds import (
    binary_metrics_at,
    select_thresholds,
    threshold_closest_to_corner,
    threshold_for_sensitivity,
)
from tests.eval.metrics.conftest import make_data


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([], [], "empty"),
        ([0, 1, 1], [0.1, 0.2], "different lengths: 3 vs 2"),
        ([0, 1], [0.1, float("nan")], "1 NaN"),
        ([0, 1], [0.1, 1.2], "must be probabilities in \\[0, 1\\]"),
        ([0, 1], [-0.1, 0.5], "must be probabilities in \\[0, 1\\]"),
        ([0, 1], [0.1, float("inf")], "infinite"),
        ([0, 2], [0.1, 0.2], "only 0/1 labels"),
        ([0, float("nan")], [0.1, 0.2], "only 0/1 labels"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        ([0, 1], ["a", "b"], "numeric"),
    ],
)
@pytest.mark.parametrize(
    "fn",
    [auroc, pauc_above_tpr, brier_score, expected_calibration_error, threshold_closest_to_corner],
)
def test_invalid_input_raises(fn, y, p, match):
    with pytest.raises(MetricError, match=match):
        fn(y, p)


def test_metric_error_is_value_error():
    assert issubclass(MetricError, ValueError)


def test_bool_and_float_labels_accepted():
    y, p = make_data(0, 100)
    assert auroc(y.astype(bool), p) == pytest.approx(auroc(y.astype(float), p), abs=0)


@pytest.mark.parametrize("n_neg,n_pos", [(37, 0), (0, 12)])
def test_auroc_one_class_message(n_neg, n_pos):
    y = np.r_[np.zeros(n_neg), np.ones(n_pos)]
    p = np.linspace(0, 1, n_neg + n_pos)
    expected = f"AUROC needs both classes: got {n_neg} negatives and {n_pos} positives"
    with pytest.raises(MetricError) as err:
        auroc(y, p)
    assert str(err.value) == expected


@pytest.mark.parametrize(
    "fn",
    [
        pauc_above_tpr,
        threshold_closest_to_corner,
        select_thresholds,
        lambda y, p: summarize(y, p, {}, n_boot=0),
        lambda y, p: binary_metrics_at(y, p, 0.5),
    ],
)
@pytest.mark.parametrize("label", [0, 1])
def test_one_class_raises(fn, label):
    y = np.full(20, label)
    p = np.linspace(0.0, 1.0, 20)
    with pytest.raises(MetricError, match="positives|negatives"):
        fn(y, p)


def test_average_precision_and_sensitivity_threshold_need_positives():
    y, p = np.zeros(10), np.linspace(0, 1, 10)
    with pytest.raises(MetricError, match="positive"):
        average_precision(y, p)
    with pytest.raises(MetricError, match="positives"):
        threshold_for_sensitivity(y, p)
