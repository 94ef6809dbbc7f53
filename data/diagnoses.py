"""The one canonical diagnosis vocabulary, and the mappings of every format onto it.

Every dataset format spells diagnoses its own way (HAM10000 ``dx`` says ``akiec``, ISIC 2018
has an ``AKIEC`` column, ISIC 2019 an ``AK`` column, ISIC 2020 writes ``"seborrheic
keratosis"``). Multi-class models, fold stratification and subgroup tables need *one*
vocabulary, so every reader maps its raw values through this module and nothing else defines
diagnosis names.

The canonical classes are the eight of the ISIC 2019 challenge, in its order; that order is
the class order of multi-class models, so melanoma is always class 0. ``"unknown"`` marks a
missing diagnosis and is never a class. Values that are present but not in a format's mapping
are errors: silently guessing a diagnosis would corrupt the labels a model learns from.

Judgement calls (each format's table below says what maps where):

* HAM10000 ``akiec`` and ISIC 2018 ``AKIEC`` (actinic keratosis and intraepithelial carcinoma)
  become ``AK``, as the ISIC 2019 organisers merged them.
* ISIC 2020's benign keratosis-like lesions (seborrheic keratosis, solar lentigo, lentigo NOS,
  lichenoid keratosis) become ``BKL``: the ISIC 2019 / HAM10000 ``BKL`` class is defined as
  solar lentigines, seborrheic keratoses and lichen planus-like keratoses.
* ISIC 2020 ``atypical melanocytic proliferation`` and ``cafe-au-lait macule`` become
  ``"unknown"``: neither is one of the eight classes. An atypical melanocytic proliferation is
  an indeterminate lesion, not a benign naevus; calling it ``NV`` would teach a model that
  atypical melanocytic lesions are harmless, the costly direction for a melanoma detector. A
  cafe-au-lait macule is a pigmentary macule, neither a naevus nor a keratosis. Both keep
  their binary target (not melanoma); only multi-class training leaves them out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from data.sites import MISSING_TOKENS, format_mapping, normalize_key

MELANOMA = "MEL"
"""The canonical melanoma class: ``target == 1`` exactly when ``diagnosis == MELANOMA``."""

UNKNOWN_DIAGNOSIS = "unknown"
"""Canonical value for a missing / not recorded / out-of-vocabulary diagnosis; never a class."""

DIAGNOSES: tuple[str, ...] = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
"""Canonical diagnosis classes in ISIC 2019 order: the class order of multi-class models."""

DIAGNOSIS_NAMES: Mapping[str, str] = {
    "MEL": "melanoma",
    "NV": "melanocytic naevus",
    "BCC": "basal cell carcinoma",
    "AK": "actinic keratosis",
    "BKL": "benign keratosis",
    "DF": "dermatofibroma",
    "VASC": "vascular lesion",
    "SCC": "squamous cell carcinoma",
}
"""Canonical class -> human-readable name."""

# --- Per-format mappings: every raw value each format is known to use -> canonical class. ---
# Keys are lower-case lookup keys (see normalize_key: "_" reads as a space). Missing values
# are handled before the lookup and never reach these tables.

HAM10000_DIAGNOSES: Mapping[str, str] = {
    "mel": "MEL", "nv": "NV", "bcc": "BCC", "akiec": "AK", "bkl": "BKL", "df": "DF",
    "vasc": "VASC",
}
"""HAM10000 ``dx`` -> canonical class."""

ISIC2017_DIAGNOSES: Mapping[str, str] = {
    "melanoma": "MEL", "seborrheic keratosis": "BKL", "nevus": "NV",
}
"""ISIC 2017 Part 3: the name of the column set to 1 (``melanoma``,
``seborrheic_keratosis``), or ``nevus`` when neither is, -> canonical class."""

ISIC2018_DIAGNOSES: Mapping[str, str] = {
    "mel": "MEL", "nv": "NV", "bcc": "BCC", "akiec": "AK", "bkl": "BKL", "df": "DF",
    "vasc": "VASC",
}
"""ISIC 2018 Task 3: name of the one-hot column set to 1 -> canonical class."""

ISIC2019_DIAGNOSES: Mapping[str, str] = {code.lower(): code for code in DIAGNOSES}
"""ISIC 2019: name of the one-hot column set to 1 -> canonical class (``UNK`` is missing)."""

ISIC2019_LABEL_DIAGNOSES: Mapping[str, str] = {str(i): code for i, code in enumerate(DIAGNOSES)}
"""ISIC 2019 as one integer class-index column: ``0`` = MEL ... ``7`` = SCC (ISIC 2019 order)."""

ISIC2020_DIAGNOSES: Mapping[str, str] = {
    "melanoma": "MEL",
    "nevus": "NV",
    "seborrheic keratosis": "BKL",
    "lentigo nos": "BKL",
    "lichenoid keratosis": "BKL",
    "solar lentigo": "BKL",
    # Not one of the eight classes: see the module docstring.
    "atypical melanocytic proliferation": UNKNOWN_DIAGNOSIS,
    "cafe-au-lait macule": UNKNOWN_DIAGNOSIS,
}
"""ISIC 2020 ``diagnosis`` -> canonical class (``unknown`` is missing)."""

# Synonyms accepted by the generic CSV format, on top of the codes and names themselves.
# Includes the other formats' spellings so that a hand-made CSV may use any of them.
_GENERIC_SYNONYMS: Mapping[str, str] = {
    **HAM10000_DIAGNOSES,
    **ISIC2017_DIAGNOSES,
    **ISIC2020_DIAGNOSES,
    "malignant melanoma": "MEL",
    "naevus": "NV",
    "melanocytic nevus": "NV",
    "melanocytic nevi": "NV",
    "melanocytic naevi": "NV",
    "actinic keratoses": "AK",
    "intraepithelial carcinoma": "AK",
    "seborrhoeic keratosis": "BKL",
    "benign keratosis-like lesion": "BKL",
    "benign keratosis-like lesions": "BKL",
    "lichen planus-like keratosis": "BKL",
    "vascular lesions": "VASC",
    "vascular": "VASC",
}

GENERIC_DIAGNOSES: Mapping[str, str] = {
    **{code.lower(): code for code in DIAGNOSES},
    **{name: code for code, name in DIAGNOSIS_NAMES.items()},
    **_GENERIC_SYNONYMS,
}
"""Generic CSV: canonical codes and names plus common synonyms (case-insensitive)."""

DIAGNOSIS_MAPPINGS: Mapping[str, Mapping[str, str]] = {
    "ham10000": HAM10000_DIAGNOSES,
    "isic2017": ISIC2017_DIAGNOSES,
    "isic2018": ISIC2018_DIAGNOSES,
    "isic2019": ISIC2019_DIAGNOSES,
    "isic2019_labels": ISIC2019_LABEL_DIAGNOSES,
    "isic2020": ISIC2020_DIAGNOSES,
    "generic": GENERIC_DIAGNOSES,
}
"""Format name -> its diagnosis mapping."""

_FORMAT_ALIASES: Mapping[str, str] = {"csv": "generic"}

_INTEGRAL = re.compile(r"[+-]?\d+(\.0*)?")


class DiagnosisError(ValueError):
    """A raw diagnosis value has no mapping to the canonical vocabulary."""


def diagnosis_mapping(fmt: str) -> Mapping[str, str]:
    """The raw-value -> canonical-diagnosis mapping of a format (``csv`` uses ``generic``);
    ValueError for a format without one.
    """
    return format_mapping(fmt, DIAGNOSIS_MAPPINGS, _FORMAT_ALIASES, "diagnosis")


def diagnosis_key(value: Any) -> str:
    """Normalise a raw diagnosis for lookup: :func:`data.sites.normalize_key`, and ``"3.0"``
    read as ``"3"`` (class indices written by a float-typed CSV writer).

    Args:
        value: Raw value (any type; missing values become ``""``).

    Returns:
        The lookup key.
    """
    key = normalize_key(value)
    if _INTEGRAL.fullmatch(key):
        return str(int(float(key)))
    return key


def is_missing_diagnosis(value: Any) -> bool:
    """Whether a raw diagnosis means "not recorded" (blank, ``unknown``, ``unk``, NaN...).

    Args:
        value: Raw value.

    Returns:
        True for the tokens in :data:`data.sites.MISSING_TOKENS` and missing values.
    """
    return diagnosis_key(value) in MISSING_TOKENS


def to_canonical_diagnosis(value: Any, fmt: str) -> str:
    """One raw diagnosis value (str, int, None or NaN) in the canonical vocabulary of ``fmt``.

    Missing values, and values the format records that belong to none of the classes, become
    :data:`UNKNOWN_DIAGNOSIS`; a present value without a mapping is a DiagnosisError.
    """
    key = diagnosis_key(value)
    if key in MISSING_TOKENS:
        return UNKNOWN_DIAGNOSIS
    mapping = diagnosis_mapping(fmt)
    try:
        return mapping[key]
    except KeyError:
        raise DiagnosisError(
            f"unmapped diagnosis {value!r} for format {fmt!r}; known values: {sorted(mapping)}"
        ) from None


def diagnosis_name(code: str) -> str:
    """Human-readable name of a canonical diagnosis code (``"melanocytic naevus"`` for ``"NV"``)."""
    if code == UNKNOWN_DIAGNOSIS:
        return UNKNOWN_DIAGNOSIS
    try:
        return DIAGNOSIS_NAMES[code]
    except KeyError:
        raise DiagnosisError(
            f"{code!r} is not a canonical diagnosis; expected one of {list(DIAGNOSES)}"
        ) from None
