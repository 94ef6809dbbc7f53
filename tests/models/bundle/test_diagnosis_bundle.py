"""Regression test for the diagnosis bundle shipped next to the default (models/diagnosis).

Checks its task and classes, its SHA-256 against MODEL_CARD.md, and its class probabilities on
the committed real example images against recorded values. Regenerate the record only when a
new diagnosis bundle is shipped: `python -m tests.models.bundle.test_diagnosis_bundle --record`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from configs.base import REPO_ROOT
from models.bundle.io import load_bundle, sha256_file
from models.inference.engine import Engine

BUNDLE = REPO_ROOT / "models" / "diagnosis"
EXAMPLES = REPO_ROOT / "app" / "examples"
EXPECTED = Path(__file__).with_name("diagnosis_bundle_expected.json")
HAM_CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC"]


def example_differentials() -> dict[str, dict[str, float]]:
    """Class probabilities (identity view, eager) of each committed example."""
    engine = Engine(load_bundle(BUNDLE), num_threads=1, backend="eager")
    with open(EXAMPLES / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["image_id"]: engine.analyze(EXAMPLES / f"{r['image_id']}.jpg", r["age"], r["sex"],
                                          r["site"] or None, tta=False, cam=False).classes
            for r in rows}


def test_task_classes_and_checksum() -> None:
    bundle = load_bundle(BUNDLE)
    assert (bundle.task, list(bundle.classes)) == ("diagnosis", HAM_CLASSES)
    assert bundle.info["training_data"]["n_images"] == 10015
    digest = sha256_file(BUNDLE / "model.safetensors")
    assert digest == bundle.info["weights_sha256"]
    assert digest in (REPO_ROOT / "MODEL_CARD.md").read_text()


def test_example_differentials_match_record() -> None:
    expected = json.loads(EXPECTED.read_text())
    assert expected["bundle_id"] == load_bundle(BUNDLE).bundle_id
    actual = example_differentials()
    assert set(actual) == set(expected["differentials"])
    for image_id, classes in expected["differentials"].items():
        np.testing.assert_allclose([actual[image_id][c] for c in HAM_CLASSES],
                                   [classes[c] for c in HAM_CLASSES], atol=1e-4,
                                   err_msg=image_id)
        assert sum(classes.values()) == pytest.approx(1.0, abs=1e-5)


if __name__ == "__main__" and "--record" in sys.argv:
    record = {"bundle_id": load_bundle(BUNDLE).bundle_id, "differentials": example_differentials()}
    EXPECTED.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
