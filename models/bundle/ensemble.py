"""Ensembles of bundles: combining member scores, their thresholds, and what they accept.

Lives in `models/` (below evaluation and the app) so that every entry point that serves or
scores bundles combines them by the same rules.

Mean probability keeps a probability (so calibration and the members' thresholds still mean
something). Rank average makes members with differently calibrated outputs count equally,
but its score is a rank, not a probability: calibration metrics do not apply to it and no
stored threshold fits it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from configs.choices import COMBINERS
from models.bundle.atomic import atomic_folder
from models.bundle.io import OPERATING_CURVE_KEY, Bundle, BundleError, load_bundle
from models.bundle.operating import OperatingCurve


class CompatibilityError(ValueError):
    """Data (or another member) that a bundle cannot take; the message names what and why."""


def mean_probability(scores: np.ndarray) -> np.ndarray:
    """Mean over members.

    Args:
        scores: (M, N) member probabilities.

    Returns:
        (N,) float64.
    """
    return np.asarray(scores, dtype=np.float64).mean(axis=0)


def normalized_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1]: lowest 0, highest 1, ties share their average rank.

    Args:
        x: (N,) scores.

    Returns:
        (N,) float64; 0.5 everywhere when N == 1 or all scores tie.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return np.full(x.shape, 0.5)
    return (rankdata(x, method="average") - 1.0) / (x.shape[0] - 1.0)


def rank_average(scores: np.ndarray) -> np.ndarray:
    """Mean over members of each member's normalised ranks.

    Args:
        scores: (M, N) member scores.

    Returns:
        (N,) float64 in [0, 1]; unchanged by any strictly increasing transform of a member.
    """
    scores = np.asarray(scores, dtype=np.float64)
    return np.mean([normalized_ranks(row) for row in scores], axis=0)


def combine(scores: np.ndarray | Sequence[np.ndarray], method: str = "mean",
            weights: Sequence[float] | None = None) -> np.ndarray:
    """Combine member scores with `method` ("mean", "rank" or "weighted").

    Args:
        scores: (M, N) member scores (or a list of M arrays of length N).
        method: "mean", "rank", or "weighted" (a weighted mean probability).
        weights: M non-negative member weights, for "weighted" (normalised here).

    Returns:
        (N,) combined scores; a single member is returned as is for "mean".
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"scores must be (members, rows), got shape {arr.shape}")
    if method == "mean":
        return mean_probability(arr)
    if method == "rank":
        return rank_average(arr)
    if method == "weighted":
        return np.average(arr, axis=0, weights=_checked_weights(weights, arr.shape[0]))
    raise ValueError(f"ensemble method must be one of {COMBINERS}, got {method!r}")


def _checked_weights(weights: Sequence[float] | None, n_members: int) -> np.ndarray:
    w = np.asarray(weights if weights is not None else [], dtype=np.float64)
    if w.shape != (n_members,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"'weighted' needs {n_members} non-negative weights, got {weights!r}")
    return w / w.sum()


def auroc_weights(members: Sequence[Bundle]) -> list[float]:
    """Member weights from each bundle's own validation AUROC (normalised to sum 1).

    Raises:
        EnsembleError: a member records no validation AUROC.
    """
    aurocs = []
    for m in members:
        value = ((m.info.get("metrics") or {}).get("validation") or {}).get("auroc")
        if value is None:
            raise EnsembleError(f"bundle {m.bundle_id} records no validation AUROC: it cannot "
                                "be weighted by it")
        aurocs.append(float(value))
    return [float(v) for v in _checked_weights(aurocs, len(aurocs))]


