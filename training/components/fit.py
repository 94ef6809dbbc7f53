"""Training one run: data module, module, Lightning trainer, checkpoints and the bundle export.

`python -m training.pl_train` runs :func:`train`; cross-validation (`training.cv`) and the
throughput benchmark build on the same pieces.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    EMAWeightAveraging,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from rich.console import Console
from rich.table import Table

from configs.base import ENV_PREFIX
from configs.process import runtime_summary
from configs.training import TrainSettings
from data.folds import FoldError
from data.images import Preprocessing
from data.multisource import DatasetSpec, dataset_specs
from data.readers import DatasetError
from eval.metrics.checks import MetricError
from eval.metrics.multiclass import multiclass_summary
from eval.metrics.summary import summarize
from eval.metrics.thresholds import select_thresholds
from models.bundle.atomic import atomic_write_text
from models.bundle.io import Bundle, BundleError, load_bundle, save_bundle
from models.bundle.operating import OperatingCurve
from models.nn.fusion import BackboneError, FusionConfig, check_input_size
from training.components import resume
from training.components.augment import TrainAugment
from training.components.datamodule import MelanomaDataModule
from training.components.module import MelanomaModule
from training.components.pretrained import PretrainedError

log = logging.getLogger("training")
MONITORS = {"auroc": "val/auroc", "pauc": "val/pauc80",
            "balanced_accuracy": "val/balanced_accuracy",
            "macro_f1": "val/macro_f1"}  # --monitor -> logged metric
MONITOR = MONITORS["auroc"]
RUN_NAME_ENV = f"{ENV_PREFIX}RUN_NAME"
LICENSE_NOTE = ("Weights inherit the licence of the training data; HAM10000 and ISIC archive "
                "data are CC BY-NC 4.0 (non-commercial use only).")


# FusionConfig fields that shape the weights; the rest (dropouts) only act in training.
_WEIGHT_SHAPING = ("backbone", "meta_dim", "meta_hidden", "classes", "backbone_kwargs")


def preprocessing(s: TrainSettings) -> Preprocessing:
    """The preprocessing the settings ask for (what the bundle will store)."""
    return Preprocessing(size=s.image_size, interpolation=s.interpolation,
                         color_constancy=s.color_constancy)


class InitBundleError(ValueError):
    """The --init-bundle model cannot start this run; the message says why."""


# Errors caused by the input (data, flags, files): one log line and exit code 2, no traceback.
TRAINING_ERRORS = (BackboneError, DatasetError, FoldError, InitBundleError, MetricError,
                   PretrainedError)


def load_init_bundle(s: TrainSettings) -> Bundle | None:
    """The bundle to fine-tune from (`--init-bundle`); `build_module` checks its architecture.

    Returns:
        The loaded bundle, or None without `--init-bundle`.

    Raises:
        InitBundleError: unreadable bundle.
    """
    if s.init_bundle is None:
        return None
    try:
        bundle = load_bundle(s.init_bundle)
    except BundleError as err:
        raise InitBundleError(f"--init-bundle: {err}") from None
    pre = preprocessing(s)
    if pre.to_dict() != bundle.preprocessing.to_dict():
        log.warning("Fine-tuning with preprocessing %s; %s was trained with %s",
                    pre.to_dict(), bundle.bundle_id, bundle.preprocessing.to_dict())
    log.info("Fine-tuning from bundle %s (its metadata encoder is reused as is)",
             bundle.bundle_id)
    return bundle


def build_datamodule(s: TrainSettings, init: Bundle | None = None) -> MelanomaDataModule:
    """DataModule for the settings (reads and splits the data).

    Args:
        init: the bundle being fine-tuned, whose metadata encoder is reused unchanged.
    """
    pre = preprocessing(s)
    augment = TrainAugment(pre, scale_min=s.aug_scale_min, rotate=s.aug_rotate, color=s.aug_color,
                           rotate_degrees=s.aug_rotate_degrees, policy=s.aug_policy,
                           downscale_prob=s.aug_downscale_prob,
                           downscale_min=s.aug_downscale_min)
    test = (DatasetSpec(s.test_data, s.test_data_format, s.test_images)
            if s.test_data is not None else None)
    dm = MelanomaDataModule(dataset_specs(s.data, s.data_format, s.images),
                            exclude=dataset_specs(s.exclude_data) if s.exclude_data
                            else (), near_copy_similarity=s.exclude_near_copies,
                            val_sources=s.val_source, source_weights=s.source_weights,
                            on_bad_row=s.on_bad_row, verify=s.verify_images, fold=s.fold,
                            n_folds=s.n_folds, seed=s.seed, fold_seed=s.fold_seed,
                            preprocessing=pre, augment=augment,
                            meta_mask_prob=s.meta_mask_prob if s.use_metadata else 0.0,
                            batch_size=s.batch_size, num_workers=s.num_workers,
                            max_images=s.max_images,
                            encoder=copy.deepcopy(init.encoder) if init else None,
                            task=s.task, stratify_by=s.stratify_by, sampler=s.sampler,
                            test=test)
    dm.prepare()
    return dm


def build_module(s: TrainSettings, dm: MelanomaDataModule,
                 init: Bundle | None = None) -> MelanomaModule:
    """LightningModule for the settings and the data's class counts and encoder.

    Args:
        init: a bundle whose whole model initialises the network (instead of ImageNet).

    Raises:
        InitBundleError: `init` has another backbone or metadata branch than the settings.
    """
    config = FusionConfig(backbone=s.backbone, backbone_kwargs=dict(s.backbone_kwargs),
                          meta_dim=dm.encoder.dim if s.use_metadata else 0,
                          meta_hidden=s.meta_hidden, meta_dropout=s.meta_dropout,
                          head_dropout=s.head_dropout, drop_path_rate=s.drop_path_rate,
                          classes=dm.classes)
    n_pos, n_neg = dm.class_counts
    module = MelanomaModule(config.to_dict(), lr_backbone=s.lr_backbone, lr_head=s.lr_head,
                          weight_decay=s.weight_decay, warmup_epochs=s.warmup_epochs,
                          loss=s.loss, focal_alpha=s.focal_alpha, focal_gamma=s.focal_gamma,
                          n_pos=n_pos, n_neg=n_neg, sensitivity_target=s.sensitivity_target,
                          channels_last=s.channels_last,
                          pretrained="none" if init else s.pretrained,
                          pretrained_path=str(s.pretrained_path) if s.pretrained_path else None,
                          class_counts=dm.diagnosis_counts if dm.classes else None,
                          class_weights=s.class_weights, label_smoothing=s.label_smoothing,
                          optimizer=s.optimizer, momentum=s.momentum, nesterov=s.nesterov,
                          warmup_start_lr=s.warmup_start_lr,
                          freeze_backbone_epochs=s.freeze_backbone_epochs,
                          mixup_alpha=s.mixup_alpha, cutmix_alpha=s.cutmix_alpha, seed=s.seed)
    if init is not None:
        diff = [f"{k} {getattr(init.config, k)!r} vs {getattr(config, k)!r}"
                for k in _WEIGHT_SHAPING if getattr(init.config, k) != getattr(config, k)]
        if diff:
            raise InitBundleError(f"--init-bundle {init.path}: its architecture differs from "
                                  f"the settings (bundle vs settings): {', '.join(diff)}")
        module.net.load_state_dict(init.model.state_dict())
    return module


def build_loggers(s: TrainSettings, run_dir: Path) -> list:
    """CSV logger always; W&B when enabled, offline unless a key is configured."""
    loggers: list = [CSVLogger(save_dir=str(run_dir), name="", version="")]
    if s.wandb:
        online = s.wandb_mode == "online" or (s.wandb_mode == "auto"
                                              and bool(os.environ.get("WANDB_API_KEY")))
        if not online:
            os.environ.setdefault("WANDB_MODE", "offline")
        loggers.append(WandbLogger(project=s.wandb_project, save_dir=str(run_dir),
                                   name=run_dir.name, offline=not online))
        log.info("W&B logging %s", "online" if online else "offline (no API key)")
    return loggers


def export_bundle(s: TrainSettings, dm: MelanomaDataModule, module: MelanomaModule,
                  run_dir: Path, wall_s: float, epochs_completed: int,
                  soup_of: list[str] | None = None,
                  init_bundle_id: str | None = None
                  ) -> tuple[Path, dict[str, Any], dict[str, Any] | None]:
    """Write the bundle from the module's final validation pass (and its test pass, if any).

    Args:
        soup_of: the checkpoints averaged into the exported weights (`training.soup`), if any;
            recorded so the bundle does not pass for a single run of its settings.
        init_bundle_id: id of the bundle this run was fine-tuned from, if any.

    Returns:
        (bundle folder, validation metrics, test metrics or None). The test set is scored at
        the thresholds chosen on validation, and its predictions go to test_predictions.csv.
    """
    val = module.last_val
    y, p = val["target"], val["prob"]
    groups = dm.val_df["group_id"].to_numpy()[val["index"]]
    thresholds = select_thresholds(y, p, sensitivity_target=s.sensitivity_target)
    stored = {k: v for k, v in thresholds.items() if k != "sensitivity_target_value"}
    metrics = summarize(y, p, stored, groups=groups)
    metrics["sensitivity_target_value"] = s.sensitivity_target
    preds = dm.val_df.iloc[val["index"]][["image_id", "image_path", "target", "diagnosis",
                                          "age", "sex", "site", "group_id", "source"]].copy()
    preds["prob"] = p
    if dm.classes:
        metrics["diagnosis"] = multiclass_summary(val["label"], val["class_prob"],
                                                  list(dm.classes))
        for i, name in enumerate(dm.classes):
            preds[f"prob_class_{name}"] = val["class_prob"][:, i]  # as eval's predictions
    atomic_write_text(run_dir / "val_predictions.csv", preds.to_csv(index=False))
    test = score_test_set(dm, module, stored, run_dir) if module.last_test else None
    name = s.run_name or f"{s.backbone}-fold{s.fold}"
    training = s.model_dump(mode="json")
    training["wall_time_s"] = round(wall_s, 1)
    training["epochs_completed"] = epochs_completed
    if soup_of:
        training["soup_of"] = soup_of
    if init_bundle_id:
        training["init_bundle_id"] = init_bundle_id
    if resumes := resume.resumes(run_dir):
        training["resumes"] = resumes  # wall_time_s is then the last attempt's only
    bundle_dir = save_bundle(
        run_dir / "bundle", module.net, preprocessing=dm.preprocessing, encoder=dm.encoder,
        thresholds=stored, name=name,
        metrics={"validation": metrics, **({"test": test} if test else {})},
        data_summary=dm.summary(), training=training,
        # The same validation scores the thresholds were chosen on: the app can then say what
        # any other threshold would have done.
        operating_curve=OperatingCurve.from_scores(y, p, include=stored.values()),
        extra={"license": LICENSE_NOTE, "intended_use": "research and education only; "
               "not a medical device and not a diagnosis"})
    return bundle_dir, metrics, test


def score_test_set(dm: MelanomaDataModule, module: MelanomaModule, thresholds: dict[str, float],
                 run_dir: Path) -> dict[str, Any]:
    """The test pass's summary at the validation thresholds; writes test_predictions.csv."""
    scores = module.last_test
    y, p = scores["target"], scores["prob"]
    rows = dm.test_df.iloc[scores["index"]]
    metrics = summarize(y, p, thresholds, groups=rows["group_id"].to_numpy())
    metrics["source"] = str(dm.test.path)
    preds = rows[["image_id", "image_path", "target", "diagnosis", "age", "sex", "site",
                  "group_id", "source"]].copy()
    preds["prob"] = p
    if dm.classes:
        present = len(set(scores["label"].tolist())) >= 2
        metrics["diagnosis"] = (multiclass_summary(scores["label"], scores["class_prob"],
                                                   list(dm.classes)) if present else
                                {"note": "fewer than two of the model's classes in the "
                                         "test set: no diagnosis metrics"})
        for i, name in enumerate(dm.classes):
            preds[f"prob_class_{name}"] = scores["class_prob"][:, i]
    atomic_write_text(run_dir / "test_predictions.csv", preds.to_csv(index=False))
    return metrics


