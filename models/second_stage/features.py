"""Tabular features of the second stage, computed the same way for a table and for one image.

- Metadata: age (NaN when missing; trees split on missing values), an age-missing flag, sex and
  anatomic site one-hot over the metadata encoder's vocabulary (`data.sites`), so the column
  set never depends on which values a table happens to contain.
- Image statistics (from the image itself, at `STATS_SIZE` px): a rough lesion mask (Otsu's
  threshold on the lightness; the darker side is the lesion), the lesion-to-skin colour
  contrast in CIELAB (dL, da, db, dE), the lesion's share of the image, its asymmetry (1 - IoU
  of the mask with its mirror images about the centroid, worst of the two axes) and its border
  irregularity (perimeter^2 / (4 pi area): about 1 for a disc).
- Patient context (`patient_features`): per feature its z-score and percentile rank within the
  patient, the patient's lesion count, and the distance of the image embedding from the mean
  embedding of the patient's *other* lesions (the "ugly duckling" signal). A patient with one
  lesion has no context: those values are NaN, never 0. Without a patient column nothing is
  computed (never faked from image or lesion ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from data.images import Preprocessing
from data.sites import SEXES, SITES

STATS_SIZE = 128
IMAGE_STAT_COLUMNS = ("img_dL", "img_da", "img_db", "img_dE", "img_lesion_share",
                      "img_asymmetry", "img_border")
PATIENT_MIN_LESIONS = 2


def metadata_features(df: pd.DataFrame) -> pd.DataFrame:
    """Age, missing flag, sex and site one-hot (fixed columns) for every row of `df`."""
    age = pd.to_numeric(df["age"], errors="coerce").astype(float)
    out = {"age": age.to_numpy(), "age_missing": age.isna().to_numpy().astype(float)}
    sex = df["sex"].fillna("unknown").astype(str)
    site = df["site"].fillna("unknown").astype(str)
    out.update({f"sex={v}": (sex == v).to_numpy().astype(float) for v in SEXES})
    out.update({f"site={v}": (site == v).to_numpy().astype(float) for v in SITES})
    return pd.DataFrame(out, index=df.index)


def model_views(pre: Preprocessing, batch: Any) -> list[np.ndarray]:
    """The uint8 model views (H, W, 3) behind a normalised NCHW batch (undoes `normalize`)."""
    x = np.asarray(batch, dtype=np.float32).transpose(0, 2, 3, 1)
    x = x * np.asarray(pre.std, np.float32) + np.asarray(pre.mean, np.float32)
    return list(np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8))


# The ISIC 2024 reference pipelines' engineered TBP features: name -> (inputs, formula).
TBP_RATIOS = {
    "tbp_lesion_size_ratio": (("tbp_lv_minorAxisMM", "clin_size_long_diam_mm"),
                              lambda d: d["tbp_lv_minorAxisMM"] / d["clin_size_long_diam_mm"]),
    "tbp_lesion_shape_index": (("tbp_lv_areaMM2", "tbp_lv_perimeterMM"),
                               lambda d: d["tbp_lv_areaMM2"] / d["tbp_lv_perimeterMM"] ** 2),
    "tbp_hue_contrast": (("tbp_lv_H", "tbp_lv_Hext"),
                         lambda d: (d["tbp_lv_H"] - d["tbp_lv_Hext"]).abs()),
    "tbp_luminance_contrast": (("tbp_lv_L", "tbp_lv_Lext"),
                               lambda d: (d["tbp_lv_L"] - d["tbp_lv_Lext"]).abs()),
    "tbp_color_difference": (("tbp_lv_deltaA", "tbp_lv_deltaB", "tbp_lv_deltaL"),
                             lambda d: np.sqrt(d["tbp_lv_deltaA"] ** 2 + d["tbp_lv_deltaB"] ** 2
                                               + d["tbp_lv_deltaL"] ** 2)),
    "tbp_border_complexity": (("tbp_lv_norm_border", "tbp_lv_symm_2axis"),
                              lambda d: d["tbp_lv_norm_border"] + d["tbp_lv_symm_2axis"]),
    "tbp_color_uniformity": (("tbp_lv_color_std_mean", "tbp_lv_radial_color_std_max"),
                             lambda d: d["tbp_lv_color_std_mean"]
                             / d["tbp_lv_radial_color_std_max"]),
}


def tbp_features(df: pd.DataFrame) -> pd.DataFrame:
    """The numeric TBP measurements present in `df` (``tbp_lv_*``, ``clin_size_long_diam_mm``)
    and each engineered ratio whose inputs are all present (division by 0 gives NaN)."""
    raw = [c for c in df.columns if c.startswith("tbp_lv_") or c == "clin_size_long_diam_mm"]
    out = df[raw].apply(pd.to_numeric, errors="coerce").astype(float)
    for name, (inputs, formula) in TBP_RATIOS.items():
        if all(c in out.columns for c in inputs):
            out[name] = formula(out).replace([np.inf, -np.inf], np.nan)
    return out


def lesion_features(df: pd.DataFrame) -> pd.DataFrame:
    """The image-level features of every row: CNN score (``prob``) and its logit, metadata,
    the ``img_*`` statistics and TBP measurements (`tbp_features`) where `df` has them."""
    p = pd.to_numeric(df["prob"], errors="coerce").astype(float).clip(1e-6, 1 - 1e-6)
    parts = [pd.DataFrame({"cnn_prob": p.to_numpy(), "cnn_logit": np.log(p / (1 - p)).to_numpy()},
                          index=df.index), metadata_features(df)]
    stats = [c for c in IMAGE_STAT_COLUMNS if c in df.columns]
    if stats:
        parts.append(df[stats].astype(float))
    tbp = tbp_features(df)
    if not tbp.empty and len(tbp.columns):
        parts.append(tbp)
    return pd.concat(parts, axis=1)


def has_patient_ids(df: pd.DataFrame) -> bool:
    """Whether every row of `df` is grouped by patient (``group_kind``)."""
    return "group_kind" in df.columns and bool((df["group_kind"] == "patient").all())


def with_patient_context(features: pd.DataFrame, df: pd.DataFrame,
                         embedding: np.ndarray | None = None) -> pd.DataFrame:
    """`features` plus `patient_features` of the CNN score, image statistics and TBP
    measurements (and, with `embedding`, the distance to the patient's other lesions) when every
    row of `df` is grouped by patient (``group_kind``); unchanged otherwise."""
    if not has_patient_ids(df):
        return features
    context = ["cnn_prob", *[c for c in features.columns
                             if c in IMAGE_STAT_COLUMNS or c.startswith("tbp_")]]
    return pd.concat([features, patient_features(
        features.assign(patient_id=df["group_id"].to_numpy()), context,
        embedding=embedding)], axis=1)


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> CIELAB (D65)."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (maximises the between-class variance)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between))])


def _mirror_iou(mask: np.ndarray) -> float:
    """Worst IoU of the mask with its mirror images about the centroid (rows, columns)."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    h, w = mask.shape
    ious = []
    for axis, centre, size in ((0, cy, h), (1, cx, w)):
        coords = ys if axis == 0 else xs
        mirrored = np.round(2 * centre - coords).astype(int)
        ok = (mirrored >= 0) & (mirrored < size)
        flipped = np.zeros_like(mask)
        if axis == 0:
            flipped[mirrored[ok], xs[ok]] = True
        else:
            flipped[ys[ok], mirrored[ok]] = True
        ious.append((mask & flipped).sum() / max((mask | flipped).sum(), 1))
    return float(min(ious))


def image_stats(image: Image.Image | np.ndarray) -> dict[str, float]:
    """Colour and shape statistics of one image (NaN where the mask is degenerate)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    small = image.convert("RGB").resize((STATS_SIZE, STATS_SIZE), Image.Resampling.BILINEAR)
    lab = _srgb_to_lab(np.asarray(small))
    lightness = lab[..., 0]
    mask = lightness < otsu_threshold(lightness.ravel())
    n = int(mask.sum())
    if n < 4 or n > mask.size - 4:  # no two-sided split: a blank or uniform image
        return dict.fromkeys(IMAGE_STAT_COLUMNS, float("nan"))
    delta = lab[mask].mean(axis=0) - lab[~mask].mean(axis=0)
    # Perimeter from the mask's pixel edges ("cracks"): a digital disc of radius r has 8r of
    # them, so pi/4 of their count estimates its true perimeter 2 pi r.
    padded = np.pad(mask, 1)
    cracks = (padded[1:] != padded[:-1]).sum() + (padded[:, 1:] != padded[:, :-1]).sum()
    perimeter = float(cracks) * np.pi / 4
    return {"img_dL": float(delta[0]), "img_da": float(delta[1]), "img_db": float(delta[2]),
            "img_dE": float(np.linalg.norm(delta)), "img_lesion_share": n / mask.size,
            "img_asymmetry": 1.0 - _mirror_iou(mask),
            "img_border": perimeter ** 2 / (4 * np.pi * n)}


def patient_features(df: pd.DataFrame, columns: Sequence[str], patient: str = "patient_id",
                     embedding: np.ndarray | None = None) -> pd.DataFrame:
    """Each lesion against the patient's others ("ugly duckling" features, as the ISIC 2024
    references build them).

    Per column of `columns`: ``_pz`` (z-score within the patient), ``_prank`` (percentile rank),
    ``_pdev`` (minus the patient's median) and ``_pmax`` / ``_pmin`` (1 for the patient's
    largest / smallest value, else 0); then ``patient_n_lesions`` and, with an (N, D)
    `embedding`, ``emb_patient_dist`` (distance to the mean of the patient's other lesions).
    NaN for a patient with one lesion and for missing values.
    """
    groups = df[patient].astype(str)
    count = groups.map(groups.value_counts()).to_numpy()
    alone = count < PATIENT_MIN_LESIONS
    out = {"patient_n_lesions": count.astype(float)}
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce").astype(float)
        by = values.groupby(groups)
        mean, std = by.transform("mean"), by.transform("std", ddof=0)
        z = ((values - mean) / std.where(std > 0)).to_numpy(copy=True)
        rank = by.rank(pct=True).to_numpy(copy=True)
        dev = (values - by.transform("median")).to_numpy(copy=True)
        known = values.notna().to_numpy()
        is_max = np.where(known, (values == by.transform("max")).to_numpy(), np.nan)
        is_min = np.where(known, (values == by.transform("min")).to_numpy(), np.nan)
        z[alone], rank[alone], dev[alone] = np.nan, np.nan, np.nan
        is_max[alone], is_min[alone] = np.nan, np.nan
        z[(std == 0).to_numpy() & ~alone & known] = 0.0
        out[f"{col}_pz"], out[f"{col}_prank"], out[f"{col}_pdev"] = z, rank, dev
        out[f"{col}_pmax"], out[f"{col}_pmin"] = is_max.astype(float), is_min.astype(float)
    if embedding is not None:
        emb = np.asarray(embedding, dtype=np.float64)
        frame = pd.DataFrame(emb, index=df.index)
        sums = frame.groupby(groups.to_numpy()).transform("sum").to_numpy()
        others = (sums - emb) / np.maximum(count - 1, 1)[:, None]  # mean of the other lesions
        dist = np.linalg.norm(emb - others, axis=1)
        dist[alone] = np.nan
        out["emb_patient_dist"] = dist
    return pd.DataFrame(out, index=df.index)
