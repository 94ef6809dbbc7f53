"""Second-stage tabular features: metadata, image statistics and patient context, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data.sites import SEXES, SITES
from models.second_stage.features import (
    IMAGE_STAT_COLUMNS,
    image_stats,
    metadata_features,
    otsu_threshold,
    patient_features,
)


def test_metadata_columns_are_fixed_and_missing_values_flagged():
    df = pd.DataFrame({"age": [40.0, np.nan], "sex": ["female", "unknown"],
                       "site": ["head/neck", "unknown"]})
    out = metadata_features(df)
    assert list(out.columns) == (["age", "age_missing"] + [f"sex={v}" for v in SEXES]
                                 + [f"site={v}" for v in SITES])
    assert out["age"].iloc[0] == 40.0 and math.isnan(out["age"].iloc[1])
    assert out["age_missing"].tolist() == [0.0, 1.0]
    assert out["sex=female"].tolist() == [1.0, 0.0] and out["sex=unknown"].tolist() == [0.0, 1.0]
    assert out["site=head/neck"].tolist() == [1.0, 0.0]
    assert out.filter(like="site=").sum(axis=1).tolist() == [1.0, 1.0]


def test_otsu_splits_two_clusters():
    values = np.concatenate([np.full(100, 20.0), np.full(300, 80.0)])
    t = otsu_threshold(values)
    assert 20.0 < t < 80.0


def _disc_image(radius: int, size: int = 128, centre: tuple[int, int] = (64, 64)) -> Image.Image:
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2
    arr = np.where(inside[..., None], np.array([90, 50, 40]), np.array([230, 190, 170]))
    return Image.fromarray(arr.astype(np.uint8))


def test_disc_lesion_statistics():
    stats = image_stats(_disc_image(30))
    assert set(stats) == set(IMAGE_STAT_COLUMNS)
    assert stats["img_lesion_share"] == pytest.approx(math.pi * 30 ** 2 / 128 ** 2, rel=0.03)
    assert stats["img_dL"] < -30  # the lesion is darker than the skin
    assert stats["img_dE"] == pytest.approx(math.sqrt(
        stats["img_dL"] ** 2 + stats["img_da"] ** 2 + stats["img_db"] ** 2))
    assert stats["img_asymmetry"] < 0.05  # a disc is its own mirror image
    assert 0.8 < stats["img_border"] < 1.5  # close to a disc's 1


def test_an_irregular_lesion_scores_higher_asymmetry_and_border():
    arr = np.asarray(_disc_image(30)).copy()
    arr[20:60, 64:110] = (90, 50, 40)  # a lobe on one side
    odd = image_stats(Image.fromarray(arr))
    disc = image_stats(_disc_image(30))
    assert odd["img_asymmetry"] > disc["img_asymmetry"] + 0.1
    assert odd["img_border"] > disc["img_border"]


def test_a_uniform_image_has_no_statistics():
    stats = image_stats(Image.new("RGB", (64, 64), (120, 100, 90)))
    assert all(math.isnan(v) for v in stats.values())


def test_patient_context_by_hand():
    df = pd.DataFrame({"patient_id": ["a", "a", "a", "b", "c", "c"],
                       "x": [1.0, 2.0, 6.0, 5.0, np.nan, 4.0]})
    emb = np.array([[0, 0], [2, 0], [4, 0], [9, 9], [1, 1], [1, 3]], dtype=float)
    out = patient_features(df, ["x"], embedding=emb)
    assert out["patient_n_lesions"].tolist() == [3, 3, 3, 1, 2, 2]
    mean, std = 3.0, math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 3)
    np.testing.assert_allclose(out["x_pz"].iloc[:3], [(v - mean) / std for v in (1, 2, 6)])
    np.testing.assert_allclose(out["x_prank"].iloc[:3], [1 / 3, 2 / 3, 1.0])
    # One lesion: no context (NaN, not 0); a missing value stays missing.
    assert math.isnan(out["x_pz"].iloc[3]) and math.isnan(out["x_prank"].iloc[3])
    assert math.isnan(out["x_pz"].iloc[4])
    # Patient c's only known value equals its mean: z = 0.
    assert out["x_pz"].iloc[5] == 0.0
    # Distance from the mean of the patient's other lesions.
    np.testing.assert_allclose(out["emb_patient_dist"].iloc[:3], [3.0, 0.0, 3.0])
    assert math.isnan(out["emb_patient_dist"].iloc[3])
    np.testing.assert_allclose(out["emb_patient_dist"].iloc[4:], [2.0, 2.0])


def test_deviation_from_the_patient_median_and_extremes_by_hand():
    df = pd.DataFrame({"patient_id": ["a", "a", "a", "b", "c", "c", "c"],
                       "x": [1.0, 2.0, 6.0, 5.0, np.nan, 4.0, 4.0]})
    out = patient_features(df, ["x"])
    np.testing.assert_allclose(out["x_pdev"].iloc[:3], [-1.0, 0.0, 4.0])  # median 2
    assert out["x_pmax"].iloc[:3].tolist() == [0.0, 0.0, 1.0]
    assert out["x_pmin"].iloc[:3].tolist() == [1.0, 0.0, 0.0]
    # One lesion: no context; a missing value stays missing; ties are all extremes.
    assert all(math.isnan(out[c].iloc[3]) for c in ("x_pdev", "x_pmax", "x_pmin"))
    assert all(math.isnan(out[c].iloc[4]) for c in ("x_pdev", "x_pmax", "x_pmin"))
    assert out["x_pdev"].iloc[5:].tolist() == [0.0, 0.0]
    assert out["x_pmax"].iloc[5:].tolist() == out["x_pmin"].iloc[5:].tolist() == [1.0, 1.0]


def test_the_trees_get_the_embedding_distance_with_patient_ids():
    from models.second_stage.features import with_patient_context

    features = pd.DataFrame({"cnn_prob": [0.1, 0.2, 0.9, 0.4]})
    rows = pd.DataFrame({"group_id": ["p", "p", "p", "q"], "group_kind": ["patient"] * 4})
    emb = np.array([[0, 0], [2, 0], [4, 0], [9, 9]], dtype=float)
    out = with_patient_context(features, rows, emb)
    np.testing.assert_allclose(out["emb_patient_dist"].iloc[:3], [3.0, 0.0, 3.0])
    assert {"cnn_prob_pdev", "cnn_prob_pmax", "cnn_prob_pmin"} <= set(out.columns)
    lesions = rows.assign(group_kind="lesion")  # no patient ids: no patient context at all
    assert list(with_patient_context(features, lesions, emb).columns) == ["cnn_prob"]


def test_tbp_measurements_and_engineered_ratios_by_hand():
    from models.second_stage.features import lesion_features, tbp_features

    df = pd.DataFrame({"tbp_lv_minorAxisMM": [2.0, 1.0], "clin_size_long_diam_mm": [4.0, 0.0],
                       "tbp_lv_H": [50.0, 40.0], "tbp_lv_Hext": [40.0, 45.0],
                       "tbp_lv_deltaA": [3.0, np.nan], "tbp_lv_deltaB": [4.0, 1.0],
                       "tbp_lv_deltaL": [0.0, 1.0], "tbp_lv_areaMM2": ["9", "bad"]})
    out = tbp_features(df)
    assert out["tbp_lesion_size_ratio"].iloc[0] == 0.5
    assert math.isnan(out["tbp_lesion_size_ratio"].iloc[1])  # division by 0: missing
    assert out["tbp_hue_contrast"].tolist() == [10.0, 5.0]
    assert out["tbp_color_difference"].iloc[0] == 5.0
    assert math.isnan(out["tbp_color_difference"].iloc[1])  # a missing input stays missing
    assert out["tbp_lv_areaMM2"].iloc[0] == 9.0 and math.isnan(out["tbp_lv_areaMM2"].iloc[1])
    # A ratio whose inputs are not all present is not made up.
    assert "tbp_lesion_shape_index" not in out and "tbp_luminance_contrast" not in out
    plain = pd.DataFrame({"prob": [0.2], "age": [50.0], "sex": ["male"], "site": ["unknown"]})
    assert not any(c.startswith("tbp") for c in lesion_features(plain).columns)
