"""The one canonical vocabulary for anatomic site and sex, and the mappings onto it.

Every dataset format spells anatomic sites differently (HAM10000 says ``back`` and ``trunk``,
ISIC 2019 says ``posterior torso``, ISIC 2020 only ``torso``). Models, metadata encoders and the
app all need *one* vocabulary, so every reader maps its raw values through this module and
nothing else defines site or sex names.

The canonical site vocabulary follows the ISIC archive's general anatomic sites, plus
``"torso"`` for "torso, side not specified" (what HAM10000's ``trunk`` and ISIC 2020's
``torso`` mean) and ``"unknown"`` for a missing value. Missing values are first-class: they map
to ``"unknown"``, never to a real category. Values that are present but not in a mapping are
errors, because silently guessing a site would corrupt the metadata a model learns from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

UNKNOWN = "unknown"
"""Canonical value for a missing / not recorded site or sex."""

SITES: tuple[str, ...] = (
    "anterior torso",
    "posterior torso",
    "lateral torso",
    "torso",  # torso, side unspecified (HAM10000 "trunk", ISIC 2020 "torso")
    "head/neck",
    "upper extremity",
    "lower extremity",
    "palms/soles",
    "oral/genital",
    UNKNOWN,
)
"""Canonical anatomic sites, in a fixed order (encoders may rely on this order)."""

SEXES: tuple[str, ...] = ("male", "female", UNKNOWN)
"""Canonical sex values, in a fixed order."""

# Raw strings that mean "not recorded". Compared after key normalisation (lower-case, trimmed).
# Shared by sites and sex so that every format treats missing values the same way.
MISSING_TOKENS: frozenset[str] = frozenset({"", UNKNOWN, "unk", "nan", "none", "n/a", "na"})

# --- Per-format mappings: every raw value each format is known to use -> canonical site. ---
# Keys are the raw values as the format writes them; lookups normalise case and whitespace,
# so the keys must already be lower-case. Missing values are handled before the lookup.

HAM10000_SITES: Mapping[str, str] = {
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
    "unknown": UNKNOWN,
}
"""HAM10000 ``localization`` -> canonical site."""

ISIC2019_SITES: Mapping[str, str] = {
    "anterior torso": "anterior torso",
    "posterior torso": "posterior torso",
    "lateral torso": "lateral torso",
    "head/neck": "head/neck",
    "upper extremity": "upper extremity",
    "lower extremity": "lower extremity",
    "palms/soles": "palms/soles",
    "oral/genital": "oral/genital",
}
"""ISIC 2019 ``anatom_site_general`` -> canonical site (blank means unknown)."""

ISIC2020_SITES: Mapping[str, str] = {
    "torso": "torso",
    "head/neck": "head/neck",
    "upper extremity": "upper extremity",
    "lower extremity": "lower extremity",
    "palms/soles": "palms/soles",
    "oral/genital": "oral/genital",
}
"""ISIC 2020 ``anatom_site_general_challenge`` -> canonical site (blank means unknown)."""

# Synonyms accepted by the generic CSV format, on top of the canonical names themselves.
# Includes the HAM10000 vocabulary so a hand-made CSV may use either spelling.
_GENERIC_SYNONYMS: Mapping[str, str] = {
    **HAM10000_SITES,
    "torso, unspecified": "torso",
    "anterior trunk": "anterior torso",
    "posterior trunk": "posterior torso",
    "lateral trunk": "lateral torso",
    "head": "head/neck",
    "head and neck": "head/neck",
    "head & neck": "head/neck",
    "arm": "upper extremity",
    "upper limb": "upper extremity",
    "leg": "lower extremity",
    "lower limb": "lower extremity",
    "palm": "palms/soles",
    "palms": "palms/soles",
    "sole": "palms/soles",
    "soles": "palms/soles",
    "oral": "oral/genital",
    "mouth": "oral/genital",
    "genitals": "oral/genital",
    "mucosa": "oral/genital",
}

GENERIC_SITES: Mapping[str, str] = {**{s: s for s in SITES}, **_GENERIC_SYNONYMS}
"""Generic CSV: canonical names plus common synonyms (case/whitespace-insensitive)."""

SITE_MAPPINGS: Mapping[str, Mapping[str, str]] = {
    "ham10000": HAM10000_SITES,
    "isic2019": ISIC2019_SITES,
    "isic2020": ISIC2020_SITES,
    "generic": GENERIC_SITES,
}
"""Format name -> its site mapping."""

# Reader format names that carry no format-specific site vocabulary use the generic one.
_FORMAT_ALIASES: Mapping[str, str] = {
    "csv": "generic", "isic2017": "generic", "isic2018": "generic",
    "isic2024": "generic",  # already the canonical (ISIC general) site names
}

_SEX_VALUES: Mapping[str, str] = {"male": "male", "m": "male", "female": "female", "f": "female"}


class SiteError(ValueError):
    """A raw anatomic-site value has no mapping to the canonical vocabulary."""


class SexError(ValueError):
    """A raw sex value is neither male, female nor a recognised missing marker."""


def _is_missing(value: Any) -> bool:
    """True for None and float NaN / pandas NA (the ways a blank CSV cell arrives)."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def normalize_key(value: Any) -> str:
    """A raw vocabulary value as a lookup key (missing values become ``""``).

    Lower-cases, trims, collapses inner whitespace, treats ``_`` as a space and drops spaces
    around ``/``, so that ``" Head / Neck "`` and ``head/neck`` compare equal.
    """
    if _is_missing(value):
        return ""
    key = str(value).strip().lower().replace("_", " ")
    key = re.sub(r"\s+", " ", key)
    return re.sub(r"\s*/\s*", "/", key)


