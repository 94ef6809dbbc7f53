"""LightningModule: FusionNet under focal (or weighted BCE / cross-entropy) loss, validated by
melanoma AUROC and pAUC (and balanced accuracy for a diagnosis model).

Training, validation and test share one `model_step` (forward + loss). Validation and test
scores are kept in a torchmetrics state (`ScoreCollector`), so under a multi-process strategy
every process sees all of them and AUROC/pAUC are computed over the whole split, not one shard.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_f1_score,
    binary_recall,
    binary_specificity,
)
from torchmetrics.utilities import dim_zero_cat

from eval.metrics.checks import MetricError
from eval.metrics.multiclass import balanced_accuracy, macro_f1
from eval.metrics.ranking import pauc_above_tpr
from eval.metrics.thresholds import threshold_for_sensitivity
from models.nn.fusion import FusionConfig, FusionNet
from models.nn.probabilities import logits_to_class_probabilities, logits_to_probability
from training.components.losses import build_loss
from training.components.mixing import BatchMixer
from training.components.optim import OptimConfig, build_optimizer, build_schedule
from training.components.pretrained import load_backbone_weights

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""(images, encoded metadata, targets, row indices into the split's table)."""


class ScoreCollector(Metric):
    """Probabilities, targets and row indices of one split, gathered across processes.

    `compute` returns each row once, in row order: a distributed sampler pads the last shard
    with repeated rows, and those repeats are dropped by row index.

    Args:
        diagnosis: also keep a diagnosis model's class indices and class probabilities.
    """

    full_state_update = False

    def __init__(self, diagnosis: bool = False) -> None:
        super().__init__()
        self.rows = ("prob", "target") + (("label", "class_prob") if diagnosis else ())
        for name in (*self.rows, "index"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, prob: torch.Tensor, target: torch.Tensor, index: torch.Tensor,
               label: torch.Tensor | None = None, class_prob: torch.Tensor | None = None) -> None:
        """Add one batch (any device; kept as float64 / int64).

        Args:
            prob: (N,) melanoma probabilities.
            target: (N,) melanoma 0/1.
            index: (N,) row indices into the split's table.
            label, class_prob: a diagnosis model's (N,) class indices and (N, K) class
                probabilities (only kept by a collector made with `diagnosis=True`).
        """
        self.prob.append(prob.detach().double())
        self.target.append(target.detach().long())
        self.index.append(index.detach().long())
        if "label" in self.rows:
            self.label.append(label.detach().long())
            self.class_prob.append(class_prob.detach().double())

    def compute(self) -> dict[str, np.ndarray]:
        """The scores so far: ``prob`` (float64), ``target``, ``index`` (int64) arrays, and for a
        diagnosis collector ``label`` (int64) and ``class_prob`` ((N, K) float64)."""
        # A list of batches before a multi-process sync, one gathered tensor after it.
        if isinstance(self.index, list) and not self.index:
            return {}
        index = dim_zero_cat(self.index).cpu().numpy()
        index, first = np.unique(index, return_index=True)  # sorted, each row once
        return {name: dim_zero_cat(getattr(self, name)).cpu().numpy()[first]
                for name in self.rows} | {"index": index}


