"""Blend weights of the second stage's components, measured out of fold.

The ISIC 2024 references rank-average their CNNs, embedding GBDTs and tabular GBDT with weights
tuned on out-of-fold predictions. Here each component's score becomes its percentile among its
own out-of-fold scores (`models.second_stage.stack.weighted_percentile`, so one image is scored
the same way later), and the weights are the best of: equal weights, each component alone, and
`trials` random points of the simplex (Dirichlet(1), seeded), by the chosen metric; ties keep
the earlier candidate, so equal weights win when nothing beats them. `nested_blend` estimates
what that choice is worth without looking at the rows it scores: each fold's blend uses weights
and percentile references chosen on the other folds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from eval.metrics import auroc, pauc_above_tpr
from models.second_stage.stack import percentile, reference_quantiles, weighted_percentile

Metric = Callable[[np.ndarray, np.ndarray], float]


def blend_metric(name: str, min_tpr: float) -> Metric:
    """The metric the weights maximise: "pauc" (above `min_tpr`, ISIC 2024's) or "auroc"."""
    if name == "auroc":
        return auroc
    return lambda y, p: pauc_above_tpr(y, p, min_tpr=min_tpr)


def candidate_weights(k: int, trials: int, seed: int) -> np.ndarray:
    """(1 + k + trials, k) weight vectors: equal, each one alone, then random ones."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.full((1, k), 1.0 / k), np.eye(k), rng.dirichlet(np.ones(k), trials)])


def search_weights(columns: Mapping[str, np.ndarray], y: np.ndarray, metric: Metric, *,
                   trials: int, seed: int) -> dict[str, float]:
    """The candidate weights whose blend of `columns` (percentiles among themselves) scores
    best on labels `y`."""
    names = list(columns)
    # Each column's percentiles once; a candidate's blend is then one weighted sum
    # (`weighted_percentile`'s arithmetic, without recomputing the percentiles per candidate).
    ranks = np.stack([percentile(columns[n], reference_quantiles(columns[n])) for n in names])
    candidates = candidate_weights(len(names), trials, seed)
    blends = np.clip((candidates / candidates.sum(axis=1, keepdims=True)) @ ranks, 0.0, 1.0)
    scores = [metric(y, b) for b in blends]
    best = candidates[int(np.argmax(scores))]
    return {n: float(w) for n, w in zip(names, best, strict=True)}


def nested_blend(columns: Mapping[str, np.ndarray], y: np.ndarray, folds: np.ndarray,
                 metric: Metric, *, trials: int, seed: int) -> np.ndarray:
    """Each fold's rows blended with weights and references chosen on the other folds."""
    out = np.full(len(y), np.nan)
    for fold in sorted(set(folds)):
        test = folds == fold
        train = {n: c[~test] for n, c in columns.items()}
        weights = search_weights(train, y[~test], metric, trials=trials, seed=seed)
        out[test] = weighted_percentile([columns[n][test] for n in columns],
                                        [reference_quantiles(c) for c in train.values()],
                                        [weights[n] for n in columns])
    return out
