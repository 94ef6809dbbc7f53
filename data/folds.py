"""Grouped, stratified cross-validation folds over a canonical dataset table.

Images of one group (patient, else lesion, else the image itself; see ``group_id`` in
:mod:`data.readers`) always land in the same fold: near-duplicate images of one lesion in both
training and validation would inflate the validation score. Folds are stratified by
``target`` so that each one holds a similar share of melanomas.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from data.readers import DatasetError

logger = logging.getLogger(__name__)

FOLD_COLUMN = "fold"
DEFAULT_N_FOLDS = 5
DEFAULT_SEED = 42
MIN_FOLDS = 2  # cross-validation needs at least one training and one validation fold
_REQUIRED_COLUMNS = ("group_id", "target")
_CLASSES = ((1, "melanoma (positive)"), (0, "non-melanoma (negative)"))


class FoldError(DatasetError):
    """Folds cannot be made or used as asked; the message says why and what to change."""


def assign_folds(
    df: pd.DataFrame, n_folds: int = DEFAULT_N_FOLDS, seed: int = DEFAULT_SEED,
    stratify_by: str = "target",
) -> pd.DataFrame:
    """Assign every row a cross-validation fold, grouped by ``group_id``, stratified by target.

    A diagnosis model's folds are stratified by ``diagnosis`` instead (``stratify_by``), so
    each fold holds a similar share of every class; every fold must still hold melanomas and
    non-melanomas.

    Uses :class:`sklearn.model_selection.StratifiedGroupKFold` with shuffling; the result is
    deterministic for a given seed and row order.

    Args:
        df: A canonical table (needs ``group_id`` and ``target``).
        n_folds: Number of folds (at least 2).
        seed: Random seed for the shuffle of groups.
        stratify_by: The column the folds are stratified by (``target`` or ``diagnosis``).

    Returns:
        A copy of ``df`` with an int column ``fold`` in ``0..n_folds-1``.

    Raises:
        FoldError: If ``n_folds`` < 2, there are fewer groups than folds, a column is missing,
            or a fold's validation part lacks melanomas or non-melanomas.
    """
    if n_folds < MIN_FOLDS:
        raise FoldError(f"n_folds must be at least {MIN_FOLDS}, got {n_folds}")
    missing = [c for c in (*_REQUIRED_COLUMNS, stratify_by) if c not in df.columns]
    if missing:
        raise FoldError(f"cannot assign folds: missing column(s) {missing}; "
                        f"present: {list(df.columns)}")
    if df.empty:
        raise FoldError("cannot assign folds: the dataset is empty")
    n_groups = df["group_id"].nunique()
    if n_groups < n_folds:
        raise FoldError(f"cannot make {n_folds} folds from {n_groups} group(s): "
                        f"use n_folds <= {n_groups}")

    # Each fold's validation part needs both classes (no AUC otherwise), so each class must
    # occur in at least n_folds groups; checked up front for a clear message.
    for value, name in _CLASSES:
        n_class_groups = df.loc[df["target"] == value, "group_id"].nunique()
        if n_class_groups < n_folds:
            raise FoldError(
                f"only {n_class_groups} group(s) have {name} rows, fewer than n_folds={n_folds}: "
                f"some fold would have none; use fewer folds (n_folds <= "
                f"{max(n_class_groups, MIN_FOLDS)}) or add data"
            )

    targets = df["target"].to_numpy()
    strata = targets if stratify_by == "target" else df[stratify_by].astype(str).to_numpy()
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.full(len(df), -1, dtype=np.int64)
    for fold, (_, val_positions) in enumerate(
        splitter.split(np.zeros(len(df)), strata, groups=df["group_id"].to_numpy())
    ):
        folds[val_positions] = fold
    result = df.copy()
    result[FOLD_COLUMN] = folds

    # A fold whose validation part lacks a class gives no AUC and a misleading sensitivity.
    for fold in range(n_folds):
        fold_targets = targets[folds == fold]
        for value, name in _CLASSES:
            if not (fold_targets == value).any():
                fewer = f"fewer folds (n_folds={n_folds - 1}) or " if n_folds > MIN_FOLDS else ""
                raise FoldError(
                    f"fold {fold} of {n_folds} has no {name} rows; use {fewer}another seed"
                )
    logger.info("assigned %d folds over %d rows / %d groups (seed %d); positives per fold: %s",
                n_folds, len(df), n_groups, seed,
                [int(targets[folds == f].sum()) for f in range(n_folds)])
    return result


def split(df: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table with folds into training (other folds) and validation (this fold).

    Args:
        df: A table returned by :func:`assign_folds`.
        fold: The validation fold.

    Returns:
        ``(train_df, val_df)``, each with a fresh 0..n-1 index.

    Raises:
        FoldError: If there is no ``fold`` column, the fold does not exist, or a side is empty.
    """
    if FOLD_COLUMN not in df.columns:
        raise FoldError(f"no {FOLD_COLUMN!r} column; call assign_folds() first")
    existing = sorted(int(f) for f in df[FOLD_COLUMN].unique())
    if fold not in existing:
        raise FoldError(f"fold {fold} does not exist; folds present: {existing}")
    is_val = df[FOLD_COLUMN] == fold
    train_df = df.loc[~is_val].reset_index(drop=True)
    val_df = df.loc[is_val].reset_index(drop=True)
    if train_df.empty:
        raise FoldError(f"fold {fold}: the training split is empty (every row is in fold {fold})")
    if val_df.empty:  # unreachable for an existing fold, kept as a guard for edited tables
        raise FoldError(f"fold {fold}: the validation split is empty")
    return train_df, val_df
