"""Batched inference of one or more bundles over a canonical table, optionally with TTA.

Preprocessing comes only from `bundle.preprocessing` (load -> model_view -> normalize) and
metadata only from `bundle.encoder`, record by record as the app encodes it, so evaluation
scores exactly what the product would compute. Images are decoded in DataLoader workers, or,
without workers, a batch or two ahead in a background thread (`eval.pipeline.prefetch`);
members that share a preprocessing share one decoding pass. With TTA the 8 dihedral views of a
batch go through the model as one batch and every view's probability is kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch.utils.data import DataLoader

from configs.choices import BACKENDS
from eval.pipeline.errors import EvalError
from eval.pipeline.prefetch import prefetch
from models.bundle.batch_inputs import ImageTable, metadata_matrix
from models.bundle.decision import DecisionRule
from models.bundle.io import Bundle
from models.inference.runtime import worker_start_method
from models.inference.tta import VIEW_NAMES, dihedral_views, view_probabilities
from models.nn.probabilities import (
    MELANOMA_COLUMN,
    logits_to_class_probabilities,
    logits_to_probability,
)

log = logging.getLogger(__name__)


Forward = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass
class MemberPredictions:
    """One bundle's probabilities: `views[:, 0]` is the plain (identity) view.

    Attributes:
        bundle_id: the bundle's id.
        views: float64 (N, V); V = 8 dihedral views (VIEW_NAMES order) with TTA, else 1.
        class_views: a diagnosis bundle's class probabilities, float64 (N, V, K); None for a
            melanoma bundle.
    """

    bundle_id: str
    views: np.ndarray
    class_views: np.ndarray | None = None
    rule: DecisionRule = field(default_factory=DecisionRule)

    @property
    def class_prob(self) -> np.ndarray | None:
        """A diagnosis bundle's class probabilities, mean over the views (N, K)."""
        return None if self.class_views is None else self.class_views.mean(axis=1)

    @property
    def prob(self) -> np.ndarray:
        """The member's score: mean over the views (= the plain view without TTA), through
        the bundle's calibration map (after averaging, so the ranking is the raw mean's)."""
        return self.rule.calibrate(self.views.mean(axis=1))

    @property
    def plain(self) -> np.ndarray:
        """Probability of the un-augmented image (calibrated)."""
        return self.rule.calibrate(self.views[:, 0])

    @property
    def raw_prob(self) -> np.ndarray:
        """`prob` before calibration (what a calibration map is fitted on)."""
        return self.views.mean(axis=1)

    def view(self, v: int) -> np.ndarray:
        """Probability of view `v` (calibrated)."""
        return self.rule.calibrate(self.views[:, v])


@dataclass
class Predictions:
    """Predictions of every member for the rows that could be scored.

    Attributes:
        members: one entry per bundle, rows aligned with `keep`'s True positions.
        keep: bool (N_input,) rows scored (False = unreadable image skipped).
        failures: error message per skipped row.
        tta: whether views hold the 8 dihedral views.
        seconds: wall time of the inference loop (decoding included).
        n_forward: images passed through a network (views x members x rows).
        backend: the inference backend used.
    """

    members: list[MemberPredictions]
    keep: np.ndarray
    failures: list[str] = field(default_factory=list)
    tta: bool = False
    seconds: float = 0.0
    n_forward: int = 0
    backend: str = "eager"

    @property
    def view_names(self) -> tuple[str, ...]:
        """Names of the view columns."""
        return VIEW_NAMES if self.tta else ("identity",)

    @property
    def images_per_s(self) -> float:
        """Dataset images scored per second (all members and views included)."""
        return float(self.keep.sum()) / self.seconds if self.seconds > 0 else 0.0


#: Largest difference between a mixed-precision and a float32 probability that still counts as
#: agreement on the first batch; above it the GPU runs in float32.
AMP_TOLERANCE = 1e-3


