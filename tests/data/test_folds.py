"""Tests for data.folds: grouped, stratified, deterministic folds and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.folds import FoldError, assign_folds, split
from data.readers import DatasetError

N_GROUPS = 60
POSITIVE_EVERY = 4  # every 4th group is a melanoma lesion: 15 positive groups


def _table(n_groups: int = N_GROUPS, positive_every: int = POSITIVE_EVERY) -> pd.DataFrame:
    """A canonical-like table: groups of 1-3 images, targets constant within a group."""
    rng = np.random.default_rng(0)
    rows = []
    for group in range(n_groups):
        for image in range(int(rng.integers(1, 4))):
            rows.append(dict(image_id=f"img_{group}_{image}", group_id=f"L{group:03d}",
                             target=int(group % positive_every == 0)))
    return pd.DataFrame(rows)


def _groups_cross_folds(df: pd.DataFrame) -> int:
    return int((df.groupby("group_id")["fold"].nunique() > 1).sum())


def test_assign_folds_grouped_and_stratified() -> None:
    df = _table()
    folded = assign_folds(df, n_folds=5, seed=42)
    assert "fold" not in df.columns  # the input is not modified
    assert folded["fold"].dtype == np.int64
    assert sorted(folded["fold"].unique()) == [0, 1, 2, 3, 4]
    assert _groups_cross_folds(folded) == 0
    positives = folded.groupby("fold")["target"].sum()
    assert (positives > 0).all()
    pd.testing.assert_frame_equal(folded.drop(columns="fold"), df)


def test_deterministic_for_a_seed_and_different_for_another() -> None:
    df = _table()
    first = assign_folds(df, seed=42)["fold"]
    again = assign_folds(df, seed=42)["fold"]
    other = assign_folds(df, seed=7)["fold"]
    pd.testing.assert_series_equal(first, again)
    assert not first.equals(other)


def test_split_returns_disjoint_train_and_validation() -> None:
    folded = assign_folds(_table(), n_folds=4)
    for fold in range(4):
        train_df, val_df = split(folded, fold)
        assert (val_df["fold"] == fold).all() and (train_df["fold"] != fold).all()
        assert len(train_df) + len(val_df) == len(folded)
        assert not set(train_df["group_id"]) & set(val_df["group_id"])
        assert train_df.index.tolist() == list(range(len(train_df)))
        assert val_df.index.tolist() == list(range(len(val_df)))


def test_fold_error_is_a_dataset_error() -> None:
    assert issubclass(FoldError, DatasetError) and issubclass(FoldError, ValueError)


@pytest.mark.parametrize("n_folds", [1, 0, -3])
def test_too_few_folds(n_folds: int) -> None:
    with pytest.raises(FoldError, match=f"n_folds must be at least 2, got {n_folds}"):
        assign_folds(_table(), n_folds=n_folds)


def test_more_folds_than_groups() -> None:
    with pytest.raises(FoldError, match=r"cannot make 10 folds from 6 group\(s\).*n_folds <= 6"):
        assign_folds(_table(n_groups=6, positive_every=2), n_folds=10)


def test_too_few_positive_groups_suggests_fewer_folds() -> None:
    # 2 positive groups cannot give 5 folds a melanoma each.
    df = _table(n_groups=40, positive_every=20)
    with pytest.raises(FoldError) as info:
        assign_folds(df, n_folds=5)
    message = str(info.value)
    assert "only 2 group(s) have melanoma (positive) rows" in message
    assert "use fewer folds (n_folds <= 2)" in message
    assert int(assign_folds(df, n_folds=2).groupby("fold")["target"].sum().min()) > 0


class _AllPositivesInFoldZero:
    """Stand-in splitter whose folds put every positive row in fold 0 (forces the check)."""

    def __init__(self, n_splits: int, shuffle: bool, random_state: int) -> None:
        self.n_splits = n_splits

    def split(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray):  # noqa: ANN201
        folds = np.where(y == 1, 0, np.arange(len(y)) % self.n_splits)
        for fold in range(self.n_splits):
            yield np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def test_fold_without_positives_names_the_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("data.folds.StratifiedGroupKFold", _AllPositivesInFoldZero)
    with pytest.raises(FoldError, match=r"fold 1 of 3 has no melanoma \(positive\) rows; use "
                                        r"fewer folds \(n_folds=2\) or another seed"):
        assign_folds(_table(), n_folds=3)


def test_missing_columns_and_empty_table() -> None:
    with pytest.raises(FoldError, match=r"missing column\(s\) \['group_id'\]"):
        assign_folds(_table().drop(columns="group_id"))
    with pytest.raises(FoldError, match="empty"):
        assign_folds(_table().iloc[:0])


def test_split_errors() -> None:
    df = _table()
    with pytest.raises(FoldError, match="call assign_folds"):
        split(df, 0)
    folded = assign_folds(df, n_folds=3)
    with pytest.raises(FoldError, match=r"fold 3 does not exist; folds present: \[0, 1, 2\]"):
        split(folded, 3)
    with pytest.raises(FoldError, match="training split is empty"):
        split(folded.assign(fold=0), 0)


@pytest.mark.realdata
def test_real_ham10000_lesion_grouped_folds(ham10000_df: pd.DataFrame) -> None:
    folded = assign_folds(ham10000_df, n_folds=5, seed=42)
    assert sorted(folded["fold"].unique()) == [0, 1, 2, 3, 4]
    assert _groups_cross_folds(folded) == 0
    positives = folded.groupby("fold")["target"].sum()
    assert (positives > 0).all() and int(positives.sum()) == 1113
    # Stratification: every fold within a few points of the overall 11.1 % melanoma rate.
    rates = folded.groupby("fold")["target"].mean()
    assert (rates.sub(folded["target"].mean()).abs() < 0.02).all()
