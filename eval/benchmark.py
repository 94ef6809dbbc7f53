"""Benchmark: the naive analysis pipeline of earlier apps against `models.inference.engine.Engine`.

`python -m eval.benchmark [--bundle PATH | --random-bundle] [--images DIR] [--n N]` times, in
ONE process, on the same real images, interleaved image by image (so machine load hits both
alike):

  naive   preprocessing + one forward for the probability + the 8 TTA views scored one at a
          time + one pytorch-grad-cam `EigenCAM` object per CAM layer, each re-running the
          forward + grad-cam's `show_cam_on_image` overlays;
  engine  `Engine.analyze` (one batched forward for probability, 8-view TTA and all CAM
          layers) + `Analysis.overlays()`.

It prints p50/p90/mean of both, their ratio, the engine's stage breakdown and the single
prediction latency (`Engine.predict`, file in -> probability out). With `--server-url` it also
times a running app's `/analyze` over HTTP and gradio_client, and with `--browser` the
click-to-result a user waits for in a real browser (`eval.pipeline.browser_timing`). It runs
on tcmalloc when installed (configs/process.py; `MELANOMA_ALLOCATOR=system` to compare).

`--random-bundle` builds a random-init bundle in a temporary folder: for TIMING ONLY, its
probabilities mean nothing and it is deleted on exit.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from configs.benchmark import BenchmarkSettings
from configs.cli import Command
from configs.process import runtime_summary
from data.encoding import MetadataEncoder
from data.images import ImageError
from models.bundle.atomic import atomic_write_text
from models.bundle.io import Bundle, BundleError, load_bundle, save_bundle
from models.inference.engine import Engine
from models.inference.runtime import machine_info
from models.inference.tta import dihedral_views
from models.nn.fusion import FusionConfig, FusionNet
from models.nn.probabilities import logits_to_probability

log = logging.getLogger("eval.benchmark")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
RANDOM_NAME = "RANDOM-WEIGHTS-timing-only"


# -- inputs ------------------------------------------------------------------------------------

@contextmanager
def random_bundle(backbone: str, size: int) -> Iterator[Bundle]:
    """A random-init bundle in a temporary folder, for timing only (deleted on exit)."""
    from data.images import Preprocessing

    encoder = MetadataEncoder().fit(pd.DataFrame({"age": [30.0, 50.0, 70.0]}))
    torch.manual_seed(0)
    model = FusionNet(FusionConfig(backbone=backbone, meta_dim=encoder.dim)).eval()
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        save_bundle(tmp, model, preprocessing=Preprocessing(size=size), encoder=encoder,
                    thresholds={"sensitivity_target": 0.5, "closest_to_corner": 0.5},
                    name=RANDOM_NAME, extra={"warning": "random weights: timing only"})
        yield load_bundle(tmp)


def pick_images(folder: Path, n: int) -> list[tuple[Path, Any, Any, Any]]:
    """The first `n` images of `folder` (sorted) with their (age, sex, site) when known.

    Metadata comes from the dataset table in the folder's parent (`data.readers`), so the
    timed calls carry real metadata; without one, metadata is left missing.
    """
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)[:n]
    if not paths:
        raise SystemExit(f"no JPEG/PNG images in {folder}")
    meta: dict[str, tuple[Any, Any, Any]] = {}
    try:
        from data.readers import read_dataset

        table = read_dataset(folder.parent, images_dir=folder, on_error="skip")
        meta = {Path(r.image_path).name: (None if pd.isna(r.age) else float(r.age), r.sex,
                                          r.site) for r in table.itertuples()}
    except Exception as err:  # noqa: BLE001 (metadata is optional for timing)
        log.info("no dataset table next to %s (%s); timing with missing metadata", folder, err)
    return [(p, *meta.get(p.name, (None, None, None))) for p in paths]


# -- the naive pipeline ------------------------------------------------------------------------

class _GradCamAdapter(nn.Module):
    """What earlier apps pass to pytorch-grad-cam: image in, (N, 1) logits out."""

    def __init__(self, model: FusionNet, meta: torch.Tensor | None) -> None:
        super().__init__()
        self.model = model
        self.meta = meta

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        meta = None if self.meta is None else self.meta.expand(len(image), -1)
        return self.model(image, meta).unsqueeze(1)


def naive_analysis(bundle: Bundle, layer_names: list[str], source: Path, age: Any, sex: Any,
                   site: Any) -> dict[str, Any]:
    """The pipeline of earlier apps: per-view forwards and one EigenCAM object per layer.

    Uses the bundle's own preprocessing and encoder, so only the inference strategy differs.

    Returns:
        probability, per-view probabilities, grad-cam heatmaps and overlays.
    """
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image

    pre, model = bundle.preprocessing, bundle.model
    view = pre.model_view(pre.load(source))
    x = torch.from_numpy(pre.normalize(view))[None]
    meta = (torch.from_numpy(bundle.encoder.encode(age, sex, site))[None]
            if model.uses_metadata else None)
    with torch.no_grad():
        prob = float(logits_to_probability(model(x, meta))[0])
        tta = [float(logits_to_probability(model(v[None], meta))[0])
               for v in dihedral_views(x)]
    adapter = _GradCamAdapter(model, meta)
    modules = dict(model.named_modules())
    rgb = view.astype(np.float32) / 255.0
    heatmaps, overlays = [], []
    for name in layer_names:
        cam = EigenCAM(adapter, [modules[name]])
        try:
            heat = cam(input_tensor=x, targets=None)[0]
        finally:
            cam.activations_and_grads.release()
        heatmaps.append(heat)
        overlays.append(show_cam_on_image(rgb, heat, use_rgb=True))
    return {"probability": prob, "tta": tta, "heatmaps": heatmaps, "overlays": overlays}


# -- timing ------------------------------------------------------------------------------------

class _Clock:
    """Collects wall time and this process's CPU time per call, in milliseconds.

    On a busy machine the wall time includes waiting for a core; the process CPU time (all
    threads) does not, so with 1 thread it estimates the wall time on an idle core.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args)
        self.cpu.append((time.process_time() - cpu) * 1000.0)
        self.wall.append((time.perf_counter() - wall) * 1000.0)
        return result

    def summary(self) -> dict[str, Any]:
        """summary() of the wall times, plus the CPU-time p50."""
        return {**summary(self.wall), "cpu_p50": float(np.percentile(self.cpu, 50))}


