"""Dataset readers: every supported dataset layout becomes ONE canonical table.

Each reader validates its input and returns a :class:`pandas.DataFrame` with exactly the
columns in :data:`CANONICAL_COLUMNS`:

==============  ============================================================================
``image_id``    str, the image's id as the dataset names it
``image_path``  str, absolute path of an existing image file
``target``      int, 1 = melanoma, 0 = anything else
``age``         float, years; NaN when not recorded (never 0 for missing)
``sex``         ``"male"`` / ``"female"`` / ``"unknown"``
``site``        canonical anatomic site (:data:`data.sites.SITES`), ``"unknown"`` if missing
``group_id``    str, the unit that must not be split across folds (patient, else lesion,
                else the image itself)
``group_kind``  ``"patient"`` / ``"lesion"`` / ``"image"``: what ``group_id`` is, per row
``diagnosis``   str, the source diagnosis (``"mel"``, ``"nv"``, ``"melanoma"``...)
``source``      str, the format name the row was read as
==============  ============================================================================

Supported formats (:data:`FORMATS`): ``ham10000``, ``isic2017``, ``isic2018``, ``isic2019``,
``isic2020`` and a generic ``csv`` (see :func:`read_generic_csv` for its columns).

Problems in a row (unknown label, bad age, unmapped site, missing image file...) are collected
for the whole file. With ``on_error="fail"`` one single-line :class:`DatasetError` reports the
first few with file, line and column plus the total count; with ``on_error="skip"`` the bad
rows are dropped and a count per reason is logged (and stored in ``df.attrs["skipped"]``).
A bad row is never replaced by another sample. Structural problems (missing file, missing
required column, empty table) always raise.

Line numbers are those of the CSV file as seen in an editor (the header is line 1).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from PIL import Image

from data.encoding import AGE_MAX, AGE_MIN
from data.sites import (
    MISSING_TOKENS,
    UNKNOWN,
    SexError,
    find_unmapped_sites,
    normalize_key,
    normalize_sex,
    to_canonical_site,
)

logger = logging.getLogger(__name__)

CANONICAL_COLUMNS: tuple[str, ...] = (
    "image_id",
    "image_path",
    "target",
    "age",
    "sex",
    "site",
    "group_id",
    "group_kind",
    "diagnosis",
    "source",
)
"""Columns of every table a reader returns, in this order."""

FORMATS: tuple[str, ...] = ("ham10000", "isic2017", "isic2018", "isic2019", "isic2020", "csv")
"""Format names accepted by :func:`read_dataset` (besides ``"auto"``)."""

GROUP_KINDS: tuple[str, ...] = ("patient", "lesion", "image")
"""Possible ``group_kind`` values, from the coarsest (safest for splitting) to the finest."""

OnError = Literal["fail", "skip"]
ON_ERROR_CHOICES: tuple[str, ...] = ("fail", "skip")

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png")
"""Extensions tried, in order, when a dataset names an image without one."""

# ISIC 2019 ships some images under "<id>_downsampled"; accept either spelling on disk.
DOWNSAMPLED_SUFFIX = "_downsampled"

# How many individual problems a fail-mode error quotes (the total is always given).
MAX_REPORTED_PROBLEMS = 3

# Reasons a row can be rejected; used as keys of the per-reason counts.
REASON_LABEL = "invalid label"
REASON_AGE = "invalid age"
REASON_SEX = "invalid sex"
REASON_SITE = "unmapped site"
REASON_IMAGE = "missing image"
REASON_IMAGE_ID = "missing image id"
REASON_DUPLICATE = "duplicate image id"
REASON_UNREADABLE = "unreadable image"

# --- Format definitions -------------------------------------------------------------------

HAM10000_DX: frozenset[str] = frozenset({"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"})
HAM10000_REQUIRED = ("lesion_id", "image_id", "dx")
HAM10000_OPTIONAL = ("age", "sex", "localization")
# Auto-detection wants the full official header, so that a generic CSV that merely has
# image_id/dx/lesion_id columns is not mistaken for HAM10000 (explicit fmt needs only REQUIRED).
HAM10000_SIGNATURE = (*HAM10000_REQUIRED, "dx_type", *HAM10000_OPTIONAL)

ISIC2017_REQUIRED = ("image_id", "melanoma", "seborrheic_keratosis")
ISIC2017_METADATA_REQUIRED = ("image_id",)

ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
ISIC2018_REQUIRED = ("image", *ISIC2018_CLASSES)

ISIC2019_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
ISIC2019_OPTIONAL_CLASSES = ("UNK",)  # present in the official file, always 0 in training
ISIC2019_REQUIRED = ("image", *ISIC2019_CLASSES)
ISIC2019_METADATA_REQUIRED = ("image",)

ISIC2020_REQUIRED = ("image_name", "patient_id", "target")
ISIC2020_SIGNATURE = (*ISIC2020_REQUIRED, "anatom_site_general_challenge")

# Generic CSV: accepted column names, in order of preference (matched case-insensitively).
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

# File names (globs, relative to a dataset folder) each format is found under.
FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "ham10000": ("HAM10000_metadata.csv",),
    "isic2017": ("ISIC-2017_*_Part3_GroundTruth.csv",),
    "isic2018": ("ISIC2018_Task3_*_GroundTruth.csv", "*/ISIC2018_Task3_*_GroundTruth.csv"),
    "isic2019": ("ISIC_2019_Training_GroundTruth.csv",),
    "isic2020": ("train.csv", "ISIC_2020_Training_GroundTruth*.csv"),
    "csv": (),
}


class DatasetError(ValueError):
    """A dataset cannot be read as asked. The message is one line naming file, line, column.

    Attributes:
        problems: The individual row problems behind the error (empty for structural errors).
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems)


