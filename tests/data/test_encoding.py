"""Unit tests for data.encoding: validation, encoding layout, fitting and serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from data.encoding import (
    AGE_MAX,
    AGE_MIN,
    ENCODER_VERSION,
    MetadataEncoder,
    MetadataError,
    validate_age,
    validate_sex,
    validate_site,
)
from data.sites import SEXES, SITES, UNKNOWN

N_SEX = len(SEXES)


def _sex_col(enc: MetadataEncoder, sex: str) -> int:
    return 2 + enc.sexes.index(sex)


def _site_col(enc: MetadataEncoder, site: str) -> int:
    return 2 + len(enc.sexes) + enc.sites.index(site)


@pytest.fixture
def train_df() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [30.0, 50.0, np.nan, 70.0],
        "sex": ["male", "female", UNKNOWN, "female"],
        "site": ["anterior torso", "head/neck", UNKNOWN, "palms/soles"],
    })


@pytest.fixture
def enc(train_df: pd.DataFrame) -> MetadataEncoder:
    return MetadataEncoder().fit(train_df)


# --- validate_age -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (0, 0.0), (0.0, 0.0), (45, 45.0), ("45", 45.0), (" 37.5 ", 37.5), (AGE_MAX, AGE_MAX),
    (AGE_MIN, AGE_MIN), (np.int64(12), 12.0),
])
def test_validate_age_accepts(raw, expected):
    assert validate_age(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "  ", "unknown", "UNKNOWN", float("nan"), np.nan])
def test_validate_age_missing_is_nan(raw):
    assert math.isnan(validate_age(raw))


@pytest.mark.parametrize("raw, shown", [(121, "121"), (-1, "-1"), (120.5, "120.5"),
                                        (1e6, "1e+06")])
def test_validate_age_out_of_range(raw, shown):
    with pytest.raises(MetadataError) as info:
        validate_age(raw)
    msg = str(info.value)
    assert msg.startswith("age:")
    assert shown in msg
    assert "out of range" in msg


@pytest.mark.parametrize("raw", ["abc", "12 years", [1, 2], object()])
def test_validate_age_not_a_number(raw):
    with pytest.raises(MetadataError) as info:
        validate_age(raw)
    msg = str(info.value)
    assert msg.startswith("age:")
    assert "not a number" in msg
    if isinstance(raw, str):
        assert repr(raw) in msg


def test_metadata_error_is_value_error():
    assert issubclass(MetadataError, ValueError)


# --- validate_sex -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("male", "male"), ("Male", "male"), (" M ", "male"), ("f", "female"), ("FEMALE", "female"),
    (None, UNKNOWN), ("", UNKNOWN), ("unknown", UNKNOWN), (float("nan"), UNKNOWN),
])
def test_validate_sex_accepts(raw, expected):
    assert validate_sex(raw) == expected


@pytest.mark.parametrize("raw", ["x", "other", "mf", "1"])
def test_validate_sex_rejects(raw):
    with pytest.raises(MetadataError) as info:
        validate_sex(raw)
    msg = str(info.value)
    assert msg.startswith("sex:")
    assert repr(raw) in msg
    # Names the accepted values, unknown included (not "a missing marker").
    assert all(word in msg for word in ("male", "female", "unknown"))
    assert "missing marker" not in msg


# --- validate_site ----------------------------------------------------------------------------

@pytest.mark.parametrize("site", SITES)
def test_validate_site_accepts_every_canonical_site(site):
    assert validate_site(site) == site
    assert validate_site(f"  {site.upper()} ") == site


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
def test_validate_site_missing_is_unknown(raw):
    assert validate_site(raw) == UNKNOWN


@pytest.mark.parametrize(("raw", "site"), [
    ("back", "posterior torso"), ("chest", "anterior torso"), ("Trunk", "torso"),
    ("head", "head/neck"), (" Lower  Extremity ", "lower extremity"), ("acral", "palms/soles"),
    ("unk", UNKNOWN)])
def test_validate_site_accepts_the_readers_synonyms(raw, site):
    """One vocabulary everywhere: what the readers map (HAM10000's own sites) is accepted."""
    assert validate_site(raw) == site


@pytest.mark.parametrize("raw", ["elbow", "toe nail", "torso-ish"])
def test_validate_site_rejects(raw):
    with pytest.raises(MetadataError) as info:
        validate_site(raw)
    msg = str(info.value)
    assert msg.startswith("site:")
    assert repr(raw) in msg
    assert "anterior torso" in msg  # lists the expected vocabulary
    assert "back, chest" in msg  # and says synonyms are accepted


def test_validate_site_uses_given_vocabulary():
    vocab = ("arm", UNKNOWN)
    assert validate_site("ARM", vocab) == "arm"
    with pytest.raises(MetadataError, match="site: 'head/neck'"):
        validate_site("head/neck", vocab)


# --- encoder layout and missing values --------------------------------------------------------

def test_dim_and_feature_names(enc):
    assert enc.dim == 2 + len(SEXES) + len(SITES)
    names = enc.feature_names
    assert len(names) == enc.dim
    assert names[:2] == ["age_z", "age_missing"]
    assert names[2:2 + N_SEX] == [f"sex={s}" for s in SEXES]
    assert names[2 + N_SEX:] == [f"site={s}" for s in SITES]


def test_encode_returns_float32_one_hot(enc):
    vec = enc.encode(50, "male", "head/neck")
    assert vec.dtype == np.float32
    assert vec.shape == (enc.dim,)
    assert vec[_sex_col(enc, "male")] == 1.0
    assert vec[_site_col(enc, "head/neck")] == 1.0
    assert vec[2:2 + N_SEX].sum() == 1.0
    assert vec[2 + N_SEX:].sum() == 1.0


def test_missing_age_is_flagged_not_zero(enc):
    missing = enc.encode(None, "male", "head/neck")
    zero = enc.encode(0, "male", "head/neck")
    assert missing[1] == 1.0 and missing[0] == 0.0
    assert zero[1] == 0.0
    # A real 0-year-old is standardised, so far below the mean (50), never the neutral 0.
    assert zero[0] == pytest.approx((0 - enc.age_mean) / enc.age_std)
    assert zero[0] < -1.0
    assert not np.array_equal(missing, zero)


@pytest.mark.parametrize("missing_age", [None, "", "unknown", float("nan")])
def test_every_missing_age_spelling_encodes_the_same(enc, missing_age):
    vec = enc.encode(missing_age, "female", "torso")
    assert vec[0] == 0.0 and vec[1] == 1.0


@pytest.mark.parametrize("sex", [None, "", "unknown"])
def test_unknown_sex_has_its_own_column(enc, sex):
    vec = enc.encode(40, sex, "torso")
    assert vec[_sex_col(enc, UNKNOWN)] == 1.0
    assert vec[_sex_col(enc, "female")] == 0.0
    assert vec[_sex_col(enc, "male")] == 0.0


@pytest.mark.parametrize("site", [None, "", "unknown"])
def test_unknown_site_has_its_own_column(enc, site):
    vec = enc.encode(40, "male", site)
    assert vec[_site_col(enc, UNKNOWN)] == 1.0
    assert vec[_site_col(enc, SITES[0])] == 0.0
    assert vec[2 + N_SEX:].sum() == 1.0


@pytest.mark.parametrize("age, sex, site, field", [
    (121, "male", "torso", "age"), ("abc", "male", "torso", "age"),
    (30, "x", "torso", "sex"), (30, "male", "elbow", "site"),
])
def test_encode_rejects_invalid_values(enc, age, sex, site, field):
    with pytest.raises(MetadataError, match=f"^{field}:"):
        enc.encode(age, sex, site)


def test_unfitted_encoder_refuses():
    with pytest.raises(RuntimeError, match="not fitted"):
        MetadataEncoder().encode(30, "male", "torso")
    with pytest.raises(RuntimeError, match="not fitted"):
        MetadataEncoder().to_dict()


# --- fit ----------------------------------------------------------------------------------------

def test_fit_uses_only_given_rows(train_df):
    enc = MetadataEncoder().fit(train_df)
    ages = np.array([30.0, 50.0, 70.0])
    assert enc.age_mean == pytest.approx(ages.mean())
    assert enc.age_std == pytest.approx(ages.std())
    # A different split gives different statistics: nothing is shared or hard-coded.
    other = MetadataEncoder().fit(pd.DataFrame({"age": [10.0, 20.0]}))
    assert other.age_mean == pytest.approx(15.0)
    assert other.age_std == pytest.approx(5.0)


def test_fit_on_train_subset_ignores_validation_rows():
    full = pd.DataFrame({"age": [20.0, 40.0, 90.0, 100.0], "split": ["tr", "tr", "va", "va"]})
    enc = MetadataEncoder().fit(full[full["split"] == "tr"])
    assert enc.age_mean == pytest.approx(30.0)
    assert enc.age_std == pytest.approx(10.0)
    assert enc.encode(40, "male", "torso")[0] == pytest.approx(1.0)


@pytest.mark.parametrize("ages, mean, std", [
    ([np.nan, np.nan], 0.0, 1.0),  # no ages at all
    ([42.0], 42.0, 1.0),  # one age: no spread
    ([33.0, 33.0, 33.0], 33.0, 1.0),  # constant: std 0 would divide by zero
    (["20", "abc", "40"], 30.0, 10.0),  # non-numeric cells are treated as missing
])
def test_fit_degenerate(ages, mean, std):
    enc = MetadataEncoder().fit(pd.DataFrame({"age": ages}))
    assert enc.age_mean == pytest.approx(mean)
    assert enc.age_std == pytest.approx(std)
    assert np.all(np.isfinite(enc.encode(50, "male", "torso")))


# --- serialisation ------------------------------------------------------------------------------

def test_to_dict_from_dict_round_trip(enc, train_df):
    state = json.loads(json.dumps(enc.to_dict()))  # must survive JSON
    assert state["version"] == ENCODER_VERSION
    back = MetadataEncoder.from_dict(state)
    assert back.age_mean == enc.age_mean
    assert back.age_std == enc.age_std
    assert back.sites == enc.sites and back.sexes == enc.sexes
    np.testing.assert_array_equal(back.transform(train_df), enc.transform(train_df))
    for record in [(None, None, None), (0, "f", "oral/genital"), (120, "male", "torso")]:
        np.testing.assert_array_equal(back.encode(*record), enc.encode(*record))


@pytest.mark.parametrize("version", [0, 2, None, "1"])
def test_from_dict_rejects_wrong_version(enc, version):
    state = enc.to_dict()
    state["version"] = version
    with pytest.raises(MetadataError, match="version"):
        MetadataEncoder.from_dict(state)


def test_from_dict_rejects_missing_version(enc):
    state = enc.to_dict()
    del state["version"]
    with pytest.raises(MetadataError, match="version"):
        MetadataEncoder.from_dict(state)


def test_from_dict_rejects_inconsistent_feature_names(enc):
    state = enc.to_dict()
    state["feature_names"] = list(reversed(state["feature_names"]))
    with pytest.raises(MetadataError, match="feature names"):
        MetadataEncoder.from_dict(state)


def test_from_dict_keeps_bundle_vocabulary(enc):
    state = enc.to_dict()
    state["sites"] = ["arm", "leg", UNKNOWN]
    del state["feature_names"]
    custom = MetadataEncoder.from_dict(state)
    assert custom.dim == 2 + len(SEXES) + 3
    vec = custom.encode(30, "male", "leg")
    assert vec[2 + N_SEX + 1] == 1.0
    with pytest.raises(MetadataError, match="site:"):
        custom.encode(30, "male", "head/neck")


# --- transform ----------------------------------------------------------------------------------

def test_transform_equals_rowwise_encode(enc, train_df):
    table = enc.transform(train_df)
    assert table.dtype == np.float32
    assert table.shape == (len(train_df), enc.dim)
    for i, row in enumerate(train_df.itertuples(index=False)):
        age = None if pd.isna(row.age) else row.age
        np.testing.assert_array_equal(table[i], enc.encode(age, row.sex, row.site))


def test_transform_rejects_non_canonical_values(enc):
    df = pd.DataFrame({"age": [30.0], "sex": ["male"], "site": ["elbow"]})
    with pytest.raises(MetadataError, match="site: 'elbow'"):
        enc.transform(df)
    df = pd.DataFrame({"age": [30.0], "sex": ["x"], "site": ["torso"]})
    with pytest.raises(MetadataError, match="sex: 'x'"):
        enc.transform(df)


# --- field layout and the "missing" encoding ------------------------------------------------

def test_field_slices_tile_the_vector(enc):
    slices = list(enc.field_slices.values())
    assert list(enc.field_slices) == ["age", "sex", "site"]
    assert slices[0].start == 0 and slices[-1].stop == enc.dim
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))
    assert [s.stop - s.start for s in slices] == [2, len(enc.sexes), len(enc.sites)]


def test_missing_vector_is_the_encoding_of_blank_inputs(enc):
    np.testing.assert_array_equal(enc.missing_vector(), enc.encode(None, "", None))


@pytest.mark.parametrize("field", ["age", "sex", "site"])
def test_missing_vector_matches_each_blank_field(enc, field):
    """Blanking one field changes exactly that field's block, to the missing vector's block."""
    full = {"age": 55, "sex": "female", "site": "head/neck"}
    blank = enc.encode(**{**full, field: None})
    given = enc.encode(**full)
    sl = enc.field_slices[field]
    np.testing.assert_array_equal(blank[sl], enc.missing_vector()[sl])
    assert not np.array_equal(given[sl], blank[sl])
    rest = np.ones(enc.dim, dtype=bool)
    rest[sl] = False
    np.testing.assert_array_equal(blank[rest], given[rest])
