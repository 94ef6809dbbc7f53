"""Optimiser and learning-rate schedule: AdamW or SGD, linear warm-up, cosine decay, and an
optional frozen-backbone start (head and metadata MLP first, then the backbone warms up)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from configs.choices import OPTIMIZERS


@dataclass(frozen=True)
class OptimConfig:
    """What the optimiser and schedule need (from TrainSettings, kept in hparams).

    Attributes:
        optimizer: "adamw" or "sgd".
        lr_backbone, lr_head: peak learning rates of the backbone and of the rest.
        weight_decay: applied to weights, not to norms and biases.
        momentum, nesterov: SGD only.
        warmup_epochs: linear warm-up length before the cosine decay to zero.
        warmup_start_lr: the learning rate the warm-up starts from (None: one warm-up step's
            share of the peak, the original schedule).
        freeze_backbone_epochs: epochs during which only the head and metadata MLP train.
    """

    optimizer: str = "adamw"
    lr_backbone: float = 3e-4
    lr_head: float = 1e-3
    weight_decay: float = 1e-2
    momentum: float = 0.9
    nesterov: bool = False
    warmup_epochs: float = 0.5
    warmup_start_lr: float | None = None
    freeze_backbone_epochs: int = 0


def param_groups(net: nn.Module, c: OptimConfig) -> list[dict]:
    """Backbone and other parameters, each with and without weight decay (norms, biases)."""
    backbone, rest, no_decay = [], [], []
    for name, param in net.named_parameters():
        if param.ndim <= 1:  # norms and biases: weight decay hurts them
            no_decay.append((name, param))
        elif name.startswith("backbone."):
            backbone.append(param)
        else:
            rest.append(param)
    groups = [
        {"params": backbone, "lr": c.lr_backbone, "weight_decay": c.weight_decay,
         "backbone": True},
        {"params": rest, "lr": c.lr_head, "weight_decay": c.weight_decay, "backbone": False},
        {"params": [p for n, p in no_decay if n.startswith("backbone.")],
         "lr": c.lr_backbone, "weight_decay": 0.0, "backbone": True},
        {"params": [p for n, p in no_decay if not n.startswith("backbone.")],
         "lr": c.lr_head, "weight_decay": 0.0, "backbone": False},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(net: nn.Module, c: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser over `param_groups`.

    Raises:
        ValueError: an unknown optimiser name.
    """
    groups = param_groups(net, c)
    if c.optimizer == "adamw":
        return torch.optim.AdamW(groups)
    if c.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=c.lr_head, momentum=c.momentum, nesterov=c.nesterov)
    raise ValueError(f"unknown optimizer {c.optimizer!r} (expected one of {OPTIMIZERS})")


def lr_factor(step: int, *, total: int, warmup: int, start: float | None,
              begin: int = 0) -> float:
    """Multiplier in [0, 1] of a group's peak learning rate at optimiser step ``step`` (0-based).

    Zero before ``begin`` (a frozen backbone); then a linear warm-up over ``warmup`` steps from
    ``start`` (a fraction of the peak; None = 1/(warmup+1), ramping (k+1)/(warmup+1)); then a
    cosine decay to zero at ``total``, measured from the end of the run's warm-up.
    """
    if step < begin:
        return 0.0
    k = step - begin
    ramp = 1.0
    if k < warmup:
        ramp = (k + 1) / (warmup + 1) if start is None else start + (1.0 - start) * k / warmup
    cosine_from = begin + warmup
    progress = max(0, step - cosine_from) / max(1, total - cosine_from)
    return ramp * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_schedule(optimizer: torch.optim.Optimizer, c: OptimConfig, total: int,
                   epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR: one `lr_factor` per parameter group.

    Args:
        optimizer: from `build_optimizer` (groups tagged "backbone").
        c: the settings.
        total: optimiser steps of the run.
        epochs: epochs of the run.
    """
    per_epoch = max(1, total // max(1, epochs))
    warmup = min(total - 1, int(total * c.warmup_epochs / max(1, epochs)))
    freeze = c.freeze_backbone_epochs * per_epoch

    def factor_for(group: dict) -> Callable[[int], float]:
        start = None if c.warmup_start_lr is None else min(1.0, c.warmup_start_lr / group["lr"])
        if group.get("backbone") and freeze:
            # The unfrozen backbone warms up again, over at least half an epoch.
            return lambda s: lr_factor(s, total=total, warmup=max(warmup, per_epoch // 2),
                                       start=start, begin=freeze)
        return lambda s: lr_factor(s, total=total, warmup=warmup, start=start)

    return torch.optim.lr_scheduler.LambdaLR(optimizer,
                                             [factor_for(g) for g in optimizer.param_groups])
