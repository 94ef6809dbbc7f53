"""training.components.blend: weights chosen out of fold, never on the rows they score."""

from __future__ import annotations

import numpy as np
import pytest

from eval.metrics import auroc
from models.second_stage.stack import percentile_mean, reference_quantiles, weighted_percentile
from training.components.blend import (
    blend_metric,
    candidate_weights,
    nested_blend,
    search_weights,
)

N = 400


@pytest.fixture
def scores() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Labels and three scores: informative, weakly informative, and noise."""
    rng = np.random.default_rng(0)
    y = (rng.random(N) < 0.25).astype(int)
    logits = {"strong": y + rng.normal(0, 0.6, N), "weak": y + rng.normal(0, 2.0, N),
              "noise": rng.normal(0, 1, N)}
    return {k: 1 / (1 + np.exp(-v)) for k, v in logits.items()}, y  # probabilities


def test_candidates_are_equal_then_each_alone_then_random_on_the_simplex() -> None:
    c = candidate_weights(3, 50, seed=1)
    assert c.shape == (54, 3)
    np.testing.assert_allclose(c[0], [1 / 3] * 3)
    np.testing.assert_allclose(c[1:4], np.eye(3))
    np.testing.assert_allclose(c.sum(axis=1), 1.0)
    assert (c >= 0).all()
    np.testing.assert_array_equal(c, candidate_weights(3, 50, seed=1))  # seeded


@pytest.mark.parametrize("metric", ["auroc", "pauc"])
def test_the_chosen_weights_beat_every_single_component_and_equal_weights(scores, metric) -> None:
    columns, y = scores
    m = blend_metric(metric, 0.8)
    w = search_weights(columns, y, m, trials=200, seed=0)
    assert set(w) == set(columns) and sum(w.values()) == pytest.approx(1.0)
    refs = [reference_quantiles(c) for c in columns.values()]
    chosen = m(y, weighted_percentile(list(columns.values()), refs, list(w.values())))
    for name in columns:
        assert chosen >= m(y, columns[name]) - 1e-3  # percentiles keep each one's ranking
    assert chosen >= m(y, percentile_mean(list(columns.values()), refs))
    assert w["strong"] > w["noise"]


def test_nested_blend_never_looks_at_the_labels_of_the_fold_it_scores(scores) -> None:
    columns, y = scores
    folds = np.arange(N) % 4
    m = blend_metric("auroc", 0.8)
    out = nested_blend(columns, y, folds, m, trials=100, seed=0)
    assert np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
    flipped = y.copy()
    flipped[folds == 0] = 1 - flipped[folds == 0]
    again = nested_blend(columns, flipped, folds, m, trials=100, seed=0)
    np.testing.assert_array_equal(out[folds == 0], again[folds == 0])
    assert not np.array_equal(out[folds != 0], again[folds != 0])
    assert auroc(y, out) > auroc(y, columns["noise"]) + 0.2


def test_weighted_percentile_with_equal_weights_is_the_percentile_mean() -> None:
    rng = np.random.default_rng(2)
    cols = [rng.random(50), rng.random(50)]
    refs = [reference_quantiles(c) for c in cols]
    np.testing.assert_allclose(weighted_percentile(cols, refs, [2.0, 2.0]),
                               percentile_mean(cols, refs))
    np.testing.assert_allclose(weighted_percentile(cols, refs, [1.0, 0.0]),
                               weighted_percentile(cols[:1], refs[:1], [1.0]))
