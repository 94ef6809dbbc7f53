"""The decision rule a bundle records: which score is decided on, and its calibration map.

One rule per bundle, read back by the engine (app), evaluation and prediction alike:

- ``score``: ``"single"`` (the un-augmented view's probability) or ``"tta_mean"`` (the mean of
  the 8 dihedral views' probabilities, which ranks better when measured so).
- ``calibration``: ``None`` or a monotone map of that score, ``{"method": "platt", "slope",
  "intercept"}`` or ``{"method": "temperature", "temperature"}`` (plain numbers, see
  `models.bundle.calibration`), plus free-form provenance (what it was fitted on).

The calibrated decision probability is ``calibrate(score)``: the map is applied *after* the
views are averaged, so the ranking (AUROC, pAUC) of the decision score is exactly the raw
score's. The bundle's thresholds and operating curve are on this calibrated scale. Bundles
without a ``decision`` entry decide on the single view, uncalibrated (as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.bundle.calibration import apply_platt, apply_temperature

DECISION_KEY = "decision"
SCORES = ("single", "tta_mean")
METHODS = ("platt", "temperature")


class DecisionRuleError(ValueError):
    """A decision rule that cannot be used; the message says why."""


@dataclass(frozen=True)
class DecisionRule:
    """Which score decides and how it is calibrated.

    Attributes:
        score: "single" or "tta_mean".
        calibration: None, or the calibration map's parameters and provenance.
    """

    score: str = "single"
    calibration: dict[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise DecisionRuleError(f"decision score must be one of {SCORES}, got "
                                    f"{self.score!r}")
        if self.calibration is not None:
            method = self.calibration.get("method")
            if method not in METHODS:
                raise DecisionRuleError(f"calibration method must be one of {METHODS}, got "
                                        f"{method!r}")
            self.calibrate(np.array([0.5]))  # validates the parameters

    @property
    def needs_tta(self) -> bool:
        """Whether the decision score needs the 8 dihedral views."""
        return self.score == "tta_mean"

    @property
    def method(self) -> str | None:
        """The calibration method's name, or None."""
        return None if self.calibration is None else str(self.calibration["method"])

    def calibrate(self, p: Any) -> np.ndarray:
        """The calibrated probabilities of raw scores `p` (unchanged without a map).

        Raises:
            DecisionRuleError: missing or invalid map parameters.
        """
        p = np.asarray(p, dtype=np.float64)
        cal = self.calibration
        if cal is None:
            return p
        try:
            if cal["method"] == "platt":
                return apply_platt(p, float(cal["slope"]), float(cal["intercept"]))
            return apply_temperature(p, float(cal["temperature"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DecisionRuleError(f"invalid {cal.get('method')} calibration {cal}: "
                                    f"{err}") from None

    def score_of(self, views: Any) -> np.ndarray:
        """Raw decision scores from per-view probabilities (N, V); column 0 is the identity.

        Raises:
            DecisionRuleError: "tta_mean" asked of a single view.
        """
        views = np.asarray(views, dtype=np.float64)
        if views.ndim == 1:
            views = views[:, None]
        if self.needs_tta:
            if views.shape[1] < 2:
                raise DecisionRuleError("this bundle decides on the TTA mean: score its 8 "
                                        "views (turn TTA on)")
            return views.mean(axis=1)
        return views[:, 0]

    def decide(self, views: Any) -> np.ndarray:
        """Calibrated decision probabilities from per-view probabilities (N, V)."""
        return self.calibrate(self.score_of(views))

    def describe(self) -> str:
        """One line for reports and the app, e.g. "mean of 8 views, Platt-calibrated"."""
        score = "mean of the 8 TTA views" if self.needs_tta else "single view"
        return f"{score}, {self.method}-calibrated" if self.method else f"{score}, uncalibrated"

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in bundle.json."""
        return {"score": self.score,
                "calibration": dict(self.calibration) if self.calibration else None}

    @classmethod
    def from_dict(cls, d: Any) -> DecisionRule:
        """Read the JSON form; None (older bundles) gives the single-view, uncalibrated rule.

        Raises:
            DecisionRuleError: not a mapping, or invalid content.
        """
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise DecisionRuleError(f"decision must be an object, got {type(d).__name__}")
        cal = d.get("calibration")
        if cal is not None and not isinstance(cal, dict):
            raise DecisionRuleError(f"decision.calibration must be an object or null, got "
                                    f"{type(cal).__name__}")
        return cls(score=d.get("score", "single"), calibration=dict(cal) if cal else None)
