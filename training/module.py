"""LightningModule: FusionNet under focal (or weighted BCE) loss, validated by AUROC and pAUC."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_f1_score,
    binary_recall,
    binary_specificity,
)

from eval.metrics import MetricError, pauc_above_tpr, threshold_for_sensitivity
from models.fusion import FusionConfig, FusionNet
from models.losses import build_loss
from models.pretrained import load_backbone_weights

log = logging.getLogger(__name__)


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
        pretrained, pretrained_path: ImageNet initialisation (see models.pretrained).
    """

    def __init__(self, model_config: dict[str, Any], *, lr_backbone: float = 3e-4,
                 lr_head: float = 1e-3, weight_decay: float = 1e-2, warmup_epochs: float = 0.5,
                 loss: str = "focal", focal_alpha: float = 0.75, focal_gamma: float = 2.0,
                 n_pos: int = 1, n_neg: int = 1, sensitivity_target: float = 0.9,
                 channels_last: bool = True, pretrained: str = "none",
                 pretrained_path: str | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        config = FusionConfig.from_dict(model_config)
        self.net = FusionNet(config)
        load_backbone_weights(self.net.backbone, config.backbone, pretrained, pretrained_path)
        self.criterion, self.loss_params = build_loss(loss, alpha=focal_alpha, gamma=focal_gamma,
                                                      n_pos=n_pos, n_neg=n_neg)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._val_probs: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self._val_index: list[torch.Tensor] = []
        self.last_val: dict[str, np.ndarray] = {}
        self._epoch_start = 0.0
        self._epoch_images = 0

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        """Logits for a batch."""
        if self.hparams.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return self.net(image, meta if self.net.uses_metadata else None)

    def on_fit_start(self) -> None:
        log.info("Training split: %d positive, %d negative; loss %s %s", self.hparams.n_pos,
                 self.hparams.n_neg, self.hparams.loss, self.loss_params)

    def on_train_epoch_start(self) -> None:
        self._epoch_start, self._epoch_images = time.perf_counter(), 0

    def training_step(self, batch: tuple, batch_idx: int) -> torch.Tensor:
        image, meta, target, _ = batch
        loss = self.criterion(self(image, meta), target)
        self._epoch_images += image.shape[0]
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=image.shape[0])
        return loss

    def on_train_epoch_end(self) -> None:
        elapsed = time.perf_counter() - self._epoch_start
        if elapsed > 0 and self._epoch_images:
            # Throughput of the training loop alone (the val loop runs outside this window).
            self.log("train/images_per_s", self._epoch_images / elapsed)

    def validation_step(self, batch: tuple, batch_idx: int) -> None:
        image, meta, target, index = batch
        logits = self(image, meta)
        self.log("val/loss", self.criterion(logits, target), on_epoch=True,
                 batch_size=image.shape[0])
        self._val_probs.append(torch.sigmoid(logits).detach().float().cpu())
        self._val_targets.append(target.detach().cpu())
        self._val_index.append(index.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._val_probs:
            return
        probs = torch.cat(self._val_probs)
        targets = torch.cat(self._val_targets).long()
        index = torch.cat(self._val_index)
        self._val_probs, self._val_targets, self._val_index = [], [], []
        self.last_val = {"prob": probs.numpy(), "target": targets.numpy(), "index": index.numpy()}
        n_pos = int(targets.sum())
        if n_pos == 0 or n_pos == len(targets):
            log.warning("validation batch set has one class only (%d images): metrics skipped",
                        len(targets))
            return
        threshold = threshold_for_sensitivity(targets.numpy(), probs.numpy(),
                                              self.hparams.sensitivity_target)
        try:
            pauc = pauc_above_tpr(targets.numpy(), probs.numpy())
        except MetricError:
            pauc = math.nan
        auroc = binary_auroc(probs, targets)
        self.log_dict({
            "val/auroc": auroc,
            "val/ap": binary_average_precision(probs, targets),
            "val/pauc80": pauc,
            "val/sensitivity": binary_recall(probs, targets, threshold=threshold),
            "val/specificity": binary_specificity(probs, targets, threshold=threshold),
            "val/f1": binary_f1_score(probs, targets, threshold=threshold),
            "val/threshold": threshold,
        }, prog_bar=False)
        # Same value under a slash-free key: checkpoint file names and the progress bar use it.
        self.log("val_auroc", auroc, prog_bar=True)

    def configure_optimizers(self) -> dict[str, Any]:
        backbone, rest, no_decay = [], [], []
        for name, param in self.net.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim <= 1:  # norms and biases: weight decay hurts them
                no_decay.append((name, param))
            elif name.startswith("backbone."):
                backbone.append(param)
            else:
                rest.append(param)
        hp = self.hparams
        groups = [
            {"params": backbone, "lr": hp.lr_backbone, "weight_decay": hp.weight_decay},
            {"params": rest, "lr": hp.lr_head, "weight_decay": hp.weight_decay},
            {"params": [p for n, p in no_decay if n.startswith("backbone.")],
             "lr": hp.lr_backbone, "weight_decay": 0.0},
            {"params": [p for n, p in no_decay if not n.startswith("backbone.")],
             "lr": hp.lr_head, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]])
        total = max(1, int(self.trainer.estimated_stepping_batches))
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(total - 1, int(total * hp.warmup_epochs / epochs))

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
