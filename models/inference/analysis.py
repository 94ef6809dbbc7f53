"""What `Engine.analyze` returns for one image: the probabilities, the TTA views, the per-layer
heatmaps and the exact image the model saw, with their JSON summary and colour overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.explain.gradcam import EIGENCAM
from models.explain.overlay import overlay

__all__ = ["Analysis", "CamLayer"]


@dataclass
class CamLayer:
    """One layer's EigenCAM.

    Attributes:
        name: module name in the model (e.g. "backbone.blocks.2").
        resolution: (h, w) of the layer's activation grid.
        heatmap: float32 (S, S) in [0, 1], aligned pixel for pixel with `Analysis.model_view`.
    """

    name: str
    resolution: tuple[int, int]
    heatmap: np.ndarray = field(repr=False)


@dataclass
class Analysis:
    """Everything `Engine.analyze` computes for one image.

    Attributes:
        probability: melanoma probability of the un-augmented (identity) view, through the
            bundle's calibration map; when TTA is on it comes from the identity row of the TTA
            batch.
        threshold: the bundle's default decision threshold (on the decision probability's
            calibrated scale).
        threshold_name: its name (e.g. "sensitivity_target").
        decision: ABOVE ("above threshold", decision_probability >= threshold) or BELOW.
        tta: [{"view": name, "probability": p}] for the 8 dihedral views (`VIEW_NAMES` order),
            each through the calibration map; [] when TTA is off.
        tta_mean, tta_std, tta_min, tta_max: statistics over the 8 views (std: population,
            ddof=0); None when TTA is off. `tta_mean` is the calibrated mean of the views'
            model probabilities (the TTA decision score; with a calibration map it can differ
            slightly from the average of the listed calibrated views).
        decision_probability: the probability decided on (`Engine.predict` returns it): the
            bundle's decision score (`models.bundle.decision`), calibrated.
        decision_score: "single" or "tta_mean".
        calibration: the calibration method ("platt", "temperature") or None.
        cams: per CAM layer, early -> late; [] when CAM is off.
        heatmap_method: "eigencam" (class-agnostic, the default) or "gradcam".
        heatmap_class: what a Grad-CAM explains: a diagnosis model's class name, or
            "melanoma" (a melanoma model's one logit); None for EigenCAM.
        model_view: (S, S, 3) uint8, the exact image the model saw.
        metadata: the validated metadata fed to the model: age (float or None when missing),
            sex and site (canonical names, "unknown" when missing).
        timings_ms: stage timings in milliseconds (load, preprocess, forward, cam, total).
        model: bundle id.
        backend: the execution backend that produced the numbers.
        classes: a diagnosis model's class probabilities of the identity view (the
            differential, in the model's class order; `probability` is its melanoma entry);
            None for a melanoma model.
        classes_tta_mean: the class probabilities averaged over the 8 TTA views (None
            without TTA or for a melanoma model).
    """

    probability: float
    threshold: float
    threshold_name: str
    decision: str
    tta: list[dict[str, Any]]
    tta_mean: float | None
    tta_std: float | None
    tta_min: float | None
    tta_max: float | None
    cams: list[CamLayer]
    model_view: np.ndarray = field(repr=False)
    metadata: dict[str, Any]
    timings_ms: dict[str, float]
    model: str = ""
    backend: str = ""
    classes: dict[str, float] | None = None
    classes_tta_mean: dict[str, float] | None = None
    decision_probability: float | None = None
    decision_score: str = "single"
    calibration: str | None = None
    heatmap_method: str = EIGENCAM
    heatmap_class: str | None = None

    def __post_init__(self) -> None:
        if self.decision_probability is None:
            self.decision_probability = self.probability

    @property
    def cam_layer_names(self) -> list[str]:
        """Names of the CAM layers, early -> late."""
        return [c.name for c in self.cams]

    def overlays(self, alpha: float = 0.5, colormap: str = "jet") -> list[np.ndarray]:
        """Colour overlays of every CAM on `model_view` (see `models.explain.overlay.overlay`)."""
        return [overlay(self.model_view, c.heatmap, alpha, colormap) for c in self.cams]

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable summary (no image data)."""
        return {
            "probability": self.probability,
            "threshold": self.threshold,
            "threshold_name": self.threshold_name,
            "decision": self.decision,
            "decision_probability": self.decision_probability,
            "decision_score": self.decision_score,
            "calibration": self.calibration,
            "tta": [dict(v) for v in self.tta],
            "tta_mean": self.tta_mean,
            "tta_std": self.tta_std,
            "tta_min": self.tta_min,
            "tta_max": self.tta_max,
            "cam_layers": self.cam_layer_names,
            "cam_resolutions": [list(c.resolution) for c in self.cams],
            "heatmap_method": self.heatmap_method,
            "heatmap_class": self.heatmap_class,
            "metadata": dict(self.metadata),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "model": self.model,
            "backend": self.backend,
            **({"classes": dict(self.classes),
                "classes_tta_mean": None if self.classes_tta_mean is None
                else dict(self.classes_tta_mean)} if self.classes is not None else {}),
        }
