"""Operating points: what a decision threshold means, from the bundle's validation scores.

Training stores, in the bundle, the validation curve of the score the app decides on (each
distinct validation score as a candidate threshold, with the sensitivity, specificity and the
share of lesions flagged at it). The app and the API read it back to move the threshold and
say what the new one does, without any validation data at hand.

A lesion is flagged when its probability is >= the threshold, the same rule as the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_POINTS = 1024  # a smooth trade-off, still small in bundle.json (~70 KB)


class OperatingPointError(ValueError):
    """A threshold or sensitivity target that cannot be used; the message says why."""


@dataclass(frozen=True)
class OperatingCurve:
    """Sensitivity, specificity and share flagged at candidate thresholds (descending).

    Attributes:
        thresholds: candidate thresholds, strictly decreasing.
        sensitivity: share of melanomas with score >= each threshold.
        specificity: share of other lesions with score < each threshold.
        flagged: share of all lesions with score >= each threshold.
        n, n_pos: validation images and melanomas the curve was measured on.
    """

    thresholds: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    flagged: np.ndarray
    n: int
    n_pos: int

    @classmethod
    def from_scores(cls, y_true: Any, y_prob: Any, max_points: int = MAX_POINTS,
                    include: Any = ()) -> OperatingCurve:
        """Measure the curve on labelled scores.

        Every distinct score is a candidate; above `max_points` an evenly spaced subset (by
        rank, both ends kept) is stored, so a lookup between two stored thresholds reports
        the nearer stored one above it (conservative: its flag rule is at least as strict).
        Thresholds in `include` (e.g. the bundle's own) are always stored, so the figures at
        them are exact.

        Args:
            y_true: 0/1 labels (1 = melanoma), both classes present.
            y_prob: scores, higher = more likely melanoma.
            max_points: most evenly spaced thresholds stored (plus `include`).
            include: thresholds to store exactly, whatever `max_points` says.

        Returns:
            The curve.

        Raises:
            OperatingPointError: lengths differ, NaN scores, or a class is missing.
        """
        y = np.asarray(y_true, dtype=np.int64).ravel()
        p = np.asarray(y_prob, dtype=np.float64).ravel()
        if len(y) != len(p) or not np.isfinite(p).all():
            raise OperatingPointError("labels and scores must have equal length, scores finite")
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == len(y):
            raise OperatingPointError("an operating curve needs melanomas and other lesions")
        extra = np.asarray(list(include), dtype=np.float64)
        thresholds = np.unique(p)[::-1]
        if len(thresholds) > max_points:
            keep = np.unique(np.linspace(0, len(thresholds) - 1, max_points).round().astype(int))
            thresholds = thresholds[keep]
        thresholds = np.unique(np.concatenate([thresholds, extra]))[::-1]
        # Counts at or above each threshold, from the sorted scores.
        order = np.sort(p)
        at_or_above = len(p) - np.searchsorted(order, thresholds, side="left")
        pos_sorted = np.sort(p[y == 1])
        pos_above = len(pos_sorted) - np.searchsorted(pos_sorted, thresholds, side="left")
        neg_above = at_or_above - pos_above
        n_neg = len(y) - n_pos
        return cls(thresholds=thresholds, sensitivity=pos_above / n_pos,
                   specificity=1.0 - neg_above / n_neg, flagged=at_or_above / len(y),
                   n=len(y), n_pos=n_pos)

    def at(self, threshold: float) -> dict[str, float]:
        """Sensitivity, specificity and share flagged when deciding at `threshold`.

        Args:
            threshold: a probability in [0, 1].

        Returns:
            {"threshold", "sensitivity", "specificity", "flagged"}.

        Raises:
            OperatingPointError: threshold outside [0, 1].
        """
        t = _probability(threshold, "threshold")
        # Smallest stored threshold >= t flags exactly the validation scores >= t (when every
        # distinct score is stored); above the highest score nothing is flagged.
        above = np.nonzero(self.thresholds >= t)[0]
        if len(above) == 0:
            return {"threshold": t, "sensitivity": 0.0, "specificity": 1.0, "flagged": 0.0}
        k = int(above[-1])
        return {"threshold": t, "sensitivity": float(self.sensitivity[k]),
                "specificity": float(self.specificity[k]), "flagged": float(self.flagged[k])}

    def threshold_for_sensitivity(self, target: float) -> float:
        """The highest stored threshold (a validation score) whose validation sensitivity reaches
        ``target``."""
        s = _probability(target, "target sensitivity")
        if s <= 0.0:
            raise OperatingPointError("target sensitivity must be above 0")
        reached = np.nonzero(self.sensitivity >= s - 1e-12)[0]
        return float(self.thresholds[int(reached[0])])

    def to_dict(self) -> dict[str, Any]:
        """JSON form for bundle.json (rates to 6 decimals; thresholds exact, as they are
        compared with probabilities)."""
        def r(a: np.ndarray) -> list[float]:
            return [round(float(v), 6) for v in a]
        return {"n": self.n, "n_pos": self.n_pos,
                "thresholds": [float(v) for v in self.thresholds],
                "sensitivity": r(self.sensitivity), "specificity": r(self.specificity),
                "flagged": r(self.flagged)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OperatingCurve:
        """Read the JSON form back.

        Raises:
            OperatingPointError: missing keys, unequal lengths or thresholds not decreasing.
        """
        try:
            arrays = [np.asarray(d[k], dtype=np.float64)
                      for k in ("thresholds", "sensitivity", "specificity", "flagged")]
            n, n_pos = int(d["n"]), int(d["n_pos"])
        except (KeyError, TypeError, ValueError) as err:
            raise OperatingPointError(f"operating curve is malformed ({err})") from None
        if len({len(a) for a in arrays}) != 1 or len(arrays[0]) == 0:
            raise OperatingPointError("operating curve arrays are empty or of unequal length")
        if np.any(np.diff(arrays[0]) >= 0):
            raise OperatingPointError("operating curve thresholds must strictly decrease")
        return cls(*arrays, n=n, n_pos=n_pos)


def _probability(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OperatingPointError(f"{what} {value!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise OperatingPointError(f"{what} {v:g} is outside 0..1")
    return v


def choose_threshold(default_name: str, default_value: float, curve: OperatingCurve | None, *,
                     threshold: Any = None, target_sensitivity: Any = None,
                     tolerance: float = 0.0) -> tuple[float, str]:
    """``(threshold, name)`` a request asks for: the default's, ``sensitivity_<target>`` or
    ``custom``.

    ``target_sensitivity`` (in (0, 1]) wins over ``threshold`` (in [0, 1]) and is read off the
    validation curve; None or "" means the bundle's default. A ``threshold`` within ``tolerance``
    of the default counts as the default (a UI slider rounds to its step). OperatingPointError for
    a value out of range, or a sensitivity target for a bundle without a stored curve.
    """
    if target_sensitivity not in (None, ""):
        if curve is None:
            raise OperatingPointError("this model stores no validation curve: a target "
                                      "sensitivity cannot be turned into a threshold; give a "
                                      "threshold instead")
        target = _probability(target_sensitivity, "target sensitivity")
        return curve.threshold_for_sensitivity(target), f"sensitivity_{target:g}"
    if threshold in (None, ""):
        return float(default_value), default_name
    t = _probability(threshold, "threshold")
    if abs(t - default_value) <= tolerance:
        return float(default_value), default_name
    return t, "custom"