@dataclass(frozen=True)
class Problem:
    """One invalid value in one row.

    Attributes:
        row: Position of the row in the table being built (0-based; used to drop it).
        reason: Category, one of the ``REASON_*`` constants.
        file: File holding the bad value.
        line: Line of the bad value in ``file`` (header = line 1), or None if not from a file.
        column: Column holding the bad value.
        message: What is wrong, quoting the value.
    """

    row: int
    reason: str
    file: Path
    line: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else f"row {self.row + 1}"
        return f"{self.file.name} {where}, column {self.column!r}: {self.message}"


@dataclass
class _Table:
    """Canonical columns of one dataset under construction, plus the problems found so far."""

    file: Path
    fmt: str
    lines: list[int]
    image_column: str
    columns: dict[str, pd.Series] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.lines)

    def add(
        self,
        row: int,
        reason: str,
        column: str,
        message: str,
        file: Path | None = None,
        line: int | None = None,
    ) -> None:
        """Record a problem; by default it is located in the main file at the row's line."""
        if file is None:
            file, line = self.file, self.lines[row]
        self.problems.append(Problem(row, reason, file, line, column, message))


# --- CSV helpers ---------------------------------------------------------------------------


def _data_line_numbers(path: Path, n_rows: int) -> list[int]:
    """Line number (header = 1) of each data row, accounting for blank lines pandas skips.

    Falls back to ``row + 2`` when the count does not match (e.g. quoted multi-line fields).
    """
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            non_blank = [i + 1 for i, text in enumerate(handle) if text.strip("\r\n")]
    except OSError:
        non_blank = []
    data_lines = non_blank[1:]
    if len(data_lines) == n_rows:
        return data_lines
    return [row + 2 for row in range(n_rows)]


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV as strings, blanks kept as ``""`` so that missing values are handled by us."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise DatasetError(f"{path}: not a readable CSV file: {detail}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_header(path: Path) -> list[str] | None:
    """Column names of a CSV, or None if it cannot be parsed."""
    try:
        return [str(c).strip() for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def _require_columns(frame: pd.DataFrame, required: Iterable[str], path: Path) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing required column(s) {missing}; present: {list(frame.columns)}"
        )


def _require_rows(frame: pd.DataFrame, path: Path) -> None:
    if frame.empty:
        raise DatasetError(f"{path}: empty dataset (header only, no data rows)")


def _is_blank(value: object) -> bool:
    return normalize_key(value) in MISSING_TOKENS


def _pick_column(columns: Iterable[str], candidates: Sequence[str]) -> str | None:
    """First of ``candidates`` present in ``columns`` (case-insensitive); the real name."""
    by_lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    return None


# --- Format detection ----------------------------------------------------------------------


def _formats_of_header(columns: Sequence[str]) -> list[str]:
    """Formats whose required columns a CSV header has, most specific first."""
    cols = set(columns)
    found = []
    if set(HAM10000_SIGNATURE) <= cols:
        found.append("ham10000")
    if set(ISIC2017_REQUIRED) <= cols:
        found.append("isic2017")
    if set(ISIC2019_REQUIRED) <= cols:
        found.append("isic2019")
    elif set(ISIC2018_REQUIRED) <= cols:
        found.append("isic2018")
    if set(ISIC2020_SIGNATURE) <= cols:
        found.append("isic2020")
    if _pick_column(cols, GENERIC_IMAGE_COLUMNS) and _pick_column(cols, GENERIC_LABEL_COLUMNS):
        found.append("csv")
    return found


def _candidate_csvs(folder: Path) -> list[Path]:
    """CSV files in a folder, then (only if none qualifies there) one level down."""
    top = sorted(p for p in folder.glob("*.csv") if p.is_file())
    nested = sorted(p for p in folder.glob("*/*.csv") if p.is_file())
    return top + nested


def _what_we_look_for() -> str:
    return (
        "HAM10000_metadata.csv (columns " + ",".join(HAM10000_SIGNATURE) + "); "
        "ISIC-2017_*_Part3_GroundTruth.csv (" + ",".join(ISIC2017_REQUIRED) + "); "
        "ISIC 2018 Task 3 ground truth (" + ",".join(ISIC2018_REQUIRED) + "); "
        "ISIC_2019_Training_GroundTruth.csv (" + ",".join(ISIC2019_REQUIRED) + "); "
        "ISIC 2020 train.csv (" + ",".join(ISIC2020_SIGNATURE) + "); "
        "or a generic CSV with an image column (" + "/".join(GENERIC_IMAGE_COLUMNS) + ") "
        "and a label column (" + "/".join(GENERIC_LABEL_COLUMNS) + ")"
    )


