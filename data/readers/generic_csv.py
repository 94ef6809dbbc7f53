"""Generic CSV (format ``"csv"``): any table with an image column and a melanoma label column.

Column names are matched case-insensitively against lists of accepted spellings; see
:func:`read_generic_csv` for the columns and label values accepted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from data.readers.base import (
    IMAGE_EXTENSIONS,
    REASON_IMAGE,
    REASON_IMAGE_ID,
    REASON_LABEL,
    DatasetError,
    OnError,
    Table,
    check_on_error,
    finish,
    new_table,
    pick_column,
    read_csv,
)
from data.readers.fields import (
    find_image,
    groups,
    image_ids,
    optional_column,
    parse_ages,
    parse_diagnoses,
    parse_sexes,
    parse_sites,
    resolve_images,
)
from data.readers.isic2019_labels import CLASS_ORDER
from data.readers.isic2019_labels import SPEC as CLASS_INDEX_SPEC
from data.readers.locate import FormatSpec, locate
from data.sites import normalize_key

# Accepted column names, in order of preference (matched case-insensitively).
GENERIC_IMAGE_COLUMNS = ("image_path", "image", "image_id", "image_name")
GENERIC_ID_COLUMNS = ("image_id", "image", "image_name")
GENERIC_LABEL_COLUMNS = ("target", "label", "melanoma")
GENERIC_AGE_COLUMNS = ("age", "age_approx", "age_approximate")
GENERIC_SEX_COLUMNS = ("sex",)
GENERIC_SITE_COLUMNS = (
    "site", "anatom_site_general", "anatom_site_general_challenge", "localization",
)
GENERIC_DIAGNOSIS_COLUMNS = ("diagnosis", "dx")

# Generic label values (compared lower-cased and trimmed). Deliberately narrow: "malignant"
# or "benign" are NOT accepted because a malignant lesion is not necessarily a melanoma.
POSITIVE_LABELS: frozenset[str] = frozenset({"1", "1.0", "true", "yes", "mel", "melanoma"})
NEGATIVE_LABELS: frozenset[str] = frozenset(
    {"0", "0.0", "false", "no", "non-melanoma", "not melanoma"}
)


def _has_required_columns(columns: set[str]) -> bool:
    return bool(pick_column(columns, GENERIC_IMAGE_COLUMNS)
                and pick_column(columns, GENERIC_LABEL_COLUMNS))


SPEC = FormatSpec(
    name="csv",
    signature=(),
    file_patterns=(),
    looked_for=(
        "or a generic CSV with an image column (" + "/".join(GENERIC_IMAGE_COLUMNS) + ") "
        "and a label column (" + "/".join(GENERIC_LABEL_COLUMNS) + ")"
    ),
    header_check=_has_required_columns,
    fallback=True,
)


def _resolve_paths(
    table: Table, raw_paths: pd.Series, bases: Sequence[Path], column: str
) -> pd.Series:
    """Generic CSV ``image_path`` values: absolute as-is, relative to each base in turn."""
    paths: list[str] = []
    for row, value in enumerate(raw_paths):
        text = str(value).strip()
        if not text:
            table.add(row, REASON_IMAGE_ID, column, "image path is blank")
            paths.append("")
            continue
        given = Path(text).expanduser()
        candidates = [given] if given.is_absolute() else [base / given for base in bases]
        found = None
        for candidate in candidates:
            found = find_image(candidate.name, [candidate.parent])
            if found is not None:
                break
        if found is None:
            table.add(row, REASON_IMAGE, column,
                      f"image file {text!r} not found (relative to {', '.join(map(str, bases))})")
            paths.append("")
        else:
            paths.append(str(found.resolve()))
    return pd.Series(paths, dtype=str)


def _ids_and_paths(
    table: Table, raw: pd.DataFrame, image_col: str, extra: Path | None
) -> tuple[pd.Series, pd.Series]:
    """Image id and absolute image path per row, from a path column or an id/name column."""
    csv_dir = table.file.parent
    if image_col.lower() == "image_path":
        bases = [b for b in (extra, csv_dir) if b is not None]
        paths = _resolve_paths(table, raw[image_col], bases, image_col)
        id_col = pick_column(raw.columns, GENERIC_ID_COLUMNS)
        if id_col is not None:
            ids = image_ids(table, raw[id_col], id_col)
        else:
            ids = raw[image_col].map(lambda p: Path(str(p).strip()).stem if str(p).strip() else "")
        return ids, paths
    ids = image_ids(table, raw[image_col], image_col)
    folders = [extra] if extra is not None else [
        f for f in (csv_dir / "images", csv_dir) if f.is_dir()]
    paths = resolve_images(table, ids, folders, image_col)
    # The id is the file name without its extension, as the other formats name images.
    ids = ids.map(lambda name: Path(name).stem if Path(name).suffix.lower() in
                  IMAGE_EXTENSIONS else name)
    return ids, paths


def _integer(value: object) -> int | None:
    """The integer a cell holds (``"3"``, ``"3.0"``, ``"-1"``), else None."""
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def refuse_class_indices(path: Path, raw: pd.DataFrame, label_col: str) -> None:
    """Refuse a label column holding integers other than 0 and 1.

    Such a column is a multi-class label (an ISIC 2019 class index: 0 = MEL, 1 = NV...), not
    a melanoma flag. Read row by row it would come out wrong without a word: class 0
    (melanoma) as "not melanoma", class 1 (naevus) as melanoma, and under
    ``on_error="skip"`` every other class silently dropped. So the whole file is refused, in
    both modes.

    Raises:
        DatasetError: Naming the file, the column, the values with their row counts, and the
            format that reads class indices.
    """
    numbers = Counter(n for n in map(_integer, raw[label_col]) if n not in (None, 0, 1))
    if not numbers:
        return
    listed = ", ".join(f"{n} ({count} row{'' if count == 1 else 's'})"
                       for n, count in sorted(numbers.items()))
    order = ", ".join(f"{i}={c}" for i, c in enumerate(CLASS_ORDER))
    fmt = CLASS_INDEX_SPEC.name
    raise DatasetError(
        f"{path}: column {label_col!r} holds integer values other than 0/1: {listed}; it "
        "looks like a multi-class label, not a melanoma flag, and reading it as one would "
        f"swap classes; nothing was read. For ISIC 2019 class indices ({order}) name the "
        f"format {fmt!r} (--data-format / --format {fmt}, fmt={fmt!r}); otherwise make the "
        "column 1 for melanoma and 0 for anything else"
    )


def _targets(table: Table, raw: pd.DataFrame, label_col: str) -> list[int]:
    """1/0 per row from the accepted label spellings; anything else is a problem."""
    targets: list[int] = []
    for row, value in enumerate(raw[label_col]):
        key = normalize_key(value)
        if key in POSITIVE_LABELS:
            targets.append(1)
        elif key in NEGATIVE_LABELS:
            targets.append(0)
        else:
            table.add(row, REASON_LABEL, label_col,
                      f"unknown label value {value!r}; accepted: {sorted(POSITIVE_LABELS)} for "
                      f"melanoma, {sorted(NEGATIVE_LABELS)} otherwise")
            targets.append(0)
    return targets


def _required_columns(csv_path: Path, raw: pd.DataFrame) -> tuple[str, str]:
    """The image and label columns' real names; a DatasetError naming those missing."""
    image_col = pick_column(raw.columns, GENERIC_IMAGE_COLUMNS)
    label_col = pick_column(raw.columns, GENERIC_LABEL_COLUMNS)
    if image_col is None or label_col is None:
        missing = [
            "/".join(names) for names, col in
            ((GENERIC_IMAGE_COLUMNS, image_col), (GENERIC_LABEL_COLUMNS, label_col)) if col is None
        ]
        raise DatasetError(
            f"{csv_path}: missing required column(s) {missing}; present: {list(raw.columns)}"
        )
    return image_col, label_col



