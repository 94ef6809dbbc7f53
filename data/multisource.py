"""Several datasets into one canonical table (multi-source training).

:func:`read_sources` reads several datasets (each with its own format and image folder):

* folds are assigned **per dataset**, before anything is combined, so a dataset's folds are the
  same as when it is read alone (a multi-source model's HAM10000 fold 0 is the HAM10000-only
  models' fold 0; ``eval.evaluate --fold`` reproduces it from the single dataset);
* the same image in two datasets (ISIC ids, ``_downsampled`` suffix ignored) is kept once: the
  copy with more pixels, or the first dataset's on a tie;
* images of held-out datasets (``exclude``: e.g. ISIC 2017, kept for external validation) are
  removed, as are the other images of their groups; with ``near_copy_similarity``, so are images
  whose content matches a held-out image under another id (:mod:`data.near_copies`);
* a group (lesion/patient) found in several datasets is put into one fold (the first dataset's).

:func:`source_split` holds whole sources out (leave-one-source-out validation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data import near_copies
from data.images import image_size
from data.readers import DatasetError, OnError, read_dataset
from data.sources import canonical_image_key

logger = logging.getLogger(__name__)

DATASET_COLUMN = "dataset"  # which input dataset (0, 1, ...) a combined row came from


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset to read: its folder or CSV, format and (optional) image folder."""

    path: Path
    fmt: str = "auto"
    images_dir: Path | None = None

    def read(self, on_error: OnError) -> pd.DataFrame:
        """The dataset's canonical table (see :func:`data.readers.read_dataset`)."""
        return read_dataset(self.path, fmt=self.fmt, images_dir=self.images_dir,
                            on_error=on_error)


def dataset_specs(paths: Sequence[Path], formats: Sequence[str] = ("auto",),
                  images_dirs: Sequence[Path | None] = ()) -> list[DatasetSpec]:
    """Pair each dataset path with its format and image folder.

    Args:
        paths: dataset folders or CSV files.
        formats: one format for all, or one per path.
        images_dirs: none, one for all (single dataset only), or one per path.

    Raises:
        DatasetError: when the lists' lengths do not match.
    """
    n = len(paths)
    if not n:
        raise DatasetError("no dataset given")
    if len(formats) not in (1, n):
        raise DatasetError(f"{len(formats)} data formats for {n} datasets: give one for all "
                           "or one per --data, in the same order")
    if len(images_dirs) not in (0, n) and not (n == 1 and len(images_dirs) == 1):
        raise DatasetError(f"{len(images_dirs)} image folders for {n} datasets: give one per "
                           "--data, in the same order")
    fmts = list(formats) * n if len(formats) == 1 else list(formats)
    dirs = list(images_dirs) or [None] * n
    return [DatasetSpec(Path(p), f, d) for p, f, d in zip(paths, fmts, dirs, strict=True)]


def _pixels(path: str) -> int:
    width, height = image_size(path)
    return width * height


