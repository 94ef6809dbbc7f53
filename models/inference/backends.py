"""Execution backends for the engine: eager PyTorch, TorchScript (trace + freeze), ONNX Runtime,
OpenVINO (fp32, or bf16 where the CPU computes it natively).

Every backend runs the same `models.explain.cam.LayerTap` graph, so ONE forward returns the logits
of a
whole batch plus the CAM layers' activations of its first row (the identity view of a TTA
batch). The fast backends are exported from the eager model when the engine starts and are
checked against it (see `tests/models/inference/test_backends.py`, 1e-4).

Thread settings: torch's intra-op pool, ONNX Runtime's intra-op pool and numpy's BLAS would
otherwise each start one thread per core and fight on a 2-core machine; ONNX Runtime threads
also spin after each run, which slows the next torch call ~2x (docs/design.md, "Platform facts").
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from configs.choices import AUTO_ORDER, BACKENDS, PRECISIONS
from models.explain.cam import LayerTap
from models.inference.runtime import cpu_flags

log = logging.getLogger(__name__)

ONNX_OPSET = 17
RunResult = tuple[np.ndarray, list[torch.Tensor]]  # logits (N,) or (N, K), per-layer (1, C, h, w)
_EXPORT_BATCH = 2  # > 1 so the exporter cannot specialise the batch dimension to 1
# Largest |logit - eager fp32| on the probe batch for a runner to be used by "auto". fp32
# runtimes agree to ~1e-6; bf16 keeps 8 bits of mantissa, measured at up to 0.1 logits on real
# images (BENCHMARKS.md), so its bound is looser but still catches a broken graph.
PROBE_TOLERANCE = {"fp32": 1e-3, "bf16": 0.35}
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPUs that compute bf16 natively
# oneTBB (OpenVINO's threading) dlopens its hwloc binding with RTLD_DEEPBIND, so hwloc frees
# with the C library's free what a preloaded tcmalloc allocated: an abort at compile time
# ("munmap_chunk(): invalid pointer"). With this set, oneTBB loads it without RTLD_DEEPBIND and
# one allocator serves both (oneTBB issue #1645).
TBB_NO_DEEPBIND = ("TBB_ENABLE_SANITIZERS", "1")
TELEMETRY_MODULE = "openvino_telemetry"  # blocked before OpenVINO loads (`openvino_core`)


def configure_threads(num_threads: int | None) -> int:
    """Give torch `num_threads` intra-op threads and keep numpy's BLAS single-threaded.

    Sets `OMP_NUM_THREADS`/`MKL_NUM_THREADS`/`OPENBLAS_NUM_THREADS` defaults (for libraries and
    child processes that read them later; entry points may set them before importing numpy)
    and applies the BLAS limit at runtime through threadpoolctl, since numpy's OpenBLAS has
    already read the environment by now. The engine does its linear algebra in torch, so numpy
    BLAS only serves small helper calls.

    Args:
        num_threads: torch threads; None = all cores (os.cpu_count()).

    Returns:
        The number of threads set.
    """
    n = max(1, int(num_threads or os.cpu_count() or 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # optional: only the numpy BLAS limit is lost
        log.debug("threadpoolctl not installed; numpy BLAS threads left as they are")
    return n


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Temporarily run torch with `n` intra-op threads (process-wide; callers hold a lock).

    The CAM maths (SVDs of at most 3136 x 24 or 49 x 1280, small resizes) is too small to
    gain from threads, and each OpenMP parallel region waits for every thread to be scheduled:
    on a busy 2-core machine, 2 threads made it 10-100x slower than 1 (measured).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Runner:
    """Runs `LayerTap` on numpy inputs. Subclasses implement `_run`.

    Attributes:
        name: backend name (one of BACKENDS except "auto").
        precision: "fp32", or "bf16" (OpenVINO on a CPU that computes it natively).
    """

    name = "base"
    precision = "fp32"

    def __call__(self, images: np.ndarray, meta: np.ndarray | None,
                 with_activations: bool = True) -> RunResult:
        """One forward pass.

        Args:
            images: float32 (N, 3, S, S), normalised.
            meta: float32 (N, D) encoded metadata, or None for an image-only model.
            with_activations: also return the CAM layers' activations of row 0.

        Returns:
            (logits float32 (N,), activations: per CAM layer a (1, C, h, w) tensor, or []).
        """
        images = np.ascontiguousarray(images, dtype=np.float32)
        if meta is not None:
            meta = np.ascontiguousarray(meta, dtype=np.float32)
        return self._run(images, meta, with_activations)

    def _run(self, images: np.ndarray, meta: np.ndarray | None,
             with_activations: bool) -> RunResult:
        raise NotImplementedError


class EagerRunner(Runner):
    """Plain PyTorch (the reference)."""

    name = "eager"

    def __init__(self, tap: LayerTap) -> None:
        self.tap = tap

    def _run(self, images: np.ndarray, meta: np.ndarray | None,
             with_activations: bool) -> RunResult:
        with torch.inference_mode():
            x = torch.from_numpy(images)
            m = torch.from_numpy(meta) if meta is not None else None
            if not with_activations:
                return self.tap.model(x, m).float().numpy(), []
            logits, *acts = self.tap(x, m)
            return logits.float().numpy(), [a.float() for a in acts]


class TorchScriptRunner(Runner):
    """`torch.jit.trace` + `torch.jit.freeze` of the tap (constant-folded batch norms)."""

    name = "torchscript"

    def __init__(self, tap: LayerTap, size: int, meta_dim: int) -> None:
        example = _example_inputs(size, meta_dim)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter
            traced = torch.jit.trace(tap.eval(), example, check_trace=False)
            self.module = torch.jit.freeze(traced.eval())
        self.uses_meta = meta_dim > 0

    def _run(self, images: np.ndarray, meta: np.ndarray | None,
             with_activations: bool) -> RunResult:
        with torch.inference_mode():
            args = (torch.from_numpy(images),)
            if self.uses_meta:
                args += (torch.from_numpy(meta),)
            logits, *acts = self.module(*args)
            return logits.numpy(), (list(acts) if with_activations else [])


class OnnxRunner(Runner):
    """ONNX Runtime on the CPU, exported from the tap (optionally cached on disk)."""

    name = "onnxruntime"

    def __init__(self, tap: LayerTap, size: int, meta_dim: int, num_threads: int,
                 cache_key: str | None = None, cache_dir: str | Path | None = None) -> None:
        import onnxruntime as ort

        self.uses_meta = meta_dim > 0
        self.layer_outputs = [f"act{i}" for i in range(len(tap.layer_names))]
        model_bytes = _cached_onnx(tap, size, meta_dim, cache_key, cache_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads otherwise spin after each run and starve torch (CAM maths) on 2 cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model_bytes, opts,
                                            providers=["CPUExecutionProvider"])

    def _run(self, images: np.ndarray, meta: np.ndarray | None,
             with_activations: bool) -> RunResult:
        feeds = {"image": images}
        if self.uses_meta:
            feeds["meta"] = meta
        names = ["logits"] + (self.layer_outputs if with_activations else [])
        logits, *acts = self.session.run(names, feeds)
        return logits, [torch.from_numpy(a) for a in acts]


def resolve_precision(requested: str) -> str:
    """``fp32`` or ``bf16`` for a requested precision; ``auto`` is bf16 where the CPU computes
    it natively (`BF16_FLAGS`), else fp32."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is not one of {PRECISIONS}")
    if requested != "auto":
        return requested
    return "bf16" if set(BF16_FLAGS) & cpu_flags() else "fp32"