def _ms(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000.0


def summary(times_ms: list[float]) -> dict[str, float]:
    """p50 (the median), p90, mean and n of a list of milliseconds."""
    arr = np.asarray(times_ms, dtype=np.float64)
    return {"n": int(arr.size), "p50": float(np.percentile(arr, 50)),
            "p90": float(np.percentile(arr, 90)), "mean": float(arr.mean())}


def run(settings: BenchmarkSettings, bundle: Bundle) -> dict[str, Any]:
    """Time both pipelines on the same images, interleaved; return all figures."""
    engine = Engine(bundle, num_threads=settings.num_threads, backend=settings.backend,
                    precision=settings.precision)
    info = machine_info()
    layers = engine.cam_layer_names
    images = pick_images(settings.images, settings.n)
    log.info("bundle %s (%s, %d px), backend %s (%s), %d images, CAM layers %s",
             engine.bundle_id, bundle.config.backbone, engine.size, engine.backend,
             engine.precision, len(images), layers)

    def engine_analysis(path: Path, age: Any, sex: Any, site: Any) -> Any:
        analysis = engine.analyze(path, age, sex, site)
        analysis.overlays()
        return analysis

    for path, age, sex, site in images[:settings.warmup]:
        naive_analysis(bundle, layers, path, age, sex, site)
        engine_analysis(path, age, sex, site)

    naive, eng, predict, model_only = _Clock(), _Clock(), _Clock(), _Clock()
    stages: dict[str, list[float]] = {}
    for i, (path, age, sex, site) in enumerate(images):
        # Alternate the order so neither pipeline always runs on a warmer cache.
        order = ("naive", "engine") if i % 2 == 0 else ("engine", "naive")
        for which in order:
            if which == "naive":
                naive(naive_analysis, bundle, layers, path, age, sex, site)
            else:
                analysis = eng(engine_analysis, path, age, sex, site)
                for key, value in analysis.timings_ms.items():
                    stages.setdefault(key, []).append(value)
    paired = [a / b for a, b in zip(naive.wall, eng.wall, strict=True)]

    for path, age, sex, site in images:
        prepared = engine.prepare(path, age, sex, site)
        x = prepared.image[None]
        meta = None if prepared.meta is None else prepared.meta[None]
        for _ in range(settings.predict_repeats):
            predict(engine.predict, path, age, sex, site)
            model_only(engine.predict_batch, x, meta)

    server = {}
    if settings.server_url:
        server = {"server_url": settings.server_url,
                  "server_ms": time_server(settings.server_url, images, settings.server_calls)}
        if settings.client_floor:
            server["server_ms"].update(gradio_client_floor(images[0][0],
                                                           settings.server_calls))
        if settings.browser:
            from eval.pipeline.browser_timing import click_to_result

            server["browser"] = click_to_result(settings.server_url, settings.browser_reps,
                                                settings.chromium_path)
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    naive_s, eng_s = naive.summary(), eng.summary()
    return {
        **server,
        "bundle": engine.bundle_id, "backbone": bundle.config.backbone, "size": engine.size,
        "random_weights": bundle.info.get("name") == RANDOM_NAME, "backend": engine.backend,
        "precision": engine.precision,
        "cam_layers": layers, "images": len(images), "machine": info,
        "naive_analysis_ms": naive_s, "engine_analysis_ms": eng_s,
        "ratio_p50": naive_s["p50"] / eng_s["p50"],
        "ratio_paired_median": float(statistics.median(paired)),
        "ratio_cpu_p50": naive_s["cpu_p50"] / eng_s["cpu_p50"],
        "engine_stages_p50_ms": {k: float(np.median(v)) for k, v in stages.items()},
        "predict_ms": predict.summary(), "predict_model_only_ms": model_only.summary(),
    }


def time_server(url: str, images: list[tuple[Path, Any, Any, Any]], calls: int) -> dict:
    """Round trips of the app's `/analyze` endpoint, and where their time goes.

    Interleaved per call: gradio_client as the README uses it (`download_files=False`),
    gradio_client downloading the overlay images (its default), and the raw HTTP API (upload,
    then `POST /gradio_api/call/analyze` and its event stream) with one kept-alive connection.
    The server's own engine time comes from each result's `timings_ms`.

    Args:
        url: the running app's URL.
        images: (path, age, sex, site) to send, cycled.
        calls: timed calls of each kind (after one untimed warm-up of each).

    Returns:
        summary() of each: ``client`` (README's client), ``client_download``, ``http_total``,
        ``http_upload``, ``http_call`` and ``engine_total`` (server-side model work).
    """
    import httpx
    from gradio_client import Client, handle_file

    quiet = Client(url, verbose=False, download_files=False)
    downloading = Client(url, verbose=False)
    api = url.rstrip("/") + "/gradio_api"
    times: dict[str, list[float]] = {k: [] for k in (
        "client", "client_download", "http_total", "http_upload", "http_call", "engine_total")}

    def via_client(client: Any, i: int) -> dict:
        path, age, sex, site = images[i % len(images)]
        return client.predict(handle_file(str(path)), age, sex or "unknown", site or "unknown",
                              api_name="/analyze")[0]

    def via_http(http: httpx.Client, i: int) -> tuple[float, float]:
        path, age, sex, site = images[i % len(images)]
        start = time.perf_counter()
        with open(path, "rb") as fh:
            uploaded = http.post(f"{api}/upload", files={"files": (path.name, fh)}).json()[0]
        mid = time.perf_counter()
        data = [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, age,
                sex or "unknown", site or "unknown"]
        data += [None] * (n_inputs - len(data))  # defaults (and the UI's session state)
        event = http.post(f"{api}/call/analyze", json={"data": data}).json()["event_id"]
        reply = http.get(f"{api}/call/analyze/{event}").text
        if "event: complete" not in reply:
            raise RuntimeError(f"/analyze over HTTP failed: {reply[:200]}")
        end = time.perf_counter()
        return (mid - start) * 1000.0, (end - mid) * 1000.0

    with httpx.Client(timeout=120.0) as http:
        config = http.get(url.rstrip("/") + "/config").json()
        n_inputs = next(len(d["inputs"]) for d in config["dependencies"]
                        if d.get("api_name") == "analyze")
        via_client(quiet, 0), via_client(downloading, 0), via_http(http, 0)
        for i in range(calls):
            start = time.perf_counter()
            result = via_client(quiet, i)
            times["client"].append((time.perf_counter() - start) * 1000.0)
            times["engine_total"].append(float(result["timings_ms"]["total"]))
            start = time.perf_counter()
            via_client(downloading, i)
            times["client_download"].append((time.perf_counter() - start) * 1000.0)
            upload, call = via_http(http, i)
            times["http_upload"].append(upload)
            times["http_call"].append(call)
            times["http_total"].append(upload + call)
    return {k: summary(v) for k, v in times.items()}


def gradio_client_floor(image: Path, calls: int) -> dict[str, dict[str, float]]:
    """gradio_client round trips to a trivial Gradio app in this process: the protocol floor.

    Args:
        image: a file for the upload variant.
        calls: timed calls of each kind.

    Returns:
        summary() of ``floor_echo`` (text in, text out) and ``floor_upload`` (a file upload
        to a handler that does nothing with it).
    """
    import gradio as gr
    from gradio_client import Client, handle_file

    with gr.Blocks() as demo:
        text, out = gr.Textbox(), gr.Textbox()
        picture = gr.Image(type="filepath")
        button = gr.Button()
        button.click(lambda x: x, text, out, api_name="echo")
        button.click(lambda _: "ok", picture, out, api_name="upload", preprocess=False)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, download_files=False)
        kinds = {"floor_echo": ("hi", "/echo"), "floor_upload": (None, "/upload")}
        out_times: dict[str, dict[str, float]] = {}
        for key, (arg, api_name) in kinds.items():
            def call(_: int, arg: Any = arg, api_name: str = api_name) -> None:
                client.predict(arg if arg is not None else handle_file(str(image)),
                               api_name=api_name)
            call(0)
            out_times[key] = summary([_ms(call, i) for i in range(calls)])
    finally:
        demo.close()
    return out_times


