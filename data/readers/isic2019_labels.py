"""ISIC 2019 as one integer class-index column (format ``isic2019_labels``), never auto-detected.

Much public ISIC 2019 code replaces the official one-hot ground truth by a CSV with an image
column (``image`` / ``image_id`` / ``image_name``) and ONE integer ``label``: the index of the
one-hot column set to 1, i.e. the classes in the official ISIC 2019 column order

    0 = MEL, 1 = NV, 2 = BCC, 3 = AK, 4 = BKL, 5 = DF, 6 = VASC, 7 = SCC

(:data:`data.diagnoses.DIAGNOSES`). That order is the only one this format reads; there is
deliberately no option to change it. Such a file does not say its order, and other code
numbers the same classes differently (alphabetically, AK = 0 ...), so its header alone cannot
tell which order it uses, nor whether ``label`` is a binary melanoma flag (the generic
``csv`` format). Auto-detection therefore never picks this format: it is read only when named
(``fmt="isic2019_labels"``, ``--data-format isic2019_labels``), which is the user's statement
that the file uses the ISIC 2019 order. The generic reader refuses a ``label`` column with
integers other than 0/1 and points here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from data.diagnoses import DIAGNOSES, MELANOMA
from data.readers.base import (
    IMAGE_EXTENSIONS,
    DatasetError,
    OnError,
    check_on_error,
    finish,
    new_table,
    pick_column,
    read_csv,
)
from data.readers.fields import (
    groups,
    image_folders,
    image_ids,
    optional_column,
    parse_ages,
    parse_diagnoses,
    parse_sexes,
    parse_sites,
    resolve_images,
)
from data.readers.locate import FormatSpec, locate

logger = logging.getLogger(__name__)

ISIC2019_LABELS_IMAGE_COLUMNS = ("image", "image_id", "image_name")
ISIC2019_LABELS_LABEL_COLUMN = "label"
# Optional metadata the same CSV may carry (matched case-insensitively, first present wins).
ISIC2019_LABELS_AGE_COLUMNS = ("age_approx", "age")
ISIC2019_LABELS_SEX_COLUMNS = ("sex",)
ISIC2019_LABELS_SITE_COLUMNS = ("anatom_site_general", "site")
ISIC2019_LABELS_IMAGE_FOLDERS = ("ISIC_2019_Training_Input", "images")
CLASS_ORDER: tuple[str, ...] = DIAGNOSES
"""Class of each label value: ``CLASS_ORDER[label]`` (the ISIC 2019 column order)."""


def _has_columns(columns: set[str]) -> bool:
    return bool(pick_column(columns, ISIC2019_LABELS_IMAGE_COLUMNS)
                and pick_column(columns, (ISIC2019_LABELS_LABEL_COLUMN,)))


SPEC = FormatSpec(
    name="isic2019_labels",
    signature=(),
    file_patterns=(),
    looked_for=(
        "isic2019_labels only when named (image/image_id/image_name and an integer label "
        "0..7 in ISIC 2019 order)"
    ),
    header_check=_has_columns,
    auto=False,
)



def read_isic2019_labels(
    path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "fail",
) -> pd.DataFrame:
    """Read an ISIC 2019 class-index CSV (``image,label`` with ``label`` in 0..7).

    ``label`` is read in the ISIC 2019 order (:data:`CLASS_ORDER`: 0 = MEL ... 7 = SCC);
    ``"3.0"`` reads as 3. A blank label or any other value (8, -1, ``mel``...) is an invalid
    label. Optional columns of the same CSV: ``age_approx`` / ``age``, ``sex``,
    ``anatom_site_general`` / ``site``, ``patient_id`` and ``lesion_id`` (grouping: patient,
    else lesion, else image). Images are looked for in ``images_dir``, else
    ``ISIC_2019_Training_Input/`` or ``images/`` next to the CSV (or one level up).

    Args:
        path: The CSV (or a folder holding one such CSV).
        images_dir: Folder holding the images, overriding the search.
        on_error: ``"fail"`` or ``"skip"`` for invalid rows.

    Returns:
        The canonical table; diagnosis is ``CLASS_ORDER[label]``, target is 1 for ``MEL``.

    Raises:
        DatasetError: On structural problems, or invalid rows with ``on_error="fail"``.
    """
    check_on_error(on_error)
    csv_path = locate(path, SPEC)
    raw = read_csv(csv_path)
    image_col = pick_column(raw.columns, ISIC2019_LABELS_IMAGE_COLUMNS)
    label_col = pick_column(raw.columns, (ISIC2019_LABELS_LABEL_COLUMN,))
    if image_col is None or label_col is None:
        missing = ["/".join(ISIC2019_LABELS_IMAGE_COLUMNS)] if image_col is None else []
        missing += [ISIC2019_LABELS_LABEL_COLUMN] if label_col is None else []
        raise DatasetError(
            f"{csv_path}: missing required column(s) {missing}; present: {list(raw.columns)}"
        )
    table = new_table(raw, csv_path, SPEC.name, image_col)
    logger.info("%s: %r read as ISIC 2019 class indices (%s)", csv_path.name, label_col,
                ", ".join(f"{i}={c}" for i, c in enumerate(CLASS_ORDER)))
    diagnoses = parse_diagnoses(table, raw[label_col], label_col, SPEC.name, required=True)

    names = image_ids(table, raw[image_col], image_col)
    folders = image_folders(csv_path, images_dir, ISIC2019_LABELS_IMAGE_FOLDERS)
    paths = resolve_images(table, names, folders, image_col)
    ids = names.map(lambda n: Path(n).stem if Path(n).suffix.lower() in IMAGE_EXTENSIONS else n)
    age_raw, age_col = optional_column(raw, ISIC2019_LABELS_AGE_COLUMNS)
    sex_raw, sex_col = optional_column(raw, ISIC2019_LABELS_SEX_COLUMNS)
    site_raw, site_col = optional_column(raw, ISIC2019_LABELS_SITE_COLUMNS)
    levels = [(kind, raw[col] if col else None) for kind, col in (
        ("patient", pick_column(raw.columns, ("patient_id",))),
        ("lesion", pick_column(raw.columns, ("lesion_id",))))]
    group_ids, kinds = groups(ids, levels)
    if (kinds == "image").all():
        logger.warning("%s: no patient or lesion ids; grouping by image lets near-duplicate "
                       "images of one lesion cross folds", csv_path.name)
    table.columns = {
        "image_id": ids,
        "image_path": paths,
        "target": (diagnoses == MELANOMA).astype("int64"),
        "age": parse_ages(table, age_raw, age_col),
        "sex": parse_sexes(table, sex_raw, sex_col),
        "site": parse_sites(table, site_raw, site_col, "generic"),
        "group_id": group_ids,
        "group_kind": kinds,
        "diagnosis": diagnoses,
        "source": pd.Series([SPEC.name] * len(raw), dtype=str),
    }
    return finish(table, on_error)
