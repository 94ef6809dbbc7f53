"""Issue 24, INT8: calibrated static quantisation of the shipped default, against fp32 and bf16.

    python docs/experiments/issue24/int8.py --calib ../shared/data/ham10000 --eval /work/runs/sel/ham_f0

ONNX Runtime's `quantize_static` (QDQ, per-channel weights, MinMax calibration on
`--n-calib` HAM10000 images outside fold 0, the bundle's own preprocessing) writes an int8
model of the engine's graph (logits + CAM activations); OpenVINO compiles it (int8 kernels).
Printed: ms per view at batch 8 (median of 30 runs) for OpenVINO fp32, bf16 and int8, and the
single-view AUROC of each on `--eval` (the same images for all, so the AUROC differences are
paired). Adopt INT8 only if it is faster than bf16 and within the gate (AUROC within 0.002).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TBB_ENABLE_SANITIZERS", "1")  # see models/inference/backends.py

from configs.base import DEFAULT_BUNDLE_DIR
from data.readers import read_dataset
from eval.metrics.ranking import auroc
from models.bundle.io import load_bundle
from models.explain.cam import LayerTap
from models.inference.backends import export_onnx


def inputs(bundle, table, n: int | None = None):
    pre, enc = bundle.preprocessing, bundle.encoder
    rows = table if n is None else table.head(n)
    for r in rows.itertuples():
        x = pre.normalize(pre.model_view(pre.load(r.image_path)))[None].astype(np.float32)
        m = enc.encode(None if np.isnan(r.age) else r.age, r.sex, r.site)[None].astype(np.float32)
        yield x, m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE_DIR)
    ap.add_argument("--calib", type=Path, required=True, help="HAM10000 folder")
    ap.add_argument("--eval", type=Path, required=True, help="labelled set for the AUROC")
    ap.add_argument("--n-calib", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import openvino as ov
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    bundle = load_bundle(args.bundle)
    meta_dim = bundle.config.meta_dim
    tap = LayerTap(bundle.model.eval(), list(bundle.model.cam_layer_names()))
    evald = read_dataset(args.eval)
    held = set(evald.image_id)
    calib = read_dataset(args.calib)
    calib = calib[~calib.image_id.isin(held)].sample(args.n_calib, random_state=0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(inputs(bundle, calib))

        def get_next(self):
            nxt = next(self.it, None)
            return None if nxt is None else {"image": nxt[0], "meta": nxt[1]}

    tmp = Path(tempfile.mkdtemp(prefix="int8-"))
    fp32_path, pre_path, int8_path = tmp / "fp32.onnx", tmp / "pre.onnx", tmp / "int8.onnx"
    fp32_path.write_bytes(export_onnx(tap, bundle.preprocessing.size, meta_dim))
    quant_pre_process(str(fp32_path), str(pre_path), skip_symbolic_shape=True)
    t = time.perf_counter()
    quantize_static(str(pre_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    print(f"calibrated on {len(calib)} images in {time.perf_counter() - t:.0f} s")

    core = ov.Core()
    compiled = {}
    for name, path, hint in (("fp32", fp32_path, "f32"), ("bf16", fp32_path, "bf16"),
                             ("int8", int8_path, "bf16")):
        compiled[name] = core.compile_model(core.read_model(str(path)), "CPU", {
            "INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": hint})
    rng = np.random.default_rng(0)
    x8 = rng.normal(size=(8, 3, bundle.preprocessing.size, bundle.preprocessing.size)).astype(
        np.float32)
    m8 = rng.normal(size=(8, meta_dim)).astype(np.float32)
    print(f"{'precision':<10}{'ms/view (bs 8)':>16}{'AUROC single view':>20}")
    y = evald["target"].to_numpy()
    scores = {}
    for name, model in compiled.items():
        req = model.create_infer_request()
        for _ in range(5):
            req.infer({"image": x8, "meta": m8})
        times = []
        for _ in range(30):
            t = time.perf_counter()
            req.infer({"image": x8, "meta": m8})
            times.append((time.perf_counter() - t) * 1000 / 8)
        logits = [float(np.asarray(req.infer({"image": x, "meta": m})[model.output("logits")])
                        .ravel()[0]) for x, m in inputs(bundle, evald)]
        scores[name] = np.array(logits)
        prob = 1.0 / (1.0 + np.exp(-scores[name]))  # AUROC is rank-based: same as on logits
        print(f"{name:<10}{statistics.median(times):>16.2f}{auroc(y, prob):>20.4f}")
    for name in ("bf16", "int8"):
        d = np.abs(scores[name] - scores["fp32"])
        print(f"{name} vs fp32: max |logit diff| {d.max():.3f}, median {np.median(d):.4f}")


if __name__ == "__main__":
    main()
