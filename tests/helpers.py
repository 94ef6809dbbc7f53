"""Helpers shared by several test packages (not fixtures: plain functions)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
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


def write_image(path: Path, rng: np.random.Generator, melanoma: bool) -> None:
    """A small non-symmetric JPEG (so the dihedral views really differ); darker and blotchier
    for melanomas, so a model has a learnable (if toy) signal."""
    base = rng.integers(60, 120) if melanoma else rng.integers(140, 220)
    arr = np.clip(base + rng.normal(0, 30, (56, 72, 3)), 0, 255).astype(np.uint8)
    arr[:10, :20] = (250, 20, 20)  # an off-centre patch breaks the symmetry
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=90)


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """Write dict rows as a CSV (columns default to the first row's keys)."""
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
