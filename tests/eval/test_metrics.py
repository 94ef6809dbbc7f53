"""Tests for eval.metrics: agreement with sklearn / ISIC reference code, invariants, edge cases."""

from __future__ import annotations

import json
import logging
import math
import time

import numpy as np
import pandas as pd
import pytest
from isic_challenge_scoring.metrics import auc_above_sensitivity
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from eval.metrics import (
    MetricError,
    age_band,
    auroc,
    average_precision,
    binary_metrics_at,
    bootstrap_ci,
    brier_score,
    confusion_at,
    expected_calibration_error,
    pauc_above_tpr,
    reliability_curve,
    select_thresholds,
    subgroup_table,
    summarize,
    threshold_closest_to_corner,
    threshold_for_sensitivity,
)

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def make_data(
    seed: int, n: int, prevalence: float = 0.3, separation: float = 1.0, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities from two overlapping Gaussians (logit scale)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    # Guarantee both classes even for tiny n.
    y[0], y[1] = 0, 1
    logits = rng.normal(separation * y, 1.0)
    p = 1.0 / (1.0 + np.exp(-logits))
    if decimals is not None:
        p = np.round(p, decimals)  # creates ties
    return y, p


def kaggle_pauc(solution: np.ndarray, submission: np.ndarray, min_tpr: float = 0.8) -> float:
    """The ISIC 2024 Kaggle metric, verbatim."""
    v_gt = abs(np.asarray(solution) - 1)
    v_pred = -1.0 * np.asarray(submission)
    max_fpr = abs(1 - min_tpr)
    partial_auc_scaled = roc_auc_score(v_gt, v_pred, max_fpr=max_fpr)
    return 0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / (1.0 - 0.5) * (
        partial_auc_scaled - 0.5
    )


def isic_package_pauc_converted(y: np.ndarray, p: np.ndarray, min_tpr: float = 0.8) -> float:
    """isic-challenge-scoring's auc_above_sensitivity, converted to the ISIC 2024 definition.

    The package integrates TPR (not TPR - min_tpr) from FPR* (where the ROC curve reaches
    min_tpr) to 1, so subtracting the rectangle min_tpr * (1 - FPR*) gives the 2024 value.
    FPR* is found exactly as the package does (searchsorted left + 2-point interpolation).
    """
    raw = auc_above_sensitivity(
        pd.Series(y.astype(float)), pd.Series(p), pd.Series(np.ones(len(y))), min_tpr
    )
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    k = int(np.searchsorted(tpr, min_tpr, side="left"))
    fpr_star = float(np.interp(min_tpr, tpr[k - 1 : k + 1], fpr[k - 1 : k + 1]))
    return raw - min_tpr * (1.0 - fpr_star)


def sensitivity_at(y: np.ndarray, p: np.ndarray, t: float) -> float:
    return float(np.sum((p >= t) & (y == 1)) / np.sum(y == 1))


RANDOM_CASES = [
    # (seed, n, prevalence, decimals)
    (0, 50, 0.3, None),
    (1, 200, 0.1, None),
    (2, 1000, 0.02, None),
    (3, 300, 0.5, 1),  # heavy ties
    (4, 300, 0.2, 2),  # ties
    (5, 17, 0.4, None),  # tiny
    (6, 2000, 0.05, 3),
    (7, 5, 0.5, None),
]

# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# ranking metrics
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# operating points
# --------------------------------------------------------------------------------------------

Y8 = np.array([0, 0, 0, 0, 1, 1, 1, 0])
P8 = np.array([0.1, 0.4, 0.5, 0.2, 0.5, 0.9, 0.3, 0.7])


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


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [auroc, pauc_above_tpr, average_precision, brier_score])
def test_bootstrap_ci_contains_point(metric):
    y, p = make_data(21, 600, 0.3)
    point, lo, hi = bootstrap_ci(y, p, metric, n_boot=300, seed=1)
    assert point == pytest.approx(metric(y, p))
    assert lo < point < hi


def test_bootstrap_ci_shrinks_with_n():
    y_s, p_s = make_data(5, 200, 0.3)
    y_l, p_l = make_data(6, 5000, 0.3)
    _, lo_s, hi_s = bootstrap_ci(y_s, p_s, auroc, n_boot=400)
    _, lo_l, hi_l = bootstrap_ci(y_l, p_l, auroc, n_boot=400)
    # sqrt(5000 / 200) = 5: expect roughly 5x narrower; require at least 3x.
    assert (hi_l - lo_l) * 3 < (hi_s - lo_s)


def test_bootstrap_is_reproducible_and_seed_dependent():
    y, p = make_data(8, 300)
    a = bootstrap_ci(y, p, auroc, n_boot=200, seed=3)
    assert a == bootstrap_ci(y, p, auroc, n_boot=200, seed=3)
    assert a != bootstrap_ci(y, p, auroc, n_boot=200, seed=4)


