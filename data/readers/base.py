"""Shared skeleton of every reader: the canonical columns, errors, CSV reading, row policy.

A reader reads its CSV with :func:`read_csv`, checks it with :func:`require_columns`, starts a
:class:`Table` with :func:`new_table`, fills ``table.columns`` (recording a :class:`Problem`
per invalid value) and hands the table to :func:`finish`, which applies the bad-row policy
(``on_error``) and returns the canonical frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from data.diagnoses import MELANOMA, UNKNOWN_DIAGNOSIS
from data.sites import MISSING_TOKENS, normalize_key

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

GROUP_KINDS: tuple[str, ...] = ("patient", "lesion", "image")
"""Possible ``group_kind`` values, from the coarsest (safest for splitting) to the finest."""

OnError = Literal["fail", "skip"]
ON_ERROR_CHOICES: tuple[str, ...] = ("fail", "skip")

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png")
"""Extensions tried, in order, when a dataset names an image without one."""

# How many individual problems a fail-mode error quotes (the total is always given).
MAX_REPORTED_PROBLEMS = 3

# Reasons a row can be rejected; used as keys of the per-reason counts.
REASON_LABEL = "invalid label"
REASON_AGE = "invalid age"
REASON_SEX = "invalid sex"
REASON_SITE = "unmapped site"
REASON_DIAGNOSIS = "unmapped diagnosis"
REASON_IMAGE = "missing image"
REASON_IMAGE_ID = "missing image id"
REASON_DUPLICATE = "duplicate image id"
REASON_UNREADABLE = "unreadable image"


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
class Table:
    """Canonical columns of one dataset under construction, plus the problems found so far."""

    file: Path
    fmt: str
    lines: list[int]
    image_column: str
    columns: dict[str, pd.Series] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # The source column a target/diagnosis contradiction is reported in.
    diagnosis_column: str = "diagnosis"

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


def data_line_numbers(path: Path, n_rows: int) -> list[int]:
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


def read_csv(path: Path) -> pd.DataFrame:
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


def read_header(path: Path) -> list[str] | None:
    """Column names of a CSV, or None if it cannot be parsed."""
    try:
        return [str(c).strip() for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def require_columns(frame: pd.DataFrame, required: Iterable[str], path: Path) -> None:
    """Raise a :class:`DatasetError` naming the ``required`` columns ``frame`` lacks."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing required column(s) {missing}; present: {list(frame.columns)}"
        )


def require_rows(frame: pd.DataFrame, path: Path) -> None:
    """Raise a :class:`DatasetError` if ``frame`` has a header but no data rows."""
    if frame.empty:
        raise DatasetError(f"{path}: empty dataset (header only, no data rows)")


def is_blank(value: object) -> bool:
    """Whether a cell means "not recorded" (blank, ``unknown``, ``nan``...)."""
    return normalize_key(value) in MISSING_TOKENS


def pick_column(columns: Iterable[str], candidates: Sequence[str]) -> str | None:
    """First of ``candidates`` present in ``columns`` (case-insensitive); the real name."""
    by_lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    return None


def new_table(frame: pd.DataFrame, path: Path, fmt: str, image_column: str) -> Table:
    """Start the table of a non-empty CSV, with each data row's line number in ``path``."""
    require_rows(frame, path)
    return Table(file=path, fmt=fmt, lines=data_line_numbers(path, len(frame)),
                 image_column=image_column)


def check_on_error(on_error: str) -> None:
    """Raise ValueError unless ``on_error`` is one of :data:`ON_ERROR_CHOICES`."""
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")


# --- Finishing: problems, duplicates, dtypes ----------------------------------------------


def summarise(problems: Sequence[Problem]) -> str:
    """``"reason: count, ..."`` for the problems, most frequent reason first."""
    counts = Counter(p.reason for p in problems)
    return ", ".join(f"{reason}: {count}" for reason, count in counts.most_common())


def _reconcile_diagnoses(table: Table, frame: pd.DataFrame) -> None:
    """Make ``diagnosis == MEL`` hold exactly where ``target == 1``, or record a problem.

    ``target`` is a melanoma flag, so a melanoma whose diagnosis is not recorded is ``MEL``;
    a known diagnosis that disagrees with the target is an invalid label. Rows that already
    have a problem are left alone: their placeholder values prove nothing.
    """
    flagged = {p.row for p in table.problems}
    melanoma = frame["target"].to_numpy() == 1
    unknown = frame["diagnosis"].to_numpy() == UNKNOWN_DIAGNOSIS
    frame.loc[melanoma & unknown, "diagnosis"] = MELANOMA
    contradicts = ~unknown & (melanoma != (frame["diagnosis"].to_numpy() == MELANOMA))
    for row in map(int, contradicts.nonzero()[0]):
        if row not in flagged:
            table.add(row, REASON_LABEL, table.diagnosis_column,
                      f"diagnosis {frame['diagnosis'].iloc[row]!r} contradicts target "
                      f"{int(frame['target'].iloc[row])} (1 = melanoma = {MELANOMA!r})")


def finish(table: Table, on_error: str) -> pd.DataFrame:
    """Assemble the canonical frame, then fail on or drop the rows with problems.

    Every returned row satisfies ``target == (diagnosis == "MEL")``: a melanoma without a
    recorded diagnosis becomes ``MEL``, and a diagnosis contradicting the target is a
    problem (see :func:`_reconcile_diagnoses`).

    Args:
        table: A table whose ``columns`` hold every one of :data:`CANONICAL_COLUMNS`.
        on_error: ``"fail"`` or ``"skip"``.

    Returns:
        The canonical frame, index 0..n-1, ``attrs`` holding ``format``, ``source_file`` and
        ``skipped`` (reason -> rows dropped).

    Raises:
        DatasetError: If any row has a problem (fail mode) or no row is left (skip mode).
    """
    frame = pd.DataFrame({c: table.columns[c].to_numpy() for c in CANONICAL_COLUMNS})
    _reconcile_diagnoses(table, frame)
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
            f"rows ({summarise(problems)}): {quoted}"
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
            f"({summarise(problems)})"
        )

    frame = frame.astype({
        "image_id": str, "image_path": str, "target": "int64", "age": "float64", "sex": str,
        "site": str, "group_id": str, "group_kind": str, "diagnosis": str, "source": str,
    })
    frame.attrs.update({"format": table.fmt, "source_file": str(table.file), "skipped": skipped})
    logger.info("%s: read %d rows as %s (%d melanoma, %d groups)", table.file, len(frame),
                table.fmt, int(frame["target"].sum()), frame["group_id"].nunique())
    return frame