@dataclass(frozen=True)
class Combination:
    """A combiner with its weights: how member scores become the ensemble's score."""

    method: str = "mean"
    weights: tuple[float, ...] | None = None

    def __call__(self, scores: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The combined (N,) scores of (M, N) member scores."""
        return combine(scores, self.method, self.weights)

    @property
    def probabilistic(self) -> bool:
        """Whether the combined score is a probability (thresholds and calibration apply)."""
        return self.method != "rank"

    @classmethod
    def of(cls, method: str, members: Sequence[Bundle]) -> Combination:
        """`method` for these members (weights from their validation AUROC if weighted)."""
        if method == "weighted":
            return cls(method, tuple(auroc_weights(members)))
        return cls(method)


def ensemble_thresholds(member_thresholds: Sequence[Mapping[str, float]],
                        method: str, weights: Sequence[float] | None = None
                        ) -> tuple[dict[str, float], str]:
    """``(thresholds by name, a sentence for the report)`` for the combined score.

    For "mean" ("weighted"), each threshold name every member stores gets the (weighted) mean of
    the members' values (each chosen on that member's own validation fold). For "rank" there are
    none: stored thresholds are probabilities and a rank is not.
    """
    if len(member_thresholds) == 1:
        return dict(member_thresholds[0]), "the bundle's stored thresholds"
    if method == "rank":
        return {}, ("rank average is not a probability: no stored threshold applies "
                    "(only 0.5 = upper half of the ranking is reported)")
    common = set(member_thresholds[0]).intersection(*map(set, member_thresholds[1:]))
    w = (_checked_weights(weights, len(member_thresholds)) if method == "weighted"
         else np.full(len(member_thresholds), 1.0 / len(member_thresholds)))
    out = {name: float(np.dot(w, [t[name] for t in member_thresholds]))
           for name in member_thresholds[0] if name in common}
    kind = "weighted mean" if method == "weighted" else "mean"
    return out, f"{kind} of the members' stored thresholds, per name"


def differing_outputs(bundles: Sequence[Bundle]) -> str | None:
    """Each bundle's task (and classes) listed, if they do not all predict the same thing.

    Returns:
        "id: task [classes]; ..." when the tasks or class lists differ, else None.
    """
    if len({(b.task, b.classes) for b in bundles}) <= 1:
        return None
    return "; ".join(f"{b.bundle_id}: {b.task}" + (f" {list(b.classes)}" if b.classes else "")
                     for b in bundles)


def check_compatibility(bundles: Sequence[Bundle], df: pd.DataFrame) -> None:
    """Every sex and site value of the dataset must be in each bundle's vocabulary.

    Args:
        bundles: the members (a single bundle is a one-member list).
        df: a canonical table (columns ``sex`` and ``site``).

    Members must also predict the same thing: all melanoma models, or diagnosis models with
    the same classes (their class probabilities are averaged column by column).

    Raises:
        CompatibilityError: naming the bundle, the column, the values and their row counts,
            or the members whose tasks or classes differ.
    """
    differing = differing_outputs(bundles)
    if differing:
        raise CompatibilityError(f"these models cannot be combined: their tasks or classes "
                                 f"differ ({differing})")
    for b in bundles:
        if not b.model.uses_metadata:
            continue  # an image-only model never sees the metadata
        for column, vocabulary in (("site", b.encoder.sites), ("sex", b.encoder.sexes)):
            counts = df[column].value_counts()
            outside = {str(v): int(n) for v, n in counts.items() if v not in vocabulary}
            if outside:
                listed = ", ".join(f"{v!r} ({n} rows)" for v, n in outside.items())
                raise CompatibilityError(
                    f"dataset/bundle mismatch: {column} value(s) {listed} are not in bundle "
                    f"{b.bundle_id}'s {column} vocabulary {list(vocabulary)}")


# -- Ensemble bundles: a folder with a manifest naming member bundles ----------------------

MANIFEST_FILE = "ensemble.json"
ENSEMBLE_FORMAT = "melanoma-ensemble"


class EnsembleError(ValueError):
    """A folder is not a usable ensemble (bad manifest, missing or tampered member)."""


@dataclass
class Ensemble:
    """A loaded ensemble: its members, how they combine, and its own decision thresholds.

    Attributes:
        path: the ensemble folder.
        members: the member bundles, in manifest order.
        combiner: one of COMBINERS.
        thresholds: decision thresholds chosen on the ensemble's own scores (by name).
        default_threshold_name: the one used for decisions.
        info: the manifest.
    """

    path: Path
    members: list[Bundle]
    combiner: str
    thresholds: dict[str, float]
    default_threshold_name: str
    info: dict[str, Any] = field(repr=False)
    weights: tuple[float, ...] | None = None

    @property
    def combination(self) -> Combination:
        """How the members' scores combine (combiner and weights)."""
        return Combination(self.combiner, self.weights)

    @property
    def ensemble_id(self) -> str:
        """Name plus a digest of the members' weights."""
        return str(self.info["ensemble_id"])


def is_ensemble(path: str | Path) -> bool:
    """True for a folder holding an ensemble manifest."""
    return (Path(path) / MANIFEST_FILE).is_file()


