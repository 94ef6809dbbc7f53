"""Tests for data.sites: the canonical site/sex vocabulary and the per-format mappings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from data.sites import (
    GENERIC_SITES,
    HAM10000_SITES,
    ISIC2019_SITES,
    ISIC2020_SITES,
    SEXES,
    SITE_MAPPINGS,
    SITES,
    UNKNOWN,
    SexError,
    SiteError,
    map_sites,
    normalize_sex,
    to_canonical_site,
)

# Explicit tables: every raw value each format uses, and what it must become. Written out by
# hand (not derived from the module) so that a changed mapping fails here.
HAM10000_TABLE = {
    "back": "posterior torso",
    "trunk": "torso",
    "abdomen": "anterior torso",
    "chest": "anterior torso",
    "face": "head/neck",
    "scalp": "head/neck",
    "ear": "head/neck",
    "neck": "head/neck",
    "hand": "upper extremity",
    "upper extremity": "upper extremity",
    "foot": "lower extremity",
    "lower extremity": "lower extremity",
    "acral": "palms/soles",
    "genital": "oral/genital",
    "unknown": "unknown",
}
ISIC2019_TABLE = {
    "anterior torso": "anterior torso",
    "posterior torso": "posterior torso",
    "lateral torso": "lateral torso",
    "head/neck": "head/neck",
    "upper extremity": "upper extremity",
    "lower extremity": "lower extremity",
    "palms/soles": "palms/soles",
    "oral/genital": "oral/genital",
    "": "unknown",
}
ISIC2020_TABLE = {
    "torso": "torso",
    "head/neck": "head/neck",
    "upper extremity": "upper extremity",
    "lower extremity": "lower extremity",
    "palms/soles": "palms/soles",
    "oral/genital": "oral/genital",
    "": "unknown",
}
TABLES = {"ham10000": HAM10000_TABLE, "isic2019": ISIC2019_TABLE, "isic2020": ISIC2020_TABLE}


def test_vocabulary_shape() -> None:
    assert UNKNOWN == "unknown"
    assert SITES[-1] == UNKNOWN and len(set(SITES)) == len(SITES) == 10
    assert "torso" in SITES and "anterior torso" in SITES
    assert SEXES == ("male", "female", "unknown")


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [(fmt, raw, canonical) for fmt, table in TABLES.items() for raw, canonical in table.items()],
)
def test_every_raw_format_value_maps(fmt: str, raw: str, expected: str) -> None:
    assert to_canonical_site(raw, fmt) == expected


def test_tables_cover_the_whole_mappings() -> None:
    # No value in a module mapping that the explicit tables above do not pin down.
    assert set(HAM10000_SITES) == set(HAM10000_TABLE)
    assert set(ISIC2019_SITES) == set(ISIC2019_TABLE) - {""}
    assert set(ISIC2020_SITES) == set(ISIC2020_TABLE) - {""}


@pytest.mark.parametrize("fmt", sorted(SITE_MAPPINGS))
def test_every_mapping_lands_in_the_vocabulary(fmt: str) -> None:
    assert set(SITE_MAPPINGS[fmt].values()) <= set(SITES)


@pytest.mark.parametrize("value", [None, math.nan, pd.NA, "", "  ", "unknown", "Unknown ", "UNK"])
@pytest.mark.parametrize("fmt", ["ham10000", "isic2019", "isic2020", "generic", "csv"])
def test_missing_values_become_unknown(value: object, fmt: str) -> None:
    assert to_canonical_site(value, fmt) == UNKNOWN


def test_generic_accepts_canonical_names_any_case_and_spacing() -> None:
    for site in SITES:
        assert to_canonical_site(f"  {site.upper()} ", "generic") == site
    assert to_canonical_site("Head / Neck", "generic") == "head/neck"
    assert to_canonical_site("posterior_torso", "csv") == "posterior torso"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("back", "posterior torso"), ("Trunk", "torso"), ("arm", "upper extremity"),
     ("Leg", "lower extremity"), ("sole", "palms/soles"), ("genital", "oral/genital"),
     ("head and neck", "head/neck")],
)
def test_generic_synonyms(raw: str, expected: str) -> None:
    assert to_canonical_site(raw, "generic") == expected
    assert GENERIC_SITES[raw.lower()] == expected


@pytest.mark.parametrize(("fmt", "raw"), [("ham10000", "elbow"), ("isic2020", "anterior torso"),
                                          ("isic2019", "trunk"), ("generic", "flank")])
def test_unmapped_value_raises_naming_value_and_format(fmt: str, raw: str) -> None:
    with pytest.raises(SiteError) as info:
        to_canonical_site(raw, fmt)
    message = str(info.value)
    assert repr(raw) in message and repr(fmt) in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="no site mapping for format 'isic1999'"):
        to_canonical_site("back", "isic1999")


def test_map_sites_maps_a_column_and_keeps_the_index() -> None:
    raw = pd.Series(["back", "", None, "face", "back"], index=[10, 11, 12, 13, 14])
    mapped = map_sites(raw, "ham10000", source="meta.csv")
    assert mapped.tolist() == ["posterior torso", "unknown", "unknown", "head/neck",
                               "posterior torso"]
    assert mapped.index.tolist() == [10, 11, 12, 13, 14]


def test_map_sites_reports_all_unmapped_values_with_counts_and_file() -> None:
    raw = pd.Series(["back", "elbow", "elbow", "knee", "face", "elbow"])
    with pytest.raises(SiteError) as info:
        map_sites(raw, "ham10000", source="/data/HAM10000_metadata.csv")
    message = str(info.value)
    assert "/data/HAM10000_metadata.csv" in message
    assert "'elbow' (3 rows)" in message and "'knee' (1 row)" in message
    assert "2 unmapped" in message and "'back'" not in message.split("known values")[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("male", "male"), ("Female", "female"), (" M ", "male"), ("f", "female"),
     (None, "unknown"), (math.nan, "unknown"), ("", "unknown"), ("unknown", "unknown"),
     ("UNK", "unknown")],
)
def test_normalize_sex(raw: object, expected: str) -> None:
    assert normalize_sex(raw) == expected


@pytest.mark.parametrize("raw", ["x", "other", "2", "mal"])
def test_normalize_sex_rejects_anything_else(raw: str) -> None:
    with pytest.raises(SexError, match=repr(raw)):
        normalize_sex(raw)
