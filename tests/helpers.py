"""Helpers shared by several test packages (not fixtures: plain functions)."""

from __future__ import annotations

import torch
from torch import nn

from models.fusion import FusionNet


def randomise_batchnorm(model: nn.Module, g: torch.Generator) -> None:
    """Give every batch norm non-default running statistics, so eval mode is really exercised."""
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)


def randomise(model: FusionNet, seed: int) -> FusionNet:
    """Non-default batch-norm statistics and a livelier head; returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    randomise_batchnorm(model, g)
    with torch.no_grad():
        for p in model.head.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()
