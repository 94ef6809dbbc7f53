"""Per-subgroup analysis: age bands, and an AUROC per subgroup with unscorable groups flagged.

Subgroups (sex, anatomical site, age band) show whether a model works for everyone; groups too
small or lacking a class stay in the table with a flag instead of silently disappearing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from eval.metrics.checks import MetricError, _class_counts, _validate
from eval.metrics.ranking import auroc

logger = logging.getLogger(__name__)

# Subgroup analysis: below these sizes an AUROC is too noisy to report (flagged, not hidden).
DEFAULT_SUBGROUP_MIN_N: int = 20
DEFAULT_SUBGROUP_MIN_POS: int = 5
# Age bands (lower edges, years) used for subgroup analysis: <30, 30-44, 45-59, 60-74, >=75.
AGE_BAND_EDGES: tuple[int, ...] = (30, 45, 60, 75)
AGE_BAND_UNKNOWN: str = "unknown"
SUBGROUP_MISSING_VALUE: str = "missing"


def age_band(age_series: pd.Series) -> pd.Series:
    """Map ages in years to bands ``"<30", "30-44", "45-59", "60-74", ">=75"``.

    Missing, non-numeric or negative ages become ``"unknown"`` so that such rows stay visible
    in subgroup tables instead of being dropped.

    Args:
        age_series: Ages in years (pandas Series; any numeric or object dtype).

    Returns:
        Series of band labels (object dtype) with the same index, named ``"age_band"``.
    """
    ages = pd.to_numeric(pd.Series(age_series), errors="coerce")
    n_negative = int((ages < 0).sum())
    if n_negative:
        logger.warning("age_band: %d negative age(s) mapped to %r", n_negative, AGE_BAND_UNKNOWN)
        ages = ages.mask(ages < 0)
    labels = [f"<{AGE_BAND_EDGES[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_BAND_EDGES[:-1], AGE_BAND_EDGES[1:])]
    labels.append(f">={AGE_BAND_EDGES[-1]}")
    # Band index = number of edges <= age, so 44.9 -> "30-44" and 45 -> "45-59".
    band_idx = np.searchsorted(np.asarray(AGE_BAND_EDGES, dtype=float), ages.to_numpy(
        dtype=float, na_value=np.nan), side="right")
    out = np.asarray(labels, dtype=object)[np.minimum(band_idx, len(labels) - 1)]
    out[ages.isna().to_numpy()] = AGE_BAND_UNKNOWN
    return pd.Series(out, index=ages.index, name="age_band", dtype=object)


def subgroup_table(
    df: pd.DataFrame,
    prob_col: str,
    label_col: str,
    by: Sequence[str],
    min_n: int = DEFAULT_SUBGROUP_MIN_N,
    min_pos: int = DEFAULT_SUBGROUP_MIN_POS,
    min_neg: int | None = None,
) -> list[dict[str, Any]]:
    """AUROC per subgroup (e.g. sex, anatomical site, age band), flagging unscorable groups.

    Every value of every ``by`` column appears in the output, including missing values (as
    ``"missing"``); groups that are too small or lack a class get ``auroc=None`` and a ``flag``
    that says why, so a reader sees them rather than a silently shorter table.

    Args:
        df: One row per image with predictions, labels and subgroup columns.
        prob_col: Column with predicted probabilities.
        label_col: Column with 0/1 labels.
        by: Subgroup columns, each analysed separately.
        min_n: Minimum rows for an AUROC to be reported.
        min_pos: Minimum positives for an AUROC to be reported.
        min_neg: Minimum negatives; defaults to ``min_pos``.

    Returns:
        List of dicts ``{"column", "value", "n", "n_pos", "n_neg", "auroc", "flag"}``, ordered
        by ``by`` then by value; ``flag`` is None when the AUROC is reported, else e.g.
        ``"too small: n=7 < 20; no positives"``.

    Raises:
        MetricError: If a column is missing or labels/probabilities are invalid.
    """
    min_neg = min_pos if min_neg is None else min_neg
    missing_cols = [c for c in [prob_col, label_col, *by] if c not in df.columns]
    if missing_cols:
        raise MetricError(f"subgroup_table: columns not found: {missing_cols}")
    # Validate once on the whole frame so every error names the real problem.
    _validate(df[label_col].to_numpy(), df[prob_col].to_numpy())

    rows: list[dict[str, Any]] = []
    for col in by:
        values = df[col].astype(object).where(df[col].notna(), SUBGROUP_MISSING_VALUE)
        keys = sorted(values.unique(), key=lambda v: (v == SUBGROUP_MISSING_VALUE, str(v)))
        for value in keys:
            sub = df.loc[(values == value).to_numpy()]
            y, p = _validate(sub[label_col].to_numpy(), sub[prob_col].to_numpy())
            n = int(y.shape[0])
            n_neg, n_pos = _class_counts(y)
            reasons: list[str] = []
            if n < min_n:
                reasons.append(f"too small: n={n} < {min_n}")
            if n_pos == 0:
                reasons.append("no positives")
            elif n_pos < min_pos:
                reasons.append(f"too few positives: n_pos={n_pos} < {min_pos}")
            if n_neg == 0:
                reasons.append("no negatives")
            elif n_neg < min_neg:
                reasons.append(f"too few negatives: n_neg={n_neg} < {min_neg}")
            rows.append(
                {
                    "column": col,
                    "value": value if isinstance(value, str) else str(value),
                    "n": n,
                    "n_pos": n_pos,
                    "n_neg": n_neg,
                    "auroc": None if reasons else auroc(y, p),
                    "flag": "; ".join(reasons) if reasons else None,
                }
            )
    return rows
