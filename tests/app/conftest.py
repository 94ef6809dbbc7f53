"""Fixtures for the app tests: a tiny real bundle and a real `python -m app` server process.

The server is started exactly as a user starts it (`python -m app --bundle ... --port ...`) on
127.0.0.1 with a free port, and is talked to only over HTTP (gradio_client, httpx, a browser).
The tiny bundle has random weights (fine for tests: they check plumbing, numbers agreeing
between paths, and invariants, not which class wins).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HAM_DIR = SHARED_DATA / "ham10000"
# A HAM10000 image that is NOT one of app/examples (those are protected copies on the server).
HAM_TEST_IMAGE = "ISIC_0027419"
BACKBONE = "tf_efficientnet_lite0"
IMAGE_SIZE = 64
STARTUP_TIMEOUT_S = 240.0  # ONNX export + Gradio build on a busy 2-core machine
THRESHOLDS = {"sensitivity_target": 0.3, "closest_to_corner": 0.5}
# The tiny bundle's "validation set": at 0.3, 3 of 4 melanomas and 3 of 6 others are flagged
# (sensitivity 0.75, specificity 0.5, 60% flagged); sensitivity 1.0 needs threshold 0.2.
CURVE_LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
CURVE_SCORES = [0.9, 0.6, 0.35, 0.2, 0.7, 0.4, 0.3, 0.25, 0.1, 0.05]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DIAGNOSIS_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")


def build_tiny_bundle(out_dir: Path, seed: int = 0, classes: tuple[str, ...] = ()) -> Path:
    """Save a small random-weight bundle (tf_efficientnet_lite0, 64 px, metadata on, timm's
    initialisation) with a validation curve; `classes` makes it a diagnosis model."""
    from models.bundle.operating import OperatingCurve
    from tests.helpers import write_tiny_bundle

    return write_tiny_bundle(
        out_dir, backbone=BACKBONE, size=IMAGE_SIZE, seed=seed, classes=classes, weights="init",
        thresholds=THRESHOLDS, name="apptest",
        metrics={"validation": {"n": 10, "n_pos": 2, "auroc": 0.75, "pauc80": 0.1,
                                "min_tpr": 0.8}},
        data_summary={"format": "generated", "n_images": 10, "n_positive": 2},
        operating_curve=OperatingCurve.from_scores(CURVE_LABELS, CURVE_SCORES),
        extra={"license": "test weights, not for use", "intended_use": "tests only"})


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny bundle folder shared by all app tests."""
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "apptest")


@pytest.fixture(scope="session")
def engine_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX graph cache shared by the server processes and the in-test engine."""
    return tmp_path_factory.mktemp("engine-cache")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave CI artefacts (screenshots): $APP_TEST_ARTIFACTS or <repo>/artifacts."""
    folder = Path(os.environ.get("APP_TEST_ARTIFACTS", REPO_ROOT / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def test_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real HAM10000 image (copied under a unique name), or a generated one without data."""
    folder = tmp_path_factory.mktemp("images")
    name = f"patient-{uuid.uuid4().hex}.jpg"  # unique: the tests look for it on disk/in logs
    source = HAM_DIR / "images" / f"{HAM_TEST_IMAGE}.jpg"
    if source.is_file():
        shutil.copyfile(source, folder / name)
    else:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:150, 0:200]
        lesion = ((yy - 75) ** 2 + (xx - 100) ** 2) < 45 ** 2
        arr = np.full((150, 200, 3), (220, 180, 160), np.float32)
        arr[lesion] = (90, 55, 40)
        arr += rng.normal(0, 8, arr.shape)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(folder / name,
                                                                   quality=92)
    return folder / name


@dataclass
class LiveServer:
    """A running `python -m app` process."""

    proc: subprocess.Popen
    url: str
    port: int
    temp_parent: Path
    log_path: Path

    @property
    def private_dir(self) -> Path:
        """The server's private upload/output folder (the only child of temp_parent)."""
        children = [p for p in self.temp_parent.iterdir() if p.is_dir()]
        assert len(children) == 1, f"expected one private folder, found {children}"
        return children[0]

    def log_text(self) -> str:
        """Everything the server has written to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; kills it (and fails later asserts) if it does not stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def app_command(*args: str) -> list[str]:
    """The command line a user runs, with this interpreter."""
    return [sys.executable, "-m", "app", *args]


def server_env() -> dict[str, str]:
    """Environment for server subprocesses: no stray MELANOMA_* settings from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELANOMA_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("GRADIO_TEMP_DIR", None)
    return env


def start_server(bundle: Path, work_dir: Path, *extra: str,
                 timeout: float = STARTUP_TIMEOUT_S,
                 env: Mapping[str, str] | None = None) -> LiveServer:
    """Start `python -m app` on a free localhost port and wait until /healthz answers.

    Args:
        bundle: bundle folder to serve.
        work_dir: folder for the log file and the server's temp parent.
        extra: more CLI flags.
        timeout: seconds to wait for /healthz.
        env: extra environment variables for the server.

    Returns:
        The running server.
    """
    port = free_port()
    temp_parent = work_dir / "tmp"
    temp_parent.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "server.log"
    log_fh = open(log_path, "wb")  # noqa: SIM115 (kept open for the process's lifetime)
    proc = subprocess.Popen(
        app_command("--bundle", str(bundle), "--host", "127.0.0.1", "--port", str(port),
                    "--temp-dir", str(temp_parent), *extra),
        cwd=REPO_ROOT, env={**server_env(), **(env or {})}, stdout=log_fh, stderr=subprocess.STDOUT)
    server = LiveServer(proc, f"http://127.0.0.1:{port}", port, temp_parent, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"server did not answer /healthz in {timeout:.0f} s:\n"
                       f"{server.log_text()}")


@pytest.fixture(scope="session")
def live_server(tiny_bundle: Path, engine_cache_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module-independent live tests (started once per session)."""
    server = start_server(tiny_bundle, tmp_path_factory.mktemp("server"),
                          "--engine-cache-dir", str(engine_cache_dir))
    try:
        yield server
    finally:
        server.stop()