def test_bootstrap_alpha_widens_interval():
    y, p = make_data(8, 300)
    _, lo95, hi95 = bootstrap_ci(y, p, auroc, n_boot=400, alpha=0.05)
    _, lo50, hi50 = bootstrap_ci(y, p, auroc, n_boot=400, alpha=0.5)
    assert lo95 < lo50 < hi50 < hi95


def test_grouped_bootstrap_with_singleton_groups_equals_naive():
    # One row per group draws the very same random indices as the row bootstrap.
    y, p = make_data(9, 300)
    naive = bootstrap_ci(y, p, auroc, n_boot=200, seed=5)
    grouped = bootstrap_ci(y, p, auroc, groups=np.arange(len(y)), n_boot=200, seed=5)
    assert grouped == pytest.approx(naive, abs=1e-15)


def test_grouped_bootstrap_resamples_whole_groups():
    # Encode the group id in the probability and check every resample contains each group a
    # whole number of times.
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 6, size=60)
    groups = np.repeat(np.arange(60), sizes)
    p = groups / 100.0
    y = (groups % 3 == 0).astype(int)
    seen: list[np.ndarray] = []

    def recorder(yy: np.ndarray, pp: np.ndarray) -> float:
        ids = np.rint(pp * 100).astype(int)
        counts = np.bincount(ids, minlength=60)
        ok = np.all(counts % sizes == 0)
        seen.append(counts // sizes)
        assert ok, "a group was split by the resampling"
        return float(yy.mean())

    bootstrap_ci(y, p, recorder, groups=[f"patient_{g}" for g in groups], n_boot=50, seed=0)
    draws = np.array(seen[1:])  # first call is the point estimate on the full data
    assert draws.shape == (50, 60)
    assert np.all(draws.sum(axis=1) == 60)  # 60 groups drawn with replacement each time
    assert draws.max() > 1  # some groups drawn more than once


def test_grouped_bootstrap_wider_for_duplicated_rows():
    # Each original row duplicated 10x (e.g. 10 images of one lesion). The row bootstrap treats
    # the copies as independent and is ~sqrt(10) too narrow; the cluster bootstrap is not.
    y0, p0 = make_data(12, 300, 0.3)
    reps = 10
    y, p = np.repeat(y0, reps), np.repeat(p0, reps)
    groups = np.repeat(np.arange(len(y0)), reps)
    _, lo_n, hi_n = bootstrap_ci(y, p, auroc, n_boot=300, seed=0)
    _, lo_g, hi_g = bootstrap_ci(y, p, auroc, groups=groups, n_boot=300, seed=0)
    _, lo_0, hi_0 = bootstrap_ci(y0, p0, auroc, n_boot=300, seed=0)
    assert (hi_g - lo_g) > 2 * (hi_n - lo_n)
    # The cluster CI on duplicated data is about the row CI on the original data.
    assert (hi_g - lo_g) == pytest.approx(hi_0 - lo_0, rel=0.3)


def test_bootstrap_skips_single_class_resamples_and_logs(caplog):
    # 1 positive in 30 rows: ~36% of resamples have no positive.
    y = np.r_[1, np.zeros(29)].astype(int)
    p = np.linspace(1, 0, 30)
    with caplog.at_level(logging.WARNING, logger="eval.metrics"):
        point, lo, hi = bootstrap_ci(y, p, auroc, n_boot=200, seed=0)
    assert point == 1.0 and lo <= hi == 1.0
    assert any("skipped" in r.getMessage() for r in caplog.records)
    with pytest.raises(MetricError, match="undefined on"):
        bootstrap_ci(y, p, auroc, n_boot=200, seed=0, max_skip_fraction=0.1)


def test_bootstrap_raises_when_metric_always_undefined():
    y, p = make_data(0, 50)

    def never(yy: np.ndarray, pp: np.ndarray) -> float:
        if len(yy) == 50 and np.array_equal(yy, y) and np.array_equal(pp, p):
            return 0.5
        raise MetricError("undefined")

    with pytest.raises(MetricError, match="bootstrap failed"):
        bootstrap_ci(y, p, never, n_boot=20)


def test_bootstrap_bad_arguments():
    y, p = make_data(0, 50)
    with pytest.raises(MetricError, match="n_boot"):
        bootstrap_ci(y, p, auroc, n_boot=0)
    with pytest.raises(MetricError, match="alpha"):
        bootstrap_ci(y, p, auroc, alpha=1.5)
    with pytest.raises(MetricError, match="groups has length"):
        bootstrap_ci(y, p, auroc, groups=np.arange(10))
    with pytest.raises(MetricError, match="missing"):
        bootstrap_ci(y, p, auroc, groups=[None] + list(range(49)))


def test_bootstrap_auroc_is_fast():
    y, p = make_data(13, 2000, 0.2)
    start = time.perf_counter()
    bootstrap_ci(y, p, auroc, n_boot=1000)
    assert time.perf_counter() - start < 3.0


# --------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# subgroups
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "<30"), (29.9, "<30"), (30, "30-44"), (44, "30-44"), (44.5, "30-44"), (45, "45-59"),
        (59, "45-59"), (60, "60-74"), (74, "60-74"), (75, ">=75"), (90, ">=75"),
        (float("nan"), "unknown"), (None, "unknown"), ("n/a", "unknown"), (-5, "unknown"),
    ],
)
def test_age_band(age, band):
    out = age_band(pd.Series([age], index=[7], dtype=object))
    assert out.tolist() == [band]
    assert out.index.tolist() == [7]


