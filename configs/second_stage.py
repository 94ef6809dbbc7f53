"""Typed configuration of the second stage: `training.embed` and `training.stack`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from configs.base import DEFAULT_BUNDLE_DIR, CommaList, Settings, settings_config
from configs.choices import Device
from configs.datasets import DatasetSettings

TreeLibrary = Literal["lightgbm", "xgboost", "catboost"]


class EmbedSettings(DatasetSettings):
    """Settings of `python -m training.embed` (image embeddings and probabilities per image).

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m training.embed")

    bundle: CommaList[Path] = Field(
        default_factory=lambda: [DEFAULT_BUNDLE_DIR],
        description="model bundle(s); repeat for an ensemble (e.g. the folds of training.cv)")
    unseen: bool = Field(False, description="none of these images trained any bundle (an "
                         "external set): every probability counts as out-of-fold")
    out: Path = Field(Path("outputs/embeddings.parquet"), description="Parquet file to write "
                      "(<out>.parts/ holds finished chunks until the end: a rerun resumes)")
    batch_size: int = Field(32, ge=1, description="images per forward pass")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    chunk_size: int = Field(512, ge=1, description="images per saved chunk (what a resumed "
                            "run can lose at most)")
    progress: bool = Field(True, description="show a progress bar")
    device: Device = Field("auto", description="where the model runs: auto (a CUDA GPU when "
                           "torch sees one, else the CPU), cpu or cuda (an error without a GPU); "
                           "embeddings are computed in float32")


class StackSettings(Settings):
    """Settings of `python -m training.stack` (gradient-boosted trees on embedded features).

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m training.stack")
    cli_renamed: ClassVar[dict[str, str]] = {"--model": "--tree-libraries"}

    embeddings: Path = Field(description="training.embed's Parquet file")
    tree_libraries: CommaList[TreeLibrary] = Field(
        ["lightgbm"], description="tree libraries; several are combined by averaging their "
        "percentiles among their out-of-fold scores")
    n_folds: int = Field(5, ge=3, description="folds of the trees' cross-validation (grouped, "
                         "stratified; at least 3: one predicts, one stops early, the rest "
                         "fit; the CNN's own folds when the embeddings cover them)")
    seed: int = Field(42, description="fold and tree seed")
    embedding_dims: int = Field(16, ge=0, description="principal components of each member's "
                                "image embedding used as features (one PCA per member, fitted "
                                "inside each training fold)")
    image_stats: bool = Field(True, description="colour/shape statistics computed from the "
                              "images (lesion-to-skin contrast, asymmetry, border)")
    n_estimators: int = Field(2000, ge=1, description="most boosting rounds (stopped early on "
                              "the stopping fold's log-loss, then the round with its best pAUC "
                              "above 80% TPR is kept)")
    learning_rate: float = Field(0.03, gt=0, description="boosting learning rate")
    tabular_baseline: bool = Field(True, description="also fit the first library's trees "
                                   "without any CNN output (metadata, image statistics, TBP, "
                                   "patient context), as the ISIC 2024 references report")
    combiner: Literal["weighted", "mean"] = Field(
        "weighted", description="weighted: the CNN score, every library's trees and the "
        "tabular baseline rank-averaged with weights chosen on out-of-fold predictions (the "
        "estimate is nested: each fold's weights come from the other folds); mean: the "
        "libraries' trees only, equal weights")
    blend_metric: Literal["pauc", "auroc"] = Field(
        "pauc", description="what the blend weights maximise: ISIC 2024's pAUC above 80% TPR, "
        "or AUROC")
    blend_trials: int = Field(500, ge=0, description="random weight vectors tried besides "
                              "equal weights and each component alone")
    early_stopping_rounds: int = Field(100, ge=1, description="rounds without a better "
                                       "stopping-fold log-loss before a fit stops")
    out: Path = Field(Path("outputs/stack"), description="folder: oof_predictions.csv, "
                      "stack_summary.json, the tree models (text/JSON) and features.json")
    progress: bool = Field(True, description="show a progress bar")
    two_stage_out: Path | None = Field(None, description="also write a two-stage bundle here: "
                                       "--bundle's files with these trees inside (served by "
                                       "the app, evaluation and prediction as one model)")
    bundle: Path | None = Field(None, description="the CNN bundle the embeddings came from "
                                "(needed by --two-stage-out)")

    @model_validator(mode="after")
    def _check_two_stage(self) -> StackSettings:
        if self.two_stage_out is not None and self.bundle is None:
            raise ValueError("--two-stage-out needs --bundle (the embeddings' CNN bundle)")
        return self