def gated_precision(gate: Mapping[str, Any] | None, requested: str) -> str:
    """`requested`, except that ``auto`` is ``fp32`` for a bundle whose recorded bf16 accuracy
    gate failed (`gate`: bundle.json's ``precision_gate``): the probe batch checks logits, the
    gate checks AUROC and decisions on real data."""
    bf16 = (gate or {}).get("bf16") or {}
    if requested == "auto" and bf16.get("passed") is False:
        log.info("bundle failed the bf16 accuracy gate (%s): fp32",
                 bf16.get("summary", "recorded in bundle.json"))
        return "fp32"
    return requested


@functools.cache
def openvino_core() -> Any:
    """The process's one OpenVINO `Core`, created on first use and never released.

    OpenVINO advises one Core per application. Each Core loads the CPU plugin (and its oneTBB
    thread pool); when an engine's own Core was garbage-collected the plugin could be unloaded
    while its threads and fork handlers lived on, and a later fork in the same process crashed
    (the test suite died in `subprocess.run` after many engines). One Core keeps one plugin for
    the life of the process.
    """
    os.environ.setdefault(*TBB_NO_DEEPBIND)  # before OpenVINO loads oneTBB
    if "openvino" not in sys.modules:
        # `import openvino` sends a usage event (openvino-telemetry, Google Analytics) unless
        # the user's home holds an opt-out file: no file counts as consent for its conversion
        # tools. A medical app does not phone home, so the telemetry package is blocked and
        # OpenVINO falls back to its own no-op stub (None in sys.modules = ImportError).
        sys.modules.setdefault(TELEMETRY_MODULE, None)
    import openvino as ov

    return ov.Core()


