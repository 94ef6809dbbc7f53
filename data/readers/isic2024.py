"""ISIC 2024 (SLICE-3D): ``train-metadata.csv`` + ``train-image.hdf5`` (JPEG bytes per id).

Images are read straight from the HDF5 file (``data.hdf5_images`` references), never
extracted; a folder of ``<isic_id>.jpg`` files (``train-image/image/``) works too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from data import hdf5_images
from data.diagnoses import UNKNOWN_DIAGNOSIS, DiagnosisError, to_canonical_diagnosis
from data.readers.base import REASON_IMAGE, REASON_LABEL, DatasetError, OnError, Table, finish
from data.readers.fields import (
    groups,
    image_folders,
    parse_ages,
    parse_binary,
    parse_sexes,
    parse_sites,
    resolve_images,
)
from data.readers.locate import FormatSpec
from data.readers.opening import open_csv

ISIC2024_REQUIRED = ("isic_id", "patient_id", "target")
ISIC2024_SIGNATURE = (*ISIC2024_REQUIRED, "anatom_site_general")
ISIC2024_HDF5 = "train-image.hdf5"
ISIC2024_IMAGE_FOLDERS = ("train-image/image", "train-image", "images")

SPEC = FormatSpec(
    name="isic2024",
    signature=ISIC2024_SIGNATURE,
    file_patterns=("train-metadata.csv",),
    looked_for="ISIC 2024 train-metadata.csv (" + ",".join(ISIC2024_SIGNATURE) + ")",
)


def _hdf5_file(csv_path: Path, images: str | os.PathLike[str] | None) -> Path | None:
    """The HDF5 file to read: `images` if it is one, else ``train-image.hdf5`` beside the CSV."""
    if images is not None:
        path = Path(images).expanduser()
        return path if path.suffix.lower() in hdf5_images.HDF5_SUFFIXES else None
    for base in (csv_path.parent, csv_path.parent.parent):
        if (base / ISIC2024_HDF5).is_file():
            return base / ISIC2024_HDF5
    return None


def _hdf5_references(table: Table, ids: pd.Series, path: Path) -> pd.Series:
    """One reference per row; an id absent from the file is a missing-image problem."""
    if not path.is_file():
        raise DatasetError(f"{path}: HDF5 image file not found")
    try:
        stored = hdf5_images.keys(path)
    except OSError as err:
        raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from None
    refs = []
    for row, image_id in enumerate(ids):
        if image_id and image_id not in stored:
            table.add(row, REASON_IMAGE, "isic_id", f"image {image_id!r} is not in {path.name}")
            refs.append("")
        else:
            refs.append(hdf5_images.reference(path, image_id) if image_id else "")
    return pd.Series(refs, dtype=str)


def _diagnoses(raw: pd.DataFrame) -> pd.Series:
    """Canonical diagnoses from ``iddx_3`` where a value names one of the classes.

    ``iddx_3`` holds specific names ("Nevus", "Basal cell carcinoma", "Melanoma Invasive",
    "Solar lentigo"...); those that are not one of the canonical classes or their common names
    stay unknown (the melanomas become MEL from the target).
    """
    out = []
    for value in raw.get("iddx_3", pd.Series([""] * len(raw))):
        try:
            out.append(to_canonical_diagnosis(value, "generic"))
        except DiagnosisError:
            out.append(UNKNOWN_DIAGNOSIS)
    return pd.Series(out, dtype=str)


def read_isic2024(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read ISIC 2024: ``train-metadata.csv`` and its images.

    Columns used: isic_id, patient_id, target, age_approx, sex, anatom_site_general (ISIC's
    general sites); the ``tbp_lv_*`` measurements and others are left for the second stage.
    Rows are grouped by patient. The diagnosis comes from ``iddx_3`` where it names a
    canonical class (see `_diagnoses`), else it is unknown; melanomas (target 1) are ``MEL``.

    Args:
        path: Dataset folder or ``train-metadata.csv``.
        images_dir: The HDF5 file (``train-image.hdf5``) or a folder of ``<isic_id>.jpg``;
            default: ``train-image.hdf5`` next to the CSV, else ``train-image/image/``.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; image paths of HDF5 images are ``<file>::<isic_id>`` references
        that `data.images.load_image` reads.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    csv_path, raw, table, ids = open_csv(path, SPEC, ISIC2024_REQUIRED, "isic_id", on_error)
    n = len(raw)
    blank = pd.Series([""] * n)
    targets = []
    for row, value in enumerate(raw["target"]):
        target = parse_binary(value)
        if target is None:
            table.add(row, REASON_LABEL, "target", f"label {value!r} is not 0 or 1")
        targets.append(target or 0)
    h5 = _hdf5_file(csv_path, images_dir)
    if h5 is not None:
        images = _hdf5_references(table, ids, h5)
    else:
        folders = image_folders(csv_path, images_dir, ISIC2024_IMAGE_FOLDERS)
        images = resolve_images(table, ids, folders, "isic_id")
    group_ids, kinds = groups(ids, [("patient", raw["patient_id"])])
    table.columns = {
        "image_id": ids,
        "image_path": images,
        "target": pd.Series(targets, dtype="int64"),
        "age": parse_ages(table, raw.get("age_approx", blank), "age_approx"),
        "sex": parse_sexes(table, raw.get("sex", blank), "sex"),
        "site": parse_sites(table, raw.get("anatom_site_general", blank), "anatom_site_general",
                            SPEC.name),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": _diagnoses(raw),
        "source": pd.Series([SPEC.name] * n, dtype=str),
    }
    return finish(table, on_error)


TBP_PREFIX = "tbp_lv_"
TBP_EXTRA = ("clin_size_long_diam_mm",)


def read_tbp(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The numeric total-body-photography measurements of an ISIC 2024 metadata CSV.

    Args:
        path: Dataset folder or ``train-metadata.csv``.

    Returns:
        ``image_id`` plus every numeric ``tbp_lv_*`` column (and ``clin_size_long_diam_mm``)
        present; values that are not numbers become NaN. Only ``image_id`` when the file has
        none (then there are no TBP features).
    """
    csv_path = Path(path)
    if csv_path.is_dir():
        csv_path = csv_path / "train-metadata.csv"
    raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    columns = [c for c in raw.columns if c.startswith(TBP_PREFIX) or c in TBP_EXTRA]
    out = pd.DataFrame({"image_id": raw["isic_id"].astype(str)})
    for c in columns:
        out[c] = pd.to_numeric(raw[c].replace("", np.nan), errors="coerce")
    return out
