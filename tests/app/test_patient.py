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

from app.patient import patient_html, split_sites
from configs.app import AppSettings
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
                                   "back, chest, unknown", api_name="/patient")
    rows = result["lesions"]
    # Each lesion by its file name and site (HAM10000 words accepted, canonical names back).
    assert [r["lesion"] for r in rows] == ["a.jpg", "b.jpg", "c.jpg"]
    assert [r["image"] for r in rows] == [1, 2, 3]
    assert [r["site"] for r in rows] == ["posterior torso", "anterior torso", "unknown"]
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
    assert "<h3>Patient view</h3>" in table
    assert len(re.findall(r'<tr class="patient-lesion"><td>[abc]\.jpg</td>', table)) == 3
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', table)) == 3  # thumbnails
    # The uploads are gone once read.
    assert not any(live_server.private_dir.rglob("c.jpg"))


def test_one_image_is_not_a_patient_view(live_server: LiveServer, lesions: list[Path]) -> None:
    client = Client(live_server.url, verbose=False, download_files=False)
    with pytest.raises(AppError, match="upload 2 to 20 images"):
        client.predict([handle_file(str(lesions[0]))], 55, "female", api_name="/patient")


def test_sites_without_one_per_image_are_refused_before_scoring(
        live_server: LiveServer, lesions: list[Path]) -> None:
    client = Client(live_server.url, verbose=False, download_files=False)
    with pytest.raises(AppError, match=r"sites: 2 value\(s\) for 3 images"):
        client.predict([handle_file(str(p)) for p in lesions], 55, "female", "back, chest",
                       api_name="/patient")
    with pytest.raises(AppError, match=r"image 2 \(b.jpg\): .*site: 'elbow' is not a known"):
        client.predict([handle_file(str(p)) for p in lesions], 55, "female",
                       "back, elbow, chest", api_name="/patient")


@pytest.mark.parametrize(("text", "expected"), [
    (None, [None, None]), ("  ", [None, None]), ("back, ", ["back", None]),
    (["chest", "face"], ["chest", "face"])])
def test_split_sites(text, expected) -> None:
    assert split_sites(text, 2) == expected


def test_table_puts_the_most_unusual_lesion_first_and_escapes_names() -> None:
    rows = [{"image": 1, "lesion": "mole<1>.jpg", "site": "back",
             "decision_probability": 0.1, "decision": "below threshold",
             "unusualness_z": -1.0, "distance_from_other_lesions": 1.0},
            {"image": 2, "lesion": "arm.png", "site": "upper extremity",
             "decision_probability": 0.9, "decision": "above threshold",
             "unusualness_z": 1.0, "distance_from_other_lesions": 2.5, "second_stage": 0.8}]
    text = patient_html({"lesions": rows, "second_stage": True}, ["data:x", "data:y"])
    assert text.index("arm.png") < text.index("mole&lt;1&gt;.jpg")
    assert ('<tr class="patient-lesion"><td>arm.png</td><td><img src="data:y" alt="arm.png"'
            in text)
    assert ("<td>upper extremity</td><td>0.900</td><td><b>above</b></td><td>+1.00</td>"
            "<td>2.50</td><td>0.800</td></tr>") in text


def _jpeg_near_size(path: Path, side: int, low_mb: float, high_mb: float) -> float:
    """Write a ``side`` x ``side`` JPEG of between ``low_mb`` and ``high_mb`` MB; return its size.

    Smooth colour fields plus Gaussian noise; the noise level is found by bisection because
    how far JPEG compresses it is not something to guess (a fixed noise level meant to give
    ~19 MB gave 8.4 MB in CI)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = np.stack([180 + 40 * np.sin(6 * xx), 120 + 50 * yy, 100 + 30 * np.cos(5 * yy)], -1)
    del yy, xx
    unit_noise = rng.standard_normal((side, side, 3), dtype=np.float32)
    lo, hi, sizes = 0.0, 96.0, []
    for _ in range(12):
        sigma = (lo + hi) / 2
        pixels = np.clip(base + sigma * unit_noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=85)
        size_mb = path.stat().st_size / 2**20
        sizes.append((round(sigma, 2), round(size_mb, 2)))
        if low_mb < size_mb < high_mb:
            return size_mb
        lo, hi = (sigma, hi) if size_mb <= low_mb else (lo, sigma)
    raise AssertionError(f"no noise level gives a JPEG of {low_mb:.1f}-{high_mb:.1f} MB: {sizes}")


# Measured 2026-12-05: +330 MB for 20 x 16.4 MB JPEGs of 7000x7000 px (README "What survives
# what"); the bound leaves room for other allocators and libjpeg builds, not for a second copy
# of every decoded image (20 x 147 MB).
PEAK_GROWTH_LIMIT_MB = 800.0


@pytest.mark.slow
def test_twenty_images_at_the_size_limits_keep_memory_bounded(tiny_bundle: Path,
                                                              engine_cache_dir: Path,
                                                              tmp_path: Path) -> None:
    """Issue 26: the largest patient view (20 images, each just under the 20 MB upload limit
    and the 50-megapixel decode limit) in one request. Images are decoded one at a time, so
    the server's peak memory grows by about the uploads' bytes plus one decoded image."""
    import threading
    import time

    import psutil

    from data.images import DEFAULT_MAX_PIXELS
    from tests.app.conftest import start_server

    side = int((DEFAULT_MAX_PIXELS * 0.98) ** 0.5)
    limit_mb = AppSettings().max_upload_mb
    big = tmp_path / "big.jpg"
    size_mb = _jpeg_near_size(big, side, low_mb=0.7 * limit_mb, high_mb=0.98 * limit_mb)
    paths = []
    for i in range(20):  # 20 different files (a byte after the JPEG's end): 20 uploads
        path = tmp_path / f"lesion-{i:02d}.jpg"
        path.write_bytes(big.read_bytes() + bytes([i]))
        paths.append(path)

    server = start_server(tiny_bundle, tmp_path / "server", "--engine-cache-dir",
                          str(engine_cache_dir))
    try:
        process = psutil.Process(server.proc.pid)
        client = Client(server.url, verbose=False, download_files=False)
        client.predict(handle_file(str(paths[0])), 50, "male", "unknown",
                       api_name="/analyze")  # warm: the first large decode's buffers
        baseline = process.memory_info().rss
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(process.memory_info().rss)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result, _table = client.predict([handle_file(str(p)) for p in paths], 50, "male", "",
                                        api_name="/patient")
        done.set()
        sampler.join(timeout=5)
        growth_mb = (max(peak) - baseline) / 2**20
        print(f"\npatient view, 20 x {size_mb:.1f} MB ({side}x{side} px): server RSS "
              f"{baseline / 2**20:.0f} MB before, peak +{growth_mb:.0f} MB")
        assert len(result["lesions"]) == 20
        assert growth_mb <= PEAK_GROWTH_LIMIT_MB, growth_mb
    finally:
        server.stop()
