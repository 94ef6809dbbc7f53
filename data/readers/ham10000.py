"""HAM10000: ``HAM10000_metadata.csv`` plus one ``<image_id>.jpg`` per row, grouped by lesion."""

from __future__ import annotations

import logging
import os

import pandas as pd

from data import sources
from data.diagnoses import MELANOMA
from data.readers.base import OnError, finish
from data.readers.fields import (
    groups,
    image_folders,
    parse_ages,
    parse_diagnoses,
    parse_sexes,
    parse_sites,
    resolve_images,
)
from data.readers.locate import FormatSpec
from data.readers.opening import open_csv

logger = logging.getLogger(__name__)

HAM10000_REQUIRED = ("lesion_id", "image_id", "dx")
HAM10000_OPTIONAL = ("age", "sex", "localization")
# Auto-detection wants the full official header, so that a generic CSV that merely has
# image_id/dx/lesion_id columns is not mistaken for HAM10000 (explicit fmt needs only REQUIRED).
HAM10000_SIGNATURE = (*HAM10000_REQUIRED, "dx_type", *HAM10000_OPTIONAL)
# Image folders (globs) next to the CSV: ours, and the original two-part release.
HAM10000_IMAGE_FOLDERS = ("images", "HAM10000_images*")

SPEC = FormatSpec(
    name="ham10000",
    signature=HAM10000_SIGNATURE,
    file_patterns=("HAM10000_metadata.csv",),
    looked_for="HAM10000_metadata.csv (columns " + ",".join(HAM10000_SIGNATURE) + ")",
)


def read_ham10000(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read HAM10000: ``HAM10000_metadata.csv`` plus ``<image_id>.jpg`` images.

    Images are looked for in ``images_dir``, else ``images/`` or ``HAM10000_images*/`` (the
    original two-part release) next to the CSV. ``dx`` is the label: it becomes the canonical
    diagnosis (``akiec`` -> ``AK``, see :mod:`data.diagnoses`) and melanoma = ``mel``; a
    missing or unmapped ``dx`` is an invalid label. Rows are grouped by ``lesion_id``
    (HAM10000 has no patient id). An age of 0 is a recorded value (infants), not a missing
    marker; missing ages are blank.

    Args:
        path: Dataset folder or the metadata CSV.
        images_dir: Folder holding the images, overriding the search.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    csv_path, raw, table, ids = open_csv(path, SPEC, HAM10000_REQUIRED, "image_id", on_error)
    blank = pd.Series([""] * len(raw))
    for column in HAM10000_OPTIONAL:
        if column not in raw.columns:
            logger.warning("%s: no %r column; treated as unknown for every row", csv_path, column)

    diagnoses = parse_diagnoses(table, raw["dx"], "dx", SPEC.name, required=True)
    folders = image_folders(csv_path, images_dir, HAM10000_IMAGE_FOLDERS)
    group_ids, kinds = groups(ids, [("lesion", raw["lesion_id"])])
    table.columns = {
        "image_id": ids,
        "image_path": resolve_images(table, ids, folders, "image_id"),
        "target": (diagnoses == MELANOMA).astype("int64"),
        "age": parse_ages(table, raw.get("age", blank), "age"),
        "sex": parse_sexes(table, raw.get("sex", blank), "sex"),
        "site": parse_sites(table, raw.get("localization", blank), "localization", "ham10000"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": diagnoses,
        "source": pd.Series([sources.HAM10000] * len(raw), dtype=str),
    }
    return finish(table, on_error)
