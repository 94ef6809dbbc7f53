"""Load test: 8 concurrent gradio_client clients for ~30 s against a live `python -m app`.

Asserts zero errors, that the server's memory stays flat (RSS after warm-up vs at the end,
generous +25% bound), that it is still healthy, and that no upload is left on its disk. Numbers
(requests, latency percentiles, RSS) are printed for the record, never asserted on.
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from gradio_client import Client, handle_file

from tests.app.conftest import start_server

pytestmark = pytest.mark.slow

CLIENTS = 8
DURATION_S = 30.0
WARMUP_S = 8.0
RSS_GROWTH_LIMIT = 1.25
METADATA = (55, "male", "posterior torso")


def test_eight_clients_for_thirty_seconds(tiny_bundle: Path, engine_cache_dir: Path,
                                          test_image: Path, tmp_path: Path) -> None:
    # Short output TTL so the sweeper also runs under load.
    server = start_server(tiny_bundle, tmp_path / "server", "--engine-cache-dir",
                          str(engine_cache_dir), "--output-ttl-s", "10", "--max-queue", "16")
    try:
        process = psutil.Process(server.proc.pid)
        protected = {p for p in server.private_dir.rglob("*") if p.is_file()}
        # One file per client: different people upload different files.
        images = []
        for i in range(CLIENTS):
            path = tmp_path / f"client{i}-{test_image.name}"
            shutil.copyfile(test_image, path)
            images.append(path)

        errors: list[str] = []
        latencies: list[float] = []
        lock = threading.Lock()
        start = time.monotonic()
        deadline = start + DURATION_S

        def worker(image: Path) -> None:
            try:
                client = Client(server.url, verbose=False, download_files=False)
            except Exception as err:  # noqa: BLE001 (every failure is counted)
                with lock:
                    errors.append(f"connect: {type(err).__name__}: {err}")
                return
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    result = client.predict(handle_file(str(image)), *METADATA,
                                            api_name="/analyze")[0]
                    assert 0.0 <= result["probability"] <= 1.0
                except Exception as err:  # noqa: BLE001
                    with lock:
                        errors.append(f"{type(err).__name__}: {err}")
                    continue
                with lock:
                    latencies.append(time.monotonic() - t0)

        threads = [threading.Thread(target=worker, args=(img,), daemon=True) for img in images]
        for thread in threads:
            thread.start()
        time.sleep(WARMUP_S)
        rss_warm = process.memory_info().rss
        samples = [rss_warm]
        while time.monotonic() < deadline:
            time.sleep(1.0)
            samples.append(process.memory_info().rss)
        for thread in threads:
            thread.join(timeout=120.0)  # bounded: a request in flight at the deadline finishes
        assert not any(t.is_alive() for t in threads), "clients did not finish"
        rss_end = process.memory_info().rss

        mb = 1024 * 1024
        print(f"\nload: {len(latencies)} analyses by {CLIENTS} clients in "
              f"{time.monotonic() - start:.1f} s; latency p50 "
              f"{statistics.median(latencies) * 1000:.0f} ms, max "
              f"{max(latencies) * 1000:.0f} ms; RSS warm {rss_warm / mb:.0f} MB, peak "
              f"{max(samples) / mb:.0f} MB, end {rss_end / mb:.0f} MB")
        assert errors == []
        assert len(latencies) >= CLIENTS
        assert rss_end <= rss_warm * RSS_GROWTH_LIMIT, (rss_warm, rss_end)
        assert httpx.get(f"{server.url}/healthz", timeout=10).json()["status"] == "ok"

        # Nothing uploaded stays: only examples and recent overlays (swept after 10 s).
        uploaded = test_image.read_bytes()
        leftovers = {p for p in server.private_dir.rglob("*") if p.is_file()} - protected
        assert all(p.name == "image.jpeg" for p in leftovers), sorted(leftovers)[:5]
        assert not any(p.read_bytes() == uploaded for p in leftovers)
        time.sleep(15.0)  # > TTL + one sweep interval: the overlays are gone too
        leftovers = {p for p in server.private_dir.rglob("*") if p.is_file()} - protected
        assert leftovers == set()
    finally:
        server.stop()