def test_age_band_numeric_series_keeps_index():
    s = pd.Series([25.0, 50.0, np.nan, 80.0], index=["a", "b", "c", "d"])
    out = age_band(s)
    assert out.to_dict() == {"a": "<30", "b": "45-59", "c": "unknown", "d": ">=75"}


def _subgroup_df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n_big = 200
    y = (rng.random(n_big) < 0.3).astype(int)
    y[:2] = [0, 1]
    p = 1 / (1 + np.exp(-rng.normal(y * 1.5, 1.0)))
    sex = np.array(["female", "male"])[rng.integers(0, 2, n_big)]
    site = np.array(["trunk"] * n_big, dtype=object)
    df = pd.DataFrame({"prob": p, "label": y, "sex": sex, "site": site})
    extra = pd.DataFrame(
        {
            # "palms": 7 rows, 2 positives -> too small (and too few positives)
            # "scalp": 30 rows, no positives
            # "face": 40 rows, 3 positives -> too few positives
            "prob": np.r_[np.linspace(0.1, 0.9, 7), np.linspace(0, 1, 30), np.linspace(0, 1, 40)],
            "label": np.r_[[1, 1, 0, 0, 0, 0, 0], np.zeros(30), np.r_[np.ones(3), np.zeros(37)]],
            "sex": [None] * 77,
            "site": ["palms"] * 7 + ["scalp"] * 30 + ["face"] * 40,
        }
    )
    return pd.concat([df, extra], ignore_index=True)


def test_subgroup_table_flags():
    df = _subgroup_df()
    rows = subgroup_table(df, "prob", "label", by=["sex", "site"])
    table = {(r["column"], r["value"]): r for r in rows}
    assert set(table) == {
        ("sex", "female"), ("sex", "male"), ("sex", "missing"),
        ("site", "trunk"), ("site", "palms"), ("site", "scalp"), ("site", "face"),
    }
    assert [r["column"] for r in rows] == ["sex"] * 3 + ["site"] * 4
    assert rows[2]["value"] == "missing"  # missing values listed last, not dropped

    palms = table[("site", "palms")]
    assert (palms["n"], palms["n_pos"], palms["n_neg"]) == (7, 2, 5)
    assert palms["auroc"] is None
    assert palms["flag"] == "too small: n=7 < 20; too few positives: n_pos=2 < 5"

    scalp = table[("site", "scalp")]
    assert scalp["auroc"] is None and scalp["flag"] == "no positives"

    face = table[("site", "face")]
    assert face["auroc"] is None and face["flag"] == "too few positives: n_pos=3 < 5"

    for key in [("sex", "female"), ("sex", "male"), ("site", "trunk"), ("sex", "missing")]:
        r = table[key]
        sub = df[df[key[0]].fillna("missing") == key[1]]
        assert r["flag"] is None, key
        assert r["n"] == len(sub) and r["n_pos"] == int(sub["label"].sum())
        assert r["auroc"] == pytest.approx(roc_auc_score(sub["label"], sub["prob"]))

    assert sum(table[("site", v)]["n"] for v in ["trunk", "palms", "scalp", "face"]) == len(df)
    json.dumps(rows)


def test_subgroup_table_thresholds_are_parameters():
    df = _subgroup_df()
    rows = subgroup_table(df, "prob", "label", by=["site"], min_n=5, min_pos=2)
    table = {r["value"]: r for r in rows}
    assert table["palms"]["flag"] is None and table["palms"]["auroc"] is not None
    assert table["face"]["flag"] is None
    assert table["scalp"]["flag"] == "no positives"


def test_subgroup_table_with_age_band_and_errors():
    df = _subgroup_df()
    df["age"] = np.where(np.arange(len(df)) % 5 == 0, np.nan, 20 + (np.arange(len(df)) % 60))
    df["age_band"] = age_band(df["age"])
    rows = subgroup_table(df, "prob", "label", by=["age_band"])
    assert "unknown" in {r["value"] for r in rows}
    assert sum(r["n"] for r in rows) == len(df)
    with pytest.raises(MetricError, match="columns not found"):
        subgroup_table(df, "prob", "label", by=["nope"])
    df.loc[0, "prob"] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        subgroup_table(df, "prob", "label", by=["site"])