def site_mapping(fmt: str) -> Mapping[str, str]:
    """The raw-value -> canonical-site mapping of a format (``csv``, ``isic2017`` and ``isic2018``
    use
    ``generic``); ValueError for a format without one.
    """
    return format_mapping(fmt, SITE_MAPPINGS, _FORMAT_ALIASES, "site")


def format_mapping(fmt: str, mappings: Mapping[str, Mapping[str, str]],
                   aliases: Mapping[str, str], what: str) -> Mapping[str, str]:
    """The raw-value mapping of format `fmt` (or of the format it is an alias of) in
    `mappings`; a ValueError naming `what` and the known formats if there is none."""
    try:
        return mappings[aliases.get(fmt, fmt)]
    except KeyError:
        known = sorted([*mappings, *aliases])
        raise ValueError(f"no {what} mapping for format {fmt!r}; known formats: {known}") from None


def to_canonical_site(value: Any, fmt: str) -> str:
    """One raw site value (str, None or NaN) in the canonical vocabulary of ``fmt``.

    Missing values become ``"unknown"``; a present value without a mapping is a SiteError.
    """
    key = normalize_key(value)
    if key in MISSING_TOKENS:
        return UNKNOWN
    mapping = site_mapping(fmt)
    try:
        return mapping[key]
    except KeyError:
        raise SiteError(
            f"unmapped anatomic site {value!r} for format {fmt!r}; "
            f"known values: {sorted(mapping)}"
        ) from None


def find_unmapped_sites(series: pd.Series, fmt: str) -> dict[str, int]:
    """Find the distinct raw site values that have no mapping.

    Args:
        series: Raw site values.
        fmt: Format whose mapping applies.

    Returns:
        Unmapped raw value -> number of rows with it, most frequent first (empty if all map).
    """
    counts = series.value_counts(dropna=True)
    unmapped: dict[str, int] = {}
    for value, count in counts.items():
        try:
            to_canonical_site(value, fmt)
        except SiteError:
            unmapped[str(value)] = int(count)
    return unmapped


def map_sites(series: pd.Series, fmt: str, source: str) -> pd.Series:
    """A column of raw site values in the canonical vocabulary (same index).

    Unlike :func:`to_canonical_site`, every unmapped distinct value is reported at once, with its
    row count and ``source`` (the file), so a user fixing a file sees them all in one go.
    """
    unmapped = find_unmapped_sites(series, fmt)
    if unmapped:
        listed = ", ".join(
            f"{value!r} ({count} row{'' if count == 1 else 's'})"
            for value, count in unmapped.items()
        )
        raise SiteError(
            f"{source}: {len(unmapped)} unmapped anatomic-site value(s) for format {fmt!r}: "
            f"{listed}; known values: {sorted(site_mapping(fmt))}"
        )
    # Map each distinct value once: cheaper than a per-row call on large tables.
    lookup = {value: to_canonical_site(value, fmt) for value in series.dropna().unique()}
    return series.map(lambda v: UNKNOWN if _is_missing(v) else lookup[v]).astype(str)


def normalize_sex(value: Any) -> str:
    """``"male"``, ``"female"`` or ``"unknown"`` for a raw sex value.

    Accepts ``male``/``female``/``m``/``f`` in any case; None, NaN, blank and the tokens in
    :data:`MISSING_TOKENS` (``unknown``, ``unk``...) are unknown; anything else is a SexError.
    """
    key = normalize_key(value)
    if key in MISSING_TOKENS:
        return UNKNOWN
    try:
        return _SEX_VALUES[key]
    except KeyError:
        raise SexError(
            f"unrecognised sex value {value!r}; expected male (or m), female (or f), or "
            f"unknown (also blank, {', '.join(sorted(MISSING_TOKENS - {'', UNKNOWN}))}); "
            "any case"
        ) from None