def make_forward(bundle: Bundle, backend: str = "eager", device: str = "cpu",
                 amp: bool = False, precision: str = "auto",
                 batch_size: int | None = None, tta: bool = False) -> Forward:
    """A function (images NCHW, metadata or None) -> float64 CPU probabilities for one bundle.

    (N,) melanoma probabilities for a melanoma bundle, (N, K) class probabilities for a
    diagnosis bundle (its melanoma probability is column `MELANOMA_COLUMN`). On the CPU,
    ``backend`` is "eager" (PyTorch, channels_last) or an engine backend ("auto", "openvino",
    "onnxruntime", "torchscript") built at the current torch thread count (``precision`` is
    OpenVINO's, see `make_runner`); on ``device`` "cuda" the model runs eagerly on the GPU, in
    mixed precision with ``amp`` where it agrees with float32 (`AMP_TOLERANCE`). For "eager"
    the bundle's model is changed in place (channels_last, moved to the device).
    ``batch_size`` and ``tta``: the batches it will score, whose runner calls OpenVINO then
    also compiles a fixed-shape graph for (`fixed_shapes`). EvalError for an unknown backend, one
    that does not run on the device, or one that cannot be built here.
    """
    if device == "cuda":
        if backend not in ("auto", "eager"):
            raise EvalError(f"--backend {backend} runs on the CPU only; on --device cuda use "
                            "--backend eager (or auto)")
        return _gpu_forward(bundle, amp)
    if backend == "eager":
        # channels_last is markedly faster for these convnets on CPU (docs/design.md,
        # "Platform facts").
        model = bundle.model.to(memory_format=torch.channels_last).eval()

        def eager(images: torch.Tensor, meta: torch.Tensor | None) -> torch.Tensor:
            x = images.contiguous(memory_format=torch.channels_last)
            logits = model(x, meta)
            return (logits_to_class_probabilities(logits) if bundle.classes
                    else logits_to_probability(logits))

        eager.backend = "eager"  # type: ignore[attr-defined]
        return eager
    if backend not in BACKENDS:
        raise EvalError(f"backend {backend!r} is not one of {BACKENDS}")
    try:
        from models.inference.engine import (
            Engine,  # optional fast path; imported only when asked for
        )
        engine = Engine(bundle, num_threads=torch.get_num_threads(), backend=backend,
                        precision=precision, static_batches=fixed_shapes(batch_size, tta))
    except Exception as err:  # noqa: BLE001 (export/runtime errors come in many types)
        raise EvalError(f"bundle {bundle.bundle_id}: cannot build the {backend} backend "
                        f"({type(err).__name__}: {err}); use --backend eager") from None
    log.info("bundle %s: %s backend (%s)", bundle.bundle_id, engine.backend, engine.precision)

    def fast(images: torch.Tensor, meta: torch.Tensor | None) -> torch.Tensor:
        return torch.from_numpy(engine.predict_batch(
            images.contiguous().numpy(), None if meta is None else meta.numpy(),
            classes=bool(bundle.classes)))

    # What "auto" resolved to, with OpenVINO's reduced precision named where it is used.
    fast.backend = (engine.backend if engine.precision == "fp32"  # type: ignore[attr-defined]
                    else f"{engine.backend}-{engine.precision}")
    return fast


def fixed_shapes(batch_size: int | None, tta: bool = False) -> tuple[int, ...]:
    """The runner call size of a full batch of ``batch_size`` images (x8 views with ``tta``;
    `Engine.predict_batch` splits larger calls into chunks of `PREDICT_CHUNK`); a last, partial
    batch runs on the dynamic graph. 0.93-0.94x per batch of 16 or 32 on OpenVINO bf16
    (BENCHMARKS.md)."""
    from models.inference.engine import PREDICT_CHUNK

    if not batch_size:
        return ()
    return (min(batch_size * (len(VIEW_NAMES) if tta else 1), PREDICT_CHUNK),)


def _gpu_forward(bundle: Bundle, amp: bool) -> Forward:
    """The eager model on the GPU; the first batch decides whether mixed precision agrees."""
    model = bundle.model.to("cuda", memory_format=torch.channels_last).eval()
    state = {"amp": amp, "checked": not amp}

    def run(x: torch.Tensor, meta: torch.Tensor | None, mixed: bool) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.float16, enabled=mixed):
            logits = model(x, meta)
        logits = logits.float()
        return (logits_to_class_probabilities(logits) if bundle.classes
                else logits_to_probability(logits))

    def gpu(images: torch.Tensor, meta: torch.Tensor | None) -> torch.Tensor:
        x = images.to("cuda", non_blocking=True).contiguous(memory_format=torch.channels_last)
        m = None if meta is None else meta.to("cuda", non_blocking=True)
        if state["checked"]:
            return run(x, m, state["amp"])
        state["checked"] = True
        full, mixed = run(x, m, False), run(x, m, True)
        diff = float((full - mixed).abs().max())
        state["amp"] = diff <= AMP_TOLERANCE
        gpu.backend = f"eager-cuda-{'amp' if state['amp'] else 'fp32'}"  # type: ignore[attr-defined]
        log.info("bundle %s on the GPU: mixed precision %s (max probability difference %.2g "
                 "on the first batch, tolerance %g)", bundle.bundle_id,
                 "on" if state["amp"] else "off", diff, AMP_TOLERANCE)
        return full

    gpu.backend = "eager-cuda" + ("" if amp else "-fp32")  # type: ignore[attr-defined]
    return gpu


