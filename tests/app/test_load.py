"""Load and overload tests against a live `python -m app` (real gradio_client users, threads).

Load: 16 concurrent users for 60 s, then 32 for 60 s, each sending one of the same 40 real
HAM10000 images (generated ones without the data) with random metadata, 1 request in 4 with an
invalid age. Asserted: every valid request succeeds, every invalid one gets its own readable
error and nothing else fails (the same bytes from several users at once included, issue 26),
the server's RSS stays within 50 MB of its warmed-up value at each level, it is healthy after,
and no upload is left on its disk. Latency p50/p95 and RSS are printed for the record, never
asserted on.

Overload: past the queue limit (`--max-queue`), a user gets Gradio's "Queue is full! Please try
again." at once, never a hang, and the server stays healthy.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
from gradio_client import Client, handle_file
from gradio_client.client import Job
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, Status
from PIL import Image

from tests.app.conftest import HAM_DIR, REPO_ROOT, start_server

pytestmark = pytest.mark.slow

LEVELS = ((16, 60.0), (32, 60.0))  # (users, seconds)
WARMUP_S = 10.0
RSS_GROWTH_LIMIT_MB = 50.0
N_IMAGES = 40
INVALID_EVERY = 4
INVALID_AGE = 300
INVALID_REASON = "age: 300 is out of range"
QUEUE_SIZE = 2
N_OVERLOAD = 6
HOOKS_DIR = Path(__file__).parent / "hooks"
SEXES = ("male", "female", "unknown")
SITES = ("posterior torso", "lower extremity", "head/neck", "unknown")


def _images(folder: Path, test_image: Path) -> list[Path]:
    """The same 40 files for every user: real images, or variants of the test image."""
    folder.mkdir(parents=True, exist_ok=True)
    real = sorted((HAM_DIR / "images").glob("*.jpg"))[:N_IMAGES]
    if len(real) == N_IMAGES:
        return [Path(shutil.copyfile(p, folder / p.name)) for p in real]
    base = np.asarray(Image.open(test_image).convert("RGB"))
    paths = []
    for i in range(N_IMAGES):
        path = folder / f"generated-{i:02d}.jpg"
        Image.fromarray(np.roll(base, 7 * i, axis=1)).save(path, quality=90)
        paths.append(path)
    return paths


class Level:
    """One load level's counts, latencies and memory samples (shared by its user threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.invalid_refused = 0
        self.unexpected: list[str] = []

    def user(self, url: str, images: list[Path], seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        try:
            client = Client(url, verbose=False, download_files=False)
        except Exception as err:  # noqa: BLE001 (every failure is counted)
            with self.lock:
                self.unexpected.append(f"connect: {type(err).__name__}: {err}")
            return
        n = 0
        while time.monotonic() < deadline:
            n += 1
            invalid = (n + seed) % INVALID_EVERY == 0
            age = INVALID_AGE if invalid else rng.randint(18, 90)
            args = (handle_file(str(rng.choice(images))), age, rng.choice(SEXES),
                    rng.choice(SITES))
            t0 = time.monotonic()
            try:
                result = client.predict(*args, api_name="/analyze")[0]
            except AppError as err:
                with self.lock:
                    if invalid and INVALID_REASON in str(err):
                        self.invalid_refused += 1
                    else:
                        self.unexpected.append(f"age {age}: {err}")
                continue
            except Exception as err:  # noqa: BLE001
                with self.lock:
                    self.unexpected.append(f"age {age}: {type(err).__name__}: {err}")
                continue
            with self.lock:
                if invalid:
                    self.unexpected.append(f"age {INVALID_AGE} was accepted")
                elif not 0.0 <= result["probability"] <= 1.0:
                    self.unexpected.append(f"probability {result['probability']}")
                else:
                    self.latencies.append(time.monotonic() - t0)


def test_sixteen_then_thirty_two_users(tiny_bundle: Path, engine_cache_dir: Path,
                                       test_image: Path, tmp_path: Path) -> None:
    # Short output TTL so the sweeper also runs under load; a queue deep enough for 32 users.
    server = start_server(tiny_bundle, tmp_path / "server", "--engine-cache-dir",
                          str(engine_cache_dir), "--output-ttl-s", "10", "--max-queue", "64")
    mb = 1024 * 1024
    try:
        process = psutil.Process(server.proc.pid)
        protected = {p for p in server.private_dir.rglob("*") if p.is_file()}
        images = _images(tmp_path / "images", test_image)
        for users, seconds in LEVELS:
            level = Level()
            start = time.monotonic()
            deadline = start + seconds
            threads = [threading.Thread(target=level.user, daemon=True,
                                        args=(server.url, images, seed, deadline))
                       for seed in range(users)]
            for thread in threads:
                thread.start()
            time.sleep(WARMUP_S)
            rss_warm = process.memory_info().rss
            peak = rss_warm
            while time.monotonic() < deadline:
                time.sleep(1.0)
                peak = max(peak, process.memory_info().rss)
            for thread in threads:
                thread.join(timeout=180.0)  # bounded: requests in flight at the deadline finish
            assert not any(t.is_alive() for t in threads), "users did not finish"
            rss_end = process.memory_info().rss
            lat = sorted(level.latencies)
            p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
            print(f"\nload {users} users x {seconds:.0f} s: {len(lat)} analyses, "
                  f"{level.invalid_refused} invalid refused, p50 "
                  f"{statistics.median(lat) * 1000 if lat else float('nan'):.0f} ms, p95 "
                  f"{p95 * 1000:.0f} ms; RSS warm {rss_warm / mb:.0f} MB, peak "
                  f"{peak / mb:.0f} MB, end {rss_end / mb:.0f} MB")
            assert level.unexpected == [], level.unexpected[:5]
            assert len(lat) >= users and level.invalid_refused >= 1
            assert (rss_end - rss_warm) / mb <= RSS_GROWTH_LIMIT_MB, (rss_warm, rss_end)
            assert httpx.get(f"{server.url}/healthz", timeout=10).json()["status"] == "ok"

        # Nothing uploaded stays: only examples and recent overlays (swept after 10 s).
        uploaded = {p.read_bytes() for p in images}
        leftovers = {p for p in server.private_dir.rglob("*") if p.is_file()} - protected
        assert all(p.name == "image.jpeg" for p in leftovers), sorted(leftovers)[:5]
        assert not any(p.read_bytes() in uploaded for p in leftovers)
        time.sleep(15.0)  # > TTL + one sweep interval: the overlays are gone too
        leftovers = {p for p in server.private_dir.rglob("*") if p.is_file()} - protected
        assert leftovers == set()
    finally:
        server.stop()


def test_past_the_queue_limit_users_are_told_to_try_again(tiny_bundle: Path,
                                                         engine_cache_dir: Path,
                                                         test_image: Path,
                                                         tmp_path: Path) -> None:
    """One analysis slot, a queue of 2: while a patient view holds the slot, six more users
    arrive; two wait their turn and are served, the other four get "Queue is full" at once
    (none hangs), and the server stays healthy and serves the next user.

    The patient view is held by a test hook (tests/app/hooks) until the six have their answer
    or their place in the queue, so the outcome does not depend on how fast the machine is.
    """
    hold = tmp_path / "hold"
    hold.touch()
    server = start_server(tiny_bundle, tmp_path / "server", "--engine-cache-dir",
                          str(engine_cache_dir), "--max-queue", str(QUEUE_SIZE),
                          "--max-concurrency", "1",
                          env={"TEST_HOLD_FILE": str(hold),
                               "PYTHONPATH": os.pathsep.join([str(HOOKS_DIR), str(REPO_ROOT)])})
    try:
        lesions = []
        for i in range(2):
            path = tmp_path / f"lesion-{i:02d}.jpg"
            path.write_bytes(test_image.read_bytes() + bytes([i]))  # different files
            lesions.append(path)
        holder = Client(server.url, verbose=False, download_files=False)
        long_job = holder.submit([handle_file(str(p)) for p in lesions], 50, "male", "",
                                 api_name="/patient")
        _wait_for(lambda: long_job.done() or long_job.status().code == Status.PROCESSING,
                  long_job)
        assert not long_job.done(), long_job.status()
        jobs = [Client(server.url, verbose=False, download_files=False).submit(
            handle_file(str(test_image)), 50, "male", "unknown", api_name="/analyze")
            for _ in range(N_OVERLOAD)]
        turned_away = N_OVERLOAD - QUEUE_SIZE
        _wait_for(lambda: sum(job.done() for job in jobs) >= turned_away, jobs)
        early = [_outcome(job) for job in jobs if job.done()]
        assert early == ["queue full"] * turned_away, early
        assert not long_job.done(), "the hold did not hold the analysis slot"
        hold.unlink()
        outcomes = [_outcome(job) for job in jobs]
        assert _outcome(long_job) == "served"
        print(f"\noverload: {outcomes}")
        assert sorted(outcomes) == ["queue full"] * turned_away + ["served"] * QUEUE_SIZE
        assert httpx.get(f"{server.url}/healthz", timeout=10).json()["status"] == "ok"
        again = holder.predict(handle_file(str(test_image)), 50, "male", "unknown",
                               api_name="/analyze")[0]
        assert 0.0 <= again["probability"] <= 1.0
    finally:
        hold.unlink(missing_ok=True)
        server.stop()


def _wait_for(condition: Callable[[], bool], what: object, timeout: float = 120.0) -> None:
    """Poll until condition() holds; fail with `what` after timeout seconds (never a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


def _outcome(job: Job) -> str:
    """"served", "queue full", or what else happened (bounded wait: never a hang)."""
    try:
        job.result(timeout=180.0)
    except QueueError as err:
        return "queue full" if "Queue is full" in str(err) else f"QueueError: {err}"
    except Exception as err:  # noqa: BLE001
        text = f"{type(err).__name__}: {err}"
        return "queue full" if "Queue is full" in text else text
    return "served"
