"""Tests for data.diagnoses: the canonical diagnosis vocabulary and the per-format mappings."""

from __future__ import annotations

import math

import pytest

from data.diagnoses import (
    DIAGNOSES,
    DIAGNOSIS_MAPPINGS,
    DIAGNOSIS_NAMES,
    MELANOMA,
    UNKNOWN_DIAGNOSIS,
    DiagnosisError,
    diagnosis_mapping,
    diagnosis_name,
    is_missing_diagnosis,
    to_canonical_diagnosis,
)

# Explicit tables: every raw value each format uses, and what it must become. Written out by
# hand (not derived from the module) so that a changed mapping fails here.
CASES: dict[str, dict[object, str]] = {
    "ham10000": {
        "mel": "MEL", "nv": "NV", "bcc": "BCC", "akiec": "AK", "bkl": "BKL", "df": "DF",
        "vasc": "VASC", " MEL ": "MEL", "": "unknown", "unknown": "unknown",
    },
    "isic2017": {
        "melanoma": "MEL", "seborrheic_keratosis": "BKL", "nevus": "NV", "": "unknown",
    },
    "isic2018": {
        "MEL": "MEL", "NV": "NV", "BCC": "BCC", "AKIEC": "AK", "BKL": "BKL", "DF": "DF",
        "VASC": "VASC",
    },
    "isic2019": {
        "MEL": "MEL", "NV": "NV", "BCC": "BCC", "AK": "AK", "BKL": "BKL", "DF": "DF",
        "VASC": "VASC", "SCC": "SCC", "UNK": "unknown",
    },
    "isic2019_labels": {
        "0": "MEL", "1": "NV", "2": "BCC", "3": "AK", "4": "BKL", "5": "DF", "6": "VASC",
        "7": "SCC", "4.0": "BKL", 0: "MEL", 7: "SCC", " 3 ": "AK", "": "unknown",
    },
    "isic2020": {
        "melanoma": "MEL", "nevus": "NV", "seborrheic keratosis": "BKL", "lentigo NOS": "BKL",
        "lichenoid keratosis": "BKL", "solar lentigo": "BKL",
        "atypical melanocytic proliferation": "unknown", "cafe-au-lait macule": "unknown",
        "unknown": "unknown", "": "unknown",
    },
    "generic": {
        "MEL": "MEL", "mel": "MEL", "Melanoma": "MEL", "malignant melanoma": "MEL",
        "nv": "NV", "nevus": "NV", "naevus": "NV", "Melanocytic Nevus": "NV",
        "melanocytic naevus": "NV", "bcc": "BCC", "Basal cell carcinoma": "BCC",
        "ak": "AK", "akiec": "AK", "actinic keratosis": "AK", "actinic keratoses": "AK",
        "intraepithelial carcinoma": "AK", "bkl": "BKL", "benign keratosis": "BKL",
        "seborrheic keratosis": "BKL", "Seborrheic_Keratosis": "BKL", "solar lentigo": "BKL",
        "df": "DF", "dermatofibroma": "DF", "vasc": "VASC", "vascular lesion": "VASC",
        "scc": "SCC", "squamous cell carcinoma": "SCC", "": "unknown", "  ": "unknown",
        "unknown": "unknown", "N/A": "unknown", "nan": "unknown", None: "unknown",
        math.nan: "unknown",
    },
}
BAD: dict[str, list[str]] = {
    "ham10000": ["melanomaa", "AK", "scc"],  # HAM10000 has no SCC; its AK is spelled akiec
    "isic2017": ["seborrheic", "MEL"],
    "isic2018": ["AK", "SCC", "UNK1"],
    "isic2019": ["AKIEC", "melanoma"],
    "isic2019_labels": ["8", "-1", "2.5", "mel", "1e9"],
    "isic2020": ["melanoma in situ", "MEL"],
    "generic": ["malignant", "benign", "lesion", "9"],
}


@pytest.mark.parametrize(("fmt", "raw", "expected"),
                         [(f, r, e) for f, table in CASES.items() for r, e in table.items()])
def test_raw_values_map_to_canonical(fmt: str, raw: object, expected: str) -> None:
    assert to_canonical_diagnosis(raw, fmt) == expected


@pytest.mark.parametrize(("fmt", "raw"), [(f, r) for f, values in BAD.items() for r in values])
def test_unmapped_values_are_errors_naming_value_and_accepted(fmt: str, raw: str) -> None:
    with pytest.raises(DiagnosisError) as info:
        to_canonical_diagnosis(raw, fmt)
    message = str(info.value)
    assert f"unmapped diagnosis {raw!r} for format {fmt!r}" in message
    assert f"known values: {sorted(diagnosis_mapping(fmt))}" in message
    assert isinstance(info.value, ValueError)


def test_every_format_table_is_complete() -> None:
    # A raw value added to a mapping must be added to CASES too (and so be reviewed).
    for fmt, mapping in DIAGNOSIS_MAPPINGS.items():
        if fmt == "generic":
            continue  # the synonyms list is open-ended; its core spellings are in CASES
        keys = {k.strip().lower().replace("_", " ") for k in CASES[fmt] if isinstance(k, str)}
        assert set(mapping) <= keys, fmt


def test_vocabulary_order_and_names() -> None:
    assert DIAGNOSES == ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
    assert MELANOMA == DIAGNOSES[0] == "MEL"
    assert UNKNOWN_DIAGNOSIS == "unknown" and UNKNOWN_DIAGNOSIS not in DIAGNOSES
    assert DIAGNOSIS_NAMES == {
        "MEL": "melanoma", "NV": "melanocytic naevus", "BCC": "basal cell carcinoma",
        "AK": "actinic keratosis", "BKL": "benign keratosis", "DF": "dermatofibroma",
        "VASC": "vascular lesion", "SCC": "squamous cell carcinoma",
    }
    assert diagnosis_name("NV") == "melanocytic naevus"
    assert diagnosis_name("unknown") == "unknown"
    with pytest.raises(DiagnosisError, match="'nv' is not a canonical diagnosis"):
        diagnosis_name("nv")


def test_every_mapping_lands_in_the_vocabulary() -> None:
    allowed = {*DIAGNOSES, UNKNOWN_DIAGNOSIS}
    for fmt, mapping in DIAGNOSIS_MAPPINGS.items():
        assert set(mapping.values()) <= allowed, fmt
        assert all(k == k.strip().lower() for k in mapping), fmt
    # The label format is the ISIC 2019 order and nothing else.
    assert dict(diagnosis_mapping("isic2019_labels")) == {
        "0": "MEL", "1": "NV", "2": "BCC", "3": "AK", "4": "BKL", "5": "DF", "6": "VASC",
        "7": "SCC"}


def test_csv_alias_and_unknown_format() -> None:
    assert diagnosis_mapping("csv") is diagnosis_mapping("generic")
    with pytest.raises(ValueError, match="no diagnosis mapping for format 'isic1999'"):
        to_canonical_diagnosis("mel", "isic1999")


@pytest.mark.parametrize(("raw", "missing"), [("", True), (" ", True), ("UNK", True),
                                              ("unknown", True), (None, True), ("mel", False),
                                              ("0", False)])
def test_is_missing_diagnosis(raw: object, missing: bool) -> None:
    assert is_missing_diagnosis(raw) is missing
