"""Tests for eval.metrics.subgroups: age bands and the per-subgroup AUROC table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from eval.metrics.checks import MetricError
from eval.metrics.subgroups import age_band, subgroup_table


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "<30"), (29.9, "<30"), (30, "30-44"), (44, "30-44"), (44.5, "30-44"), (45, "45-59"),
        (59, "45-59"), (60, "60-74"), (74, "60-74"), (75, ">=75"), (90, ">=75"),
        (float("nan"), "unknown"), (None, "unknown"), ("n/a", "unknown"), (-5, "unknown"),
    ],
)
def test_age_band(age, band):
    out = age_band(pd.Series([age], index=[7], dtype=object))
    assert out.tolist() == [band]
    assert out.index.tolist() == [7]


def test_age_band_numeric_series_keeps_index():
    s = pd.Series([25.0, 50.0, np.nan, 80.0], index=["a", "b", "c", "d"])
    out = age_band(s)
    assert out.to_dict() == {"a": "<30", "b": "45-59", "c": "unknown", "d": ">=75"}


def _subgroup_df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n_big = 200
    y = (rng.random(n_big) < 0.3).astype(int)
    y[:2] = [0, 1]
    p = 1 / (1 + np.exp(-rng.normal(y * 1.5, 1.0)))
    sex = np.array(["female", "male"])[rng.integers(0, 2, n_big)]
    site = np.array(["trunk"] * n_big, dtype=object)
    df = pd.DataFrame({"prob": p, "label": y, "sex": sex, "site": site})
    extra = pd.DataFrame(
        {
            # "palms": 7 rows, 2 positives -> too small (and too few positives)
            # "scalp": 30 rows, no positives
            # "face": 40 rows, 3 positives -> too few positives
            "prob": np.r_[np.linspace(0.1, 0.9, 7), np.linspace(0, 1, 30), np.linspace(0, 1, 40)],
            "label": np.r_[[1, 1, 0, 0, 0, 0, 0], np.zeros(30), np.r_[np.ones(3), np.zeros(37)]],
            "sex": [None] * 77,
            "site": ["palms"] * 7 + ["scalp"] * 30 + ["face"] * 40,
        }
    )
    return pd.concat([df, extra], ignore_index=True)


def test_subgroup_table_flags():
    df = _subgroup_df()
    rows = subgroup_table(df, "prob", "label", by=["sex", "site"])
    table = {(r["column"], r["value"]): r for r in rows}
    assert set(table) == {
        ("sex", "female"), ("sex", "male"), ("sex", "missing"),
        ("site", "trunk"), ("site", "palms"), ("site", "scalp"), ("site", "face"),
    }
    assert [r["column"] for r in rows] == ["sex"] * 3 + ["site"] * 4
    assert rows[2]["value"] == "missing"  # missing values listed last, not dropped

    palms = table[("site", "palms")]
    assert (palms["n"], palms["n_pos"], palms["n_neg"]) == (7, 2, 5)
    assert palms["auroc"] is None
    assert palms["flag"] == "too small: n=7 < 20; too few positives: n_pos=2 < 5"

    scalp = table[("site", "scalp")]
    assert scalp["auroc"] is None and scalp["flag"] == "no positives"

    face = table[("site", "face")]
    assert face["auroc"] is None and face["flag"] == "too few positives: n_pos=3 < 5"

    for key in [("sex", "female"), ("sex", "male"), ("site", "trunk"), ("sex", "missing")]:
        r = table[key]
        sub = df[df[key[0]].fillna("missing") == key[1]]
        assert r["flag"] is None, key
        assert r["n"] == len(sub) and r["n_pos"] == int(sub["label"].sum())
        assert r["auroc"] == pytest.approx(roc_auc_score(sub["label"], sub["prob"]))

    assert sum(table[("site", v)]["n"] for v in ["trunk", "palms", "scalp", "face"]) == len(df)
    json.dumps(rows)


def test_subgroup_table_thresholds_are_parameters():
    df = _subgroup_df()
    rows = subgroup_table(df, "prob", "label", by=["site"], min_n=5, min_pos=2)
    table = {r["value"]: r for r in rows}
    assert table["palms"]["flag"] is None and table["palms"]["auroc"] is not None
    assert table["face"]["flag"] is None
    assert table["scalp"]["flag"] == "no positives"


def test_subgroup_table_with_age_band_and_errors():
    df = _subgroup_df()
    df["age"] = np.where(np.arange(len(df)) % 5 == 0, np.nan, 20 + (np.arange(len(df)) % 60))
    df["age_band"] = age_band(df["age"])
    rows = subgroup_table(df, "prob", "label", by=["age_band"])
    assert "unknown" in {r["value"] for r in rows}
    assert sum(r["n"] for r in rows) == len(df)
    with pytest.raises(MetricError, match="columns not found"):
        subgroup_table(df, "prob", "label", by=["nope"])
    df.loc[0, "prob"] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        subgroup_table(df, "prob", "label", by=["site"])
