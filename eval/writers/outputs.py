"""Writing evaluation outputs: predictions.csv, and metrics.json atomically (tmp + rename)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eval.pipeline.inference import Predictions
from models.bundle.atomic import atomic_write_text

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
REPORT_FILE = "report.md"


def predictions_frame(df: pd.DataFrame, preds: Predictions,
                      scores: Mapping[str, np.ndarray],
                      classes: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per scored image.

    Columns: image_id, label, prob (the final score, calibrated by the bundle's map);
    prob_uncalibrated when a map applies; with TTA prob_no_tta and one
    prob_<view> per dihedral view; for ensembles member<i>_prob (and member<i>_prob_no_tta
    with TTA), i in the order of metrics.json's `bundles`; for diagnosis models diagnosis and
    one prob_class_<CLASS> per class (`classes`, from `eval.pipeline.diagnosis.class_columns`); then
    age, sex, site, group_id.
    """
    out = pd.DataFrame({"image_id": df["image_id"].to_numpy(),
                        "label": df["target"].to_numpy().astype(int),
                        "prob": scores["final"]})
    if preds.tta:
        out["prob_no_tta"] = scores["plain"]
        for name in preds.view_names:
            out[f"prob_{name}"] = scores[f"view:{name}"]
    if "raw" in scores:
        out["prob_uncalibrated"] = scores["raw"]
    if len(preds.members) > 1:
        for i, m in enumerate(preds.members):
            out[f"member{i}_prob"] = m.prob
            if preds.tta:
                out[f"member{i}_prob_no_tta"] = m.plain
    if classes:
        out["diagnosis"] = df["diagnosis"].to_numpy()
        for name, values in classes.items():
            out[name] = values
    for column in ("age", "sex", "site", "group_id"):
        out[column] = df[column].to_numpy()
    return out


def write_predictions(path: Path, frame: pd.DataFrame) -> Path:
    """Write predictions.csv with round-trip float precision."""
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON to a temporary file in the same folder, then rename it over `path`.

    A crash mid-write leaves the old file (or none), never a truncated one; NaN is refused
    (it is not JSON, and metrics never silently become NaN).
    """
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False,
                                       default=_json_default) + "\n")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