def save_ensemble(out_dir: str | Path, members: Sequence[Bundle], *, name: str,
                  combiner: str = "mean", thresholds: Mapping[str, float] | None = None,
                  default_threshold: str | None = None, notes: str = "",
                  weights: Sequence[float] | None = None,
                  operating_curve: OperatingCurve | None = None,
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write an ensemble manifest that refers to member bundles by relative path and SHA-256.

    Args:
        out_dir: the ensemble folder (created).
        members: loaded member bundles (their folders stay where they are).
        name: the ensemble's name (part of its id).
        combiner: one of COMBINERS.
        thresholds: decision thresholds chosen on the ensemble's own scores; default: the
            members' mean thresholds (`ensemble_thresholds`).
        default_threshold: the threshold name used for decisions (default: the first member's).
        notes: how the thresholds were chosen, for people reading the manifest.
        weights: member weights for "weighted" (default: from their validation AUROC).
        operating_curve: the validation curve of the ensemble's score (the app's threshold
            control reads it).
        extra: more manifest entries (e.g. `eval.calibrate`'s ``decision_fit`` record).

    Returns:
        The ensemble folder.

    Raises:
        EnsembleError: members that cannot be combined, or an unknown combiner.
    """
    if combiner not in COMBINERS:
        raise EnsembleError(f"combiner {combiner!r} is not one of {COMBINERS}")
    check_members(members)
    out = Path(out_dir)
    if combiner == "weighted":
        weights = list(_checked_weights(weights, len(members)) if weights is not None
                       else auroc_weights(members))
    else:
        weights = None
    if thresholds is None:
        thresholds, notes = ensemble_thresholds([m.thresholds for m in members], combiner,
                                                weights)
    default = default_threshold or members[0].default_threshold_name
    digest = hashlib.sha256("".join(m.info["weights_sha256"] for m in members).encode())
    manifest = {
        "format": ENSEMBLE_FORMAT, "schema_version": 1,
        "ensemble_id": f"{name}-{digest.hexdigest()[:12]}", "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "combiner": combiner, "weights": weights,
        "members": [{"path": os.path.relpath(m.path, out), "bundle_id": m.bundle_id,
                     "weights_sha256": m.info["weights_sha256"]} for m in members],
        "thresholds": {k: float(v) for k, v in thresholds.items()},
        "default_threshold": default, "thresholds_rule": notes,
        **({OPERATING_CURVE_KEY: operating_curve.to_dict()} if operating_curve else {}),
        **dict(extra or {}),
    }
    with atomic_folder(out) as tmp:  # a sibling of `out`: the relative member paths hold
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def check_members(members: Sequence[Bundle]) -> None:
    """Members must share the task and score the same thing (melanoma probability, and the
    same classes for diagnosis models).

    Raises:
        EnsembleError: no members, or members of different tasks or classes, naming them.
    """
    if not members:
        raise EnsembleError("an ensemble needs at least one member")
    differing = differing_outputs(members)
    if differing:
        raise EnsembleError(f"members of different tasks or classes cannot be combined: "
                            f"{differing}")


def load_ensemble(path: str | Path) -> Ensemble:
    """Load an ensemble folder: every member bundle, checked against the manifest's SHA-256.

    Raises:
        EnsembleError: unreadable manifest, missing member, or a member whose weights are not
            the ones the manifest recorded (replaced or tampered with).
    """
    folder = Path(path)
    try:
        info = json.loads((folder / MANIFEST_FILE).read_text())
        if info.get("format") != ENSEMBLE_FORMAT:
            raise ValueError(f"format is {info.get('format')!r}, not {ENSEMBLE_FORMAT!r}")
        entries, combiner = list(info["members"]), str(info["combiner"])
        thresholds = {k: float(v) for k, v in info["thresholds"].items()}
        default = str(info["default_threshold"])
        weights = info.get("weights")
        if combiner == "weighted":
            weights = tuple(float(w) for w in _checked_weights(weights, len(entries)))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EnsembleError(f"{folder / MANIFEST_FILE}: not a usable ensemble manifest "
                            f"({err})") from None
    if combiner not in COMBINERS or default not in thresholds:
        raise EnsembleError(f"{folder / MANIFEST_FILE}: combiner {combiner!r} or default "
                            f"threshold {default!r} is not valid")
    members = []
    for entry in entries:
        member_dir = (folder / entry["path"]).resolve()
        try:
            bundle = load_bundle(member_dir)
        except BundleError as err:
            raise EnsembleError(f"ensemble {folder}: member {entry['path']}: {err}") from None
        if bundle.info["weights_sha256"] != entry["weights_sha256"]:
            raise EnsembleError(
                f"ensemble {folder}: member {entry['path']} has weights "
                f"{bundle.info['weights_sha256'][:12]}..., the manifest recorded "
                f"{entry['weights_sha256'][:12]}...: it was replaced or tampered with")
        members.append(bundle)
    check_members(members)
    return Ensemble(folder, members, combiner, thresholds, default, info,
                    weights if combiner == "weighted" else None)
