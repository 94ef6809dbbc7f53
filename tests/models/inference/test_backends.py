"""Tests for models.inference.backends: fast backends agree with eager PyTorch; thread and cache
settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.explain.cam import LayerTap
from models.inference import backends as fast
from models.inference.engine import Engine
from tests.models.conftest import ENGINE_SIZE

META = (61, "male", "lower extremity")
TOL = 1e-4


@pytest.fixture
def restore_torch_threads():
    """Engines set torch's process-wide thread count; put it back after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def batch(tiny_bundle) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3, ENGINE_SIZE, ENGINE_SIZE)).astype(np.float32)
    ages = [20, None, 45, 70, 90]
    m = np.stack([tiny_bundle.encoder.encode(a, "female", "torso") for a in ages])
    return x, m


@pytest.fixture(scope="module")
def torchscript_engine(tiny_bundle) -> Engine:
    return Engine(tiny_bundle, num_threads=1, backend="torchscript")


@pytest.fixture(params=["onnxruntime", "torchscript"])
def fast_engine(request, onnx_engine, torchscript_engine) -> Engine:
    return {"onnxruntime": onnx_engine, "torchscript": torchscript_engine}[request.param]


def test_backends_are_what_was_asked(onnx_engine, torchscript_engine, eager_engine):
    assert (onnx_engine.backend, torchscript_engine.backend, eager_engine.backend) == (
        "onnxruntime", "torchscript", "eager")


def test_predict_batch_agrees_with_eager(fast_engine, eager_engine, batch):
    x, m = batch
    ref = eager_engine.predict_batch(x, m)
    np.testing.assert_allclose(fast_engine.predict_batch(x, m), ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(fast_engine.predict_batch(x[:1], m[:1]), ref[:1], rtol=0,
                               atol=TOL)  # batch size 1 works too (dynamic batch)


def test_prediction_tta_and_cams_agree_with_eager(fast_engine, eager_engine, lesion_jpeg):
    ref = eager_engine.analyze(lesion_jpeg, *META)
    out = fast_engine.analyze(lesion_jpeg, *META)
    assert abs(out.probability - ref.probability) < TOL
    assert abs(fast_engine.predict(lesion_jpeg, *META) - ref.probability) < TOL
    np.testing.assert_allclose([v["probability"] for v in out.tta],
                               [v["probability"] for v in ref.tta], rtol=0, atol=TOL)
    assert abs(out.tta_std - ref.tta_std) < TOL
    assert [c.name for c in out.cams] == [c.name for c in ref.cams]
    for c, r in zip(out.cams, ref.cams, strict=True):
        assert c.resolution == r.resolution
        np.testing.assert_allclose(c.heatmap, r.heatmap, rtol=0, atol=1e-3, err_msg=c.name)
    np.testing.assert_array_equal(out.model_view, ref.model_view)


def test_onnx_session_threads_do_not_spin(onnx_engine):
    opts = onnx_engine._runner.session.get_session_options()
    assert opts.intra_op_num_threads == onnx_engine.num_threads == 1
    assert opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_configure_threads_sets_torch_and_env(monkeypatch, restore_torch_threads):
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)
    assert fast.configure_threads(1) == 1
    assert torch.get_num_threads() == 1
    import os
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "1"
    from threadpoolctl import threadpool_info
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert all(p["num_threads"] == 1 for p in blas)


def test_torch_threads_context_restores(restore_torch_threads):
    torch.set_num_threads(2)
    with fast.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_unknown_backend_is_rejected(tiny_bundle):
    with pytest.raises(ValueError, match="backend"):
        Engine(tiny_bundle, backend="tensorrt")


