"""Ensembles of bundles: combining member scores, their thresholds, and what they accept.

Lives in `models/` (below evaluation and the app) so that every entry point that serves or
scores bundles combines them by the same rules.

Mean probability keeps a probability (so calibration and the members' thresholds still mean
something). Rank average makes members with differently calibrated outputs count equally,
but its score is a rank, not a probability: calibration metrics do not apply to it and no
stored threshold fits it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from configs.choices import COMBINERS
from models.bundle import Bundle


class CompatibilityError(ValueError):
    """Data (or another member) that a bundle cannot take; the message names what and why."""


def mean_probability(scores: np.ndarray) -> np.ndarray:
    """Mean over members.

    Args:
        scores: (M, N) member probabilities.

    Returns:
        (N,) float64.
    """
    return np.asarray(scores, dtype=np.float64).mean(axis=0)


def normalized_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1]: lowest 0, highest 1, ties share their average rank.

    Args:
        x: (N,) scores.

    Returns:
        (N,) float64; 0.5 everywhere when N == 1 or all scores tie.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return np.full(x.shape, 0.5)
    return (rankdata(x, method="average") - 1.0) / (x.shape[0] - 1.0)


def rank_average(scores: np.ndarray) -> np.ndarray:
    """Mean over members of each member's normalised ranks.

    Args:
        scores: (M, N) member scores.

    Returns:
        (N,) float64 in [0, 1]; unchanged by any strictly increasing transform of a member.
    """
    scores = np.asarray(scores, dtype=np.float64)
    return np.mean([normalized_ranks(row) for row in scores], axis=0)


def combine(scores: np.ndarray | Sequence[np.ndarray], method: str = "mean") -> np.ndarray:
    """Combine member scores with `method` ("mean" or "rank").

    Args:
        scores: (M, N) member scores (or a list of M arrays of length N).
        method: "mean" or "rank".

    Returns:
        (N,) combined scores; a single member is returned as is for "mean".
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"scores must be (members, rows), got shape {arr.shape}")
    if method == "mean":
        return mean_probability(arr)
    if method == "rank":
        return rank_average(arr)
    raise ValueError(f"ensemble method must be one of {COMBINERS}, got {method!r}")


def ensemble_thresholds(member_thresholds: Sequence[Mapping[str, float]],
                        method: str) -> tuple[dict[str, float], str]:
    """Operating points for the combined score, and how they were derived.

    For "mean", each threshold name every member stores gets the mean of the members' values
    (each was chosen on that member's own validation fold). For "rank" there are none: stored
    thresholds are probabilities and a rank is not.

    Args:
        member_thresholds: each member's stored thresholds.
        method: "mean" or "rank".

    Returns:
        (thresholds by name, a sentence for the report).
    """
    if len(member_thresholds) == 1:
        return dict(member_thresholds[0]), "the bundle's stored thresholds"
    if method == "rank":
        return {}, ("rank average is not a probability: no stored threshold applies "
                    "(only 0.5 = upper half of the ranking is reported)")
    common = set(member_thresholds[0]).intersection(*map(set, member_thresholds[1:]))
    out = {name: float(np.mean([t[name] for t in member_thresholds]))
           for name in member_thresholds[0] if name in common}
    return out, "mean of the members' stored thresholds, per name"


def check_compatibility(bundles: Sequence[Bundle], df: pd.DataFrame) -> None:
    """Every sex and site value of the dataset must be in each bundle's vocabulary.

    Args:
        bundles: the members (a single bundle is a one-member list).
        df: a canonical table (columns ``sex`` and ``site``).

    Raises:
        CompatibilityError: naming the bundle, the column, the values and their row counts.
    """
    for b in bundles:
        if not b.model.uses_metadata:
            continue  # an image-only model never sees the metadata
        for column, vocabulary in (("site", b.encoder.sites), ("sex", b.encoder.sexes)):
            counts = df[column].value_counts()
            outside = {str(v): int(n) for v, n in counts.items() if v not in vocabulary}
            if outside:
                listed = ", ".join(f"{v!r} ({n} rows)" for v, n in outside.items())
                raise CompatibilityError(
                    f"dataset/bundle mismatch: {column} value(s) {listed} are not in bundle "
                    f"{b.bundle_id}'s {column} vocabulary {list(vocabulary)}")
