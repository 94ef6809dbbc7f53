"""ISIC 2019: one-hot ground truth, optional metadata (age/sex/site/lesion), lesion-grouped."""

from __future__ import annotations

import logging
import os

import pandas as pd

from data import sources
from data.readers.base import OnError, finish
from data.readers.fields import (
    groups,
    image_folders,
    join_metadata,
    one_hot_labels,
    parse_ages,
    parse_sexes,
    parse_sites,
    resolve_images,
)
from data.readers.locate import FormatSpec
from data.readers.opening import open_csv

logger = logging.getLogger(__name__)

ISIC2019_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
ISIC2019_OPTIONAL_CLASSES = ("UNK",)  # present in the official file, always 0 in training
ISIC2019_REQUIRED = ("image", *ISIC2019_CLASSES)
ISIC2019_METADATA_REQUIRED = ("image",)
ISIC2019_IMAGE_FOLDERS = ("ISIC_2019_Training_Input", "images")

SPEC = FormatSpec(
    name="isic2019",
    signature=ISIC2019_REQUIRED,
    file_patterns=("ISIC_2019_Training_GroundTruth.csv",),
    looked_for="ISIC_2019_Training_GroundTruth.csv (" + ",".join(ISIC2019_REQUIRED) + ")",
)


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
        The canonical table; diagnosis is the canonical class of the column set to 1
        (``"unknown"`` for ``UNK``, which is no class).

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    csv_path, raw, table, ids = open_csv(path, SPEC, ISIC2019_REQUIRED, "image", on_error)
    classes = ISIC2019_CLASSES + tuple(c for c in ISIC2019_OPTIONAL_CLASSES if c in raw.columns)
    targets, diagnoses = one_hot_labels(table, raw, classes, SPEC.name)
    folders = image_folders(csv_path, images_dir, ISIC2019_IMAGE_FOLDERS)

    meta_path = csv_path.with_name(csv_path.name.replace("GroundTruth", "Metadata"))
    n = len(raw)
    if not meta_path.is_file():
        logger.warning("%s: no %s; age, sex and site are unknown for every row", csv_path,
                       meta_path.name)
        meta, meta_lines, meta_file = pd.DataFrame(index=range(n)), None, None
    else:
        meta, meta_lines = join_metadata(ids, meta_path, "image", ISIC2019_METADATA_REQUIRED)
        meta_file = meta_path
    blank = pd.Series([""] * n)
    lesion_ids = meta["lesion_id"] if "lesion_id" in meta.columns else None
    group_ids, kinds = groups(ids, [("lesion", lesion_ids)])
    table.columns = {
        "image_id": ids,
        "image_path": resolve_images(table, ids, folders, "image"),
        "target": targets,
        "age": parse_ages(table, meta.get("age_approx", blank), "age_approx", meta_file,
                          meta_lines),
        "sex": parse_sexes(table, meta.get("sex", blank), "sex", meta_file, meta_lines),
        "site": parse_sites(table, meta.get("anatom_site_general", blank), "anatom_site_general",
                            "isic2019", meta_file, meta_lines),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": diagnoses,
        "source": pd.Series([sources.source_from_lesion_id(v) for v in
                             (lesion_ids if lesion_ids is not None else [None] * n)], dtype=str),
    }
    return finish(table, on_error)
