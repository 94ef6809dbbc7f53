"""The registry of dataset formats: name -> (spec, reader), and the dispatch built on it.

:data:`REGISTRY` is the single list of supported formats; :data:`FORMATS`,
:func:`detect_format` and :func:`read_dataset` (and the ``DataFormat`` choices of the
configs) all derive from it. Adding a format is one module (constants, a
:class:`~data.readers.locate.FormatSpec` and a ``read_<fmt>`` function) plus one line in
``_ENTRIES`` below.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from data.readers import (
    generic_csv,
    ham10000,
    isic2017,
    isic2018,
    isic2019,
    isic2019_labels,
    isic2020,
    isic2024,
)
from data.readers.base import DatasetError, OnError, check_on_error
from data.readers.locate import FormatSpec, detect, existing_root, locate

Reader = Callable[..., pd.DataFrame]
"""``read_<fmt>(path, images_dir=None, on_error="fail") -> canonical table``."""


class Entry(NamedTuple):
    """One registered format: how it is recognised and found, and how it is read."""

    spec: FormatSpec
    read: Reader


# Order = detection priority: a CSV header matching several formats is read as the first.
# Specific layouts come before the generic "csv" (which also loses to any of them when they
# sit side by side in a folder, see FormatSpec.fallback). ISIC 2018 vs 2019 does not depend
# on the order: a header with both column sets is ISIC 2019's (isic2018.SPEC.unless).
# isic2019_labels is never auto-detected (its spec says auto=False), so its place is moot.
_ENTRIES: tuple[Entry, ...] = (
    Entry(ham10000.SPEC, ham10000.read_ham10000),
    Entry(isic2017.SPEC, isic2017.read_isic2017),
    Entry(isic2018.SPEC, isic2018.read_isic2018),
    Entry(isic2019.SPEC, isic2019.read_isic2019),
    Entry(isic2019_labels.SPEC, isic2019_labels.read_isic2019_labels),
    Entry(isic2020.SPEC, isic2020.read_isic2020),
    Entry(isic2024.SPEC, isic2024.read_isic2024),
    Entry(generic_csv.SPEC, generic_csv.read_generic_csv),
)

REGISTRY: dict[str, Entry] = {entry.spec.name: entry for entry in _ENTRIES}
"""Format name -> its :class:`Entry`, in detection priority order."""

FORMATS: tuple[str, ...] = tuple(REGISTRY)
"""Format names accepted by :func:`read_dataset` (besides ``"auto"``)."""

SPECS: tuple[FormatSpec, ...] = tuple(entry.spec for entry in _ENTRIES)


def locate_dataset(path: str | os.PathLike[str], fmt: str = "auto") -> tuple[str, Path]:
    """Find the format and the main CSV of a dataset given as a folder or a file.

    Raises:
        DatasetError: If the path does not exist, ``fmt`` is not registered, or no (or
            several) dataset files are found.
    """
    root = existing_root(path)
    if fmt != "auto" and fmt not in REGISTRY:
        raise DatasetError(
            f"unknown dataset format {fmt!r}; expected 'auto' or one of {list(FORMATS)}"
        )
    if fmt == "auto":
        return detect(root, SPECS)
    return fmt, locate(root, REGISTRY[fmt].spec)


def detect_format(path: str | os.PathLike[str]) -> str:
    """The auto-detectable format (never ``isic2019_labels``) of a dataset folder or CSV.

    Recognised from file names and CSV columns; DatasetError, listing what was looked for, when
    nothing or several candidate files match.
    """
    return locate_dataset(path)[0]


def read_dataset(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read any supported dataset (its folder or main CSV) into the canonical table.

    ``fmt`` is ``"auto"`` (:func:`detect_format`) or one of :data:`FORMATS`; ``images_dir``
    overrides each format's own image search. ``on_error="fail"`` raises one DatasetError reporting
    the first few invalid rows and the total; ``"skip"`` drops them and logs a count per reason.
    The result has exactly :data:`CANONICAL_COLUMNS`, index 0..n-1, and ``attrs`` ``format``,
    ``source_file`` and ``skipped`` (reason -> rows dropped).
    """
    check_on_error(on_error)
    detected, csv_path = locate_dataset(path, fmt)
    # Pass the located file on so that the reader does not search (and maybe choose) again.
    return REGISTRY[detected].read(csv_path, images_dir=images_dir, on_error=on_error)
