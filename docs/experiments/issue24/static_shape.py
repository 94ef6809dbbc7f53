"""Issue 24, session 12: does OpenVINO run the engine's graph faster compiled for a static batch?

The engine exports its ONNX graph with a dynamic batch dimension and OpenVINO compiles it once
for every batch size. The full analysis always runs 8 views (and a single prediction without
TTA 1), so a graph reshaped to [8, 3, S, S] (or [1, ...]) before compiling could let the CPU
plugin pick its kernels and memory plan ahead. This times both on one bundle, alternating the
two compiled models in rounds, and checks that their outputs agree.

    PYTHONPATH=. python docs/experiments/issue24/static_shape.py --bundle models/default \
        --precision bf16 --reps 200 [--batches 16 32]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from models.bundle.io import load_bundle
from models.inference.backends import LayerTap, export_onnx, openvino_core
from models.inference.runtime import cpu_flags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="models/default")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 1],
                    help="batch sizes to compare (the app's 8 and 1; evaluation's 16 and 32)")
    a = ap.parse_args()

    b = load_bundle(a.bundle)
    size, meta_dim = b.preprocessing.size, b.config.meta_dim if b.model.uses_metadata else 0
    layers = list(b.model.cam_layer_names())
    onnx = export_onnx(LayerTap(b.model, layers).eval(), size, meta_dim)
    core = openvino_core()
    path = Path(tempfile.mkdtemp()) / "engine.onnx"
    path.write_bytes(onnx)
    cfg = {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY",
           "INFERENCE_PRECISION_HINT": "bf16" if a.precision == "bf16" else "f32"}
    rng = np.random.default_rng(0)
    print(f"bundle {b.bundle_id}, {a.precision}, {a.threads} threads, CPU flags: "
          f"{' '.join(f for f in ('avx512_bf16', 'amx_bf16') if f in cpu_flags())}")
    for batch in a.batches:
        x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        feeds = {"image": x}
        if meta_dim:
            feeds["meta"] = rng.standard_normal((batch, meta_dim)).astype(np.float32)
        compiled = {}
        for kind in ("dynamic", "static"):
            model = core.read_model(str(path))
            if kind == "static":
                model.reshape({name: list(v.shape) for name, v in feeds.items()})
            compiled[kind] = core.compile_model(model, "CPU", cfg).create_infer_request()
        outs = {k: r.infer(feeds) for k, r in compiled.items()}
        diff = max(float(np.max(np.abs(np.asarray(outs["dynamic"][i]) - np.asarray(outs["static"][i]))))
                   for i in range(len(outs["dynamic"])))
        times: dict[str, list[float]] = {"dynamic": [], "static": []}
        for r in range(a.rounds):
            order = ("dynamic", "static") if r % 2 == 0 else ("static", "dynamic")
            for kind in order:
                req = compiled[kind]
                for _ in range(10):
                    req.infer(feeds)
                for _ in range(a.reps // a.rounds):
                    t0 = time.perf_counter()
                    req.infer(feeds)
                    times[kind].append((time.perf_counter() - t0) * 1000)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"batch {batch}: dynamic p50 {med['dynamic']:.2f} ms, static p50 "
              f"{med['static']:.2f} ms, static/dynamic {med['static'] / med['dynamic']:.3f}; "
              f"max |output difference| {diff:.2g}")


if __name__ == "__main__":
    main()
