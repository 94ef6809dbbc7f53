"""Fixtures for training tests: tiny generated datasets in HAM10000 and ISIC 2020 layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_csv, write_image

N_LESIONS = 24  # 2 images each; every 4th lesion is a melanoma
HAM_SITES = ["back", "trunk", "face", "lower extremity", "unknown", "acral"]
ISIC2020_SITES = ["torso", "head/neck", "upper extremity", "", "palms/soles"]


@pytest.fixture(scope="session")
def ham_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HAM10000 layout: metadata CSV + images/, lesion-grouped, with missing metadata."""
    root = tmp_path_factory.mktemp("ham")
    rng = np.random.default_rng(0)
    rows = []
    for lesion in range(N_LESIONS):
        mel = lesion % 4 == 0
        for k in range(2):
            image_id = f"ISIC_{lesion:04d}{k}"
            write_image(root / "images" / f"{image_id}.jpg", rng, mel)
            rows.append({"lesion_id": f"HAM_{lesion:07d}", "image_id": image_id,
                         "dx": "mel" if mel else "nv", "dx_type": "histo",
                         "age": "" if lesion % 7 == 3 else str(30 + 5 * (lesion % 10)),
                         "sex": ["male", "female", "unknown"][lesion % 3],
                         "localization": HAM_SITES[lesion % len(HAM_SITES)]})
    write_csv(root / "HAM10000_metadata.csv", rows)
    return root


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
    root = tmp_path_factory.mktemp("ham-dx")
    rng = np.random.default_rng(2)
    rows = []
    for lesion in range(32):
        dx = DX_CYCLE[lesion % 4]
        for k in range(2):
            image_id = f"ISIC_{lesion:04d}{k}"
            write_image(root / "images" / f"{image_id}.jpg", rng, dx == "mel")
            rows.append({"lesion_id": f"HAM_{lesion:07d}", "image_id": image_id, "dx": dx,
                         "dx_type": "histo", "age": str(30 + 5 * (lesion % 10)),
                         "sex": ["male", "female"][lesion % 2],
                         "localization": HAM_SITES[lesion % len(HAM_SITES)]})
    write_csv(root / "HAM10000_metadata.csv", rows)
    return root
