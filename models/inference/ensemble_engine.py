"""Serving an ensemble like one bundle: every member scores, one member draws the heatmaps.

`EnsembleEngine` has the interface the app uses of `models.inference.engine.Engine` (`bundle`,
`analyze`, `backend`, `num_threads`). Probability and the 8 TTA views come from every member,
combined by the ensemble's combiner and decided at the ensemble's own threshold on the combined
members' decision probabilities (each member's own decision score through its own calibration
map: for members deciding on the calibrated TTA mean, the mean of those, which is the score
`eval.evaluate` reports for the ensemble, so the app decides on what was evaluated); the EigenCAM
heatmaps come from one member (per call `analyze(cam_member=...)`, by default the engine's
`cam_member`, the first unless set), and members that preprocess alike share one decode and
preprocessing of the image, so the latency grows with the members' forward passes only.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.bundle.ensemble import Ensemble, EnsembleError, is_ensemble, load_ensemble
from models.bundle.io import OPERATING_CURVE_KEY, Bundle
from models.inference.engine import (
    ABOVE,
    BELOW,
    EIGENCAM,
    GRADCAM,
    MELANOMA_OUTPUT,
    Analysis,
    Engine,
    InputError,
)


class EnsembleEngine:
    """An ensemble behind the single-engine interface.

    Args:
        ensemble: a loaded ensemble.
        num_threads, backend, cache_dir: passed to each member's `Engine`.
        cam_member: index of the member whose heatmaps are shown by default.

    Raises:
        EnsembleError: `cam_member` out of range, or members whose metadata vocabularies differ
            (one form cannot feed them all).
    """

    def __init__(self, ensemble: Ensemble, *, num_threads: int | None = None,
                 backend: str = "auto", cache_dir: str | Path | None = None,
                 cam_member: int = 0, precision: str = "auto") -> None:
        members = ensemble.members
        if not 0 <= cam_member < len(members):
            raise EnsembleError(f"cam member {cam_member} does not exist: the ensemble has "
                                f"{len(members)} members")
        if ensemble.combiner == "rank":
            raise EnsembleError("a rank-average ensemble ranks a set of images; the app scores "
                                "one image at a time: use a mean or weighted ensemble")
        vocabularies = {(tuple(m.encoder.sexes), tuple(m.encoder.sites)) for m in members}
        if len(vocabularies) > 1:
            raise EnsembleError("members use different sex/site vocabularies: the app cannot "
                                "feed them from one form")
        self.ensemble = ensemble
        self.cam_member = cam_member
        self.engines = [Engine(b, num_threads=num_threads, backend=backend,
                               cache_dir=cache_dir, precision=precision) for b in members]
        prep = {json.dumps(b.preprocessing.to_dict(), sort_keys=True) for b in members}
        self.shared_preprocessing = len(prep) == 1
        self.bundle = self._facade(members[cam_member])

    def _facade(self, cam: Bundle) -> Bundle:
        """The cam member's bundle, carrying the ensemble's identity and decision rule."""
        e = self.ensemble
        info = {**cam.info, "bundle_id": e.ensemble_id, "name": e.info.get("name"),
                "created": e.info.get("created"), "default_threshold": e.default_threshold_name,
                "members": [m.bundle_id for m in e.members], "combiner": e.combiner,
                "cam_member": cam.bundle_id, "metrics": {},
                OPERATING_CURVE_KEY: e.info.get(OPERATING_CURVE_KEY)}
        return dataclasses.replace(cam, thresholds=dict(e.thresholds), info=info)

    def member_index(self, member: Any) -> int:
        """The index of a member given by its bundle id, its index, or None (the default).

        Raises:
            InputError: no such member (the message lists them).
        """
        if member is None or (isinstance(member, str) and not member.strip()):
            return self.cam_member
        ids = self.members
        text = str(member).strip()
        if text in ids:
            return ids.index(text)
        if text.isdigit() and int(text) < len(ids):
            return int(text)
        raise InputError(f"heatmap member {text!r} is not in this ensemble: use a member's "
                         f"index (0-{len(ids) - 1}) or bundle id ({', '.join(ids)})")

    @property
    def members(self) -> list[str]:
        """The members' bundle ids."""
        return [m.bundle_id for m in self.ensemble.members]

    @property
    def bundle_id(self) -> str:
        """The ensemble's id."""
        return self.ensemble.ensemble_id

    @property
    def backend(self) -> str:
        """The members' execution backend(s)."""
        return ",".join(sorted({e.backend for e in self.engines}))

    @property
    def precision(self) -> str:
        """The members' inference precision(s)."""
        return ",".join(sorted({e.precision for e in self.engines}))

    @property
    def num_threads(self) -> int:
        """Intra-op threads of each member's engine."""
        return self.engines[0].num_threads

    def check_image(self, image: Any) -> None:
        """Raise the InputError an analysis would raise for this image (`Engine.check_image`
        of every member: each decodes with its own preprocessing limits)."""
        for engine in self.engines:
            engine.check_image(image)

    def analyze(self, image: Any, age: Any = None, sex: Any = None, site: Any = None, *,
                tta: bool = True, cam: bool = True, model_view: np.ndarray | None = None,
                cam_member: Any = None, heatmap: str = EIGENCAM,
                heatmap_class: str | None = None) -> Analysis:
        """Every member's analysis combined (see the module docstring).

        Args:
            image, age, sex, site, tta, cam, model_view: as `Engine.analyze`.
            cam_member: the member drawing the heatmaps for this call (index or bundle id;
                None = the engine's default), so each user may pick their own.
            heatmap, heatmap_class: as `Engine.analyze`; a Grad-CAM's default class is the
                ensemble's decided class, drawn on the heatmap member.

        Raises:
            InputError: bad image or metadata, an unknown member, or a model view to
                re-analyse for members that preprocess differently (upload the image again).
        """
        shown_at = self.member_index(cam_member)
        if model_view is not None and not self.shared_preprocessing:
            raise InputError("these ensemble members preprocess images differently: upload "
                             "the image again to analyse it with other metadata")
        method, explained = self.engines[shown_at].heatmap_target(heatmap, heatmap_class)
        # The ensemble's decided class is known only once every member has scored.
        later = (cam and method == GRADCAM and explained is None
                 and bool(self.engines[shown_at].bundle.classes))
        start = time.perf_counter()
        parts, view = [], model_view
        for i, engine in enumerate(self.engines):
            parts.append(engine.analyze(image, age, sex, site, tta=tta,
                                        cam=cam and i == shown_at and not later,
                                        model_view=view, heatmap=method,
                                        heatmap_class=explained))
            if self.shared_preprocessing:  # decode and preprocess once for all members
                view = parts[-1].model_view
        combine = self.ensemble.combination
        if later:
            combined = self._combined_classes([p.classes_tta_mean or p.classes for p in parts])
            decided = max(combined, key=combined.get) if combined else MELANOMA_OUTPUT
            parts[shown_at] = self.engines[shown_at].analyze(
                image, age, sex, site, tta=tta, cam=True, model_view=view,
                heatmap=method, heatmap_class=decided)
        shown = parts[shown_at]
        probability = float(combine([[p.probability] for p in parts])[0])
        views, stats = [], dict.fromkeys(("mean", "std", "min", "max"))
        if tta:
            matrix = np.array([[v["probability"] for v in p.tta] for p in parts])
            combined = combine(matrix)
            views = [{"view": v["view"], "probability": float(q)}
                     for v, q in zip(shown.tta, combined, strict=True)]
            # members' calibrated TTA means, combined (a map applies after averaging)
            stats = {"mean": float(combine([[p.tta_mean] for p in parts])[0]),
                     "std": float(combined.std()),
                     "min": float(combined.min()), "max": float(combined.max())}
        differential = {}
        if shown.classes is not None:  # diagnosis members (same classes: checked on loading)
            differential = {key: self._combined_classes([getattr(p, key) for p in parts])
                            for key in ("classes", "classes_tta_mean")}
        decided = float(combine([[p.decision_probability] for p in parts])[0])
        threshold = self.bundle.threshold
        timings = {**shown.timings_ms, "members": float(len(parts)),
                   "total": (time.perf_counter() - start) * 1000.0}
        return dataclasses.replace(
            shown, probability=probability, threshold=threshold,
            threshold_name=self.bundle.default_threshold_name,
            decision=ABOVE if decided >= threshold else BELOW, tta=views,
            tta_mean=stats["mean"], tta_std=stats["std"], tta_min=stats["min"],
            tta_max=stats["max"], timings_ms=timings, model=self.bundle_id, backend=self.backend,
            decision_probability=decided, decision_score=_shared(p.decision_score for p in parts),
            calibration=_shared(p.calibration for p in parts), **differential)

    def _combined_classes(self, tables: list[dict[str, float] | None]) -> dict[str, float] | None:
        """Members' class probabilities combined class by class (None without them)."""
        if any(t is None for t in tables):
            return None
        names = list(tables[0])
        combined = self.ensemble.combination(np.array([[t[c] for c in names] for t in tables]))
        return {c: float(v) for c, v in zip(names, combined, strict=True)}


def load_engine(path: str | Path, *, cam_member: int = 0,
                **options: Any) -> Engine | EnsembleEngine:
    """The serving engine of a bundle folder or an ensemble folder (`options`: `Engine`'s).

    Raises:
        BundleError, EnsembleError: the folder is not a usable bundle or ensemble.
    """
    if is_ensemble(path):
        return EnsembleEngine(load_ensemble(path), cam_member=cam_member, **options)
    return Engine.from_path(path, **options)


def _shared(values: Any) -> Any:
    """The members' common value (a decision score or calibration method), "mixed" if they
    differ (members with different decision rules can still be combined)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else "mixed"
