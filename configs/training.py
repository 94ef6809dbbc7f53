"""Typed training configuration (`python -m training.pl_train`); every tunable lives here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsError

from configs.base import CommaList, settings_config
from configs.choices import AugPolicy, ClassWeights, Optimizer
from configs.datasets import DataFormat, DatasetSettings
from data.images import ColorConstancy

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
PRESET_FLAG = "--preset"


def preset_names() -> list[str]:
    """The presets shipped in configs/presets (file names without .json)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A preset's settings (keys starting with "_" are comments).

    Args:
        name: a preset name, or a path to a JSON file of settings.
        fields: the settings class's fields (every key must be one).

    Raises:
        SettingsError: unknown preset, unreadable file or an unknown setting in it.
    """
    path = Path(name) if name.endswith(".json") else PRESETS_DIR / f"{name}.json"
    if not path.is_file():
        raise SettingsError(f"preset {name!r} not found: shipped presets are "
                            f"{preset_names()} (or give a .json file)")
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SettingsError(f"preset {path}: not readable JSON ({err})") from None
    values = {k: v for k, v in values.items() if not k.startswith("_")}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SettingsError(f"preset {path}: unknown settings {unknown}")
    return values


def _flag_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


class TrainSettings(DatasetSettings):
    """Settings for training one fold and exporting a model bundle.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m training.pl_train")

    preset: str | None = Field(None, description="start from a preset's settings (explicit "
                               "flags override it; it overrides env vars and .env): "
                               + ", ".join(preset_names()) + ", or a .json file")

    val_source: CommaList[str] = Field(
        [], description="leave-source-out validation: validate on these sources (e.g. BCN, "
        "HAM10000, MSK, ISIC_archive), train on the others; --fold is then not used")
    source_weights: Annotated[dict[str, float], NoDecode] = Field(
        {}, description="each source's share of the training draws, NAME=W,NAME=W (sources "
        "not named get 1); empty = proportional to its size")
    test_data: Path | None = Field(None, description="a labelled test set (folder or CSV) "
                                   "scored once with the exported weights at the validation "
                                   "thresholds: metrics.test in bundle.json and "
                                   "test_predictions.csv; its images and their groups are "
                                   "kept out of training and validation")
    test_data_format: DataFormat = Field("auto", description="format of --test-data")
    test_images: Path | None = Field(None, description="image folder of --test-data, if not "
                                     "the format's default")
    verify_images: bool = Field(False, description="open every image header before training")
    max_images: int | None = Field(None, ge=10, description="use a stratified random subset "
                                   "of this many images (quick runs)")
    # task
    task: Literal["melanoma", "diagnosis"] = Field(
        "melanoma", description="melanoma: one logit, melanoma against the rest; diagnosis: a "
        "softmax over the diagnosis classes present in the training data (melanoma "
        "probability = P(MEL))")
    # folds
    fold: int = Field(0, ge=0, description="validation fold")
    n_folds: int = Field(5, ge=2, description="number of patient/lesion-grouped folds")
    seed: int = Field(42, description="seed for folds, init, sampling and augmentation")
    fold_seed: int | None = Field(
        None, description="seed of the folds alone (default: --seed): members that differ "
        "only by --seed then hold out the same images, so they can be compared and ensembled "
        "on one validation fold")
    stratify: Literal["auto", "target", "diagnosis"] = Field(
        "auto", description="what the grouped folds are stratified by: auto = melanoma target "
        "for --task melanoma, diagnosis class for --task diagnosis; 'target' gives a diagnosis "
        "run the melanoma runs' folds (to compare the two on the same images)")
    # model
    backbone: str = Field("efficientnet_b0", description="timm model name")
    backbone_kwargs: dict[str, Any] = Field(
        {}, description="extra constructor arguments of the backbone, as JSON (e.g. the "
        "hybrid's '{\"dims\": [64, 128, 256, 320]}'); stored in the bundle")
    pretrained: Literal["auto", "timm", "file", "none"] = Field(
        "auto", description="ImageNet init: auto (local package for tf_efficientnet_lite0/1/2, "
        "else timm download), timm, file (--pretrained-path) or none")
    pretrained_path: Path | None = Field(None, description="weights file for pretrained=file")
    init_bundle: Path | None = Field(None, description="fine-tune: start from this bundle's "
                                     "whole model (backbone, metadata MLP, head) and reuse its "
                                     "metadata encoder; replaces --pretrained")
    use_metadata: bool = Field(True, description="fuse age/sex/site through the metadata MLP")
    meta_hidden: tuple[int, ...] = Field((64, 32), description="metadata MLP widths")
    meta_dropout: float = Field(0.2, ge=0, lt=1, description="metadata MLP dropout")
    head_dropout: float = Field(0.3, ge=0, lt=1, description="dropout before the head")
    drop_path_rate: float = Field(0.1, ge=0, lt=1, description="backbone stochastic depth")
    # preprocessing (stored in the bundle)
    image_size: int = Field(224, ge=32, le=1024, description="square model input size")
    interpolation: Literal["bilinear", "bicubic"] = Field("bilinear", description="resize filter")
    color_constancy: ColorConstancy = Field(
        "none", description="colour normalisation applied in training AND inference")
    # augmentation (training only)
    aug_scale_min: float = Field(0.5, gt=0, le=1, description="random-resized-crop min area")
    aug_rotate: bool = Field(True, description="random dihedral flips/rotations")
    aug_rotate_degrees: float = Field(0.0, ge=0, le=180, description="random rotation by up "
                                      "to this many degrees either way (besides the dihedral "
                                      "flips); 0 = off")
    aug_policy: AugPolicy = Field(
        "none", description="automatic augmentation policy (torchvision) on top of the rest")
    mixup_alpha: float = Field(0.0, ge=0, description="mixup Beta(alpha, alpha) weight, labels "
                               "mixed alike (both tasks); 0 = off")
    cutmix_alpha: float = Field(0.0, ge=0, description="CutMix Beta(alpha, alpha) area; with "
                                "mixup on too, each batch uses one of them at random")
    aug_downscale_prob: float = Field(0.0, ge=0, le=1, description="resolution augmentation: "
                                      "probability of first shrinking a training image to a "
                                      "random shorter side in [--aug-downscale-min, model size]")
    aug_downscale_min: int = Field(64, ge=8, description="smallest shorter side (px) of the "
                                   "resolution augmentation")
    aug_color: float = Field(0.15, ge=0, le=1, description="brightness/contrast/saturation "
                             "jitter strength (hue gets a quarter of it)")
    meta_mask_prob: float = Field(0.2, ge=0, le=1, description="per-field probability of "
                                  "blanking age, sex or site in a training sample, so 'unknown' "
                                  "means 'no information' rather than the dataset's own bias")
    # optimisation
    batch_size: int = Field(32, ge=1, description="batch size")
    epochs: int = Field(10, ge=1, description="max epochs")
    optimizer: Optimizer = Field("adamw", description="optimiser")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    nesterov: bool = Field(False, description="SGD with Nesterov momentum")
    lr_backbone: float = Field(3e-4, gt=0, description="peak learning rate, backbone")
    lr_head: float = Field(1e-3, gt=0, description="peak learning rate, metadata MLP and head")
    weight_decay: float = Field(1e-2, ge=0, description="weight decay (not on norms/biases)")
    warmup_epochs: float = Field(0.5, ge=0, description="linear warm-up before cosine decay")
    warmup_start_lr: float | None = Field(None, gt=0, description="learning rate the warm-up "
                                          "starts from (default: one warm-up step's share of "
                                          "the peak)")
    freeze_backbone_epochs: int = Field(0, ge=0, description="train only the head and metadata "
                                        "MLP for this many epochs, then unfreeze the backbone "
                                        "with its learning rate warming up")
    ema_decay: float | None = Field(None, gt=0, lt=1, description="keep an exponential moving "
                                    "average of the weights; validate, checkpoint and export it")
    grad_clip: float | None = Field(None, gt=0, description="clip the gradient norm to this")
    loss: Literal["focal", "bce", "ce"] = Field(
        "focal", description="focal (binary or multi-class), bce (melanoma: BCE with "
        "pos_weight = n_neg/n_pos) or ce (diagnosis: cross-entropy)")
    class_weights: ClassWeights = Field(
        "none", description="diagnosis: per-class loss weights from the training split's "
        "class counts")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="diagnosis: label smoothing")
    sampler: Literal["none", "weighted"] = Field(
        "none", description="weighted: a WeightedRandomSampler drawing every class (diagnosis) "
        "or melanoma/other (melanoma) equally often")
    monitor: Literal["auroc", "pauc", "balanced_accuracy", "macro_f1"] = Field(
        "auroc", description="validation metric choosing the checkpoint and early stopping: "
        "melanoma AUROC or pAUC above 80 percent TPR, or (diagnosis) balanced multi-class "
        "accuracy or macro F1")
    focal_alpha: float = Field(0.75, gt=0, lt=1, description="focal loss positive weight")
    focal_gamma: float = Field(2.0, ge=0, description="focal loss focusing parameter")
    accumulate_grad_batches: int = Field(1, ge=1, description="gradient accumulation")
    precision: Literal["32-true", "16-mixed", "bf16-mixed"] = Field(
        "32-true", description="Lightning precision (bf16 is slow on CPUs without bf16)")
    channels_last: bool = Field(True, description="channels_last memory format (faster on CPU)")
    early_stopping_patience: int = Field(4, ge=0, description="epochs without val AUROC gain "
                                         "before stopping (0 = off)")
    sensitivity_target: float = Field(0.9, gt=0, lt=1, description="sensitivity for the "
                                      "second stored decision threshold")
    # runtime
    num_workers: int = Field(0, ge=0, description="DataLoader workers (0 is fastest on a "
                             "2-core CPU: workers steal the cores the model needs; raise it "
                             "on bigger machines)")
    num_threads: int | None = Field(None, ge=1, description="torch intra-op threads "
                                    "(default: torch's choice)")
    accelerator: str = Field("auto", description="Lightning accelerator (cpu, gpu, auto)")
    devices: int = Field(1, ge=1, description="processes per node (CPU: gloo processes; GPU: "
                         "one per GPU); above 1 with --strategy ddp")
    strategy: Literal["auto", "ddp"] = Field("auto", description="Lightning strategy: ddp "
                                             "trains on --devices x --num-nodes processes")
    num_nodes: int = Field(1, ge=1, description="machines of a multi-node run (launched by "
                           "torchrun or SLURM, see the README)")
    limit_train_batches: float = Field(1.0, gt=0, description="fraction (<=1) or count of "
                                       "train batches per epoch")
    limit_val_batches: float = Field(1.0, gt=0, description="fraction or count of val batches")
    resume_from: Path | None = Field(None, description="checkpoint to resume (your own "
                                     "run's .ckpt: Lightning checkpoints are pickles)")
    auto_resume: bool = Field(True, description="with --run-name: continue that run from its "
                              "last.ckpt when it stopped before writing its bundle")
    keep_checkpoints: int = Field(1, ge=-1, description="best-by-val-AUROC checkpoints to "
                                  "keep besides last.ckpt (-1 = every epoch, e.g. for soups)")
    export_checkpoint: Path | None = Field(None, description="skip training: validate this "
                                           "checkpoint of the same settings and export its bundle")
    # logging and output
    output_dir: Path = Field(Path("outputs"), description="runs are written under here")
    run_name: str | None = Field(None, description="run folder name (default: timestamped)")
    wandb: bool = Field(False, description="also log to Weights & Biases")
    wandb_project: str = Field("melanoma-detect", description="W&B project")
    wandb_mode: Literal["auto", "online", "offline"] = Field(
        "auto", description="auto = online only when WANDB_API_KEY is set")
    log_every_n_steps: int = Field(20, ge=1, description="logging interval")

    @field_validator("source_weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: Any) -> Any:
        if isinstance(value, list):  # the flag repeated
            value = ",".join(map(str, value))
        if not isinstance(value, str):
            return value
        out: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, sep, weight = part.partition("=")
            try:
                number = float(weight)
            except ValueError:
                number = -1.0
            if not sep or not name.strip() or not number >= 0:  # also refuses NaN
                raise ValueError(f"source weight {part!r}: expected NAME=NUMBER >= 0, e.g. "
                                 "BCN=0.5,HAM10000=1")
            out[name.strip()] = number
        return out

    @model_validator(mode="after")
    def _check(self) -> TrainSettings:
        if self.fold >= self.n_folds:
            raise ValueError(f"fold {self.fold} does not exist with n_folds={self.n_folds}")
        if self.pretrained == "file" and self.pretrained_path is None:
            raise ValueError("pretrained=file needs --pretrained-path")
        if self.init_bundle is not None and self.pretrained == "file":
            raise ValueError("init_bundle and pretrained=file both set the initial weights: "
                             "pick one")
        if self.use_metadata and not self.meta_hidden:
            raise ValueError("use_metadata needs at least one meta_hidden width")
        self._check_task()
        return self

    @classmethod
    def from_cli(cls, argv: list[str] | None = None):
        """Settings from CLI flags > --preset > env vars > .env > defaults.

        Raises:
            SettingsError: a bad preset (see `load_preset`), or what pydantic-settings raises.
        """
        args = cls.cli_args(argv)
        name = _flag_value(args, PRESET_FLAG) or os.environ.get("MELANOMA_PRESET")
        values = load_preset(name, cls.model_fields) if name else {}
        # pydantic-settings ranks init values below the CLI and above the environment.
        return cls(_cli_parse_args=args, **{**cls.renamed_env(), **values})

    def _check_task(self) -> None:
        diagnosis = self.task == "diagnosis"
        wrong = {"loss bce": self.loss == "bce" and diagnosis,
                 "loss ce": self.loss == "ce" and not diagnosis,
                 "monitor balanced_accuracy": self.monitor == "balanced_accuracy"
                 and not diagnosis,
                 "monitor macro_f1": self.monitor == "macro_f1" and not diagnosis,
                 "class_weights": self.class_weights != "none" and not diagnosis,
                 "label_smoothing": self.label_smoothing > 0 and not diagnosis,
                 "stratify diagnosis": self.stratify == "diagnosis" and not diagnosis}
        bad = [name for name, is_bad in wrong.items() if is_bad]
        if bad:
            raise ValueError(f"{', '.join(bad)} do(es) not fit --task {self.task}")

    @property
    def stratify_by(self) -> str:
        """The column the folds are stratified by ("target" or "diagnosis")."""
        if self.stratify == "auto":
            return "diagnosis" if self.task == "diagnosis" else "target"
        return self.stratify
