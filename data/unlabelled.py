"""Unlabelled images to score: a folder (searched recursively) or a CSV, with optional metadata.

The result is the canonical table without a label: ``image_id``, ``image_path``, ``age`` (NaN
when unknown), ``sex`` and ``site`` (canonical, ``unknown`` when not given). A row whose
metadata cannot be used is not scored: it is returned as a problem naming the file, line,
column and value, so one typo never stops a large run. Column names and accepted spellings are
the generic CSV reader's (`data.readers.generic_csv`), so a labelled CSV can be scored as is.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data import hdf5_images
from data.encoding import MetadataError, validate_age
from data.readers.base import DatasetError, pick_column, read_csv
from data.readers.generic_csv import (
    GENERIC_AGE_COLUMNS,
    GENERIC_ID_COLUMNS,
    GENERIC_IMAGE_COLUMNS,
    GENERIC_SEX_COLUMNS,
    GENERIC_SITE_COLUMNS,
)
from data.sites import UNKNOWN, SexError, SiteError, normalize_sex, to_canonical_site

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
COLUMNS: tuple[str, ...] = ("image_id", "image_path", "age", "sex", "site")


@dataclass(frozen=True)
class Skipped:
    """An input that is not scored, and why (``where``: the file and line, or the image)."""

    image_id: str
    where: str
    reason: str


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "age" else str) for c in COLUMNS})


def _unknown_metadata(ids: list[str], paths: list[str]) -> pd.DataFrame:
    """The table of images whose metadata is not known (yet)."""
    return _empty() if not ids else pd.DataFrame({
        "image_id": ids, "image_path": paths, "age": math.nan, "sex": UNKNOWN, "site": UNKNOWN})


def folder_images(folder: Path) -> pd.DataFrame:
    """Every image file below `folder`, ids = relative paths without the suffix (unique).

    Returns:
        The table with unknown metadata, sorted by id.
    """
    paths = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return _unknown_metadata([p.relative_to(folder).with_suffix("").as_posix() for p in paths],
                             [str(p.resolve()) for p in paths])


def hdf5_table(path: Path) -> pd.DataFrame:
    """Every image stored in an HDF5 file (the ISIC 2024 layout), ids = its keys.

    Raises:
        DatasetError: not a readable HDF5 file.
    """
    try:
        ids = sorted(hdf5_images.keys(path))
    except OSError as err:
        raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from None
    return _unknown_metadata(ids, [hdf5_images.reference(path, i) for i in ids])


def _metadata_value(row: pd.Series, column: str | None, line: int, path: Path,
                    parse: object) -> tuple[object, str | None]:
    value = row[column] if column else ""
    try:
        return parse(value), None  # type: ignore[operator]
    except (MetadataError, SexError, SiteError) as err:
        return None, f"{path.name} line {line}, column {column!r}: {err}"


def _parse_metadata(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, list[tuple]]:
    """age/sex/site of each CSV row in canonical form, and the rows that cannot be used."""
    columns = {name: pick_column(frame.columns, candidates) for name, candidates in (
        ("age", GENERIC_AGE_COLUMNS), ("sex", GENERIC_SEX_COLUMNS),
        ("site", GENERIC_SITE_COLUMNS))}
    parsers = {"age": validate_age, "sex": normalize_sex,
               "site": lambda v: to_canonical_site(v, "generic")}
    values: dict[str, list] = {name: [] for name in columns}
    bad: list[tuple] = []
    for i, (_, row) in enumerate(frame.iterrows()):
        for name, column in columns.items():
            value, problem = _metadata_value(row, column, i + 2, path, parsers[name])
            values[name].append(value)
            if problem:
                bad.append((i, problem))
    out = pd.DataFrame(values, index=frame.index)
    return out, bad


def csv_images(csv_path: Path, images_dir: Path | None = None) -> tuple[pd.DataFrame,
                                                                        list[Skipped]]:
    """Images listed in a CSV (image column + optional age/sex/site), paths resolved.

    Image values are paths or file names, looked up relative to `images_dir`, else the
    CSV's folder and its ``images/`` sub-folder; names without a suffix try each image suffix.

    Returns:
        (table, skipped rows: missing image files and unusable metadata).

    Raises:
        DatasetError: unreadable CSV, or no image column.
    """
    frame = read_csv(csv_path)
    image_col = pick_column(frame.columns, GENERIC_IMAGE_COLUMNS)
    if image_col is None:
        raise DatasetError(f"{csv_path}: no image column (one of {list(GENERIC_IMAGE_COLUMNS)}); "
                           f"present: {list(frame.columns)}")
    id_col = pick_column(frame.columns, GENERIC_ID_COLUMNS) or image_col
    bases = [b for b in (images_dir, csv_path.parent, csv_path.parent / "images") if b]
    meta, bad = _parse_metadata(frame, csv_path)
    skipped = {i: reason for i, reason in bad}
    ids = [_image_key(v) or f"line {i + 2}" for i, v in enumerate(frame[id_col])]
    rows = []
    for i, value in enumerate(frame[image_col]):
        found = _find(str(value).strip(), bases)
        if found is None and i not in skipped:
            skipped[i] = (f"{csv_path.name} line {i + 2}, column {image_col!r}: image file "
                          f"{str(value).strip()!r} not found")
        if i in skipped:
            continue
        age = meta["age"].iloc[i]
        rows.append((ids[i], str(found), age, meta["sex"].iloc[i], meta["site"].iloc[i]))
    table = pd.DataFrame(rows, columns=list(COLUMNS)) if rows else _empty()
    return table, [Skipped(ids[i], str(csv_path), reason) for i, reason in sorted(skipped.items())]


def _image_key(value: object) -> str:
    """An image id as the folder reader writes it: the path without its suffix ("" if blank)."""
    text = str(value).strip()
    return Path(text).with_suffix("").as_posix() if text else ""


def _find(value: str, bases: list[Path]) -> Path | None:
    if not value:
        return None
    given = Path(value).expanduser()
    candidates = [given] if given.is_absolute() else [base / given for base in bases]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
        for suffix in IMAGE_SUFFIXES:
            with_suffix = candidate.with_name(candidate.name + suffix)
            if with_suffix.is_file():
                return with_suffix.resolve()
    return None


def with_metadata(table: pd.DataFrame, csv_path: Path) -> tuple[pd.DataFrame, list[Skipped]]:
    """Join a metadata CSV (id column + age/sex/site) onto a folder's images by image id.

    Ids match the image id (relative path without suffix) or the file name's stem; images
    without a row keep unknown metadata.

    Returns:
        (table, images whose metadata row cannot be used: not scored).
    """
    frame = read_csv(csv_path)
    id_col = pick_column(frame.columns, (*GENERIC_ID_COLUMNS, "isic_id", "image_path"))
    if id_col is None:
        raise DatasetError(f"{csv_path}: no image id column (one of "
                           f"{[*GENERIC_ID_COLUMNS, 'isic_id', 'image_path']}); present: "
                           f"{list(frame.columns)}")
    meta, bad = _parse_metadata(frame, csv_path)
    keys = [_image_key(v) for v in frame[id_col]]
    bad_keys = {keys[i]: reason for i, reason in bad}
    by_key = {k: i for i, k in enumerate(keys) if k not in bad_keys}
    out = table.copy()
    skipped: list[Skipped] = []
    keep = []
    for position, image_id in enumerate(out["image_id"]):
        key = image_id if image_id in by_key or image_id in bad_keys else Path(image_id).name
        if key in bad_keys:
            skipped.append(Skipped(image_id, str(csv_path), bad_keys[key]))
            continue
        keep.append(position)
        if key in by_key:
            row = by_key[key]
            for name in ("age", "sex", "site"):
                out.iloc[position, out.columns.get_loc(name)] = meta[name].iloc[row]
    return out.iloc[keep].reset_index(drop=True), skipped


def read_unlabelled(images: str | os.PathLike[str], metadata: str | os.PathLike[str] | None = None
                    ) -> tuple[pd.DataFrame, list[Skipped]]:
    """The images to score from a folder or a CSV, with metadata where given.

    Args:
        images: a folder (every image below it), an HDF5 file of images (ISIC 2024's
            `train-image.hdf5`: one JPEG per id) or a CSV listing images.
        metadata: for a folder or an HDF5 file, a CSV of id + age/sex/site (optional; ISIC
            2024's metadata CSV works as is: `isic_id`, `age_approx`, `sex`,
            `anatom_site_general`).

    Returns:
        (table with :data:`COLUMNS`, inputs not scored and why).

    Raises:
        DatasetError: a path that does not exist, an unreadable CSV, or no images at all.
    """
    root = Path(images).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: does not exist")
    if root.is_dir() or root.suffix.lower() in hdf5_images.HDF5_SUFFIXES:
        table = folder_images(root) if root.is_dir() else hdf5_table(root)
        skipped = []
        if metadata is not None:
            table, skipped = with_metadata(table, Path(metadata).expanduser())
    else:
        if metadata is not None:
            raise DatasetError("--metadata is for a folder of images; a CSV carries its own "
                               "age/sex/site columns")
        table, skipped = csv_images(root)
    if table.empty and not skipped:
        raise DatasetError(f"{root}: no images found (looked for {list(IMAGE_SUFFIXES)})")
    table["age"] = table["age"].astype("float64")
    return table, skipped