def _store(probs: torch.Tensor, rows: np.ndarray, n_views: int, views: np.ndarray,
           class_views: np.ndarray | None) -> None:
    """Put one member's view-major batch outputs into its (N, V) and (N, V, K) tables."""
    n = len(rows)
    if probs.ndim == 2:  # a diagnosis bundle's class probabilities; melanoma is a column
        class_views[rows] = probs.reshape(n_views, n, probs.shape[1]).permute(1, 0, 2).numpy()
        probs = probs[:, MELANOMA_COLUMN]
    views[rows] = (view_probabilities(probs, n) if n_views > 1 else probs[:, None]).numpy()


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:.1f} img/s"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled,
                    transient=False)


def _record_failures(errors: Sequence[str], idx: torch.Tensor, on_bad_row: str,
                     failures: dict[int, str]) -> None:
    """Note a batch's unreadable images in `failures`, or raise on the first in fail mode."""
    bad = [j for j, msg in enumerate(errors) if msg]
    if bad and on_bad_row == "fail":
        more = f" (and {len(bad) - 1} more in this batch)" if len(bad) > 1 else ""
        raise EvalError(f"unreadable image: {errors[bad[0]]}{more}; "
                        "fix or remove it, or pass --on-bad-row skip")
    for j in bad:
        failures[int(idx[j])] = errors[j]


def _kept_rows(n: int, failures: dict[int, str]) -> np.ndarray:
    """Boolean mask of the rows that were scored; raises if none were."""
    keep = np.ones(n, dtype=bool)
    if failures:
        keep[list(failures)] = False
        log.warning("skipped %d of %d rows (unreadable image): %s", len(failures), n,
                    "; ".join(list(failures.values())[:3]))
        if not keep.any():
            raise EvalError(f"no rows left: all {n} images are unreadable")
    return keep


def _loader(table: ImageTable, batch_size: int, num_workers: int, device: str) -> DataLoader:
    """Batches in order; workers start from a forkserver where OpenVINO is loaded (oneTBB)."""
    return DataLoader(table, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=device == "cuda",
                      multiprocessing_context=worker_start_method(num_workers))


def _shared_passes(bundles: Sequence[Bundle]) -> dict[str, list[int]]:
    """Member indices by preprocessing: members that preprocess alike share one image pass."""
    passes: dict[str, list[int]] = {}
    for i, b in enumerate(bundles):
        passes.setdefault(json.dumps(b.preprocessing.to_dict(), sort_keys=True), []).append(i)
    return passes


def _members(bundles: Sequence[Bundle], views: list[np.ndarray],
             class_views: list[np.ndarray | None], keep: np.ndarray) -> list[MemberPredictions]:
    """Each bundle's kept rows, with its decision rule (calibration map)."""
    return [MemberPredictions(b.bundle_id, v[keep], None if c is None else c[keep],
                              rule=b.decision)
            for b, v, c in zip(bundles, views, class_views, strict=True)]


def _score_members(members: Sequence[int], forwards: Sequence[Forward],
                   metas: Sequence[torch.Tensor | None], batch: torch.Tensor,
                   idx: torch.Tensor, views: list[np.ndarray],
                   class_views: list[np.ndarray | None]) -> int:
    """Score one decoded batch (``idx``: its rows, ``batch``: their views, view-major) with
    each member sharing its preprocessing, storing every view; returns the images run."""
    n_views, rows = views[members[0]].shape[1], idx.numpy()
    for m in members:
        meta = None if metas[m] is None else metas[m][idx].repeat(n_views, 1)
        _store(forwards[m](batch, meta), rows, n_views, views[m], class_views[m])
    return batch.shape[0] * len(members)


