"""Typed evaluation configuration (`python -m eval.evaluate`); every flag lives here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from configs.base import DEFAULT_BUNDLE_DIR, CommaList, Settings, settings_config
from configs.choices import Backend, Combiner, Device, Precision
from configs.datasets import DataFormat
from data.readers import OnError


# DataLoader workers by machine size. On 2 vCPUs the main process decodes fastest: each worker
# starts a fresh interpreter (OpenVINO is fork-unsafe) and competes with the runtime's two
# threads (BENCHMARKS.md, issue 24 session 11: with TTA 36 against 27 images/s, one view 182
# against 114). With more CPUs there is room to decode beside the runtime.
SMALL_MACHINE_CPUS = 2
WORKERS_ON_LARGER_MACHINES = 2
# Without workers, a thread decodes this many batches ahead of the forward pass (eval.pipeline.
# prefetch): one keeps the runtime fed; a second absorbs a slow image (BENCHMARKS.md, issue 24).
PREFETCH_BATCHES = 2


def default_num_workers() -> int:
    """DataLoader worker processes for scoring on this machine (see SMALL_MACHINE_CPUS)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus <= SMALL_MACHINE_CPUS else WORKERS_ON_LARGER_MACHINES


class ScoringSettings(Settings):
    """What every command that runs bundles over images shares: bundles, TTA, runtime.

    List fields take repeated flags (`--bundle A --bundle B`) or a comma list (`--bundle A,B`);
    as an env var a plain path or a comma list (`MELANOMA_BUNDLE=A,B`), so one `.env` value
    serves the app (one bundle), evaluation and prediction.
    """

    cli_renamed: ClassVar[dict[str, str]] = {"--stack": "--second-stage"}

    bundle: CommaList[Path] = Field(
        default_factory=lambda: [DEFAULT_BUNDLE_DIR],
        description="model bundle folder; repeat the flag, or give a folder holding several "
        "bundle folders (e.g. the folds of one run), to use an ensemble")
    tta: bool = Field(False, description="average the 8 dihedral views (flips, rotations)")
    ensemble: Combiner = Field(
        "mean", description="how several bundles are combined: mean probability, or the mean "
        "of normalised ranks (not a probability: no calibration metrics)")
    batch_size: int = Field(16, ge=1, description="images per forward pass (x8 with --tta)")
    num_workers: int = Field(default_factory=default_num_workers, ge=0, description="DataLoader "
                             "worker processes decoding images (default: none on a machine "
                             "with 2 CPUs or fewer, where the main process is fastest; else 2)")
    prefetch: int = Field(PREFETCH_BATCHES, ge=0, description="without workers: batches decoded "
                          "ahead in a background thread while the model scores the current "
                          "one (0: decode between forward passes)")
    num_threads: int | None = Field(None, ge=1, description="torch intra-op threads "
                                    "(default: torch's choice)")
    backend: Backend = Field(
        "auto", description="inference path: the engine's fast runners (auto = OpenVINO when "
        "installed and agreeing with eager, else ONNX Runtime, else TorchScript), or eager "
        "PyTorch (the reference)")
    precision: Precision = Field(
        "auto", description="OpenVINO's inference precision: auto = bf16 where the CPU "
        "computes it natively (avx512_bf16 or AMX) and the logits agree with fp32, else fp32")
    progress: bool = Field(True, description="show a progress bar")
    device: Device = Field("auto", description="where the model runs: auto (a CUDA GPU when "
                           "torch sees one, else the CPU), cpu or cuda (an error without a GPU)")
    amp: bool = Field(True, description="on a GPU, mixed precision where its probabilities "
                      "agree with float32 on the first batch (to 1e-3); no effect on the CPU")
    second_stage: Path | None = Field(None, description="a training.stack folder trained on the "
                               "(one) bundle's embeddings: also score the second stage "
                               "(evaluation: prob_second_stage and metrics; prediction: "
                               "probability_second_stage)")