def test_auto_falls_back_to_eager(tiny_bundle, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no runtime here")

    monkeypatch.setattr(fast, "OpenVinoRunner", broken)
    monkeypatch.setattr(fast, "OnnxRunner", broken)
    monkeypatch.setattr(fast, "TorchScriptRunner", broken)
    engine = Engine(tiny_bundle, num_threads=1, backend="auto")
    assert engine.backend == "eager" and engine.precision == "fp32"
    assert "openvino backend unavailable" in caplog.text
    assert "onnxruntime backend unavailable" in caplog.text


def test_onnx_graph_is_cached_and_reused(tiny_bundle, onnx_cache_dir, monkeypatch, lesion_jpeg,
                                         onnx_engine):
    files = list(onnx_cache_dir.glob("engine-*.onnx"))
    assert len(files) == 1 and files[0].stat().st_size > 1000

    def no_export(*args, **kwargs):
        raise AssertionError("exported again despite the cache")

    monkeypatch.setattr(fast, "export_onnx", no_export)
    again = Engine(tiny_bundle, num_threads=1, backend="onnxruntime", cache_dir=onnx_cache_dir)
    assert again.predict(lesion_jpeg, *META) == pytest.approx(
        onnx_engine.predict(lesion_jpeg, *META), abs=1e-6)
    # a different cache key (other weights) is never served from that file
    with pytest.raises(AssertionError, match="exported again"):
        tap = LayerTap(tiny_bundle.model, again.cam_layer_names)
        fast._cached_onnx(tap, ENGINE_SIZE, tiny_bundle.encoder.dim, "other-weights",
                          onnx_cache_dir)


@pytest.mark.parametrize(("flags", "requested", "expected"), [
    ({"avx512f", "avx512_bf16"}, "auto", "bf16"), ({"amx_bf16", "amx_tile"}, "auto", "bf16"),
    ({"avx512f", "avx2"}, "auto", "fp32"), (set(), "auto", "fp32"),
    (set(), "bf16", "bf16"), ({"amx_bf16"}, "fp32", "fp32")])
def test_precision_auto_is_bf16_only_where_the_cpu_computes_it(monkeypatch, flags, requested,
                                                               expected):
    monkeypatch.setattr(fast, "cpu_flags", lambda: flags)
    assert fast.resolve_precision(requested) == expected


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match="precision 'fp8'"):
        fast.resolve_precision("fp8")


class _Fake(fast.Runner):
    """A runner whose logits are eager's plus a fixed offset."""

    name = "openvino"

    def __init__(self, tap, precision, offset):
        self.tap, self.precision, self.offset = tap, precision, offset

    def _run(self, images, meta, with_activations):
        logits, _ = fast.EagerRunner(self.tap)._run(images, meta, False)
        return logits + self.offset, []


@pytest.mark.parametrize(("bf16_offset", "fp32_offset", "expected"), [
    (0.1, 0.0, ("openvino", "bf16")),     # bf16 within its bound: used
    (2.0, 1e-6, ("openvino", "fp32")),    # bf16 off: OpenVINO fp32 instead
    (2.0, 0.5, ("onnxruntime", "fp32")),  # both off: the next runtime
])
def test_auto_uses_openvino_only_where_its_logits_agree(tiny_bundle, monkeypatch, caplog,
                                                        bf16_offset, fp32_offset, expected):
    pytest.importorskip("onnxruntime")

    def fake(tap, size, meta_dim, num_threads, precision, *args):
        return _Fake(tap, precision, bf16_offset if precision == "bf16" else fp32_offset)

    monkeypatch.setattr(fast, "OpenVinoRunner", fake)
    monkeypatch.setattr(fast, "cpu_flags", lambda: {"amx_bf16"})
    engine = Engine(tiny_bundle, num_threads=1, backend="auto")
    assert (engine.backend, engine.precision) == expected
    if bf16_offset > fast.PROBE_TOLERANCE["bf16"]:
        assert "openvino bf16 disagrees with eager" in caplog.text


@pytest.fixture(scope="module")
def openvino_engines(tiny_bundle, onnx_cache_dir) -> dict[str, Engine]:
    pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install openvino)")
    return {p: Engine(tiny_bundle, num_threads=1, backend="openvino", precision=p,
                      cache_dir=onnx_cache_dir) for p in ("fp32", "bf16")}


def test_openvino_fp32_agrees_with_eager(openvino_engines, eager_engine, batch, lesion_jpeg):
    engine = openvino_engines["fp32"]
    assert (engine.backend, engine.precision) == ("openvino", "fp32")
    x, m = batch
    np.testing.assert_allclose(engine.predict_batch(x, m), eager_engine.predict_batch(x, m),
                               rtol=0, atol=TOL)
    out, ref = engine.analyze(lesion_jpeg, *META), eager_engine.analyze(lesion_jpeg, *META)
    assert abs(out.probability - ref.probability) < TOL
    for c, r in zip(out.cams, ref.cams, strict=True):
        np.testing.assert_allclose(c.heatmap, r.heatmap, rtol=0, atol=1e-3, err_msg=c.name)


def test_openvino_bf16_stays_close_to_eager(openvino_engines, eager_engine, batch):
    engine = openvino_engines["bf16"]
    assert engine.precision == "bf16"
    x, m = batch
    diff = np.abs(engine.predict_batch(x, m) - eager_engine.predict_batch(x, m))
    assert diff.max() < 0.05  # probabilities; bf16 logits are within PROBE_TOLERANCE
