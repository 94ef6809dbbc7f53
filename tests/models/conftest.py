"""Fixtures for the inference-engine tests: tiny random-weight bundles and engines on them.

Random weights are fine here: the tests check shapes, numeric agreement between code paths and
invariants, never which class wins. Bundles are 96 px efficientnet_b0 (the CAM layers are then
24, 12, 6, 3 and 3 cells wide) so every test file stays fast.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.bundle.io import Bundle, load_bundle
from models.inference.engine import Engine
from tests.helpers import write_tiny_bundle

ENGINE_SIZE = 96
ENGINE_BACKBONE = "efficientnet_b0"
ENGINE_THRESHOLDS = {"sensitivity_target": 0.3, "closest_to_corner": 0.5}


def make_tiny_bundle(folder: Path, *, backbone: str = ENGINE_BACKBONE, size: int = ENGINE_SIZE,
                     use_metadata: bool = True, seed: int = 0,
                     classes: tuple[str, ...] = (), **pre_kwargs) -> Path:
    """Write a random-weight bundle (tests only) and return its folder.

    `classes`: a diagnosis model's classes (default: a melanoma model).
    """
    return write_tiny_bundle(folder, backbone=backbone, size=size, seed=seed,
                             metadata=use_metadata, classes=classes, weights="lively",
                             preprocessing=pre_kwargs, thresholds=ENGINE_THRESHOLDS,
                             name="tiny-test")


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory) -> Path:
    """A 96 px efficientnet_b0 bundle with metadata and shades-of-gray colour constancy."""
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny-bundle"),
                            color_constancy="shades_of_gray")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_bundle_dir) -> Bundle:
    """The loaded tiny bundle (shared: tests must not mutate it)."""
    return load_bundle(tiny_bundle_dir)


DIAGNOSIS_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")


@pytest.fixture(scope="session")
def diagnosis_bundle(tmp_path_factory) -> Bundle:
    """A tiny 8-class diagnosis bundle (same backbone and size as `tiny_bundle`)."""
    return load_bundle(make_tiny_bundle(tmp_path_factory.mktemp("diagnosis-bundle"),
                                        classes=DIAGNOSIS_CLASSES, seed=3))


@pytest.fixture(scope="session", autouse=True)
def _restore_torch_threads_after_session():
    """Engines set torch's process-wide thread count (1 here: robust on a busy CI machine)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def eager_engine(tiny_bundle) -> Engine:
    """The reference engine (plain PyTorch)."""
    return Engine(tiny_bundle, num_threads=1, backend="eager")


@pytest.fixture(scope="session")
def onnx_cache_dir(tmp_path_factory) -> Path:
    """Where `onnx_engine` caches its exported graph."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def onnx_engine(tiny_bundle, onnx_cache_dir) -> Engine:
    """The ONNX Runtime engine on the same bundle (exported once, cached)."""
    return Engine(tiny_bundle, num_threads=1, backend="onnxruntime", cache_dir=onnx_cache_dir)


def lesion_array(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """A synthetic dermoscopy-like RGB image: skin tone, a dark irregular blob, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), dtype=np.float32)
    img[:] = (215, 165, 140)
    r = np.hypot((xx - 0.6 * width) / (0.22 * width), (yy - 0.45 * height) / (0.3 * height))
    blob = np.clip(1.3 - r, 0, 1)[..., None]
    img = img * (1 - 0.8 * blob) + np.array([60, 35, 30], np.float32) * 0.8 * blob
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode_image(arr: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    """Encode an array (or PIL image) to file bytes."""
    img = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="session")
def lesion_jpeg(tmp_path_factory) -> Path:
    """A synthetic lesion photo on disk (JPEG, 160 x 120)."""
    path = tmp_path_factory.mktemp("images") / "lesion.jpg"
    path.write_bytes(encode_image(lesion_array(), quality=92))
    return path