class EvalSettings(ScoringSettings):
    """Settings for scoring one bundle, or an ensemble of bundles, on a labelled dataset.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m eval.evaluate")
    cli_renamed: ClassVar[dict[str, str]] = {**ScoringSettings.cli_renamed,
                                             "--format": "--data-format"}

    data: Path = Field(description="labelled dataset: its folder or its main CSV file")
    images: Path | None = Field(None, description="image folder, if not the format's default")
    data_format: DataFormat = Field("auto", description="dataset format (auto-detected from "
                                    "columns)")
    out: Path = Field(Path("outputs/eval"), description="output folder (created)")
    n_boot: int = Field(1000, ge=0, description="bootstrap resamples per confidence interval "
                        "(0 = no intervals)")
    min_tpr: float = Field(0.8, ge=0, lt=1, description="minimum TPR of the partial AUC")
    fold: int | None = Field(None, ge=0, description="score only this fold (grouped, stratified, "
                             "as in training) - a bundle's held-out fold")
    n_folds: int = Field(5, ge=2, description="number of folds for --fold (as in training)")
    seed: int = Field(42, description="fold seed for --fold (as in training)")
    on_bad_row: OnError = Field(
        "fail", description="bad rows (unknown label, missing or unreadable image...): fail, "
        "or skip them with a logged count")
    metadata: Literal["auto", "ignore"] = Field(
        "auto", description="auto: feed the dataset's age/sex/site; ignore: feed 'unknown' for "
        "all (measures what the metadata branch contributes)")
    @model_validator(mode="after")
    def _check(self) -> EvalSettings:
        if self.fold is not None and self.fold >= self.n_folds:
            raise ValueError(f"fold {self.fold} does not exist with n_folds={self.n_folds}")
        if not self.bundle:
            raise ValueError("give at least one --bundle")
        return self


class CompareSettings(Settings):
    """Settings for a paired comparison of two models' predictions on the same images.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m eval.compare")

    baseline: Path = Field(description="predictions.csv of the model to beat (eval.evaluate)")
    candidate: Path = Field(description="predictions.csv of the new model, same images")
    score_column: str = Field("prob", description="score column to compare (prob = the final "
                              "score, prob_no_tta = single view)")
    n_boot: int = Field(1000, ge=1, description="bootstrap resamples per confidence interval")
    min_tpr: float = Field(0.8, ge=0, lt=1, description="minimum TPR of the partial AUC")


METADATA_FLAG = "--metadata-csv"


class PredictSettings(ScoringSettings):
    """Settings for scoring unlabelled images (a folder or a CSV) with one or more bundles.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m eval.predict")
    # A flag alias only: the field keeps its name so that its env var (MELANOMA_METADATA_CSV)
    # does not collide with evaluation's MELANOMA_METADATA (auto/ignore) in a shared `.env`.
    cli_aliases: ClassVar[dict[str, str]] = {"--metadata": METADATA_FLAG}

    images: Path = Field(description="a folder (every jpg/png/bmp/tiff below it) or a CSV "
                         "listing images (image path/id column, optional age/sex/site)")
    metadata_csv: Path | None = Field(None, description="for a folder: a CSV of image id + "
                                      "age/sex/site (images without a row are 'unknown'); "
                                      "--metadata is the same flag")
    out: Path = Field(Path("outputs/predictions.csv"), description="predictions CSV; rows "
                      "already in it are kept and skipped (resume); <out>.errors.csv lists "
                      "the inputs that were not scored and why")
    shard: str | None = Field(None, pattern=r"^\d+/\d+$", description="i/n: score only every "
                              "n-th image starting at the i-th (0-based), to split a run "
                              "across processes or machines")
    chunk_size: int = Field(256, ge=1, description="images scored between two appends to "
                            "--out (what a resumed run can lose at most)")

    @model_validator(mode="after")
    def _check_shard(self) -> PredictSettings:
        if not self.bundle:
            raise ValueError("give at least one --bundle")
        if self.shard is not None:
            index, count = (int(v) for v in self.shard.split("/"))
            if count < 1 or not 0 <= index < count:
                raise ValueError(f"shard {self.shard}: need 0 <= i < n")
        return self

    @property
    def shard_index(self) -> tuple[int, int]:
        """(i, n) of --shard; (0, 1) when not sharded."""
        if self.shard is None:
            return 0, 1
        index, count = (int(v) for v in self.shard.split("/"))
        return index, count
