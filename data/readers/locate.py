"""How formats are described (:class:`FormatSpec`), recognised and found on disk.

Nothing here knows a particular format: each format module declares a :class:`FormatSpec`
(header signature, file globs) and this module applies it. :func:`locate` finds the main
CSV of one given format; :func:`detect` recognises the format among several specs, tried in
their priority order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from data.readers.base import DatasetError, read_header


@dataclass(frozen=True)
class FormatSpec:
    """How one dataset format is recognised (its CSV header) and found (its file names).

    Attributes:
        name: The format's name: ``fmt=`` value, registry key and ``source`` column.
        signature: Columns a CSV header must all have to be taken for this format. Auto
            detection may want more than the reader requires, so that a CSV that merely
            shares a few column names is not mistaken for this format.
        file_patterns: Globs, relative to a dataset folder, its main CSV is found under.
        looked_for: How the format is described when nothing is recognised.
        unless: Columns that, all present, make a header NOT this format: it belongs to a
            format that takes precedence (ISIC 2019 over ISIC 2018).
        header_check: Replaces the ``signature`` test for formats recognised by alternative
            column names (the generic CSV).
        fallback: A catch-all format; any other recognised file beats it.
        auto: Whether auto-detection may choose this format. False for a format whose files
            look like another's and whose meaning cannot be checked (integer class indices
            in an unverifiable order): it is read only when named.
    """

    name: str
    signature: tuple[str, ...]
    file_patterns: tuple[str, ...]
    looked_for: str
    unless: tuple[str, ...] = ()
    header_check: Callable[[set[str]], bool] | None = None
    fallback: bool = False
    auto: bool = True

    def matches(self, columns: Iterable[str]) -> bool:
        """Whether a CSV with these column names is (auto-detected as) this format."""
        cols = set(columns)
        if self.unless and set(self.unless) <= cols:
            return False
        if self.header_check is not None:
            return self.header_check(cols)
        return set(self.signature) <= cols


def existing_root(path: str | os.PathLike[str]) -> Path:
    """``path`` expanded, if it exists.

    Raises:
        DatasetError: If it does not.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: dataset path does not exist")
    return root


def formats_of_header(columns: Sequence[str], specs: Sequence[FormatSpec]) -> list[FormatSpec]:
    """Auto-detectable specs whose signature a CSV header has, in the given (priority) order."""
    return [spec for spec in specs if spec.auto and spec.matches(columns)]


def candidate_csvs(folder: Path) -> list[Path]:
    """CSV files in a folder, then those one level down."""
    top = sorted(p for p in folder.glob("*.csv") if p.is_file())
    nested = sorted(p for p in folder.glob("*/*.csv") if p.is_file())
    return top + nested


def what_we_look_for(specs: Sequence[FormatSpec]) -> str:
    """One line describing every format, for "unrecognised format" errors."""
    return "; ".join(spec.looked_for for spec in specs)


def locate(path: str | os.PathLike[str], spec: FormatSpec) -> Path:
    """The main CSV of a dataset of a known format, given as a folder or a file.

    A file is taken as is (reading it reports what is wrong with it). In a folder, the
    format's known file names come first, then CSVs with its columns, then a lone CSV.

    Args:
        path: Dataset folder or CSV file.
        spec: The format to look for.

    Returns:
        The CSV to read.

    Raises:
        DatasetError: If the path does not exist, or no or several candidate files are found.
    """
    root = existing_root(path)
    if root.is_file():
        return root
    # Known file names first, so that a file with missing columns is still found and the
    # user gets a "missing column" error rather than "not found".
    matches = sorted({m for pattern in spec.file_patterns for m in root.glob(pattern)})
    if not matches:
        matches = [p for p in candidate_csvs(root) if spec.matches(read_header(p) or [])]
    if not matches:
        # A lone CSV is what the user means; reading it reports its missing columns.
        top_level = sorted(root.glob("*.csv"))
        matches = top_level if len(top_level) == 1 else []
    if len(matches) == 1:
        return matches[0]
    fmt = spec.name
    if not matches:
        raise DatasetError(
            f"{root}: no {fmt} dataset file found; looked for {list(spec.file_patterns)} or a "
            f"CSV with the {fmt} columns; CSV files present: "
            f"{[str(p.relative_to(root)) for p in candidate_csvs(root)]}"
        )
    raise DatasetError(
        f"{root}: several {fmt} files {[str(p.relative_to(root)) for p in matches]}; "
        "pass the one to read as the path"
    )


def detect(path: str | os.PathLike[str], specs: Sequence[FormatSpec]) -> tuple[str, Path]:
    """Recognise the format and the main CSV of a dataset given as a folder or a file.

    Args:
        path: Dataset folder or CSV file.
        specs: The formats to try, highest priority first: a header matching several is
            read as the first.

    Returns:
        The format's name and the CSV to read.

    Raises:
        DatasetError: If the path does not exist, nothing is recognised (the message lists
            what was looked for) or several candidate files are found.
    """
    root = existing_root(path)
    if root.is_file():
        header = read_header(root)
        formats = formats_of_header(header or [], specs)
        if not formats:
            raise DatasetError(
                f"{root}: unrecognised dataset format (columns: {header}); looked for "
                f"{what_we_look_for(specs)}"
            )
        return formats[0].name, root

    candidates = candidate_csvs(root)
    recognised: list[tuple[FormatSpec, Path]] = []
    for csv_path in candidates:
        formats = formats_of_header(read_header(csv_path) or [], specs)
        if formats:
            recognised.append((formats[0], csv_path))
    # A known layout beats a generic CSV next to it (e.g. ISIC 2020's sample_submission.csv).
    specific = [(s, p) for s, p in recognised if not s.fallback]
    chosen = specific or recognised
    # Prefer files directly in the folder over nested ones.
    top_level = [(s, p) for s, p in chosen if p.parent == root]
    chosen = top_level or chosen
    if len(chosen) == 1:
        return chosen[0][0].name, chosen[0][1]
    if not chosen:
        raise DatasetError(
            f"{root}: could not recognise the dataset format; looked for "
            f"{what_we_look_for(specs)}; CSV files present: "
            f"{[str(p.relative_to(root)) for p in candidates]}"
        )
    listed = [f"{p.relative_to(root)} ({s.name})" for s, p in chosen]
    raise DatasetError(f"{root}: several dataset files {listed}; pass the one to read as the path")
