"""The opening every fixed-layout reader shares: find its CSV, read it, start the table.

A reader calls :func:`open_csv` once, then parses its own columns into the returned table and
hands it to :func:`data.readers.base.finish` (the bad-row policy).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from data.readers.base import Table, check_on_error, new_table, read_csv, require_columns
from data.readers.fields import image_ids
from data.readers.locate import FormatSpec, locate


class Opened(NamedTuple):
    """A located, read and column-checked dataset CSV with its table under construction."""

    csv_path: Path
    raw: pd.DataFrame
    table: Table
    ids: pd.Series


def open_csv(path: str | os.PathLike[str], spec: FormatSpec, required: Sequence[str],
             image_column: str, on_error: str) -> Opened:
    """Locate and read a format's CSV; check its ``required`` columns and rows; read the image ids.

    Returns the CSV's path, its raw string frame, the new table and the image ids (blank ids in
    ``image_column`` become row problems, handled by ``finish`` per ``on_error``). DatasetError
    for a missing file or columns or no data rows.
    """
    check_on_error(on_error)
    csv_path = locate(path, spec)
    raw = read_csv(csv_path)
    require_columns(raw, required, csv_path)
    table = new_table(raw, csv_path, spec.name, image_column)
    return Opened(csv_path, raw, table, image_ids(table, raw[image_column], image_column))