def print_report(r: dict[str, Any]) -> None:
    """The result table (stdout, as the CLI's output)."""
    m = r["machine"]
    print(f"\nbundle {r['bundle']} ({r['backbone']}, {r['size']} px)"
          + ("  [RANDOM WEIGHTS: timing only]" if r["random_weights"] else ""))
    print(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} "
          f"({m['torch_threads']} threads), tcmalloc {'on' if m['tcmalloc'] else 'OFF'}, "
          f"load avg {m['loadavg_start']} -> {m['loadavg_end']}")
    print(f"engine backend: {r['backend']} ({r.get('precision', 'fp32')}); "
          f"CAM layers: {', '.join(r['cam_layers'])}")
    print(f"\n{'pipeline':<48}{'n':>5}{'p50 ms':>10}{'p90 ms':>10}{'mean ms':>10}"
          f"{'CPU p50':>10}")
    rows = [("naive (grad-cam per layer, TTA 1 by 1)", r["naive_analysis_ms"]),
            ("engine.analyze + overlays", r["engine_analysis_ms"]),
            ("engine.predict (file -> probability)", r["predict_ms"]),
            ("  model only (preprocessed, bs 1)", r["predict_model_only_ms"])]
    if "server_ms" in r:
        names = {"client": "/analyze: gradio_client, download_files=False",
                 "client_download": "/analyze: gradio_client, downloading images",
                 "http_total": "/analyze: raw HTTP API (upload + call)",
                 "http_upload": "  of which upload",
                 "http_call": "  of which call + event stream",
                 "engine_total": "  server: engine.analyze inside it",
                 "floor_echo": "gradio_client floor: trivial echo, no model",
                 "floor_upload": "gradio_client floor: file upload, no model"}
        rows += [(label, r["server_ms"][key]) for key, label in names.items()
                 if key in r["server_ms"]]
    for name, s in rows:
        cpu = f"{s['cpu_p50']:>10.1f}" if "cpu_p50" in s else f"{'-':>10}"
        print(f"{name:<48}{s['n']:>5}{s['p50']:>10.1f}{s['p90']:>10.1f}{s['mean']:>10.1f}{cpu}")
    print(f"\nspeed-up naive/engine (full analysis): {r['ratio_p50']:.1f}x (ratio of wall p50s), "
          f"{r['ratio_paired_median']:.1f}x (median of per-image ratios), "
          f"{r['ratio_cpu_p50']:.1f}x (ratio of CPU-time p50s)")
    print("CPU p50 = this process's CPU time (all threads); with 1 thread it estimates the "
          "wall time on an idle core.")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in r["engine_stages_p50_ms"].items())
    print(f"engine stages p50 ms: {stages}")
    if "browser" in r:
        from eval.pipeline.browser_timing import print_browser_report

        print_browser_report(r["browser"])


def measure(settings: BenchmarkSettings) -> None:
    """Time the engine as asked and print (and optionally save) the figures."""
    log.info("runtime: %s", runtime_summary(torch.get_num_threads()))
    if settings.random_bundle:
        log.warning("--random-bundle: RANDOM WEIGHTS, for timing only")
        with random_bundle(settings.random_backbone, settings.random_size) as bundle:
            result = run(settings, bundle)
    else:
        result = run(settings, load_bundle(settings.bundle))
    print_report(result)
    if settings.json_out:
        atomic_write_text(settings.json_out, json.dumps(result, indent=2) + "\n")


COMMAND = Command(BenchmarkSettings, measure, bad_input=(BundleError, ImageError),
                  writes_to=lambda s: s.json_out)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