class OpenVinoRunner(Runner):
    """OpenVINO on the CPU, compiled from the same ONNX graph as ONNX Runtime's, at fp32 or bf16
    inference precision (OpenVINO's INFERENCE_PRECISION_HINT).

    The graph's batch dimension is dynamic; for each size in ``static_batches`` a copy
    reshaped to that batch is compiled too and runs every call of exactly that size: the CPU
    plugin then plans kernels and memory once instead of per call, and a call of another size
    does not re-plan the next one (same outputs, BENCHMARKS.md "Static shapes").
    """

    name = "openvino"

    def __init__(self, tap: LayerTap, size: int, meta_dim: int, num_threads: int,
                 precision: str = "fp32", cache_key: str | None = None,
                 cache_dir: str | Path | None = None,
                 static_batches: Sequence[int] = ()) -> None:
        self.uses_meta = meta_dim > 0
        self.precision = precision
        model_bytes = _cached_onnx(tap, size, meta_dim, cache_key, cache_dir)
        core = openvino_core()
        with tempfile.TemporaryDirectory() as tmp:  # OpenVINO reads ONNX from a file
            path = Path(tmp) / "engine.onnx"
            path.write_bytes(model_bytes)
            model = core.read_model(str(path))
        config = {"INFERENCE_NUM_THREADS": int(num_threads), "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        layer_names = [f"act{i}" for i in range(len(tap.layer_names))]

        def compiled(graph: Any) -> tuple[Any, Any, list[Any]]:
            c = core.compile_model(graph, "CPU", config)
            return (c.create_infer_request(), c.output("logits"),
                    [c.output(name) for name in layer_names])

        self._dynamic = compiled(model)
        self._static: dict[int, tuple[Any, Any, list[Any]]] = {}
        for n in sorted(set(static_batches)):
            fixed = model.clone()
            fixed.reshape({"image": [n, 3, size, size],
                           **({"meta": [n, meta_dim]} if self.uses_meta else {})})
            self._static[n] = compiled(fixed)
        self._lock = threading.Lock()  # one infer request per graph: one call at a time

    @property
    def static_batches(self) -> tuple[int, ...]:
        """The batch sizes that run on a graph compiled for exactly that size."""
        return tuple(self._static)

    def _run(self, images: np.ndarray, meta: np.ndarray | None,
             with_activations: bool) -> RunResult:
        feeds = {"image": images, **({"meta": meta} if self.uses_meta else {})}
        request, logits_port, layer_ports = self._static.get(len(images), self._dynamic)
        with self._lock:
            result = request.infer(feeds)
            logits = np.array(result[logits_port], dtype=np.float32)
            acts = [torch.from_numpy(np.array(result[o], dtype=np.float32))
                    for o in layer_ports] if with_activations else []
        return logits, acts


def probe_difference(runner: Runner, tap: LayerTap, size: int, meta_dim: int) -> float:
    """Largest |logit - eager fp32| of `runner` on a fixed random batch."""
    example = [t.numpy() for t in _example_inputs(size, meta_dim)]
    images, meta = example[0], (example[1] if meta_dim > 0 else None)
    expected, _ = EagerRunner(tap)(images, meta, with_activations=False)
    got, _ = runner(images, meta, with_activations=False)
    return float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64))))


