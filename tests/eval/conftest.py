"""Fixtures for the evaluation tests: tiny generated datasets and tiny random-weight bundles.

Random weights are fine here: the tests check shapes, numeric agreement between code paths
and that reported metrics match their definitions, never which class wins.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from configs.base import ENV_PREFIX
from data.encoding import MetadataEncoder
from data.sites import SITES
from tests.helpers import tiny_encoder, write_csv, write_ham10000, write_image, write_tiny_bundle

BACKBONE = "tf_efficientnet_lite0"
THRESHOLDS = {"sensitivity_target": 0.3, "closest_to_corner": 0.5}
N_LESIONS = 12  # 2 images each; every 3rd lesion is a melanoma -> 8 of 24
HAM_SITES = ["back", "trunk", "face", "lower extremity", "unknown", "acral"]
ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV as dicts of strings."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def ham_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HAM10000 layout: metadata CSV + images/, lesion-grouped, some metadata missing."""
    return write_ham10000(tmp_path_factory.mktemp("ham"), N_LESIONS, 0, lambda lesion, k: {
        "dx": "mel" if lesion % 3 == 0 else ("nv", "bkl")[k],
        "age": "" if lesion % 5 == 3 else str(30 + 5 * (lesion % 10)),
        "sex": ["male", "female", "unknown"][(lesion + k) % 3],
        "localization": HAM_SITES[(lesion + k) % len(HAM_SITES)]})


@pytest.fixture()
def ham_dataset(ham_source: Path, tmp_path: Path) -> Path:
    """A private copy of the HAM10000 dataset that a test may break."""
    return Path(shutil.copytree(ham_source, tmp_path / "ham"))


@pytest.fixture(scope="session")
def isic2018_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ISIC 2018 Task 3 layout: one-hot ground truth CSV + <name>_Input/ images, no metadata."""
    root = tmp_path_factory.mktemp("isic2018")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(20):
        cls = ISIC2018_CLASSES[0] if i % 4 == 0 else ISIC2018_CLASSES[1 + i % 6]
        name = f"ISIC_{24300 + i:07d}"
        write_image(root / "ISIC2018_Task3_Training_Input" / f"{name}.jpg", rng, cls == "MEL")
        rows.append({"image": name, **{c: "1.0" if c == cls else "0.0" for c in ISIC2018_CLASSES}})
    write_csv(root / "ISIC2018_Task3_Training_GroundTruth.csv", rows)
    return root


EVAL_FITTED_SITES = ("head/neck", "posterior torso", "unknown", "lower extremity")


def fitted_encoder(sites: tuple[str, ...] = SITES) -> MetadataEncoder:
    """An encoder fitted on a tiny table."""
    return tiny_encoder(sites, EVAL_FITTED_SITES)


def build_bundle(out: Path, *, seed: int = 0, size: int = 64, metadata: bool = True,
                 sites: tuple[str, ...] = SITES, thresholds: dict[str, float] | None = None,
                 training_data: dict[str, Any] | None = None, name: str = "tiny",
                 classes: tuple[str, ...] = ()) -> Path:
    """Save a tiny random-weight bundle whose probabilities spread over (0, 1).

    `seed`: different seeds -> different members; `sites`: the encoder's site vocabulary;
    `thresholds`: stored thresholds (default THRESHOLDS); `training_data`: the bundle's
    training-data summary; `classes`: a diagnosis model's classes (default: melanoma).
    """
    with one_thread():
        return write_tiny_bundle(out, backbone=BACKBONE, size=size, seed=seed,
                                 metadata=metadata, classes=classes, weights="centred",
                                 encoder=fitted_encoder(sites),
                                 thresholds=thresholds or THRESHOLDS, name=name,
                                 data_summary=training_data or {})


@pytest.fixture(scope="session")
def bundle64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 px bundle with metadata."""
    return build_bundle(tmp_path_factory.mktemp("b64") / "bundle", seed=0, size=64, name="b64")


@pytest.fixture(scope="session")
def bundle_pair(tmp_path_factory: pytest.TempPathFactory, bundle64: Path) -> Path:
    """A folder of two run folders, each holding a bundle (64 px + metadata, 48 px image-only).

    The layout of a folder of training runs: RUNS/<run>/bundle/bundle.json.
    """
    root = tmp_path_factory.mktemp("runs")
    shutil.copytree(bundle64, root / "fold0" / "bundle")
    build_bundle(root / "fold1" / "bundle", seed=5, size=48, metadata=False, name="b48",
                 thresholds={"sensitivity_target": 0.4, "closest_to_corner": 0.6})
    return root


@pytest.fixture()
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Factory for a one-off bundle in the test's tmp_path (see build_bundle)."""
    counter = iter(range(1000))

    def make(**kwargs: Any) -> Path:
        return build_bundle(tmp_path / f"bundle{next(counter)}", **kwargs)

    return make


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One torch intra-op thread inside the block, restored after.

    For these tiny inputs threads cost more than they gain, and on a busy 2-core machine
    OpenMP barriers made 2 threads up to 20x slower than 1.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Every eval test (and module-scoped fixture) runs with one torch thread."""
    with one_thread():
        yield


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MELANOMA_* variables from the outer environment reach the settings."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
