"""Typed configuration of `python -m eval.calibrate` (decision rule and calibration map)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from configs.base import CommaList, Settings, settings_config

DEFAULT_SENSITIVITY_TARGET = 0.8


class CalibrateSettings(Settings):
    """Fit a bundle's decision rule on labelled predictions and write a new bundle.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m eval.calibrate")

    bundle: Path = Field(description="the uncalibrated bundle folder, or an ensemble folder "
                         "(of calibrated members: its thresholds and operating curve are "
                         "re-chosen on the ensemble's predictions)")
    predictions: CommaList[Path] = Field(
        description="predictions.csv of `eval.evaluate` runs of this bundle on data it never "
        "trained on (repeat or comma list; pooled); each folder's metrics.json must name the "
        "bundle")
    score: Literal["single", "tta_mean"] = Field(
        "tta_mean", description="the score decided on: the single view, or the mean of the 8 "
        "TTA views (needs predictions made with --tta)")
    method: Literal["platt", "temperature", "none"] = Field(
        "platt", description="calibration map fitted on the pooled predictions")
    sensitivity_target: float = Field(
        DEFAULT_SENSITIVITY_TARGET, gt=0, lt=1,
        description="the default threshold reaches this sensitivity on the pooled predictions")
    out: Path = Field(description="folder of the new bundle (weights copied, bundle.json "
                      "rewritten)")
    fitted_on: str = Field("", description="words recorded in the bundle on what the "
                           "predictions were (e.g. 'ISIC 2019 BCN+MSK+archive, unseen')")
    proxy: bool = Field(
        False, description="the predictions come from OTHER bundles of this bundle's recipe, "
        "each on a source it never trained on (the recipe's leave-one-source-out runs), "
        "because this bundle trained on every labelled source: eval.evaluate outputs of one "
        "uncalibrated bundle each (a --val-source run's, or any bundle's on sources its "
        "training data does not name), or pl_train's val_predictions.csv[.gz] of --val-source "
        "runs (single view); where their bundle.json is found, its network and preprocessing "
        "must equal this bundle's; needs --fitted-on")
