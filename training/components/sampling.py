"""Training draw weights: balance classes, and give each data source its share of the draws.

With several sources one large collection (BCN's 12,381 images) would otherwise dominate every
epoch; ``--source-weights`` fixes each source's share of the draws instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def sample_weights(labels: np.ndarray, sources: np.ndarray, *, balance_classes: bool,
                   source_weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-row draw weights (not normalised) for a WeightedRandomSampler.

    Args:
        labels: class index (or 0/1 melanoma) per training row.
        sources: source name per training row.
        balance_classes: every class is drawn equally often in expectation.
        source_weights: each named source's share of the draws is proportional to its weight;
            sources not named get weight 1. Classes are balanced within each source.

    Returns:
        float64 weights, one per row, summing to 1.

    Raises:
        ValueError: a named source is not in the training data, or a weight is negative or
            all weights of present sources are 0.
    """
    labels = np.asarray(labels).astype(np.int64)
    sources = np.asarray(sources).astype(str)
    weights = np.ones(len(labels), dtype=np.float64)
    groups = ([sources == s for s in np.unique(sources)] if source_weights
              else [np.ones(len(labels), dtype=bool)])
    if source_weights:
        unknown = sorted(set(source_weights) - set(np.unique(sources)))
        if unknown:
            raise ValueError(f"--source-weights names {unknown}, not in the training data "
                             f"(sources: {sorted(np.unique(sources))})")
        if any(w < 0 for w in source_weights.values()):
            raise ValueError(f"--source-weights must not be negative: {dict(source_weights)}")
    for mask in groups:
        if balance_classes:
            counts = np.bincount(labels[mask])
            weights[mask] = 1.0 / counts[labels[mask]]
        share = (source_weights.get(str(sources[mask][0]), 1.0) if source_weights else 1.0)
        weights[mask] *= share / weights[mask].sum()
    total = weights.sum()
    if total <= 0:
        raise ValueError("every training source has weight 0")
    return weights / total

