"""Property-based fuzzing (hypothesis) of what people type and what files hold: the API's
metadata fields and every dataset reader. Only the project's own one-line errors may come out
(MetadataError, DatasetError), never a traceback from pandas, the csv module or a codec."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.encoding import (
    AGE_MAX,
    AGE_MIN,
    MetadataEncoder,
    MetadataError,
    validate_age,
    validate_sex,
    validate_site,
)
from data.readers import FORMATS, REGISTRY, DatasetError, read_dataset
from data.sites import SEXES, SITES
from tests.fuzzing import csv_texts

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Anything a JSON API or a form can hand the server for one field.
FIELD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.sampled_from(["", " ", "nan", "NaN", "unknown", "1e309", "-0",
                                           "45", " 45 ", "45.5", "0x2d", "female", "F", "m",
                                           "back", "palms/soles", "\x00", "\ufeffmale"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2))


def _one_line_error(err: Exception) -> None:
    assert "\n" not in str(err) and str(err), repr(err)


@FUZZ
@given(value=FIELD_VALUES)
def test_age_is_a_number_in_range_or_a_clear_error(value: object) -> None:
    try:
        age = validate_age(value)
    except MetadataError as err:
        _one_line_error(err)
        return
    assert math.isnan(age) or AGE_MIN <= age <= AGE_MAX


@FUZZ
@given(value=FIELD_VALUES)
def test_sex_is_known_or_a_clear_error(value: object) -> None:
    try:
        assert validate_sex(value) in SEXES
    except MetadataError as err:
        _one_line_error(err)


@FUZZ
@given(value=FIELD_VALUES)
def test_site_is_known_or_a_clear_error(value: object) -> None:
    try:
        assert validate_site(value) in SITES
    except MetadataError as err:
        _one_line_error(err)


ENCODER = MetadataEncoder().fit(pd.DataFrame({
    "age": [35.0, 60.0, np.nan], "sex": ["male", "female", "unknown"],
    "site": ["head/neck", "posterior torso", "unknown"]}))


@FUZZ
@given(age=FIELD_VALUES, sex=FIELD_VALUES, site=FIELD_VALUES)
def test_the_encoder_gives_a_finite_vector_or_a_clear_error(age: object, sex: object,
                                                            site: object) -> None:
    try:
        vector = ENCODER.encode(age, sex, site)
    except MetadataError as err:
        _one_line_error(err)
        return
    assert vector.shape == (ENCODER.dim,) and np.isfinite(vector).all()


# -- dataset files ------------------------------------------------------------------------------

FILE_BYTES = st.one_of(csv_texts(), st.binary(max_size=2000))


@FUZZ
@given(content=FILE_BYTES, fmt=st.sampled_from(FORMATS),
       on_error=st.sampled_from(["fail", "skip"]))
def test_readers_give_the_canonical_table_or_a_clear_error(content: bytes, fmt: str,
                                                           on_error: str) -> None:
    patterns = REGISTRY[fmt].spec.file_patterns
    name = patterns[0].replace("*/", "").replace("*", "x") if patterns else "labels.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        (Path(tmp) / "images").mkdir()
        try:
            df = read_dataset(path, fmt, on_error=on_error)
        except DatasetError as err:
            _one_line_error(err)
            return
    assert {"image_id", "image_path", "target", "age", "sex", "site"} <= set(df.columns)
    assert df["target"].isin([0, 1]).all() and df["sex"].isin(SEXES).all()
