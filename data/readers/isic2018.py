"""ISIC 2018 Task 3: one-hot ground truth only (no metadata), grouped by image."""

from __future__ import annotations

import logging
import math
import os

import pandas as pd

from data.readers.base import OnError, finish
from data.readers.fields import image_folders, one_hot_labels, resolve_images
from data.readers.isic2019 import ISIC2019_REQUIRED
from data.readers.locate import FormatSpec
from data.readers.opening import open_csv
from data.sites import UNKNOWN

logger = logging.getLogger(__name__)

ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
ISIC2018_REQUIRED = ("image", *ISIC2018_CLASSES)

SPEC = FormatSpec(
    name="isic2018",
    signature=ISIC2018_REQUIRED,
    file_patterns=("ISIC2018_Task3_*_GroundTruth.csv", "*/ISIC2018_Task3_*_GroundTruth.csv"),
    looked_for="ISIC 2018 Task 3 ground truth (" + ",".join(ISIC2018_REQUIRED) + ")",
    # A header that also has every ISIC 2019 column is read as ISIC 2019, which takes
    # precedence (it is the later, larger release of the same one-hot layout).
    unless=ISIC2019_REQUIRED,
)


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
        The canonical table; diagnosis is the canonical class of the column set to 1
        (``AKIEC`` -> ``AK``, as ISIC 2019 merged them).

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    csv_path, raw, table, ids = open_csv(path, SPEC, ISIC2018_REQUIRED, "image", on_error)
    targets, diagnoses = one_hot_labels(table, raw, ISIC2018_CLASSES, SPEC.name)
    input_dir = csv_path.name.removesuffix("_GroundTruth.csv") + "_Input"
    folders = image_folders(csv_path, images_dir, (input_dir, "images"))
    logger.warning("%s: ISIC 2018 has no lesion ids; grouping by image lets near-duplicate images "
                   "of one lesion cross folds", csv_path.name)
    n = len(raw)
    table.columns = {
        "image_id": ids,
        "image_path": resolve_images(table, ids, folders, "image"),
        "target": targets,
        "age": pd.Series([math.nan] * n, dtype="float64"),
        "sex": pd.Series([UNKNOWN] * n, dtype=str),
        "site": pd.Series([UNKNOWN] * n, dtype=str),
        "group_id": ids,
        "group_kind": pd.Series(["image"] * n, dtype=str),
        "diagnosis": diagnoses,
        "source": pd.Series([SPEC.name] * n, dtype=str),
    }
    return finish(table, on_error)
