"""ISIC 2020 (SIIM-ISIC): ``train.csv`` with patient ids and metadata, ``jpeg/train/`` images."""

from __future__ import annotations

import os

import pandas as pd

from data.readers.base import (
    REASON_LABEL,
    OnError,
    Table,
    finish,
    is_blank,
)
from data.readers.fields import (
    groups,
    image_folders,
    parse_ages,
    parse_binary,
    parse_diagnoses,
    parse_sexes,
    parse_sites,
    resolve_images,
)
from data.readers.locate import FormatSpec
from data.readers.opening import open_csv
from data.sites import normalize_key

ISIC2020_REQUIRED = ("image_name", "patient_id", "target")
ISIC2020_SIGNATURE = (*ISIC2020_REQUIRED, "anatom_site_general_challenge")
ISIC2020_IMAGE_FOLDERS = ("jpeg/train", "jpeg", "ISIC_2020_Training_JPEG/train",
                          "ISIC_2020_Training_JPEG", "train", "images")

SPEC = FormatSpec(
    name="isic2020",
    signature=ISIC2020_SIGNATURE,
    file_patterns=("train.csv", "ISIC_2020_Training_GroundTruth*.csv"),
    looked_for="ISIC 2020 train.csv (" + ",".join(ISIC2020_SIGNATURE) + ")",
)


def _targets(table: Table, raw: pd.DataFrame, verdicts: pd.Series) -> list[int]:
    """0/1 target per row; ``benign_malignant``, where given, must agree with it."""
    targets: list[int] = []
    for row, (value, verdict) in enumerate(zip(raw["target"], verdicts, strict=True)):
        target = parse_binary(value)
        if target is None:
            table.add(row, REASON_LABEL, "target", f"label {value!r} is not 0 or 1")
        elif not is_blank(verdict) and (normalize_key(verdict) == "malignant") != bool(target):
            table.add(row, REASON_LABEL, "benign_malignant",
                      f"benign_malignant {verdict!r} contradicts target {value!r}")
        targets.append(target or 0)
    return targets


def read_isic2020(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read ISIC 2020 (SIIM-ISIC): ``train.csv`` and ``jpeg/train/`` images.

    Columns: image_name, patient_id, (lesion_id), sex, age_approx,
    anatom_site_general_challenge, diagnosis, benign_malignant, target. Rows are grouped by
    ``patient_id`` (one patient has many lesions and images). If ``benign_malignant`` is
    present it must agree with ``target``. ``diagnosis`` becomes the canonical class
    (:data:`data.diagnoses.ISIC2020_DIAGNOSES`; ``"unknown"`` stays unknown); it must agree with
    ``target`` (melanoma = ``MEL``), and a melanoma without one is ``MEL``.

    Args:
        path: Dataset folder or the CSV (``train.csv`` or ``ISIC_2020_Training_GroundTruth*.csv``).
        images_dir: Folder holding the images; default ``jpeg/train/``, ``jpeg/``,
            ``ISIC_2020_Training_JPEG/train/``, ``train/`` or ``images/``.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    csv_path, raw, table, ids = open_csv(path, SPEC, ISIC2020_REQUIRED, "image_name", on_error)
    n = len(raw)
    blank = pd.Series([""] * n)

    targets = _targets(table, raw, raw.get("benign_malignant", blank))
    # Without the column every diagnosis is unknown; finish() makes the melanomas MEL.
    diagnoses = parse_diagnoses(table, raw.get("diagnosis", blank), "diagnosis", SPEC.name)

    folders = image_folders(csv_path, images_dir, ISIC2020_IMAGE_FOLDERS)
    levels = [("patient", raw["patient_id"]), ("lesion", raw.get("lesion_id"))]
    group_ids, kinds = groups(ids, levels)
    table.columns = {
        "image_id": ids,
        "image_path": resolve_images(table, ids, folders, "image_name"),
        "target": pd.Series(targets, dtype="int64"),
        "age": parse_ages(table, raw.get("age_approx", blank), "age_approx"),
        "sex": parse_sexes(table, raw.get("sex", blank), "sex"),
        "site": parse_sites(table, raw.get("anatom_site_general_challenge", blank),
                            "anatom_site_general_challenge", "isic2020"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": diagnoses,
        "source": pd.Series([SPEC.name] * n, dtype=str),
    }
    return finish(table, on_error)