def _summary_rows(m: dict[str, Any]) -> dict[str, str]:
    """The printed figures of one split, by row name."""
    rows = {"AUROC": f"{m['auroc']:.4f} [{m['auroc_ci'][0]:.3f}, {m['auroc_ci'][1]:.3f}]",
            "pAUC@80%TPR": f"{m['pauc80']:.4f}",
            "Average precision": f"{m['average_precision']:.4f}"}
    if "balanced_accuracy" in m.get("diagnosis", {}):
        rows["Balanced accuracy (diagnosis)"] = f"{m['diagnosis']['balanced_accuracy']:.4f}"
    for name, t in m["thresholds"].items():
        rows[f"sens/spec @ {name} ({t['threshold']:.3f})"] = (f"{t['sensitivity']:.3f} / "
                                                              f"{t['specificity']:.3f}")
    return rows


def print_summary(metrics: dict[str, Any], bundle_dir: Path,
                  test: dict[str, Any] | None = None) -> None:
    """CLI result table: validation, and the test set beside it when there is one."""
    splits = {f"validation ({metrics['n']} images, {metrics['n_pos']} melanoma)":
              _summary_rows(metrics)}
    if test:
        splits[f"test: {test['source']} ({test['n']} images, {test['n_pos']} melanoma)"] = \
            _summary_rows(test)
    table = Table(title="Exported weights")
    table.add_column("metric")
    for name in splits:
        table.add_column(name, justify="right")
    for row in splits[next(iter(splits))]:
        table.add_row(row, *[rows.get(row, "-") for rows in splits.values()])
    Console().print(table)
    Console().print(f"Bundle: {bundle_dir}")


