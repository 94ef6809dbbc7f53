"""Helpers shared by several test packages (not fixtures: plain functions)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from models.nn.fusion import FusionNet


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


def write_isic2024(root: Path, jpegs: list[tuple[str, Path, int]], *, drop_from_hdf5: int = 0,
                   extra_columns: bool = True) -> Path:
    """An ISIC 2024 layout under `root`: train-metadata.csv, train-image.hdf5 (the JPEG bytes
    per isic_id) and the same files as train-image/image/<isic_id>.jpg.

    Args:
        root: folder to fill.
        jpegs: (isic_id, a JPEG file, target) per image.
        drop_from_hdf5: leave the last N images out of the HDF5 file (missing images).
        extra_columns: add tbp_lv_* and attribution columns as the real file has.

    Returns:
        `root`.
    """
    import shutil

    import h5py

    folder = root / "train-image" / "image"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with h5py.File(root / "train-image.hdf5", "w") as h5:
        for i, (isic_id, jpeg, target) in enumerate(jpegs):
            if i < len(jpegs) - drop_from_hdf5:
                h5.create_dataset(isic_id, data=np.void(jpeg.read_bytes()))
            shutil.copyfile(jpeg, folder / f"{isic_id}.jpg")
            row = {"isic_id": isic_id, "patient_id": f"IP_{i // 3:04d}", "target": target,
                   "age_approx": "" if i % 7 == 3 else 30 + 5 * (i % 9),
                   "sex": ["male", "female", ""][i % 3],
                   "anatom_site_general": ["posterior torso", "lower extremity", "head/neck",
                                           ""][i % 4]}
            if extra_columns:
                row |= {"tbp_lv_areaMM2": 3.1 + i, "tbp_lv_H": 50 + i,
                        "attribution": "test"}
            rows.append(row)
    write_csv(root / "train-metadata.csv", rows)
    return root


def file_size_limit(max_bytes: int) -> Callable[[], None]:
    """A `preexec_fn` for subprocess: the child cannot write a file past `max_bytes`
    (RLIMIT_FSIZE; Python ignores SIGXFSZ, so writes fail with EFBIG): a disk that fills up,
    simulated without root or a small mount."""
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def error_lines(stderr: str, prefix: str = "error:") -> list[str]:
    """The lines of a command's stderr that start with `prefix`."""
    return [line for line in stderr.splitlines() if line.startswith(prefix)]