def drop_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per image key: the one with most pixels (first dataset's on a tie)."""
    keys = df["image_id"].map(canonical_image_key)
    dup = keys.duplicated(keep=False)
    if not dup.any():
        return df
    pixels = pd.Series(0, index=df.index)
    pixels[dup] = [_pixels(p) for p in df.loc[dup, "image_path"]]
    order = pd.DataFrame({"key": keys, "pixels": -pixels, "dataset": df[DATASET_COLUMN],
                          "pos": range(len(df))}).sort_values(["key", "pixels", "dataset", "pos"])
    keep = ~order.duplicated("key", keep="first")
    kept = df.loc[order.index[keep.to_numpy()]].sort_index()
    for (origin, source), count in (df.loc[~df.index.isin(kept.index)]
                                    .groupby([DATASET_COLUMN, "source"]).size().items()):
        logger.info("dataset %d: %d %s image(s) dropped, also in another dataset at a higher "
                    "(or equal) resolution", origin, count, source)
    return kept


def with_groups(df: pd.DataFrame, hit: pd.Series | np.ndarray) -> np.ndarray:
    """The rows ``hit`` marks plus every other row of their groups (lesions/patients)."""
    hit = np.asarray(hit, bool)
    return hit | df["group_id"].isin(set(df.loc[hit, "group_id"])).to_numpy()


def drop_excluded(df: pd.DataFrame, excluded: pd.DataFrame) -> pd.DataFrame:
    """Remove images of ``excluded`` (by image key) and the rest of their groups."""
    keys = set(excluded["image_id"].map(canonical_image_key))
    hit = df["image_id"].map(canonical_image_key).isin(keys)
    drop = with_groups(df, hit)
    if drop.any():
        logger.info("%d image(s) left out: held-out images (%d) and their groups' others",
                    int(drop.sum()), int(hit.sum()))
    return df.loc[~drop]


def drop_near_copies(df: pd.DataFrame, excluded: Mapping[str, pd.DataFrame],
                     min_similarity: float) -> tuple[pd.DataFrame, dict[str, int]]:
    """Remove images that look like an image of a held-out set, and the rest of their groups.

    Catches what :func:`drop_excluded` cannot: the same photograph or lesion re-published under
    another id with no shared lesion id (see :mod:`data.near_copies`).

    Args:
        df: the combined table.
        excluded: each held-out set's name and table.
        min_similarity: fingerprint similarity from which an image counts as a copy.

    Returns:
        The remaining rows, and per held-out set the number of images matching it (before their
        groups' other images are added).
    """
    counts = dict.fromkeys(excluded, 0)
    sets = {name: table for name, table in excluded.items() if not table.empty}
    if df.empty or not sets:
        return df, counts
    own = near_copies.fingerprints(df["image_path"].tolist(),
                                   description="near-copy check: training data")
    hit = np.zeros(len(df), bool)
    for name, table in sets.items():
        held = near_copies.fingerprints(table["image_path"].tolist(),
                                        description=f"near-copy check: {name}")
        copies = near_copies.nearest(own, held)[1] >= min_similarity
        counts[name] = int(copies.sum())
        hit |= copies
    drop = with_groups(df, hit)
    if drop.any():
        logger.info("%d image(s) left out: %d near-copies of held-out images (similarity >= "
                    "%.3f; %s) and their groups' others", int(drop.sum()), int(hit.sum()),
                    min_similarity, counts)
    return df.loc[~drop], counts


def unify_group_folds(df: pd.DataFrame, fold_column: str = "fold") -> pd.DataFrame:
    """Put every group into one fold: the fold its first row (first dataset) has."""
    first = df.groupby("group_id", sort=False)[fold_column].transform("first")
    moved = int((first != df[fold_column]).sum())
    if moved:
        logger.info("%d image(s) moved to their group's fold (groups spanning datasets)", moved)
    out = df.copy()
    out[fold_column] = first.astype("int64")
    return out


def read_sources(
    specs: Sequence[DatasetSpec], *, on_error: OnError = "fail",
    exclude: Sequence[DatasetSpec] = (),
    near_copy_similarity: float | None = None,
    assign: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Read several datasets into one canonical table (see the module docstring).

    Args:
        specs: the datasets, in priority order (ties keep the first's copy).
        on_error: bad-row policy for every dataset.
        exclude: datasets whose images (and their groups) must not be in the result.
        near_copy_similarity: also remove images whose content matches an ``exclude`` image at
            this similarity or more (:mod:`data.near_copies`; None = by id only).
        assign: optional ``table -> table with folds`` applied to each dataset alone
            (e.g. ``functools.partial(data.folds.assign_folds, n_folds=5, seed=42)``).

    Returns:
        The combined canonical table (plus ``dataset`` and, with ``assign``, ``fold``), index
        0..n-1; ``attrs["datasets"]`` lists each dataset's path, format and row counts, and
        with ``near_copy_similarity``, ``attrs["near_copies"]`` counts the near-copies removed.

    Raises:
        DatasetError: a dataset cannot be read, or nothing is left.
    """
    parts, described = [], []
    for i, spec in enumerate(specs):
        table = spec.read(on_error)
        fmt = table.attrs.get("format", spec.fmt)
        if assign is not None:
            table = assign(table)
        table[DATASET_COLUMN] = i
        parts.append(table)
        described.append({"path": str(spec.path), "format": fmt, "n_read": len(table),
                          "sources": {k: int(v) for k, v in table["source"].value_counts()
                                      .items()}})
    df = pd.concat(parts, ignore_index=True)
    if len(parts) > 1:
        df = drop_duplicates(df)
    held = {str(spec.path): spec.read("skip") for spec in exclude}
    for table in held.values():
        df = drop_excluded(df, table)
    if near_copy_similarity is not None:
        df, n_near = drop_near_copies(df, held, near_copy_similarity)
    if df.empty:
        raise DatasetError("no image is left after removing duplicates and held-out datasets")
    if "fold" in df.columns and len(parts) > 1:
        df = unify_group_folds(df)
    df = df.reset_index(drop=True)
    for i, info in enumerate(described):
        info["n_used"] = int((df[DATASET_COLUMN] == i).sum())
    df.attrs.update({"datasets": described, "format": "+".join(d["format"] for d in described)})
    if near_copy_similarity is not None:
        df.attrs["near_copies"] = {"min_similarity": near_copy_similarity, "n_removed": n_near}
    logger.info("combined table: %d images; per source %s", len(df),
                {k: int(v) for k, v in df["source"].value_counts().items()})
    return df


def source_split(df: pd.DataFrame, val_sources: Sequence[str]) -> tuple[pd.DataFrame,
                                                                         pd.DataFrame]:
    """Leave sources out: validate on ``val_sources``, train on the rest.

    A group with rows in both parts (one lesion in two collections) is dropped from training.

    Raises:
        DatasetError: an unknown source name, or an empty side.
    """
    present = sorted(df["source"].unique())
    unknown = sorted(set(val_sources) - set(present))
    if unknown:
        raise DatasetError(f"--val-source {unknown}: no such source in the data; sources "
                           f"present: {present}")
    is_val = df["source"].isin(val_sources)
    val_df = df.loc[is_val]
    train_df = df.loc[~is_val & ~df["group_id"].isin(set(val_df["group_id"]))]
    if train_df.empty:
        raise DatasetError(f"holding out {list(val_sources)} leaves no training images: "
                           f"add a dataset from another source (present: {present})")
    return train_df.reset_index(drop=True), val_df.reset_index(drop=True)
