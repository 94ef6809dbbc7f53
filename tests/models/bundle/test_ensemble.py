"""Tests for models.bundle.ensemble: mean and rank-average math, and ensemble thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics import auroc
from models.bundle.ensemble import (
    combine,
    ensemble_thresholds,
    mean_probability,
    normalized_ranks,
    rank_average,
)


def test_mean_probability_by_hand():
    scores = np.array([[0.1, 0.5, 0.9], [0.3, 0.7, 0.2]])
    np.testing.assert_allclose(mean_probability(scores), [0.2, 0.6, 0.55])
    np.testing.assert_allclose(combine(scores, "mean"), [0.2, 0.6, 0.55])
    np.testing.assert_array_equal(combine([np.array([0.25, 0.75])], "mean"), [0.25, 0.75])


def test_normalized_ranks_by_hand_with_ties():
    np.testing.assert_allclose(normalized_ranks(np.array([0.3, 0.1, 0.2])), [1.0, 0.0, 0.5])
    # Ties share the average rank: ranks 2.5, 2.5, 1 of 3 -> (r - 1) / 2.
    np.testing.assert_allclose(normalized_ranks(np.array([0.5, 0.5, 0.1])), [0.75, 0.75, 0.0])
    np.testing.assert_allclose(normalized_ranks(np.array([0.4])), [0.5])


def test_rank_average_by_hand():
    a = np.array([0.9, 0.1, 0.5, 0.3])   # ranks 4 1 3 2 -> 1, 0, 2/3, 1/3
    b = np.array([0.2, 0.4, 0.3, 0.1])   # ranks 2 4 3 1 -> 1/3, 1, 2/3, 0
    expected = [(1 + 1 / 3) / 2, (0 + 1) / 2, (2 / 3 + 2 / 3) / 2, (1 / 3 + 0) / 2]
    np.testing.assert_allclose(rank_average(np.stack([a, b])), expected)
    np.testing.assert_allclose(combine([a, b], "rank"), expected)


def test_rank_average_ignores_calibration_but_mean_does_not():
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    squashed = 1 / (1 + np.exp(-20 * (a - 0.5)))  # strictly increasing, far more extreme
    np.testing.assert_allclose(rank_average(np.stack([a, b])),
                               rank_average(np.stack([squashed, b])))
    assert not np.allclose(mean_probability(np.stack([a, b])),
                           mean_probability(np.stack([squashed, b])))


def test_single_member_rank_keeps_the_ranking():
    rng = np.random.default_rng(1)
    y = (rng.random(80) < 0.3).astype(int)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    assert auroc(y, combine([p], "rank")) == pytest.approx(auroc(y, p), abs=1e-12)


def test_combine_rejects_bad_input():
    with pytest.raises(ValueError, match="method"):
        combine(np.ones((2, 3)) / 2, "median")
    with pytest.raises(ValueError, match="shape"):
        combine(np.ones(3) / 2, "mean")


def test_ensemble_thresholds():
    t1 = {"sensitivity_target": 0.2, "closest_to_corner": 0.4}
    t2 = {"sensitivity_target": 0.4, "closest_to_corner": 0.6, "extra": 0.9}
    mean, rule = ensemble_thresholds([t1, t2], "mean")
    assert mean == pytest.approx({"sensitivity_target": 0.3, "closest_to_corner": 0.5})
    assert "mean" in rule
    ranks, rule = ensemble_thresholds([t1, t2], "rank")
    assert ranks == {} and "not a probability" in rule
    single, _ = ensemble_thresholds([t2], "rank")
    assert single == t2


def test_weighted_mean_by_hand_and_its_thresholds():
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(combine(scores, "weighted", [3.0, 1.0]), [0.3, 0.7])
    np.testing.assert_allclose(combine(scores, "weighted", [1, 1]), combine(scores, "mean"))
    thresholds, rule = ensemble_thresholds(
        [{"t": 0.2, "only_a": 0.1}, {"t": 0.6}], "weighted", [3.0, 1.0])
    assert thresholds == {"t": pytest.approx(0.3)} and rule.startswith("weighted mean")


@pytest.mark.parametrize("weights", [None, [1.0], [1.0, -1.0], [0.0, 0.0], [1.0, float("nan")]])
def test_weighted_needs_one_usable_weight_per_member(weights):
    with pytest.raises(ValueError, match="non-negative weights"):
        combine(np.array([[0.2, 0.8], [0.6, 0.4]]), "weighted", weights)


def test_weights_come_from_each_members_validation_auroc():
    from types import SimpleNamespace

    from models.bundle.ensemble import Combination, EnsembleError, auroc_weights

    def member(auroc):
        metrics = {"validation": {"auroc": auroc}} if auroc is not None else {}
        return SimpleNamespace(bundle_id=f"m{auroc}", info={"metrics": metrics})

    assert auroc_weights([member(0.9), member(0.6)]) == pytest.approx([0.6, 0.4])
    combination = Combination.of("weighted", [member(0.9), member(0.6)])
    np.testing.assert_allclose(combination(np.array([[1.0], [0.0]])), [0.6])
    assert combination.probabilistic and not Combination("rank").probabilistic
    with pytest.raises(EnsembleError, match="records no validation AUROC"):
        auroc_weights([member(0.9), member(None)])