def _locate(path: str | os.PathLike[str], fmt: str = "auto") -> tuple[str, Path]:
    """Find the format and the main CSV of a dataset given as a folder or a file."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    if fmt != "auto" and fmt not in FORMATS:
        raise DatasetError(
            f"unknown dataset format {fmt!r}; expected 'auto' or one of {list(FORMATS)}"
        )

    if root.is_file():
        if fmt != "auto":
            return fmt, root
        header = _read_header(root)
        formats = _formats_of_header(header or [])
        if not formats:
            raise DatasetError(
                f"{root}: unrecognised dataset format (columns: {header}); looked for "
                f"{_what_we_look_for()}"
            )
        return formats[0], root

    if fmt != "auto":
        # Known file names first, so that a file with missing columns is still found and the
        # user gets a "missing column" error rather than "not found".
        matches = sorted({m for pattern in FILE_PATTERNS[fmt] for m in root.glob(pattern)})
        if not matches:
            matches = [
                p for p in _candidate_csvs(root)
                if fmt in _formats_of_header(_read_header(p) or [])
            ]
        if not matches:
            # A lone CSV is what the user means; reading it reports its missing columns.
            top_level = sorted(root.glob("*.csv"))
            matches = top_level if len(top_level) == 1 else []
        if len(matches) == 1:
            return fmt, matches[0]
        if not matches:
            raise DatasetError(
                f"{root}: no {fmt} dataset file found; looked for {list(FILE_PATTERNS[fmt])} or a "
                f"CSV with the {fmt} columns; CSV files present: "
                f"{[str(p.relative_to(root)) for p in _candidate_csvs(root)]}"
            )
        raise DatasetError(
            f"{root}: several {fmt} files {[str(p.relative_to(root)) for p in matches]}; "
            "pass the one to read as the path"
        )

    candidates = _candidate_csvs(root)
    recognised: list[tuple[str, Path]] = []
    for csv_path in candidates:
        formats = _formats_of_header(_read_header(csv_path) or [])
        if formats:
            recognised.append((formats[0], csv_path))
    # A known layout beats a generic CSV next to it (e.g. ISIC 2020's sample_submission.csv).
    specific = [(f, p) for f, p in recognised if f != "csv"]
    chosen = specific or recognised
    # Prefer files directly in the folder over nested ones.
    top_level = [(f, p) for f, p in chosen if p.parent == root]
    chosen = top_level or chosen
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise DatasetError(
            f"{root}: could not recognise the dataset format; looked for {_what_we_look_for()}; "
            f"CSV files present: {[str(p.relative_to(root)) for p in candidates]}"
        )
    listed = [f"{p.relative_to(root)} ({f})" for f, p in chosen]
    raise DatasetError(f"{root}: several dataset files {listed}; pass the one to read as the path")


def detect_format(path: str | os.PathLike[str]) -> str:
    """Recognise the format of a dataset from its file names and CSV columns.

    Args:
        path: A dataset folder or its main CSV file.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        DatasetError: If nothing is recognised (the message lists what was looked for) or
            several candidate files are found.
    """
    return _locate(path)[0]


# --- Field parsing (each appends problems to the table) -----------------------------------


def _parse_binary(value: object) -> int | None:
    """0/1 from ``"0"``, ``"1"``, ``"0.0"``, ``"1.0"``; None for anything else."""
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number in (0.0, 1.0) else None


def _parse_ages(
    table: _Table,
    raw: pd.Series,
    column: str,
    file: Path | None = None,
    lines: Sequence[int | None] | None = None,
) -> pd.Series:
    """Ages as floats (NaN = not recorded); non-numeric or out-of-range values are problems."""
    ages: list[float] = []
    for row, value in enumerate(raw):
        if _is_blank(value):
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


def _parse_sexes(
    table: _Table,
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


def _parse_sites(
    table: _Table,
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


def _image_ids(table: _Table, raw: pd.Series, column: str) -> pd.Series:
    ids: list[str] = []
    for row, value in enumerate(raw):
        text = str(value).strip()
        if not text:
            table.add(row, REASON_IMAGE_ID, column, "image id is blank")
        ids.append(text)
    return pd.Series(ids, dtype=str)


def _find_image(name: str, folders: Sequence[Path]) -> Path | None:
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


def _resolve_images(
    table: _Table, names: pd.Series, folders: Sequence[Path], column: str
) -> pd.Series:
    """Absolute path per row; a row whose image file does not exist is a problem."""
    paths: list[str] = []
    where = ", ".join(str(f) for f in folders)
    for row, name in enumerate(names):
        if not name:
            paths.append("")  # already reported as a blank image id
            continue
        found = _find_image(name, folders)
        if found is None:
            table.add(row, REASON_IMAGE, column, f"image file for {name!r} not found in {where}")
            paths.append("")
        else:
            paths.append(str(found.resolve()))
    return pd.Series(paths, dtype=str)


def _image_folders(
    csv_path: Path, images_dir: str | os.PathLike[str] | None, candidates: Sequence[str]
) -> list[Path]:
    """Folders to look for images in: ``images_dir`` if given, else the existing candidates.

    Candidates are globs relative to the CSV's folder and to its parent (official layouts put
    the ground truth in its own folder next to the image folder).
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