def _example_inputs(size: int, meta_dim: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(_EXPORT_BATCH, 3, size, size, generator=gen)
    if meta_dim > 0:
        return image, torch.randn(_EXPORT_BATCH, meta_dim, generator=gen)
    return (image,)


def export_onnx(tap: LayerTap, size: int, meta_dim: int) -> bytes:
    """Export the tap to ONNX (dynamic batch) and return the serialised model.

    Uses the TorchScript-based exporter (several times faster to export than the dynamo one
    here); falls back to `dynamo=True` if it is unavailable.
    """
    example = _example_inputs(size, meta_dim)
    inputs = ["image", "meta"][:len(example)]
    outputs = ["logits"] + [f"act{i}" for i in range(len(tap.layer_names))]
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(tap.eval(), example, buf, input_names=inputs, output_names=outputs,
                              dynamic_axes={name: {0: "batch"} for name in inputs + outputs[:1]},
                              opset_version=ONNX_OPSET, dynamo=False)
        except Exception as err:  # noqa: BLE001 (legacy exporter gone or failing: try dynamo)
            log.info("legacy ONNX export failed (%s); trying the dynamo exporter", err)
            buf = io.BytesIO()
            batch = torch.export.Dim("batch")
            shapes = {"image": {0: batch}, "meta": {0: batch}} if meta_dim > 0 else \
                {"image": {0: batch}}
            torch.onnx.export(tap.eval(), example, buf, input_names=inputs,
                              output_names=outputs, dynamic_shapes=shapes, dynamo=True)
    return buf.getvalue()


def _cached_onnx(tap: LayerTap, size: int, meta_dim: int, cache_key: str | None,
                 cache_dir: str | Path | None) -> bytes:
    if cache_dir is None or cache_key is None:
        return export_onnx(tap, size, meta_dim)
    # The file name pins everything the graph depends on, so a stale file is never reused.
    spec = "|".join([cache_key, torch.__version__, str(size), str(meta_dim), str(ONNX_OPSET),
                     ",".join(tap.layer_names)])
    path = Path(cache_dir) / f"engine-{hashlib.sha256(spec.encode()).hexdigest()[:24]}.onnx"
    if path.is_file():
        log.info("Loading cached ONNX graph %s", path)
        return path.read_bytes()
    data = export_onnx(tap, size, meta_dim)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as fh:
            fh.write(data)
        os.replace(fh.name, path)  # atomic: concurrent starters never read half a file
    except OSError as err:
        log.warning("Could not cache the ONNX graph in %s (%s)", cache_dir, err)
    return data


def make_runner(model: nn.Module, layer_names: Sequence[str], *, size: int, meta_dim: int,
                backend: str = "auto", num_threads: int = 1, cache_key: str | None = None,
                cache_dir: str | Path | None = None, precision: str = "auto",
                gate: Mapping[str, Any] | None = None,
                static_batches: Sequence[int] = ()) -> Runner:
    """Build the requested backend over `model`.

    Args:
        model: the eval-mode FusionNet.
        layer_names: CAM layers, early -> late.
        size: input side S.
        meta_dim: encoded metadata length (0 = image-only model).
        backend: "auto" (OpenVINO, else ONNX Runtime, else TorchScript, else eager), or one of
            those names.
        num_threads: intra-op threads for ONNX Runtime and OpenVINO.
        cache_key: identifies the weights (e.g. their SHA-256) for the ONNX disk cache.
        cache_dir: where to cache exported ONNX graphs; None = export in memory every time.
        precision: OpenVINO's ("auto", "fp32", "bf16"; see `resolve_precision`).
        gate: the bundle's recorded bf16 accuracy gate (see `gated_precision`), if any.
        static_batches: batch sizes OpenVINO also compiles a fixed-shape graph for (see
            `OpenVinoRunner`); other backends ignore them.

    Returns:
        A Runner. With "auto", OpenVINO is used only if its logits agree with eager on a probe
        batch (`PROBE_TOLERANCE`); bf16 that does not agree falls back to OpenVINO fp32.

    Raises:
        ValueError: unknown backend or precision name.
        Exception: whatever the explicitly requested backend raised while being built.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")
    tap = LayerTap(model, layer_names).eval()
    wanted = resolve_precision(gated_precision(gate, precision))

    def openvino(p: str) -> Runner:
        return OpenVinoRunner(tap, size, meta_dim, num_threads, p, cache_key, cache_dir,
                              static_batches)

    builders = {
        "openvino": lambda: openvino(wanted),
        "onnxruntime": lambda: OnnxRunner(tap, size, meta_dim, num_threads, cache_key,
                                          cache_dir),
        "torchscript": lambda: TorchScriptRunner(tap, size, meta_dim),
        "eager": lambda: EagerRunner(tap),
    }
    if backend != "auto":
        return builders[backend]()
    *fallible, always_works = AUTO_ORDER
    for name in fallible:
        try:
            runner = builders[name]()
            if name == "openvino":
                runner = _agreeing_openvino(runner, tap, size, meta_dim, openvino)
            if runner is not None:
                return runner
        except Exception as err:  # noqa: BLE001 (auto: fall back to the next backend)
            # An optional runtime that is simply not installed is not worth a warning.
            level = logging.INFO if isinstance(err, ImportError) else logging.WARNING
            log.log(level, "%s backend unavailable (%s: %s); falling back", name,
                    type(err).__name__, err)
    return builders[always_works]()


def _agreeing_openvino(runner: Runner, tap: LayerTap, size: int, meta_dim: int,
                       build: Callable[[str], Runner]) -> Runner | None:
    """`runner` if its logits agree with eager; else OpenVINO fp32 if that agrees; else None."""
    if _agrees(runner, tap, size, meta_dim):
        return runner
    if runner.precision == "bf16":
        fp32 = build("fp32")
        if _agrees(fp32, tap, size, meta_dim):
            return fp32
    return None


def _agrees(runner: Runner, tap: LayerTap, size: int, meta_dim: int) -> bool:
    diff = probe_difference(runner, tap, size, meta_dim)
    bound = PROBE_TOLERANCE[runner.precision]
    if diff <= bound:
        log.info("%s %s: max |logit - eager| %.2g on the probe batch", runner.name,
                 runner.precision, diff)
        return True
    log.warning("%s %s disagrees with eager by %.3g logits (bound %.3g): not used",
                runner.name, runner.precision, diff, bound)
    return False