def checkpoint_callbacks(ckpt_dir: Path, keep: int = 1,
                         monitor: str = MONITOR) -> tuple[ModelCheckpoint, ModelCheckpoint]:
    """``(best, latest)``: the ``keep`` best checkpoints by ``monitor`` and an always-current
    ``last.ckpt``.

    Lightning's ``save_last`` only rewrites last.ckpt in epochs that also produce a new best, so
    after a plateau ``--resume-from last.ckpt`` would restart from a stale epoch; an unmonitored
    checkpoint saves every epoch instead. ``keep=-1`` keeps every epoch.
    """
    short = monitor.split("/")[-1]
    best = ModelCheckpoint(dirpath=ckpt_dir, monitor=monitor, mode="max", save_top_k=keep,
                           auto_insert_metric_name=False,
                           filename="epoch{epoch:02d}-" + short + "{" + monitor + ":.4f}")
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1,
                             enable_version_counter=False)
    return best, latest


def run_name(s: TrainSettings) -> str:
    """The run folder's name: `--run-name`, else backbone, fold and start time.

    A multi-process run's launcher starts the other processes later (maybe a second later on
    the clock): the generated name goes to them as `MELANOMA_RUN_NAME` (their --run-name), so
    every process writes to one folder.
    """
    if s.run_name:
        return s.run_name
    name = time.strftime(f"{s.backbone}-fold{s.fold}-%Y%m%d-%H%M%S")
    if s.devices * s.num_nodes > 1:
        os.environ[RUN_NAME_ENV] = name
    return name