def _groups(
    image_ids: pd.Series, levels: Sequence[tuple[str, pd.Series | None]]
) -> tuple[pd.Series, pd.Series]:
    """Per row, the first non-blank id among ``levels`` (patient, lesion), else the image id."""
    group_ids: list[str] = []
    kinds: list[str] = []
    for row, image_id in enumerate(image_ids):
        for kind, ids in levels:
            if ids is not None and not _is_blank(ids.iloc[row]):
                group_ids.append(str(ids.iloc[row]).strip())
                kinds.append(kind)
                break
        else:
            group_ids.append(image_id)
            kinds.append("image")
    return pd.Series(group_ids, dtype=str), pd.Series(kinds, dtype=str)


def _join_metadata(
    ids: pd.Series, meta_path: Path, id_column: str, required: Sequence[str]
) -> tuple[pd.DataFrame, list[int | None]]:
    """Metadata rows aligned to ``ids`` (blank where absent) and each one's metadata line."""
    meta = _read_csv(meta_path)
    _require_columns(meta, required, meta_path)
    meta_lines = _data_line_numbers(meta_path, len(meta))
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


# --- Finishing: problems, duplicates, dtypes ----------------------------------------------


def _summarise(problems: Sequence[Problem]) -> str:
    counts = Counter(p.reason for p in problems)
    return ", ".join(f"{reason}: {count}" for reason, count in counts.most_common())


