"""Fixtures for training tests: tiny generated datasets in HAM10000 and ISIC 2020 layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_csv, write_ham10000, write_image

N_LESIONS = 24  # 2 images each; every 4th lesion is a melanoma
HAM_SITES = ["back", "trunk", "face", "lower extremity", "unknown", "acral"]
ISIC2020_SITES = ["torso", "head/neck", "upper extremity", "", "palms/soles"]


@pytest.fixture(scope="session")
def ham_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HAM10000 layout: metadata CSV + images/, lesion-grouped, with missing metadata."""
    return write_ham10000(tmp_path_factory.mktemp("ham"), N_LESIONS, 0, lambda lesion, k: {
        "dx": "mel" if lesion % 4 == 0 else "nv",
        "age": "" if lesion % 7 == 3 else str(30 + 5 * (lesion % 10)),
        "sex": ["male", "female", "unknown"][lesion % 3],
        "localization": HAM_SITES[lesion % len(HAM_SITES)]})


@pytest.fixture(scope="session")
def isic2020_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ISIC 2020 layout: train.csv + jpeg/train/, patient-grouped."""
    root = tmp_path_factory.mktemp("isic2020")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(N_LESIONS * 2):
        mel = i % 5 == 0
        name = f"ISIC_{9000000 + i}"
        write_image(root / "jpeg" / "train" / f"{name}.jpg", rng, mel)
        rows.append({"image_name": name, "patient_id": f"IP_{i // 3:05d}",
                     "sex": ["male", "female", ""][i % 3],
                     "age_approx": "" if i % 11 == 0 else str(20 + 5 * (i % 12)),
                     "anatom_site_general_challenge": ISIC2020_SITES[i % len(ISIC2020_SITES)],
                     "diagnosis": "melanoma" if mel else "nevus",
                     "benign_malignant": "malignant" if mel else "benign",
                     "target": int(mel)})
    write_csv(root / "train.csv", rows)
    return root


DX_CYCLE = ["mel", "nv", "bcc", "bkl"]  # HAM10000 codes: MEL, NV, BCC, BKL


@pytest.fixture(scope="session")
def ham_dx_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HAM10000 layout with four diagnoses (8 lesions each, 2 images per lesion), for
    diagnosis (multi-class) training."""
    return write_ham10000(tmp_path_factory.mktemp("ham-dx"), 32, 2, lambda lesion, k: {
        "dx": DX_CYCLE[lesion % 4], "age": str(30 + 5 * (lesion % 10)),
        "sex": ["male", "female"][lesion % 2],
        "localization": HAM_SITES[lesion % len(HAM_SITES)]})