class MelanomaModule(L.LightningModule):
    """Trains a FusionNet.

    Args:
        model_config: FusionNet architecture as a dict (`FusionConfig.to_dict`).
        lr_backbone, lr_head: AdamW learning rates for the backbone and the rest.
        weight_decay: AdamW weight decay (not applied to norms and biases).
        warmup_epochs: linear warm-up length, then cosine decay to zero.
        loss: "focal" or "bce".
        focal_alpha, focal_gamma: focal loss parameters.
        n_pos, n_neg: training-split class counts (BCE pos_weight, logging).
        sensitivity_target: sensitivity for the validation operating point.
        channels_last: use channels_last tensors.
        pretrained, pretrained_path: ImageNet initialisation (see training.components.pretrained).
        class_counts: a diagnosis model's training images per class (loss weights); None for
            a melanoma model.
        class_weights, label_smoothing: diagnosis loss options (training.components.losses).
        optimizer, momentum, nesterov, warmup_start_lr, freeze_backbone_epochs: see
            `training.components.optim.OptimConfig`.
        mixup_alpha, cutmix_alpha: batch mixing (`training.components.mixing.BatchMixer`); 0 = off.
        seed: seed of the batch mixer.
    """

    def __init__(self, model_config: dict[str, Any], *, lr_backbone: float = 3e-4,
                 lr_head: float = 1e-3, weight_decay: float = 1e-2, warmup_epochs: float = 0.5,
                 loss: str = "focal", focal_alpha: float = 0.75, focal_gamma: float = 2.0,
                 n_pos: int = 1, n_neg: int = 1, sensitivity_target: float = 0.9,
                 channels_last: bool = True, pretrained: str = "none",
                 pretrained_path: str | None = None, class_counts: list[int] | None = None,
                 class_weights: str = "none", label_smoothing: float = 0.0,
                 optimizer: str = "adamw", momentum: float = 0.9, nesterov: bool = False,
                 warmup_start_lr: float | None = None, freeze_backbone_epochs: int = 0,
                 mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        config = FusionConfig.from_dict(model_config)
        self.net = FusionNet(config)
        self.diagnosis = bool(config.classes)
        load_backbone_weights(self.net.backbone, config.backbone, pretrained, pretrained_path)
        self.criterion, self.loss_params = build_loss(
            loss, alpha=focal_alpha, gamma=focal_gamma, n_pos=n_pos, n_neg=n_neg,
            class_counts=class_counts if self.diagnosis else None, class_weights=class_weights,
            label_smoothing=label_smoothing)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.mixer = BatchMixer(mixup_alpha, cutmix_alpha, config.num_outputs
                                if self.diagnosis else 0, seed)
        self.val_scores = ScoreCollector(self.diagnosis)
        self.test_scores = ScoreCollector(self.diagnosis)
        self.last_val: dict[str, np.ndarray] = {}
        self.last_test: dict[str, np.ndarray] = {}
        self._epoch_start = 0.0
        self._epoch_images = 0

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        """Logits for a batch."""
        if self.hparams.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return self.net(image, meta if self.net.uses_metadata else None)

    def model_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward and loss, the same for every stage.

        Returns:
            (loss, logits, targets).
        """
        image, meta, target, _ = batch
        logits = self(image, meta)
        return self.criterion(logits, target), logits, target

    def on_fit_start(self) -> None:
        log.info("Training split: %d positive, %d negative; loss %s %s", self.hparams.n_pos,
                 self.hparams.n_neg, self.hparams.loss, self.loss_params)

    def on_train_epoch_start(self) -> None:
        self._epoch_start, self._epoch_images = time.perf_counter(), 0
        frozen = self.current_epoch < self.hparams.freeze_backbone_epochs
        for param in self.net.backbone.parameters():
            param.requires_grad_(not frozen)
        if frozen:  # a frozen backbone keeps its normalisation statistics too
            self.net.backbone.eval()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        if self.mixer.enabled:
            image, mixed_target, _ = self.mixer(batch[0], batch[2])
            batch = (image, batch[1], mixed_target, batch[3])
        loss, _, _ = self.model_step(batch)
        self._epoch_images += batch[0].shape[0]
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=batch[0].shape[0], sync_dist=True)
        return loss

    def on_train_epoch_end(self) -> None:
        elapsed = time.perf_counter() - self._epoch_start
        if elapsed > 0 and self._epoch_images:
            # Throughput of the training loop alone (the val loop runs outside this window).
            # Summed over processes: the whole run's training throughput.
            self.log("train/images_per_s", self._epoch_images / elapsed, sync_dist=True,
                     reduce_fx="sum")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._scored_step(batch, "val", self.val_scores)

    def on_validation_epoch_end(self) -> None:
        scores = self._log_scores("val", self.val_scores)
        if scores:
            self.last_val = scores

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._scored_step(batch, "test", self.test_scores)

    def on_test_epoch_end(self) -> None:
        scores = self._log_scores("test", self.test_scores)
        if scores:
            self.last_test = scores

    def _scored_step(self, batch: Batch, stage: str, scores: ScoreCollector) -> None:
        loss, logits, target = self.model_step(batch)
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=target.shape[0],
                 sync_dist=True)
        prob = logits_to_probability(logits)
        if self.diagnosis:  # melanoma is class 0 (models.nn.probabilities.MELANOMA_COLUMN)
            scores.update(prob, (target == 0).long(), batch[3], target,
                          logits_to_class_probabilities(logits))
        else:
            scores.update(prob, target, batch[3])

    def _log_scores(self, stage: str, collector: ScoreCollector) -> dict[str, np.ndarray]:
        """Log the stage's ranking and operating-point metrics over all its rows.

        Returns:
            The gathered scores (empty if there were none).
        """
        scores = collector.compute()
        collector.reset()
        if not scores:
            return scores
        y, p = scores["target"], scores["prob"]
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == len(y):
            log.warning("%s set has one class only (%d images): metrics skipped", stage, len(y))
            return scores
        threshold = threshold_for_sensitivity(y, p, self.hparams.sensitivity_target)
        try:
            pauc = pauc_above_tpr(y, p)
        except MetricError:
            pauc = math.nan
        probs, targets = torch.from_numpy(p), torch.from_numpy(y)
        # Every process holds the same gathered scores, hence the same values: sync_dist
        # averages identical numbers (and tells Lightning they are global).
        self.log(f"{stage}/auroc", binary_auroc(probs, targets), prog_bar=True, sync_dist=True)
        self.log_dict({
            f"{stage}/ap": binary_average_precision(probs, targets),
            f"{stage}/pauc80": pauc,
            f"{stage}/sensitivity": binary_recall(probs, targets, threshold=threshold),
            f"{stage}/specificity": binary_specificity(probs, targets, threshold=threshold),
            f"{stage}/f1": binary_f1_score(probs, targets, threshold=threshold),
            f"{stage}/threshold": threshold,
        }, sync_dist=True)
        if self.diagnosis:
            self.log(f"{stage}/balanced_accuracy",
                     balanced_accuracy(scores["label"], scores["class_prob"]), prog_bar=True,
                     sync_dist=True)
            self.log(f"{stage}/macro_f1", macro_f1(scores["label"], scores["class_prob"]),
                     sync_dist=True)
        return scores

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        config = OptimConfig(optimizer=hp.optimizer, lr_backbone=hp.lr_backbone,
                             lr_head=hp.lr_head, weight_decay=hp.weight_decay,
                             momentum=hp.momentum, nesterov=hp.nesterov,
                             warmup_epochs=hp.warmup_epochs, warmup_start_lr=hp.warmup_start_lr,
                             freeze_backbone_epochs=hp.freeze_backbone_epochs)
        optimizer = build_optimizer(self.net, config)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = build_schedule(optimizer, config, total, max(1, self.trainer.max_epochs or 1))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
