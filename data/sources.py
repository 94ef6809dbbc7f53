"""Where images come from: the ``source`` column's names.

A model is judged on clinics it never trained on, so every row of the canonical table says
which collection it comes from: ``HAM10000`` (Vienna/Queensland), ``BCN`` (Hospital Clinic
Barcelona, BCN_20000), ``MSK`` (Memorial Sloan Kettering), ``ISIC_archive`` (archive images
without a collection id), ``ISIC2017`` (the ISIC 2017 challenge set); other readers name their
format. ISIC 2019 mixes several collections: its ``lesion_id`` prefix says which (``BCN_``,
``HAM_``, ``MSK``).
"""

from __future__ import annotations

import pandas as pd

HAM10000 = "HAM10000"
BCN = "BCN"
MSK = "MSK"
ISIC_ARCHIVE = "ISIC_archive"
ISIC2017 = "ISIC2017"

# ISIC 2019 lesion id prefix -> collection; rows without a lesion id are archive images.
LESION_PREFIXES: tuple[tuple[str, str], ...] = (("BCN_", BCN), ("HAM_", HAM10000), ("MSK", MSK))
DOWNSAMPLED_SUFFIX = "_downsampled"


def source_from_lesion_id(lesion_id: object) -> str:
    """The ISIC collection of an ISIC 2019 row, from its lesion id (blank: archive)."""
    text = "" if lesion_id is None or pd.isna(lesion_id) else str(lesion_id).strip()
    for prefix, name in LESION_PREFIXES:
        if text.startswith(prefix):
            return name
    return ISIC_ARCHIVE


def canonical_image_key(image_id: str) -> str:
    """The id an image has in every ISIC release (``ISIC_0000017_downsampled`` -> ``ISIC_0000017``)."""
    key = str(image_id).strip()
    return key.removesuffix(DOWNSAMPLED_SUFFIX)
