"""The patient view (`/patient`): several lesions of one person scored and compared, on the
real server through gradio_client."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app.patient import patient_markdown
from tests.app.conftest import LiveServer


@pytest.fixture(scope="module")
def lesions(test_image: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three different images: the test image, a mirrored copy and a darker copy."""
    folder = tmp_path_factory.mktemp("patient")
    img = Image.open(test_image).convert("RGB")
    paths = [Path(shutil.copyfile(test_image, folder / "a.jpg"))]
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.jpg")
    Image.fromarray((np.asarray(img) * 0.6).astype(np.uint8)).save(folder / "c.jpg")
    return [*paths, folder / "b.jpg", folder / "c.jpg"]


def test_patient_view_scores_and_compares_lesions(live_server: LiveServer,
                                                   lesions: list[Path]) -> None:
    client = Client(live_server.url, verbose=False, download_files=False)
    result, table = client.predict([handle_file(str(p)) for p in lesions], 55, "female",
                                   api_name="/patient")
    rows = result["lesions"]
    assert [r["lesion"] for r in rows] == ["lesion 1", "lesion 2", "lesion 3"]
    probs = np.array([r["decision_probability"] for r in rows])
    assert np.all((probs >= 0) & (probs <= 1))
    for r in rows:
        assert r["decision"] == ("above threshold" if r["decision_probability"] >= r["threshold"]
                                 else "below threshold")
    # z-scores within the patient: by hand from the three probabilities.
    z = (probs - probs.mean()) / probs.std() if probs.std() > 0 else np.zeros(3)
    np.testing.assert_allclose([r["unusualness_z"] for r in rows], z, atol=1e-6)
    assert all(r["distance_from_other_lesions"] >= 0 for r in rows)
    assert result["second_stage"] is False
    assert "### Patient view" in table and len(re.findall(r"\| lesion \d", table)) == 3
    # The uploads are gone once read.
    assert not any(live_server.private_dir.rglob("c.jpg"))


def test_one_image_is_not_a_patient_view(live_server: LiveServer, lesions: list[Path]) -> None:
    client = Client(live_server.url, verbose=False, download_files=False)
    with pytest.raises(AppError, match="upload 2 to 20 images"):
        client.predict([handle_file(str(lesions[0]))], 55, "female", api_name="/patient")


def test_markdown_puts_the_most_unusual_lesion_first() -> None:
    rows = [{"lesion": "lesion 1", "decision_probability": 0.1, "decision": "below threshold",
             "unusualness_z": -1.0, "distance_from_other_lesions": 1.0},
            {"lesion": "lesion 2", "decision_probability": 0.9, "decision": "above threshold",
             "unusualness_z": 1.0, "distance_from_other_lesions": 2.5, "second_stage": 0.8}]
    text = patient_markdown({"lesions": rows, "second_stage": True})
    assert text.index("lesion 2") < text.index("lesion 1")
    assert "| lesion 2 | 0.900 | **above** | +1.00 | 2.50 | 0.800 |" in text
