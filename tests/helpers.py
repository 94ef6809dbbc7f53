"""Helpers shared by several test packages (not fixtures: plain functions)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from data.encoding import MetadataEncoder
from data.images import Preprocessing
from models.bundle.io import save_bundle
from models.nn.fusion import FusionConfig, FusionNet


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


def centre_head(model: FusionNet, seed: int, size: int) -> FusionNet:
    """Non-default batch-norm statistics and a head scaled so probabilities spread over (0, 1)
    without saturating (saturated outputs would make every agreement test trivially pass)."""
    g = torch.Generator().manual_seed(seed)
    randomise_batchnorm(model, g)
    with torch.no_grad():
        linear = model.head[-1]
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.1)
        linear.bias.zero_()
        model.eval()
        # Centre the logits on a probe batch of image-like inputs.
        probe = torch.randn(8, 3, size, size, generator=g) * 0.5
        meta = torch.zeros(8, model.config.meta_dim) if model.uses_metadata else None
        linear.bias.fill_(-float(model(probe, meta).median()))
    return model


ENCODER_SITES = ("head/neck", "posterior torso", "unknown", "palms/soles")


def tiny_encoder(sites: tuple[str, ...] | None = None,
                 fitted_sites: tuple[str, ...] = ENCODER_SITES) -> MetadataEncoder:
    """A metadata encoder fitted on a four-row table (`sites`: its vocabulary, default all)."""
    df = pd.DataFrame({"age": [35.0, 60.0, np.nan, 45.0],
                       "sex": ["male", "female", "unknown", "male"], "site": list(fitted_sites)})
    return (MetadataEncoder(sites=sites) if sites is not None else MetadataEncoder()).fit(df)


def write_tiny_bundle(out: Path, *, backbone: str = "tf_efficientnet_lite0", size: int = 64,
                      seed: int = 0, metadata: bool = True, classes: tuple[str, ...] = (),
                      weights: Literal["init", "lively", "centred"] = "lively",
                      encoder: MetadataEncoder | None = None,
                      preprocessing: dict[str, Any] | None = None, **save: Any) -> Path:
    """Save a random-weight bundle for tests (never a model to use) and return its folder.

    Args:
        out: bundle folder to create.
        backbone, size: the timm backbone and input size in px.
        seed: weight seed (different seeds -> different members).
        metadata: with a metadata branch.
        classes: a diagnosis model's classes (default: a melanoma model).
        weights: "init" (timm's initialisation), "lively" (`randomise`: random batch-norm
            statistics, a livelier head) or "centred" (`centre_head`: probabilities spread
            over (0, 1) without saturating).
        encoder: the metadata encoder (default `tiny_encoder()`).
        preprocessing: extra `Preprocessing` fields.
        save: `save_bundle` keywords (thresholds, name, metrics, data_summary ...).
    """
    encoder = encoder or tiny_encoder()
    torch.manual_seed(seed)
    config = FusionConfig(backbone=backbone, meta_dim=encoder.dim if metadata else 0,
                          meta_hidden=(16, 8), classes=classes)
    model = FusionNet(config)
    model = {"init": lambda m: m.eval(), "lively": lambda m: randomise(m, seed + 1),
             "centred": lambda m: centre_head(m, seed + 1, size)}[weights](model)
    return save_bundle(out, model, preprocessing=Preprocessing(size=size, **(preprocessing or {})),
                       encoder=encoder, **save)


def write_ham10000(root: Path, n_lesions: int, seed: int,
                   fields: Callable[[int, int], dict[str, str]]) -> Path:
    """A HAM10000 layout under `root` (metadata CSV + images/), two images per lesion;
    `fields(lesion, k)` gives the dx, age, sex and localization of image k of a lesion."""
    rng = np.random.default_rng(seed)
    rows = []
    for lesion in range(n_lesions):
        for k in range(2):
            image_id = f"ISIC_{lesion:04d}{k}"
            row = fields(lesion, k)
            write_image(root / "images" / f"{image_id}.jpg", rng, row["dx"] == "mel")
            rows.append({"lesion_id": f"HAM_{lesion:07d}", "image_id": image_id,
                         "dx": row["dx"], "dx_type": "histo", "age": row["age"],
                         "sex": row["sex"], "localization": row["localization"]})
    write_csv(root / "HAM10000_metadata.csv", rows)
    return root


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
