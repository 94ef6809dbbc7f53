"""ISIC 2017 Part 3: binary ground truth, optional age/sex metadata, no site, image-grouped."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from data import sources
from data.diagnoses import to_canonical_diagnosis
from data.readers.base import (
    REASON_LABEL,
    OnError,
    Table,
    finish,
)
from data.readers.fields import (
    image_folders,
    join_metadata,
    parse_ages,
    parse_binary,
    parse_sexes,
    resolve_images,
)
from data.readers.locate import FormatSpec
from data.readers.opening import open_csv
from data.sites import UNKNOWN

logger = logging.getLogger(__name__)

ISIC2017_REQUIRED = ("image_id", "melanoma", "seborrheic_keratosis")
ISIC2017_METADATA_REQUIRED = ("image_id",)
# "ISIC-2017_<Split>_Part3_GroundTruth.csv" names its image folder "ISIC-2017_<Split>_Data"
# and its metadata "ISIC-2017_<Split>_Data_metadata.csv".
ISIC2017_GROUND_TRUTH_SUFFIX = "_Part3_GroundTruth.csv"

SPEC = FormatSpec(
    name="isic2017",
    signature=ISIC2017_REQUIRED,
    file_patterns=(f"ISIC-2017_*{ISIC2017_GROUND_TRUTH_SUFFIX}",),
    looked_for="ISIC-2017_*_Part3_GroundTruth.csv (" + ",".join(ISIC2017_REQUIRED) + ")",
)


def _labels(table: Table, raw: pd.DataFrame) -> tuple[list[int], list[str]]:
    """Target and canonical diagnosis per row from the melanoma / seborrheic_keratosis 0/1
    columns: ``MEL``, ``BKL`` (seborrheic keratosis) or, when neither is 1, ``NV``."""
    targets: list[int] = []
    diagnoses: list[str] = []
    pairs = zip(raw["melanoma"], raw["seborrheic_keratosis"], strict=True)
    for row, (mel_raw, sk_raw) in enumerate(pairs):
        mel, sk = parse_binary(mel_raw), parse_binary(sk_raw)
        if mel is None or sk is None:
            column = "melanoma" if mel is None else "seborrheic_keratosis"
            value = mel_raw if mel is None else sk_raw
            table.add(row, REASON_LABEL, column, f"label {value!r} is not 0 or 1")
        elif mel and sk:
            table.add(row, REASON_LABEL, "melanoma",
                      "both melanoma and seborrheic_keratosis are 1")
        targets.append(mel or 0)
        raw_name = "melanoma" if mel else "seborrheic_keratosis" if sk else "nevus"
        diagnoses.append(to_canonical_diagnosis(raw_name, SPEC.name))
    return targets, diagnoses


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
        The canonical table; diagnosis is ``MEL``, ``BKL`` or ``NV``.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    csv_path, raw, table, ids = open_csv(path, SPEC, ISIC2017_REQUIRED, "image_id", on_error)
    targets, diagnoses = _labels(table, raw)

    prefix = csv_path.name.removesuffix(ISIC2017_GROUND_TRUTH_SUFFIX)
    data_dir_name = f"{prefix}_Data"
    folders = image_folders(csv_path, images_dir, (data_dir_name,))
    meta_name = f"{prefix}_Data_metadata.csv"
    meta_candidates = (csv_path.parent / meta_name, csv_path.parent / data_dir_name / meta_name,
                       *(folder / meta_name for folder in folders))
    meta_path: Path | None = next((p for p in meta_candidates if p.is_file()), None)
    n = len(raw)
    if meta_path is None:
        logger.warning("%s: no %s found; age and sex are unknown for every row", csv_path,
                       meta_name)
        meta, meta_lines = pd.DataFrame({"age_approximate": [""] * n, "sex": [""] * n}), None
    else:
        meta, meta_lines = join_metadata(ids, meta_path, "image_id", ISIC2017_METADATA_REQUIRED)
    blank = pd.Series([""] * n)
    table.columns = {
        "image_id": ids,
        "image_path": resolve_images(table, ids, folders, "image_id"),
        "target": pd.Series(targets, dtype="int64"),
        "age": parse_ages(table, meta.get("age_approximate", blank), "age_approximate",
                          meta_path, meta_lines),
        "sex": parse_sexes(table, meta.get("sex", blank), "sex", meta_path, meta_lines),
        "site": pd.Series([UNKNOWN] * n, dtype=str),
        "group_id": ids,
        "group_kind": pd.Series(["image"] * n, dtype=str),
        "diagnosis": pd.Series(diagnoses, dtype=str),
        "source": pd.Series([sources.ISIC2017] * n, dtype=str),
    }
    return finish(table, on_error)
