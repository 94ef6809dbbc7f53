"""The app serving a second stage (`--stack`): the trees' score next to the CNN's, on a real
server called through gradio_client; a stack of another bundle is refused at start-up."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file

from models.inference.engine import Engine
from models.second_stage.stack import load_stack, score_view
from tests.app.conftest import LiveServer, build_tiny_bundle, start_server
from tests.helpers import write_csv, write_image
from training import embed, stack

N_IMAGES = 40


@pytest.fixture(scope="module")
def stack_dir(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM second stage trained on the tiny bundle's embeddings of generated images."""
    root = tmp_path_factory.mktemp("second-stage")
    rng = np.random.default_rng(3)
    rows = []
    for i in range(N_IMAGES):
        mel = i % 4 == 0
        write_image(root / "data" / "images" / f"ISIC_{i:07d}.jpg", rng, mel)
        rows.append({"lesion_id": f"HAM_{i // 2:07d}", "image_id": f"ISIC_{i:07d}",
                     "dx": "mel" if mel else "nv", "dx_type": "histo", "age": str(30 + i),
                     "sex": ("male", "female")[i % 2], "localization": "back"})
    write_csv(root / "data" / "HAM10000_metadata.csv", rows)
    emb = root / "emb.parquet"
    assert embed.main(["--bundle", str(tiny_bundle), "--data-dir", str(root / "data"),
                       "--unseen", "--out", str(emb), "--no-progress"]) == 0
    out = root / "stack"
    assert stack.main(["--embeddings", str(emb), "--out", str(out), "--n-folds", "3",
                       "--embedding-dims", "2", "--n-estimators", "40",
                       "--early-stopping-rounds", "10", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def stack_server(tiny_bundle: Path, stack_dir: Path, engine_cache_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tiny_bundle, tmp_path_factory.mktemp("stack-server"),
                          "--engine-cache-dir", str(engine_cache_dir), "--stack", str(stack_dir))
    try:
        yield server
    finally:
        server.stop()


def test_analyze_returns_the_trees_score(stack_server: LiveServer, tiny_bundle: Path,
                                         stack_dir: Path, test_image: Path) -> None:
    client = Client(stack_server.url, verbose=False, download_files=False)
    result = client.predict(handle_file(str(test_image)), 61, "female", "posterior torso",
                            api_name="/analyze")[0]
    second = result["second_stage"]
    assert second["libraries"] == ["lightgbm", "tabular-lightgbm"]
    assert second["patient_context"] is False
    assert set(second["weights"]) == {"cnn", "lightgbm", "tabular-lightgbm"}
    assert 0.0 <= second["score"] <= 1.0
    # The same number in-process, from the engine's model view of the same upload.
    engine = Engine.from_path(tiny_bundle, num_threads=1, backend="eager")
    analysis = engine.analyze(test_image, 61, "female", "posterior torso", cam=False)
    local = score_view(load_stack(stack_dir), engine.bundle, analysis.model_view,
                       analysis.metadata)
    assert second["score"] == pytest.approx(local["score"], abs=1e-5)
    assert second["cnn_probability"] == pytest.approx(local["cnn_probability"], abs=1e-5)
    health = httpx.get(f"{stack_server.url}/healthz", timeout=10).json()
    assert health["second_stage"]["libraries"] == ["lightgbm", "tabular-lightgbm"]


def test_a_stack_of_another_bundle_is_refused(stack_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    from app.__main__ import main

    other = build_tiny_bundle(tmp_path / "other", seed=7)
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with caplog.at_level(logging.ERROR):
            code = main(["--bundle", str(other), "--stack", str(stack_dir),
                         "--temp-dir", str(tmp_path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code != 0
    assert "cannot start" in caplog.text and "trained on embeddings of" in caplog.text


def test_a_two_stage_bundle_serves_its_trees(tiny_bundle: Path, stack_dir: Path,
                                             engine_cache_dir: Path, test_image: Path,
                                             tmp_path: Path) -> None:
    from models.second_stage.stack import write_two_stage

    two = write_two_stage(tiny_bundle, stack_dir, tmp_path / "two-stage")
    server = start_server(two, tmp_path / "server", "--engine-cache-dir", str(engine_cache_dir))
    try:
        client = Client(server.url, verbose=False, download_files=False)
        result = client.predict(handle_file(str(test_image)), 61, "female", "posterior torso",
                                api_name="/analyze")[0]
        health = httpx.get(f"{server.url}/healthz", timeout=10).json()
    finally:
        server.stop()
    assert result["second_stage"]["libraries"] == ["lightgbm", "tabular-lightgbm"]
    assert health["second_stage"]["libraries"] == ["lightgbm", "tabular-lightgbm"]