def read_generic_csv(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read a generic CSV (column names matched case-insensitively).

    Required:
        * an image column: ``image_path`` (a path, relative to ``images_dir`` if given, then
          to the CSV's folder), or ``image`` / ``image_id`` / ``image_name`` (a file name or
          id looked up in ``images_dir``, else ``images/`` next to the CSV, else the CSV's
          folder). Names without an extension are tried with .jpg, .jpeg, .png.
        * a label column: ``target``, ``label`` or ``melanoma`` (first present wins). Accepted
          values, case-insensitive: melanoma = ``1``, ``1.0``, ``true``, ``yes``, ``mel``,
          ``melanoma``; not melanoma = ``0``, ``0.0``, ``false``, ``no``, ``non-melanoma``,
          ``not melanoma``. Anything else (including blank) is an invalid label, except that
          integers other than 0/1 (class indices) make the whole file refused, in both
          ``on_error`` modes (see :func:`refuse_class_indices`).

    Optional: ``age`` / ``age_approx`` / ``age_approximate``; ``sex``; ``site`` /
    ``anatom_site_general`` / ``anatom_site_general_challenge`` / ``localization`` (canonical
    names, HAM10000/ISIC spellings and common synonyms); ``diagnosis`` / ``dx`` (canonical
    codes or names, any format's spelling and common synonyms, see
    :data:`data.diagnoses.GENERIC_DIAGNOSES`; it must agree with the label); ``patient_id``
    and ``lesion_id`` (grouping: patient, else lesion, else image).

    Args:
        path: The CSV file (or a folder holding exactly one such CSV).
        images_dir: Base folder for images.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is the canonical diagnosis column, else ``"MEL"`` for
        melanomas and ``"unknown"`` for the rest.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    check_on_error(on_error)
    csv_path = locate(path, SPEC)
    raw = read_csv(csv_path)
    image_col, label_col = _required_columns(csv_path, raw)
    refuse_class_indices(csv_path, raw, label_col)
    table = new_table(raw, csv_path, SPEC.name, image_col)
    extra = Path(images_dir).expanduser() if images_dir is not None else None
    if extra is not None and not extra.is_dir():
        raise DatasetError(f"{extra}: images_dir is not a folder")

    ids, paths = _ids_and_paths(table, raw, image_col, extra)
    targets = _targets(table, raw, label_col)
    age_raw, age_col = optional_column(raw, GENERIC_AGE_COLUMNS)
    sex_raw, sex_col = optional_column(raw, GENERIC_SEX_COLUMNS)
    site_raw, site_col = optional_column(raw, GENERIC_SITE_COLUMNS)
    dx_raw, table.diagnosis_column = optional_column(raw, GENERIC_DIAGNOSIS_COLUMNS)
    patient_col = pick_column(raw.columns, ("patient_id",))
    lesion_col = pick_column(raw.columns, ("lesion_id",))
    group_ids, kinds = groups(ids.reset_index(drop=True), [
        ("patient", raw[patient_col] if patient_col else None),
        ("lesion", raw[lesion_col] if lesion_col else None),
    ])
    table.columns = {
        "image_id": ids.reset_index(drop=True),
        "image_path": paths,
        "target": pd.Series(targets, dtype="int64"),
        "age": parse_ages(table, age_raw, age_col),
        "sex": parse_sexes(table, sex_raw, sex_col),
        "site": parse_sites(table, site_raw, site_col, "generic"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": parse_diagnoses(table, dx_raw, table.diagnosis_column, "generic"),
        "source": pd.Series([SPEC.name] * len(raw), dtype=str),
    }
    return finish(table, on_error)