def _finish(table: _Table, on_error: str) -> pd.DataFrame:
    """Assemble the canonical frame, then fail on or drop the rows with problems."""
    frame = pd.DataFrame({c: table.columns[c].to_numpy() for c in CANONICAL_COLUMNS})
    # The same image twice would land in train and validation at once when grouped by image.
    ids = frame["image_id"]
    duplicated = ids.duplicated(keep="first") & (ids != "")
    for row in duplicated[duplicated].index:
        table.add(int(row), REASON_DUPLICATE, table.image_column,
                  f"duplicate image id {ids.iloc[row]!r}")

    problems = sorted(table.problems, key=lambda p: (p.row, p.reason))
    bad_rows = sorted({p.row for p in problems})
    if problems and on_error == "fail":
        quoted = "; ".join(str(p) for p in problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        raise DatasetError(
            f"{table.file}: {len(problems)} problem(s) in {len(bad_rows)} of {table.n_rows} "
            f"rows ({_summarise(problems)}): {quoted}"
            + (f"; ... and {more} more" if more > 0 else "")
            + "; fix them, or skip these rows (--on-bad-row skip, on_error='skip')",
            problems,
        )
    # Rows dropped per reason; a row with two different problems counts under both.
    skipped = dict(Counter(reason for _, reason in sorted({(p.row, p.reason) for p in problems})))
    if bad_rows:
        logger.warning("%s: skipped %d of %d rows (%s)", table.file, len(bad_rows), table.n_rows,
                       ", ".join(f"{r}: {c}" for r, c in skipped.items()))
        frame = frame.drop(index=bad_rows).reset_index(drop=True)
    if frame.empty:
        raise DatasetError(
            f"{table.file}: no rows left after skipping {len(bad_rows)} invalid row(s) "
            f"({_summarise(problems)})"
        )

    frame = frame.astype({
        "image_id": str, "image_path": str, "target": "int64", "age": "float64", "sex": str,
        "site": str, "group_id": str, "group_kind": str, "diagnosis": str, "source": str,
    })
    frame.attrs.update({"format": table.fmt, "source_file": str(table.file), "skipped": skipped})
    logger.info("%s: read %d rows as %s (%d melanoma, %d groups)", table.file, len(frame),
                table.fmt, int(frame["target"].sum()), frame["group_id"].nunique())
    return frame


def _new_table(frame: pd.DataFrame, path: Path, fmt: str, image_column: str) -> _Table:
    _require_rows(frame, path)
    return _Table(file=path, fmt=fmt, lines=_data_line_numbers(path, len(frame)),
                  image_column=image_column)


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")


# --- Readers ------------------------------------------------------------------------------


def read_ham10000(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read HAM10000: ``HAM10000_metadata.csv`` plus ``<image_id>.jpg`` images.

    Images are looked for in ``images_dir``, else ``images/`` or ``HAM10000_images*/`` (the
    original two-part release) next to the CSV. Melanoma = ``dx == "mel"``; rows are grouped
    by ``lesion_id`` (HAM10000 has no patient id). An age of 0 is a recorded value (infants),
    not a missing marker; missing ages are blank.

    Args:
        path: Dataset folder or the metadata CSV.
        images_dir: Folder holding the images, overriding the search.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    _check_on_error(on_error)
    _, csv_path = _locate(path, "ham10000")
    raw = _read_csv(csv_path)
    _require_columns(raw, HAM10000_REQUIRED, csv_path)
    table = _new_table(raw, csv_path, "ham10000", "image_id")
    blank = pd.Series([""] * len(raw))
    for column in HAM10000_OPTIONAL:
        if column not in raw.columns:
            logger.warning("%s: no %r column; treated as unknown for every row", csv_path, column)

    ids = _image_ids(table, raw["image_id"], "image_id")
    dx = raw["dx"].str.strip().str.lower()
    for row, value in enumerate(dx):
        if value not in HAM10000_DX:
            table.add(row, REASON_LABEL, "dx", f"unknown diagnosis {raw['dx'].iloc[row]!r}; "
                      f"expected one of {sorted(HAM10000_DX)}")
    folders = _image_folders(csv_path, images_dir, ("images", "HAM10000_images*"))
    group_ids, kinds = _groups(ids, [("lesion", raw["lesion_id"])])
    table.columns = {
        "image_id": ids,
        "image_path": _resolve_images(table, ids, folders, "image_id"),
        "target": (dx == "mel").astype("int64"),
        "age": _parse_ages(table, raw.get("age", blank), "age"),
        "sex": _parse_sexes(table, raw.get("sex", blank), "sex"),
        "site": _parse_sites(table, raw.get("localization", blank), "localization", "ham10000"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": dx,
        "source": pd.Series(["ham10000"] * len(raw), dtype=str),
    }
    return _finish(table, on_error)


def read_isic2017(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read an ISIC 2017 Part 3 set (Training, Validation or Test).

    Files: ``ISIC-2017_<Split>_Part3_GroundTruth.csv`` (image_id, melanoma,
    seborrheic_keratosis as 0.0/1.0), optionally ``ISIC-2017_<Split>_Data_metadata.csv``
    (image_id, age_approximate, sex; ``"unknown"`` when not recorded) next to it or inside
    the image folder ``ISIC-2017_<Split>_Data/``. There is no anatomic site (all
    ``"unknown"``) and no patient or lesion id (grouped by image).

    Args:
        path: Dataset folder or the ground-truth CSV.
        images_dir: Folder holding the images, overriding the search.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is melanoma / seborrheic_keratosis / nevus.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    _check_on_error(on_error)
    _, csv_path = _locate(path, "isic2017")
    raw = _read_csv(csv_path)
    _require_columns(raw, ISIC2017_REQUIRED, csv_path)
    table = _new_table(raw, csv_path, "isic2017", "image_id")
    ids = _image_ids(table, raw["image_id"], "image_id")

    targets: list[int] = []
    diagnoses: list[str] = []
    pairs = zip(raw["melanoma"], raw["seborrheic_keratosis"], strict=True)
    for row, (mel_raw, sk_raw) in enumerate(pairs):
        mel, sk = _parse_binary(mel_raw), _parse_binary(sk_raw)
        if mel is None or sk is None:
            column = "melanoma" if mel is None else "seborrheic_keratosis"
            value = mel_raw if mel is None else sk_raw
            table.add(row, REASON_LABEL, column, f"label {value!r} is not 0 or 1")
        elif mel and sk:
            table.add(row, REASON_LABEL, "melanoma",
                      "both melanoma and seborrheic_keratosis are 1")
        targets.append(mel or 0)
        diagnoses.append("melanoma" if mel else "seborrheic_keratosis" if sk else "nevus")

    prefix = csv_path.name.removesuffix("_Part3_GroundTruth.csv")
    data_dir_name = f"{prefix}_Data"
    folders = _image_folders(csv_path, images_dir, (data_dir_name,))
    meta_name = f"{prefix}_Data_metadata.csv"
    meta_candidates = (csv_path.parent / meta_name, csv_path.parent / data_dir_name / meta_name,
                       *(folder / meta_name for folder in folders))
    meta_path = next((p for p in meta_candidates if p.is_file()), None)
    n = len(raw)
    if meta_path is None:
        logger.warning("%s: no %s found; age and sex are unknown for every row", csv_path,
                       meta_name)
        meta, meta_lines = pd.DataFrame({"age_approximate": [""] * n, "sex": [""] * n}), None
    else:
        meta, meta_lines = _join_metadata(ids, meta_path, "image_id", ISIC2017_METADATA_REQUIRED)
    blank = pd.Series([""] * n)
    table.columns = {
        "image_id": ids,
        "image_path": _resolve_images(table, ids, folders, "image_id"),
        "target": pd.Series(targets, dtype="int64"),
        "age": _parse_ages(table, meta.get("age_approximate", blank), "age_approximate",
                           meta_path, meta_lines),
        "sex": _parse_sexes(table, meta.get("sex", blank), "sex", meta_path, meta_lines),
        "site": pd.Series([UNKNOWN] * n, dtype=str),
        "group_id": ids,
        "group_kind": pd.Series(["image"] * n, dtype=str),
        "diagnosis": pd.Series(diagnoses, dtype=str),
        "source": pd.Series(["isic2017"] * n, dtype=str),
    }
    return _finish(table, on_error)


def _one_hot_labels(
    table: _Table, raw: pd.DataFrame, classes: Sequence[str]
) -> tuple[pd.Series, pd.Series]:
    """Target (MEL) and diagnosis (lower-cased class name) from one-hot class columns."""
    targets: list[int] = []
    diagnoses: list[str] = []
    values = raw[list(classes)].to_numpy()
    for row, cells in enumerate(values):
        parsed = [_parse_binary(v) for v in cells]
        bad = [(c, v) for c, v, p in zip(classes, cells, parsed, strict=True) if p is None]
        positive = [c for c, p in zip(classes, parsed, strict=True) if p == 1]
        if bad:
            table.add(row, REASON_LABEL, bad[0][0], f"label {bad[0][1]!r} is not 0 or 1")
        elif len(positive) != 1:
            table.add(row, REASON_LABEL, ",".join(classes),
                      f"expected exactly one class = 1, found {len(positive)}")
        diagnoses.append(positive[0].lower() if positive else UNKNOWN)
        targets.append(int(positive == ["MEL"]))
    return pd.Series(targets, dtype="int64"), pd.Series(diagnoses, dtype=str)


def read_isic2018(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read an ISIC 2018 Task 3 ground truth (``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``).

    There is no metadata: age, sex and site are unknown, and rows are grouped by image.
    Beware that the 2018 training images ARE HAM10000, where several images show one lesion;
    prefer the ``ham10000`` format (lesion-grouped) for cross-validation.

    Args:
        path: Dataset folder or the ground-truth CSV.
        images_dir: Image folder; default ``ISIC2018_Task3_<Split>_Input/`` (next to the CSV or
            one level up), ``images/``, or any sub-folder with images.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is the lower-cased class column (``mel``, ``nv``...).

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    _check_on_error(on_error)
    _, csv_path = _locate(path, "isic2018")
    raw = _read_csv(csv_path)
    _require_columns(raw, ISIC2018_REQUIRED, csv_path)
    table = _new_table(raw, csv_path, "isic2018", "image")
    ids = _image_ids(table, raw["image"], "image")
    targets, diagnoses = _one_hot_labels(table, raw, ISIC2018_CLASSES)
    input_dir = csv_path.name.removesuffix("_GroundTruth.csv") + "_Input"
    folders = _image_folders(csv_path, images_dir, (input_dir, "images"))
    logger.warning("%s: ISIC 2018 has no lesion ids; grouping by image lets near-duplicate images "
                   "of one lesion cross folds", csv_path.name)
    n = len(raw)
    table.columns = {
        "image_id": ids,
        "image_path": _resolve_images(table, ids, folders, "image"),
        "target": targets,
        "age": pd.Series([math.nan] * n, dtype="float64"),
        "sex": pd.Series([UNKNOWN] * n, dtype=str),
        "site": pd.Series([UNKNOWN] * n, dtype=str),
        "group_id": ids,
        "group_kind": pd.Series(["image"] * n, dtype=str),
        "diagnosis": diagnoses,
        "source": pd.Series(["isic2018"] * n, dtype=str),
    }
    return _finish(table, on_error)


def read_isic2019(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read ISIC 2019: ground truth, metadata and ``ISIC_2019_Training_Input/`` images.

    ``ISIC_2019_Training_GroundTruth.csv`` holds one-hot classes
    (``image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK``); ``ISIC_2019_Training_Metadata.csv``
    (image, age_approx, anatom_site_general, lesion_id, sex) is optional. Rows are grouped by
    ``lesion_id`` where present, else by image. Image names ending in ``_downsampled`` are
    kept as ids and found on disk with or without the suffix.

    Args:
        path: Dataset folder or the ground-truth CSV.
        images_dir: Folder holding the images, overriding the search.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is the lower-cased class column (``mel``, ``nv``...).

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    _check_on_error(on_error)
    _, csv_path = _locate(path, "isic2019")
    raw = _read_csv(csv_path)
    _require_columns(raw, ISIC2019_REQUIRED, csv_path)
    table = _new_table(raw, csv_path, "isic2019", "image")
    ids = _image_ids(table, raw["image"], "image")
    classes = ISIC2019_CLASSES + tuple(c for c in ISIC2019_OPTIONAL_CLASSES if c in raw.columns)
    targets, diagnoses = _one_hot_labels(table, raw, classes)
    folders = _image_folders(csv_path, images_dir, ("ISIC_2019_Training_Input", "images"))

    meta_path = csv_path.with_name(csv_path.name.replace("GroundTruth", "Metadata"))
    n = len(raw)
    if not meta_path.is_file():
        logger.warning("%s: no %s; age, sex and site are unknown for every row", csv_path,
                       meta_path.name)
        meta, meta_lines, meta_file = pd.DataFrame(index=range(n)), None, None
    else:
        meta, meta_lines = _join_metadata(ids, meta_path, "image", ISIC2019_METADATA_REQUIRED)
        meta_file = meta_path
    blank = pd.Series([""] * n)
    lesion_ids = meta["lesion_id"] if "lesion_id" in meta.columns else None
    group_ids, kinds = _groups(ids, [("lesion", lesion_ids)])
    table.columns = {
        "image_id": ids,
        "image_path": _resolve_images(table, ids, folders, "image"),
        "target": targets,
        "age": _parse_ages(table, meta.get("age_approx", blank), "age_approx", meta_file,
                           meta_lines),
        "sex": _parse_sexes(table, meta.get("sex", blank), "sex", meta_file, meta_lines),
        "site": _parse_sites(table, meta.get("anatom_site_general", blank), "anatom_site_general",
                             "isic2019", meta_file, meta_lines),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": diagnoses,
        "source": pd.Series(["isic2019"] * n, dtype=str),
    }
    return _finish(table, on_error)


def read_isic2020(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read ISIC 2020 (SIIM-ISIC): ``train.csv`` and ``jpeg/train/`` images.

    Columns: image_name, patient_id, (lesion_id), sex, age_approx,
    anatom_site_general_challenge, diagnosis, benign_malignant, target. Rows are grouped by
    ``patient_id`` (one patient has many lesions and images). If ``benign_malignant`` is
    present it must agree with ``target``.

    Args:
        path: Dataset folder or the CSV (``train.csv`` or ``ISIC_2020_Training_GroundTruth*.csv``).
        images_dir: Folder holding the images; default ``jpeg/train/``, ``jpeg/``,
            ``ISIC_2020_Training_JPEG/train/``, ``train/`` or ``images/``.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is the file's ``diagnosis`` column.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    _check_on_error(on_error)
    _, csv_path = _locate(path, "isic2020")
    raw = _read_csv(csv_path)
    _require_columns(raw, ISIC2020_REQUIRED, csv_path)
    table = _new_table(raw, csv_path, "isic2020", "image_name")
    ids = _image_ids(table, raw["image_name"], "image_name")
    n = len(raw)
    blank = pd.Series([""] * n)

    targets: list[int] = []
    verdicts = raw.get("benign_malignant", blank)
    for row, (value, verdict) in enumerate(zip(raw["target"], verdicts, strict=True)):
        target = _parse_binary(value)
        if target is None:
            table.add(row, REASON_LABEL, "target", f"label {value!r} is not 0 or 1")
        elif not _is_blank(verdict) and (normalize_key(verdict) == "malignant") != bool(target):
            table.add(row, REASON_LABEL, "benign_malignant",
                      f"benign_malignant {verdict!r} contradicts target {value!r}")
        targets.append(target or 0)
    if "diagnosis" in raw.columns:
        diagnoses = raw["diagnosis"].str.strip().replace("", UNKNOWN)
    else:
        diagnoses = pd.Series(["melanoma" if t else UNKNOWN for t in targets], dtype=str)

    folders = _image_folders(
        csv_path, images_dir, ("jpeg/train", "jpeg", "ISIC_2020_Training_JPEG/train",
                               "ISIC_2020_Training_JPEG", "train", "images"))
    levels = [("patient", raw["patient_id"]), ("lesion", raw.get("lesion_id"))]
    group_ids, kinds = _groups(ids, levels)
    table.columns = {
        "image_id": ids,
        "image_path": _resolve_images(table, ids, folders, "image_name"),
        "target": pd.Series(targets, dtype="int64"),
        "age": _parse_ages(table, raw.get("age_approx", blank), "age_approx"),
        "sex": _parse_sexes(table, raw.get("sex", blank), "sex"),
        "site": _parse_sites(table, raw.get("anatom_site_general_challenge", blank),
                             "anatom_site_general_challenge", "isic2020"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": diagnoses.reset_index(drop=True),
        "source": pd.Series(["isic2020"] * n, dtype=str),
    }
    return _finish(table, on_error)


def _resolve_paths(
    table: _Table, raw_paths: pd.Series, bases: Sequence[Path], column: str
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
            found = _find_image(candidate.name, [candidate.parent])
            if found is not None:
                break
        if found is None:
            table.add(row, REASON_IMAGE, column,
                      f"image file {text!r} not found (relative to {', '.join(map(str, bases))})")
            paths.append("")
        else:
            paths.append(str(found.resolve()))
    return pd.Series(paths, dtype=str)


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
          ``not melanoma``. Anything else (including blank) is an invalid label.

    Optional: ``age`` / ``age_approx`` / ``age_approximate``; ``sex``; ``site`` /
    ``anatom_site_general`` / ``anatom_site_general_challenge`` / ``localization`` (canonical
    names, HAM10000/ISIC spellings and common synonyms); ``diagnosis`` / ``dx``;
    ``patient_id`` and ``lesion_id`` (grouping: patient, else lesion, else image).

    Args:
        path: The CSV file (or a folder holding exactly one such CSV).
        images_dir: Base folder for images.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is the diagnosis column, else ``"unknown"``.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    _check_on_error(on_error)
    _, csv_path = _locate(path, "csv")
    raw = _read_csv(csv_path)
    image_col = _pick_column(raw.columns, GENERIC_IMAGE_COLUMNS)
    label_col = _pick_column(raw.columns, GENERIC_LABEL_COLUMNS)
    if image_col is None or label_col is None:
        missing = [
            "/".join(names) for names, col in
            ((GENERIC_IMAGE_COLUMNS, image_col), (GENERIC_LABEL_COLUMNS, label_col)) if col is None
        ]
        raise DatasetError(
            f"{csv_path}: missing required column(s) {missing}; present: {list(raw.columns)}"
        )
    table = _new_table(raw, csv_path, "csv", image_col)
    n = len(raw)
    blank = pd.Series([""] * n)
    csv_dir = csv_path.parent
    extra = Path(images_dir).expanduser() if images_dir is not None else None
    if extra is not None and not extra.is_dir():
        raise DatasetError(f"{extra}: images_dir is not a folder")

    if image_col.lower() == "image_path":
        bases = [b for b in (extra, csv_dir) if b is not None]
        paths = _resolve_paths(table, raw[image_col], bases, image_col)
        id_col = _pick_column(raw.columns, GENERIC_ID_COLUMNS)
        if id_col is not None:
            ids = _image_ids(table, raw[id_col], id_col)
        else:
            ids = raw[image_col].map(lambda p: Path(str(p).strip()).stem if str(p).strip() else "")
    else:
        ids = _image_ids(table, raw[image_col], image_col)
        folders = [extra] if extra is not None else [
            f for f in (csv_dir / "images", csv_dir) if f.is_dir()]
        paths = _resolve_images(table, ids, folders, image_col)
        # The id is the file name without its extension, as the other formats name images.
        ids = ids.map(lambda name: Path(name).stem if Path(name).suffix.lower() in
                      IMAGE_EXTENSIONS else name)

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

    def optional(candidates: Sequence[str]) -> tuple[pd.Series, str]:
        column = _pick_column(raw.columns, candidates)
        return (raw[column], column) if column is not None else (blank, candidates[0])

    age_raw, age_col = optional(GENERIC_AGE_COLUMNS)
    sex_raw, sex_col = optional(GENERIC_SEX_COLUMNS)
    site_raw, site_col = optional(GENERIC_SITE_COLUMNS)
    dx_raw, _ = optional(GENERIC_DIAGNOSIS_COLUMNS)
    patient_col = _pick_column(raw.columns, ("patient_id",))
    lesion_col = _pick_column(raw.columns, ("lesion_id",))
    group_ids, kinds = _groups(ids.reset_index(drop=True), [
        ("patient", raw[patient_col] if patient_col else None),
        ("lesion", raw[lesion_col] if lesion_col else None),
    ])
    table.columns = {
        "image_id": ids.reset_index(drop=True),
        "image_path": paths,
        "target": pd.Series(targets, dtype="int64"),
        "age": _parse_ages(table, age_raw, age_col),
        "sex": _parse_sexes(table, sex_raw, sex_col),
        "site": _parse_sites(table, site_raw, site_col, "generic"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": dx_raw.map(lambda v: UNKNOWN if _is_blank(v) else str(v).strip()),
        "source": pd.Series(["csv"] * n, dtype=str),
    }
    return _finish(table, on_error)


_READERS = {
    "ham10000": read_ham10000,
    "isic2017": read_isic2017,
    "isic2018": read_isic2018,
    "isic2019": read_isic2019,
    "isic2020": read_isic2020,
    "csv": read_generic_csv,
}


def read_dataset(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read any supported dataset into the canonical table.

    Args:
        path: Dataset folder or its main CSV file.
        fmt: ``"auto"`` (see :func:`detect_format`) or one of :data:`FORMATS`.
        images_dir: Folder holding the images, overriding each format's default search.
        on_error: ``"fail"`` raises one :class:`DatasetError` reporting the first few invalid
            rows and the total; ``"skip"`` drops invalid rows and logs a count per reason.

    Returns:
        A DataFrame with exactly :data:`CANONICAL_COLUMNS`, index 0..n-1; ``attrs`` holds
        ``format``, ``source_file`` and ``skipped`` (reason -> rows dropped).

    Raises:
        DatasetError: Unrecognised format, missing files or columns, empty dataset, or invalid
            rows with ``on_error="fail"``.
        ValueError: If ``on_error`` is not ``"fail"`` or ``"skip"``.
    """
    _check_on_error(on_error)
    detected, csv_path = _locate(path, fmt)
    # Pass the located file on so that the reader does not search (and maybe choose) again.
    return _READERS[detected](csv_path, images_dir=images_dir, on_error=on_error)


def verify_images(df: pd.DataFrame, on_error: OnError = "fail") -> pd.DataFrame:
    """Check that every image can be opened and its header parsed, without decoding pixels.

    Slower than the existence check the readers do (it reads each file's header), so it is a
    separate step: run it once on a new dataset, or on a sample.

    Args:
        df: A canonical table (needs ``image_id`` and ``image_path``).
        on_error: ``"fail"`` raises on unreadable images; ``"skip"`` drops them (logged).

    Returns:
        ``df`` itself when all images are readable, else (skip mode) a copy without the
        unreadable rows, index reset.

    Raises:
        DatasetError: Listing the first few unreadable images and the total (fail mode).
    """
    _check_on_error(on_error)
    bad: list[tuple[int, str]] = []
    pairs = zip(df["image_id"], df["image_path"], strict=True)
    for position, (image_id, image_path) in enumerate(pairs):
        try:
            with Image.open(image_path) as image:
                image.verify()
        except (OSError, SyntaxError, ValueError) as exc:  # PIL reports corrupt data as these
            detail = " ".join(str(exc).split()) or type(exc).__name__
            bad.append((position, f"image {image_id!r} ({image_path}): unreadable: {detail}"))
    if not bad:
        return df
    if on_error == "fail":
        quoted = "; ".join(message for _, message in bad[:MAX_REPORTED_PROBLEMS])
        more = len(bad) - MAX_REPORTED_PROBLEMS
        raise DatasetError(
            f"{len(bad)} of {len(df)} images unreadable: {quoted}"
            + (f"; ... and {more} more" if more > 0 else "")
        )
    logger.warning("skipped %d of %d rows (%s: %d)", len(bad), len(df), REASON_UNREADABLE, len(bad))
    kept = df.drop(index=df.index[[position for position, _ in bad]]).reset_index(drop=True)
    if kept.empty:
        raise DatasetError(f"no rows left: all {len(df)} images are unreadable")
    return kept
