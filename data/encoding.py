"""Metadata validation and encoding: the one place that turns (age, sex, site) into model input.

The encoder is fitted on the training split only (age mean/std) and serialised into the model
bundle, so training, evaluation and the app encode metadata identically by construction.
Missing values are first-class: a missing age is an explicit flag (never 0), and unknown sex or
site are their own one-hot categories (never "female" or the first site).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data.sites import (
    MISSING_TOKENS,
    SEXES,
    SITES,
    UNKNOWN,
    SiteError,
    normalize_key,
    normalize_sex,
    to_canonical_site,
)

AGE_MIN = 0.0
AGE_MAX = 120.0
ENCODER_VERSION = 1


class MetadataError(ValueError):
    """A metadata value a person entered or a file holds is invalid; the message says which."""


def validate_age(age: Any) -> float:
    """Validate an age in years.

    Args:
        age: a number, a numeric string, or None/NaN/"" for missing.

    Returns:
        The age as float, or NaN when missing.

    Raises:
        MetadataError: non-numeric or outside [AGE_MIN, AGE_MAX].
    """
    if age is None or (isinstance(age, str) and age.strip().lower() in MISSING_TOKENS):
        return math.nan
    try:
        value = float(age)
    except (TypeError, ValueError):
        raise MetadataError(f"age: {age!r} is not a number (expected {AGE_MIN:g}-{AGE_MAX:g} "
                            "years, or empty for unknown)") from None
    if math.isnan(value):
        return math.nan
    if not AGE_MIN <= value <= AGE_MAX:
        raise MetadataError(f"age: {value:g} is out of range (expected {AGE_MIN:g}-{AGE_MAX:g} "
                            "years, or empty for unknown)")
    return value


def validate_sex(sex: Any) -> str:
    """Validate a sex value; returns one of SEXES. Raises MetadataError for anything else."""
    try:
        return normalize_sex(sex)
    except ValueError as err:
        raise MetadataError(f"sex: {err}") from None


def validate_site(site: Any, sites: Sequence[str] = SITES) -> str:
    """The canonical name of a site given as a canonical name or a synonym the readers accept.

    The synonyms are the generic CSV reader's (`data.sites.GENERIC_SITES`: HAM10000's own
    ``back``, ``chest``, ``trunk``... and words such as ``arm`` or ``head``), so the app, the API
    and every dataset accept the same spellings through one mapping. None or "" is unknown;
    MetadataError for a value that maps to no site or to one outside ``sites`` (the bundle's).
    """
    key = normalize_key(site)
    if key in sites:
        return key
    try:
        value = to_canonical_site(site, "generic")
    except SiteError:
        raise MetadataError(f"site: {site!r} is not a known anatomic site (expected one of: "
                            f"{', '.join(sites)}; synonyms such as back, chest, trunk, face, "
                            "arm, leg, hand, foot or acral are accepted)") from None
    if value not in sites:
        raise MetadataError(f"site: {site!r} ({value}) is not in this model's vocabulary "
                            f"(expected one of: {', '.join(sites)})")
    return value


@dataclass
class MetadataEncoder:
    """Encodes (age, sex, site) as a fixed-length float vector.

    Layout: [age_z, age_missing, one-hot sex (SEXES), one-hot site (SITES)].
    """

    sites: tuple[str, ...] = SITES
    sexes: tuple[str, ...] = SEXES
    age_mean: float | None = None
    age_std: float | None = None
    version: int = ENCODER_VERSION

    def fit(self, df: pd.DataFrame) -> MetadataEncoder:
        """Fit age standardisation on the training split.

        Args:
            df: canonical table of the TRAINING split only (column `age`, NaN = missing).

        Returns:
            self.
        """
        ages = pd.to_numeric(df["age"], errors="coerce").dropna().to_numpy(dtype=np.float64)
        # With no recorded age at all, standardising is meaningless: centre on 0, scale 1.
        self.age_mean = float(ages.mean()) if ages.size else 0.0
        std = float(ages.std()) if ages.size > 1 else 0.0
        self.age_std = std if std > 0 else 1.0
        return self

    @property
    def feature_names(self) -> list[str]:
        """Names of the encoded features, in order."""
        return (["age_z", "age_missing"] + [f"sex={s}" for s in self.sexes]
                + [f"site={s}" for s in self.sites])

    @property
    def dim(self) -> int:
        """Length of the encoded vector."""
        return 2 + len(self.sexes) + len(self.sites)

    @property
    def field_slices(self) -> dict[str, slice]:
        """Where each input field (age, sex, site) lives in the encoded vector."""
        n_sex = len(self.sexes)
        return {"age": slice(0, 2), "sex": slice(2, 2 + n_sex), "site": slice(2 + n_sex, self.dim)}

    def missing_vector(self) -> np.ndarray:
        """The encoding of a record with every field missing (what the app sends for blanks)."""
        return self._encode_arrays(np.array([math.nan]), [UNKNOWN], [UNKNOWN])[0]

    def _check_fitted(self) -> None:
        if self.age_mean is None or self.age_std is None:
            raise RuntimeError("MetadataEncoder is not fitted: call fit() on the training split "
                               "or load it from a bundle")

    def validate(self, age: Any, sex: Any, site: Any) -> tuple[float, str, str]:
        """Validate one record against this encoder's vocabulary.

        Returns:
            (age or NaN, sex, site) in canonical form.

        Raises:
            MetadataError: naming the field and value.
        """
        return validate_age(age), validate_sex(sex), validate_site(site, self.sites)

    def encode(self, age: Any, sex: Any, site: Any) -> np.ndarray:
        """Validate and encode one record.

        Returns:
            float32 vector of length `dim`.
        """
        a, s, t = self.validate(age, sex, site)
        return self._encode_arrays(np.array([a]), [s], [t])[0]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Encode a canonical table (columns age, sex, site; already canonical).

        Returns:
            float32 array (N, dim).
        """
        ages = pd.to_numeric(df["age"], errors="coerce").to_numpy(dtype=np.float64)
        return self._encode_arrays(ages, list(df["sex"]), list(df["site"]))

    def _encode_arrays(self, ages: np.ndarray, sexes: Sequence[str],
                       sites: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        n = len(ages)
        out = np.zeros((n, self.dim), dtype=np.float32)
        missing = np.isnan(ages)
        out[:, 0] = np.where(missing, 0.0, (ages - self.age_mean) / self.age_std)
        out[:, 1] = missing.astype(np.float32)
        sex_index = {s: i for i, s in enumerate(self.sexes)}
        site_index = {s: i for i, s in enumerate(self.sites)}
        for row, (sx, st) in enumerate(zip(sexes, sites, strict=True)):
            if sx not in sex_index:
                raise MetadataError(f"sex: {sx!r} is not one of {', '.join(self.sexes)}")
            if st not in site_index:
                raise MetadataError(f"site: {st!r} is not one of {', '.join(self.sites)}")
            out[row, 2 + sex_index[sx]] = 1.0
            out[row, 2 + len(self.sexes) + site_index[st]] = 1.0
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (stored in the model bundle)."""
        self._check_fitted()
        return {"version": self.version, "age_mean": self.age_mean, "age_std": self.age_std,
                "age_range": [AGE_MIN, AGE_MAX], "sexes": list(self.sexes),
                "sites": list(self.sites), "feature_names": self.feature_names}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> MetadataEncoder:
        """Rebuild an encoder from `to_dict` output.

        Raises:
            MetadataError: unsupported version or inconsistent state.
        """
        if state.get("version") != ENCODER_VERSION:
            raise MetadataError(f"metadata encoder version {state.get('version')!r} is not "
                                f"supported (this code reads version {ENCODER_VERSION})")
        enc = cls(sites=tuple(state["sites"]), sexes=tuple(state["sexes"]),
                  age_mean=float(state["age_mean"]), age_std=float(state["age_std"]))
        if "feature_names" in state and state["feature_names"] != enc.feature_names:
            raise MetadataError("metadata encoder state is inconsistent: feature names differ")
        return enc
