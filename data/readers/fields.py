"""Per-row field parsing shared by the readers: labels, age/sex/site, images, groups, metadata.

Every parser takes the :class:`~data.readers.base.Table` under construction and records a
:class:`~data.readers.base.Problem` for each invalid value instead of raising, so that one
error (or one skip count) can cover the whole file.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from data.diagnoses import (
    MELANOMA,
    UNKNOWN_DIAGNOSIS,
    DiagnosisError,
    diagnosis_mapping,
    is_missing_diagnosis,
    to_canonical_diagnosis,
)
from data.encoding import AGE_MAX, AGE_MIN
from data.readers.base import (
    IMAGE_EXTENSIONS,
    REASON_AGE,
    REASON_DIAGNOSIS,
    REASON_IMAGE,
    REASON_IMAGE_ID,
    REASON_LABEL,
    REASON_SEX,
    REASON_SITE,
    DatasetError,
    Table,
    data_line_numbers,
    is_blank,
    pick_column,
    read_csv,
    require_columns,
)
from data.sites import UNKNOWN, SexError, find_unmapped_sites, normalize_sex, to_canonical_site

logger = logging.getLogger(__name__)

# ISIC 2019 ships some images under "<id>_downsampled"; accept either spelling on disk.
DOWNSAMPLED_SUFFIX = "_downsampled"


# --- Labels ---------------------------------------------------------------------------------


def parse_binary(value: object) -> int | None:
    """0/1 from ``"0"``, ``"1"``, ``"0.0"``, ``"1.0"``; None for anything else."""
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number in (0.0, 1.0) else None


def one_hot_labels(
    table: Table, raw: pd.DataFrame, classes: Sequence[str], fmt: str
) -> tuple[pd.Series, pd.Series]:
    """Target (melanoma) and canonical diagnosis from one-hot class columns.

    The diagnosis is the positive column's name mapped through ``fmt``'s diagnosis mapping
    (a column the mapping reads as missing, like ISIC 2019's ``UNK``, gives ``"unknown"``).
    """
    targets: list[int] = []
    diagnoses: list[str] = []
    values = raw[list(classes)].to_numpy()
    for row, cells in enumerate(values):
        parsed = [parse_binary(v) for v in cells]
        bad = [(c, v) for c, v, p in zip(classes, cells, parsed, strict=True) if p is None]
        positive = [c for c, p in zip(classes, parsed, strict=True) if p == 1]
        if bad:
            table.add(row, REASON_LABEL, bad[0][0], f"label {bad[0][1]!r} is not 0 or 1")
        elif len(positive) != 1:
            table.add(row, REASON_LABEL, ",".join(classes),
                      f"expected exactly one class = 1, found {len(positive)}")
        diagnosis = (to_canonical_diagnosis(positive[0], fmt) if len(positive) == 1
                     else UNKNOWN_DIAGNOSIS)
        diagnoses.append(diagnosis)
        targets.append(int(diagnosis == MELANOMA))
    return pd.Series(targets, dtype="int64"), pd.Series(diagnoses, dtype=str)


def parse_diagnoses(
    table: Table,
    raw: pd.Series,
    column: str,
    fmt: str,
    required: bool = False,
) -> pd.Series:
    """Canonical diagnosis per row (:mod:`data.diagnoses`); unmapped values are problems.

    Args:
        table: The table under construction (problems are recorded in it).
        raw: Raw diagnosis values, one per row.
        column: The source column, named in problems.
        fmt: Format whose diagnosis mapping applies.
        required: The diagnosis IS the label (HAM10000 ``dx``): a missing value is an invalid
            label, since the target would otherwise silently read "not melanoma". Else a
            missing value is ``"unknown"`` and an unmapped one an unmapped diagnosis.

    Returns:
        A string series of members of :data:`~data.diagnoses.DIAGNOSES` or ``"unknown"``.
    """
    reason = REASON_LABEL if required else REASON_DIAGNOSIS
    expected = f"for format {fmt!r}; expected one of {sorted(diagnosis_mapping(fmt))}"
    lookup: dict[object, tuple[str, str | None]] = {}
    diagnoses: list[str] = []
    for row, value in enumerate(raw):
        if value not in lookup:
            if required and is_missing_diagnosis(value):
                lookup[value] = (UNKNOWN_DIAGNOSIS, f"diagnosis {value!r} is missing {expected}")
            else:
                try:
                    lookup[value] = (to_canonical_diagnosis(value, fmt), None)
                except DiagnosisError:
                    lookup[value] = (UNKNOWN_DIAGNOSIS,
                                     f"unmapped diagnosis {value!r} {expected}")
        diagnosis, problem = lookup[value]
        if problem is not None:
            table.add(row, reason, column, problem)
        diagnoses.append(diagnosis)
    return pd.Series(diagnoses, dtype=str)


# --- Patient metadata -----------------------------------------------------------------------


def parse_ages(
    table: Table,
    raw: pd.Series,
    column: str,
    file: Path | None = None,
    lines: Sequence[int | None] | None = None,
) -> pd.Series:
    """Ages as floats (NaN = not recorded); non-numeric or out-of-range values are problems."""
    ages: list[float] = []
    for row, value in enumerate(raw):
        if is_blank(value):
            ages.append(math.nan)
            continue
        try:
            age = float(str(value).strip())
        except ValueError:
            age = math.nan
            message = f"age {value!r} is not a number"
        else:
            message = f"age {value!r} is outside {AGE_MIN:g}..{AGE_MAX:g}"
        if not AGE_MIN <= age <= AGE_MAX:  # also false for NaN and inf
            table.add(row, REASON_AGE, column, message, file, lines[row] if lines else None)
            age = math.nan
        ages.append(age)
    return pd.Series(ages, dtype="float64")


def parse_sexes(
    table: Table,
    raw: pd.Series,
    column: str,
    file: Path | None = None,
    lines: Sequence[int | None] | None = None,
) -> pd.Series:
    """Canonical sex per row; unrecognised values are problems."""
    sexes: list[str] = []
    for row, value in enumerate(raw):
        try:
            sexes.append(normalize_sex(value))
        except SexError:
            table.add(
                row, REASON_SEX, column, f"unrecognised sex {value!r} (expected male/female/m/f "
                "or blank/unknown)", file, lines[row] if lines else None,
            )
            sexes.append(UNKNOWN)
    return pd.Series(sexes, dtype=str)


def parse_sites(
    table: Table,
    raw: pd.Series,
    column: str,
    site_format: str,
    file: Path | None = None,
    lines: Sequence[int | None] | None = None,
) -> pd.Series:
    """Canonical site per row; values without a mapping are problems."""
    unmapped = find_unmapped_sites(raw, site_format)
    lookup: dict[object, str] = {}
    sites: list[str] = []
    for row, value in enumerate(raw):
        if value in unmapped:
            table.add(
                row, REASON_SITE, column, f"unmapped anatomic site {value!r} for format "
                f"{site_format!r}", file, lines[row] if lines else None,
            )
            sites.append(UNKNOWN)
            continue
        if value not in lookup:
            lookup[value] = to_canonical_site(value, site_format)
        sites.append(lookup[value])
    return pd.Series(sites, dtype=str)


def join_metadata(
    ids: pd.Series, meta_path: Path, id_column: str, required: Sequence[str]
) -> tuple[pd.DataFrame, list[int | None]]:
    """Metadata rows aligned to ``ids`` (blank where absent) and each one's metadata line."""
    meta = read_csv(meta_path)
    require_columns(meta, required, meta_path)
    meta_lines = data_line_numbers(meta_path, len(meta))
    meta = meta.assign(_line=meta_lines)
    duplicated = meta[id_column].duplicated(keep="first")
    if duplicated.any():
        first = int(meta.loc[duplicated, "_line"].iloc[0])
        raise DatasetError(
            f"{meta_path.name} line {first}, column {id_column!r}: duplicate image id "
            f"{meta.loc[duplicated, id_column].iloc[0]!r} ({int(duplicated.sum())} duplicates "
            "in total)"
        )
    aligned = meta.set_index(id_column).reindex(ids.to_numpy())
    without = int(aligned["_line"].isna().sum())
    if without:
        logger.warning("%s: %d of %d images have no metadata row; their age/sex/site are unknown",
                       meta_path.name, without, len(ids))
    lines = [None if pd.isna(v) else int(v) for v in aligned["_line"]]
    return aligned.drop(columns="_line").fillna("").reset_index(drop=True), lines


def groups(
    image_ids: pd.Series, levels: Sequence[tuple[str, pd.Series | None]]
) -> tuple[pd.Series, pd.Series]:
    """Per row, the first non-blank id among ``levels`` (patient, lesion), else the image id."""
    group_ids: list[str] = []
    kinds: list[str] = []
    for row, image_id in enumerate(image_ids):
        for kind, ids in levels:
            if ids is not None and not is_blank(ids.iloc[row]):
                group_ids.append(str(ids.iloc[row]).strip())
                kinds.append(kind)
                break
        else:
            group_ids.append(image_id)
            kinds.append("image")
    return pd.Series(group_ids, dtype=str), pd.Series(kinds, dtype=str)


# --- Images ---------------------------------------------------------------------------------


def image_ids(table: Table, raw: pd.Series, column: str) -> pd.Series:
    """Trimmed image id per row; a blank id is a problem."""
    ids: list[str] = []
    for row, value in enumerate(raw):
        text = str(value).strip()
        if not text:
            table.add(row, REASON_IMAGE_ID, column, "image id is blank")
        ids.append(text)
    return pd.Series(ids, dtype=str)


def find_image(name: str, folders: Sequence[Path]) -> Path | None:
    """Existing file for an image name in the folders, trying extensions and 2019 spellings."""
    names = [name]
    if name.endswith(DOWNSAMPLED_SUFFIX):
        names.append(name[: -len(DOWNSAMPLED_SUFFIX)])
    for folder in folders:
        for stem in names:
            candidate = folder / stem
            if Path(stem).suffix.lower() in IMAGE_EXTENSIONS and candidate.is_file():
                return candidate
            for ext in IMAGE_EXTENSIONS:
                with_ext = candidate.with_name(candidate.name + ext)
                if with_ext.is_file():
                    return with_ext
    return None


def resolve_images(
    table: Table, names: pd.Series, folders: Sequence[Path], column: str
) -> pd.Series:
    """Absolute path per row; a row whose image file does not exist is a problem."""
    paths: list[str] = []
    where = ", ".join(str(f) for f in folders)
    for row, name in enumerate(names):
        if not name:
            paths.append("")  # already reported as a blank image id
            continue
        found = find_image(name, folders)
        if found is None:
            table.add(row, REASON_IMAGE, column, f"image file for {name!r} not found in {where}")
            paths.append("")
        else:
            paths.append(str(found.resolve()))
    return pd.Series(paths, dtype=str)


def image_folders(
    csv_path: Path, images_dir: str | os.PathLike[str] | None, candidates: Sequence[str]
) -> list[Path]:
    """Folders to look for images in: ``images_dir`` if given, else the existing candidates.

    Candidates are globs relative to the CSV's folder and to its parent (official layouts put
    the ground truth in its own folder next to the image folder).

    Raises:
        DatasetError: If ``images_dir`` is not a folder, or nothing is found.
    """
    if images_dir is not None:
        folder = Path(images_dir).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"{folder}: images_dir is not a folder")
        return [folder]
    found: list[Path] = []
    for base in (csv_path.parent, csv_path.parent.parent):
        for pattern in candidates:
            for match in sorted(base.glob(pattern)):
                if match.is_dir() and match not in found:
                    found.append(match)
        if found:
            return found
    # Last resort: any sub-folder of the CSV's folder holding images.
    for sub in sorted(p for p in csv_path.parent.iterdir() if p.is_dir()):
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in sub.iterdir()):
            found.append(sub)
    if not found:
        raise DatasetError(
            f"{csv_path}: no image folder found; looked for {list(candidates)} next to the CSV "
            "and one level up, and for any sub-folder with images; pass images_dir"
        )
    return found


def optional_column(raw: pd.DataFrame, candidates: Sequence[str]) -> tuple[pd.Series, str]:
    """The first present of ``candidates`` and its name, else blanks named as the first."""
    column = pick_column(raw.columns, candidates)
    if column is not None:
        return raw[column], column
    return pd.Series([""] * len(raw)), candidates[0]