def predict(bundles: Sequence[Bundle], df: pd.DataFrame, *, tta: bool = False,
            metadata: str = "auto", batch_size: int = 16, num_workers: int = 2,
            on_bad_row: str = "fail", progress: bool = True,
            backend: str = "eager", forwards: Sequence[Forward] | None = None,
            device: str = "cpu", amp: bool = False, precision: str = "auto",
            prefetch_batches: int = 0) -> Predictions:
    """Score every row of `df` with every bundle.

    Args:
        bundles: loaded bundles (eager: their models are switched to channels_last in place).
        df: canonical table (image_path, age, sex, site).
        tta: run the 8 dihedral views of each batch as one batch and keep each view.
        metadata: "auto" or "ignore" (see `metadata_matrix`).
        batch_size: images per batch (x8 with TTA).
        num_workers: DataLoader worker processes decoding images.
        on_bad_row: "fail" raises on the first unreadable image; "skip" drops those rows.
        progress: show a rich progress bar on stderr.
        backend: "eager" or an engine backend (see `make_forward`).
        forwards: one `make_forward` per bundle, built once by a caller that scores many
            chunks (else built here from `backend`, `device` and `amp`, as `make_forward`).
        prefetch_batches: without workers, batches decoded ahead in a background thread while
            the model scores the current one (0: decode in this loop); workers prefetch
            themselves.

    Returns:
        Predictions (rows of unreadable images removed in skip mode).

    Raises:
        EvalError: an unreadable image in fail mode, or every image unreadable.
    """
    n = len(df)
    paths = df["image_path"].tolist()
    metas = [torch.from_numpy(metadata_matrix(b.encoder, df, metadata))
             if b.model.uses_metadata else None for b in bundles]
    n_views = len(VIEW_NAMES) if tta else 1
    views = [np.full((n, n_views), np.nan) for _ in bundles]
    class_views = [np.full((n, n_views, len(b.classes)), np.nan) if b.classes else None
                   for b in bundles]
    if forwards is None:
        forwards = [make_forward(b, backend, device, amp, precision, batch_size, tta)
                    for b in bundles]
    passes = _shared_passes(bundles)

    failures: dict[int, str] = {}
    n_forward = 0
    start = time.perf_counter()
    with _progress(progress) as bar:
        for p_idx, members in enumerate(passes.values()):
            pre = bundles[members[0]].preprocessing
            task = bar.add_task(f"pass {p_idx + 1}/{len(passes)} ({pre.size} px"
                                f"{', TTA x8' if tta else ''})", total=n, rate=0.0)
            loader = _loader(ImageTable(paths, pre), batch_size, num_workers, device)
            pass_start, done = time.perf_counter(), 0
            ahead = prefetch_batches if num_workers == 0 else 0
            # closing: an error in this loop stops the decoding thread now, not when the
            # traceback that holds this frame is gone
            with closing(prefetch(loader, ahead)) as batches, torch.inference_mode():
                for x, idx, errors in batches:
                    _record_failures(errors, idx, on_bad_row, failures)
                    batch = dihedral_views(x) if tta else x
                    n_forward += _score_members(members, forwards, metas, batch, idx, views,
                                                class_views)
                    done += len(idx)
                    rate = done / max(time.perf_counter() - pass_start, 1e-9)
                    bar.update(task, advance=len(idx), rate=rate)
                    if progress and not bar.console.is_terminal and (
                            done * 10 // n > (done - len(idx)) * 10 // n):
                        # Without a terminal rich draws nothing until the end: log every 10%.
                        log.info("pass %d/%d: %d/%d images, %.1f images/s", p_idx + 1,
                                 len(passes), done, n, rate)
    seconds = time.perf_counter() - start

    keep = _kept_rows(n, failures)
    result = Predictions(members=_members(bundles, views, class_views, keep), keep=keep,
                         failures=list(failures.values()),
                         tta=tta, seconds=seconds, n_forward=n_forward,
                         backend=",".join(sorted({f.backend for f in forwards})))
    log.info("scored %d images in %.1f s (%.1f images/s, %d forward passes of one image)",
             int(keep.sum()), seconds, result.images_per_s, n_forward)
    return result