def train(s: TrainSettings) -> Path:
    """Train one fold and export its bundle.

    Returns:
        The bundle folder.
    """
    check_input_size(s.backbone, s.image_size)  # before any data is read
    L.seed_everything(s.seed, workers=True)
    if s.num_threads:
        torch.set_num_threads(s.num_threads)
    log.info("runtime: %s", runtime_summary(torch.get_num_threads()))
    init = load_init_bundle(s)
    dm = build_datamodule(s, init)
    module = build_module(s, dm, init)
    run_dir = Path(s.output_dir) / run_name(s)
    run_dir.mkdir(parents=True, exist_ok=True)
    resume_from = None if s.export_checkpoint is not None else resume.resume_checkpoint(
        run_dir, s.resume_from, named=bool(s.run_name), auto=s.auto_resume)
    if getattr(rank_zero_only, "rank", 0) == 0:
        if resume_from is not None:
            resume.prepare(run_dir, resume_from)  # before the CSV logger empties metrics.csv
        elif s.export_checkpoint is None:
            resume.start_fresh(run_dir)
    monitor = MONITORS[s.monitor]
    checkpoint, latest = checkpoint_callbacks(run_dir / "checkpoints", s.keep_checkpoints,
                                              monitor)
    callbacks = [checkpoint, latest, RichProgressBar(),
                 LearningRateMonitor(logging_interval="epoch")]
    if s.ema_decay:
        # Lightning swaps the average in for validation and checkpoints it as the weights.
        callbacks.append(EMAWeightAveraging(decay=s.ema_decay))
    if s.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max",
                                       patience=s.early_stopping_patience))
    trainer = L.Trainer(max_epochs=s.epochs, accelerator=s.accelerator, devices=s.devices,
                        strategy=s.strategy, num_nodes=s.num_nodes,
                        precision=s.precision, accumulate_grad_batches=s.accumulate_grad_batches,
                        gradient_clip_val=s.grad_clip, gradient_clip_algorithm="norm",
                        limit_train_batches=s.limit_train_batches,
                        limit_val_batches=s.limit_val_batches, callbacks=callbacks,
                        logger=build_loggers(s, run_dir), log_every_n_steps=s.log_every_n_steps,
                        default_root_dir=str(run_dir), num_sanity_val_steps=0)
    start = time.perf_counter()
    if s.export_checkpoint is None:
        trainer.fit(module, datamodule=dm,
                    ckpt_path=str(resume_from) if resume_from else None)
    wall = time.perf_counter() - start
    # Every process validates the same weights: rank 0 chose and wrote the best checkpoint.
    best = trainer.strategy.broadcast(str(s.export_checkpoint or checkpoint.best_model_path))
    trainer.strategy.barrier()
    epochs_completed = int(module.current_epoch)
    soup_of = None
    if best:
        # Our own checkpoint; tensors only are needed, so no arbitrary unpickling.
        ckpt = torch.load(best, map_location="cpu", weights_only=True)
        module.load_state_dict(ckpt["state_dict"])
        if s.export_checkpoint is not None:
            epochs_completed = int(ckpt.get("epoch", -1)) + 1
            soup_of = ckpt.get("soup_of")
        log.info("Exporting best checkpoint %s", Path(best).name)
    for callback in trainer.callbacks:
        if isinstance(callback, EMAWeightAveraging):
            # The loaded checkpoint already holds the average: validate exactly those weights.
            callback._average_model = None
    trainer.validate(module, datamodule=dm, verbose=False)
    if dm.test_set is not None:  # the exported weights, once, on data no choice was made on
        trainer.test(module, datamodule=dm, verbose=False)
    if trainer.is_global_zero:  # after the last logging: the logger rewrites metrics.csv
        resume.merge_metrics(run_dir)
    bundle_dir = run_dir / "bundle"
    if trainer.is_global_zero:  # the validation scores are gathered from every process
        bundle_dir, metrics, test = export_bundle(
            s, dm, module, run_dir, wall, epochs_completed, soup_of,
            init.bundle_id if init else None)
        print_summary(metrics, bundle_dir, test=test)
    return bundle_dir
