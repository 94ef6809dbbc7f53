"""The inference engine: bundle -> preprocess -> one batched TTA pass -> multi-layer EigenCAM.

One place used by the app (and reusable by evaluation through `predict_batch`). Images are
decoded and preprocessed only by `bundle.preprocessing` and metadata is encoded only by
`bundle.encoder`, so the engine sees exactly what training and evaluation saw.

`analyze` runs ONE forward pass over the 8 dihedral views (`models.inference.tta.dihedral_views`) of
the image; the same pass returns the activations of the bundle's CAM layers for the identity
view (forward hooks, `models.explain.cam.LayerTap`), from which sign-corrected EigenCAM maps are
computed, each upsampled to exactly the S x S image the model saw (`Analysis.model_view`).

Thread safety: an `Engine` may be shared by threads. Decoding and preprocessing run
concurrently; the model call and the CAM maths run under one lock, because torch hooks hold
per-call state and, on a small CPU, one inference at a time is also the fastest.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from data.encoding import MetadataError
from data.images import ImageError
from data.sites import UNKNOWN
from models.bundle.io import PRECISION_GATE_KEY, Bundle, BundleError, load_bundle
from models.explain.cam import cam_map, feature_maps
from models.explain.cam_layout import CamLayoutError, infer_layouts
from models.explain.gradcam import EIGENCAM, GRADCAM, MELANOMA_OUTPUT, gradcam_maps, resolve_request
from models.explain.gradcam import METHODS as HEATMAP_METHODS
from models.explain.overlay import overlay
from models.inference.analysis import Analysis, CamLayer
from models.inference.backends import BACKENDS, configure_threads, make_runner, torch_threads
from models.inference.tta import VIEW_NAMES, dihedral_views
from models.nn.probabilities import logits_to_class_probabilities, logits_to_probability

__all__ = ["ABOVE", "BACKENDS", "BELOW", "EIGENCAM", "GRADCAM", "HEATMAP_METHODS",
           "MELANOMA_OUTPUT", "UNKNOWN", "Analysis", "CamLayer", "Engine", "InputError",
           "Prepared", "overlay"]

ABOVE = "above threshold"
BELOW = "below threshold"
PREDICT_CHUNK = 32  # predict_batch's largest call: bounds memory for evaluation-sized inputs
# The batch sizes the app's engine runs: one image, and its 8 TTA views (the full analysis, and
# the decision of a bundle that decides on the TTA mean); OpenVINO compiles a graph for exactly
# these beside the dynamic one (`OpenVinoRunner`).
STATIC_BATCHES: tuple[int, ...] = (1, len(VIEW_NAMES))


class InputError(ValueError):
    """The image or the metadata cannot be used; the message is meant for the person."""


@dataclass
class Prepared:
    """One validated, preprocessed input (see `Engine.prepare`)."""

    model_view: np.ndarray
    image: np.ndarray  # float32 (3, S, S)
    meta: np.ndarray | None  # float32 (D,) or None for an image-only model
    metadata: dict[str, Any]


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = (time.perf_counter() - start) * 1000.0


class Engine:
    """Melanoma inference over a loaded bundle.

    Args:
        bundle: a loaded bundle (never random weights: load it with `load_bundle`).
        num_threads: torch / ONNX Runtime intra-op threads; None = all cores. Note that
            torch's thread count is process-wide.
        backend: "auto" (OpenVINO when installed and agreeing with eager, else ONNX Runtime,
            else TorchScript, else eager), "openvino", "onnxruntime",
            "torchscript" or "eager". CAM maths always run in torch.
        cache_dir: optional folder to cache the exported ONNX graph (keyed by the weights'
            SHA-256 and the torch version), which makes later starts fast.
        precision: OpenVINO's inference precision ("auto": bf16 where the CPU computes it
            natively, the logits agree and no failed gate is recorded, else fp32; "fp32"; "bf16").
        static_batches: batch sizes OpenVINO compiles a fixed-shape graph for (default: the
            app's, `STATIC_BATCHES`; others run on the dynamic graph).
    """

    def __init__(self, bundle: Bundle, *, num_threads: int | None = None,
                 backend: str = "auto", cache_dir: str | Path | None = None,
                 precision: str = "auto",
                 static_batches: Sequence[int] = STATIC_BATCHES) -> None:
        self.bundle = bundle
        self.num_threads = configure_threads(num_threads)
        self.size = bundle.preprocessing.size
        self.cam_layer_names: list[str] = list(bundle.model.cam_layer_names())
        self.uses_metadata = bundle.model.uses_metadata
        try:
            # Refused here, by layer name, rather than drawn wrong later.
            self.cam_layouts = infer_layouts(bundle.model, self.cam_layer_names, self.size,
                                             bundle.config.meta_dim if self.uses_metadata else 0)
        except CamLayoutError as err:
            raise BundleError(f"bundle {bundle.bundle_id}: {err}") from None
        self._runner = make_runner(
            bundle.model, self.cam_layer_names, size=self.size,
            meta_dim=bundle.config.meta_dim if self.uses_metadata else 0, backend=backend,
            num_threads=self.num_threads, cache_key=bundle.info.get("weights_sha256"),
            cache_dir=cache_dir, precision=precision, gate=bundle.info.get(PRECISION_GATE_KEY),
            static_batches=static_batches)
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str | os.PathLike, *, verify_hash: bool = True,
                  **kwargs: Any) -> Engine:
        """An engine on a bundle folder (or its bundle.json); ``kwargs`` go to `Engine`.

        ``verify_hash`` checks the weights' SHA-256 against bundle.json; BundleError says why a
        folder is not a usable bundle.
        """
        return cls(load_bundle(path, verify_hash=verify_hash), **kwargs)

    @property
    def bundle_id(self) -> str:
        """The bundle's id (name + weights hash prefix)."""
        return self.bundle.bundle_id

    @property
    def backend(self) -> str:
        """The execution backend in use."""
        return self._runner.name

    @property
    def precision(self) -> str:
        """The backend's inference precision ("fp32" or "bf16")."""
        return self._runner.precision

    @property
    def threshold(self) -> float:
        """The default decision threshold."""
        return self.bundle.threshold

    @property
    def threshold_name(self) -> str:
        """Name of the default decision threshold."""
        return self.bundle.default_threshold_name

    # -- input -------------------------------------------------------------------------------

    def _load(self, image: Any) -> Image.Image:
        if image is None:
            raise InputError("No image was provided: upload a dermoscopy photo")
        if isinstance(image, np.ndarray):
            try:
                image = Image.fromarray(image)
            except (TypeError, ValueError) as err:
                raise InputError(f"The image array cannot be used ({err})") from None
        if not isinstance(image, (str, os.PathLike, bytes, Image.Image)):
            raise InputError(f"Unsupported image input of type {type(image).__name__}: give "
                             "a file path, the file's bytes or a PIL image")
        try:
            return self.bundle.preprocessing.load(image)
        except ImageError as err:
            raise InputError(f"Image rejected: {err}") from None

    def check_image(self, image: Any) -> None:
        """Decode `image` as `prepare` would and drop it: raises the InputError an analysis
        would raise (not an image, corrupt, too large or too small), else returns None."""
        self._load(image)

    def _metadata(self, age: Any, sex: Any, site: Any) -> tuple[np.ndarray, dict[str, Any]]:
        enc = self.bundle.encoder
        try:
            a, s, t = enc.validate(age, sex, site)
            vector = enc.encode(a, s, t)
        except MetadataError as err:
            raise InputError(f"Metadata rejected: {err}") from None
        return vector, {"age": None if math.isnan(a) else a, "sex": s, "site": t}

    def prepare(self, image: Any, age: Any = None, sex: Any = None, site: Any = None,
                timings: dict[str, float] | None = None, *,
                model_view: np.ndarray | None = None) -> Prepared:
        """Validate and preprocess one input exactly as evaluation does.

        Args:
            image: a path, the file's bytes, a PIL image or a uint8 array (ignored when
                `model_view` is given).
            age, sex, site: the metadata (see `predict`).
            timings: stage timings are added here (ms).
            model_view: the exact (S, S, 3) uint8 image an earlier analysis fed the model
                (`Analysis.model_view`): re-analyses it with other metadata without decoding
                or preprocessing the original again.

        Raises:
            InputError: bad image or metadata, with a readable message.
        """
        timings = {} if timings is None else timings
        with _timed(timings, "metadata"):
            # Metadata first: it is cheap, and a typo should not wait for a large decode.
            meta, metadata = self._metadata(age, sex, site)
        img = None
        if model_view is None:
            with _timed(timings, "load"):
                img = self._load(image)
        with _timed(timings, "preprocess"):
            view = (self._checked_view(model_view) if img is None
                    else self.bundle.preprocessing.model_view(img))
            x = self.bundle.preprocessing.normalize(view)
        return Prepared(view, x, meta if self.uses_metadata else None, metadata)

    def _checked_view(self, view: np.ndarray) -> np.ndarray:
        view = np.asarray(view)
        if view.dtype != np.uint8 or view.shape != (self.size, self.size, 3):
            raise InputError(f"a model view must be uint8 ({self.size}, {self.size}, 3), got "
                             f"{view.dtype} {view.shape}")
        return view

    # -- inference ---------------------------------------------------------------------------

    def predict(self, image: Any, age: Any = None, sex: Any = None, site: Any = None) -> float:
        """The decision probability for one image (no CAM): the bundle's decision score
        (single view, or the mean of the 8 views), calibrated.

        Args:
            image: a path, the file's bytes, a PIL image or a uint8 array.
            age: years in [0, 120], or None/"" for unknown.
            sex: "male", "female", or None/"unknown".
            site: a canonical anatomic site (`data.sites.SITES`), or None/"unknown".

        Raises:
            InputError: bad image or metadata.
        """
        p = self.prepare(image, age, sex, site)
        rule = self.bundle.decision
        batch = torch.from_numpy(p.image[None])
        images = (dihedral_views(batch) if rule.needs_tta else batch).numpy()
        meta = None if p.meta is None else np.repeat(p.meta[None], len(images), axis=0)
        with self._lock:
            logits, _ = self._runner(images, meta, with_activations=False)
        return float(rule.decide(logits_to_probability(logits).numpy()[None])[0])

    def predict_batch(self, images: np.ndarray, meta: np.ndarray | None, *,
                      classes: bool = False) -> np.ndarray:
        """Probabilities for already preprocessed inputs (for evaluation).

        Args:
            images: float32 (N, 3, S, S) from `bundle.preprocessing`.
            meta: float32 (N, D) from `bundle.encoder` (ignored for an image-only model).
            classes: a diagnosis bundle's class probabilities instead of P(melanoma).

        Returns:
            float64 (N,) melanoma probabilities, or (N, K) class probabilities.
        """
        to_probs = (logits_to_class_probabilities if classes and self.bundle.classes
                    else logits_to_probability)
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"images must be (N, 3, {self.size}, {self.size}), got "
                             f"{images.shape}")
        if self.uses_metadata:
            if meta is None or len(meta) != len(images):
                raise ValueError("this model uses metadata: pass one encoded row per image")
            meta = np.asarray(meta, dtype=np.float32)
        out = []
        for start in range(0, len(images), PREDICT_CHUNK):
            chunk_meta = meta[start:start + PREDICT_CHUNK] if self.uses_metadata else None
            with self._lock:
                logits, _ = self._runner(images[start:start + PREDICT_CHUNK], chunk_meta,
                                         with_activations=False)
            out.append(to_probs(logits).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)

    def heatmap_target(self, method: Any, heatmap_class: Any) -> tuple[str, str | None]:
        """Check a heatmap request (`models.explain.gradcam.resolve_request`); InputError if bad."""
        try:
            return resolve_request(method, heatmap_class, self.bundle.classes)
        except ValueError as err:
            raise InputError(str(err)) from None

    def analyze(self, image: Any, age: Any = None, sex: Any = None, site: Any = None, *,
                tta: bool = True, cam: bool = True,
                model_view: np.ndarray | None = None, heatmap: str = EIGENCAM,
                heatmap_class: str | None = None) -> Analysis:
        """Probability, 8-view TTA and per-layer EigenCAM from one batched forward pass.

        Args:
            image: a path, the file's bytes, a PIL image or a uint8 array.
            age: years in [0, 120], or None/"" for unknown.
            sex: "male", "female", or None/"unknown".
            site: a canonical anatomic site, or None/"unknown".
            tta: score the 8 dihedral views (one batch).
            cam: compute the EigenCAM maps (from the same pass).
            model_view: re-analyse an earlier analysis' `model_view` instead of `image`
                (e.g. with other metadata); see `prepare`.
            heatmap: "eigencam" (from the same pass) or "gradcam" (one more eager forward
                and backward pass of the identity view, `models.explain.gradcam`).
            heatmap_class: what a Grad-CAM explains: a diagnosis model's class name (None =
                the decided class, the highest probability); a melanoma model explains its
                melanoma output.

        Returns:
            An Analysis.

        Raises:
            InputError: bad image or metadata, with a readable message.
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        rule = self.bundle.decision
        tta = tta or rule.needs_tta  # the decision needs every view
        method, explained = self.heatmap_target(heatmap, heatmap_class)  # cheap checks first
        eigen = cam and method == EIGENCAM
        p = self.prepare(image, age, sex, site, timings, model_view=model_view)
        batch = torch.from_numpy(p.image[None])
        if tta:
            batch = dihedral_views(batch)  # view-major: row 0 is the identity view
        images = batch.numpy()
        meta = None if p.meta is None else np.repeat(p.meta[None], len(images), axis=0)
        with self._lock:
            with _timed(timings, "forward"):
                logits, acts = self._runner(images, meta, with_activations=eigen)
            with _timed(timings, "cam"), torch_threads(1):
                grids = feature_maps(acts, self.cam_layouts) if eigen else []
                cams = [CamLayer(name, (int(g.shape[-2]), int(g.shape[-1])), cam_map(g, self.size))
                        for name, g in zip(self.cam_layer_names, grids, strict=False)]
            differential = self._differential(logits, tta)
            if cam and method == GRADCAM:
                explained = explained or self._decided_class(differential)
                with _timed(timings, "cam"):
                    cams = self._gradcam(p, explained)
        probs = logits_to_probability(logits).numpy()
        shown = rule.calibrate(probs)
        stats: dict[str, float | None] = dict.fromkeys(("mean", "std", "min", "max"))
        views: list[dict[str, Any]] = []
        if tta:
            views = [{"view": v, "probability": float(q)} for v, q in zip(VIEW_NAMES, shown,
                                                                           strict=True)]
            stats = {"mean": float(rule.calibrate(probs.mean())), "std": float(shown.std()),
                     "min": float(shown.min()), "max": float(shown.max())}
        decided = float(rule.decide(probs[None])[0])
        timings["total"] = (time.perf_counter() - start) * 1000.0
        threshold = self.threshold
        return Analysis(
            probability=float(shown[0]), threshold=threshold,
            threshold_name=self.threshold_name,
            decision=ABOVE if decided >= threshold else BELOW, tta=views,
            tta_mean=stats["mean"], tta_std=stats["std"], tta_min=stats["min"],
            tta_max=stats["max"], cams=cams, model_view=p.model_view, metadata=p.metadata,
            timings_ms=timings, model=self.bundle_id, backend=self.backend,
            decision_probability=decided, decision_score=rule.score,
            calibration=rule.method, heatmap_method=method if cam else EIGENCAM,
            heatmap_class=explained if cam and method == GRADCAM else None, **differential)

    def _decided_class(self, differential: dict[str, Any]) -> str:
        """The class a Grad-CAM explains by default: the highest probability (TTA mean when
        there is one), or a melanoma model's one output."""
        table = differential.get("classes_tta_mean") or differential.get("classes")
        return max(table, key=table.get) if table else MELANOMA_OUTPUT

    def _gradcam(self, p: Prepared, explained: str) -> list[CamLayer]:
        """Grad-CAM of the identity view for `explained` (eager PyTorch, under the lock)."""
        classes = list(self.bundle.classes or [])
        target = classes.index(explained) if classes else None
        meta = None if p.meta is None else torch.from_numpy(p.meta)
        maps = gradcam_maps(self.bundle.model, self.cam_layer_names, torch.from_numpy(p.image),
                            meta, target, self.size, self.cam_layouts)
        return [CamLayer(name, resolution, heatmap)
                for name, (resolution, heatmap) in zip(self.cam_layer_names, maps, strict=True)]

    def _differential(self, logits: np.ndarray, tta: bool) -> dict[str, Any]:
        """A diagnosis model's class probabilities: identity view and TTA mean (else {})."""
        class_probs = logits_to_class_probabilities(logits)
        if class_probs is None:
            return {}
        names = self.bundle.classes
        table = class_probs.numpy()
        return {"classes": dict(zip(names, map(float, table[0]), strict=True)),
                "classes_tta_mean": dict(zip(names, map(float, table.mean(axis=0)), strict=True))
                if tta else None}
