"""Fit a bundle's decision rule (score + calibration map + thresholds) on unseen predictions.

`python -m eval.calibrate --bundle B --predictions runs/eval-x/predictions.csv --out B2`
reads `eval.evaluate` predictions of bundle B on data it never trained on (pooled over every
`--predictions`), and writes bundle B2: the same weights, plus a decision rule
(`models.bundle.decision`: the single view or the TTA mean, through a Platt or temperature map
fitted
on those predictions), with the thresholds and the operating curve re-chosen on the calibrated
scale. The maps are monotone, so the ranking of the decision score does not change; the
thresholds are chosen on the pooled predictions (e.g. other clinics' images), not on the
training fold.

An ensemble folder (`ensemble.json`) is calibrated through its members: each member keeps
its own decision rule (calibrate each member first, then make the ensemble of the calibrated
members), and `eval.calibrate --bundle ENSEMBLE --predictions ...` re-chooses the ensemble's
thresholds and operating curve on `eval.evaluate` predictions of that ensemble on unseen data,
writing a new ensemble folder that refers to the same members.

A bundle that trained on every labelled source has no unseen labelled data left. `--proxy`
then fits its rule on the predictions of other bundles of the same recipe, each on a source it
never saw (the recipe's leave-one-source-out runs): the rule transfers from models trained on
less data, which the bundle records (`decision_fit.proxy`) and the model card must say.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from configs.calibration import CalibrateSettings
from configs.cli import Command
from data.readers import DatasetError
from data.readers.registry import read_dataset
from eval.metrics.calibration import brier_score, expected_calibration_error
from eval.metrics.thresholds import binary_metrics_at, select_thresholds
from eval.pipeline.errors import EvalError
from models.bundle.atomic import atomic_folder
from models.bundle.calibration import fit_platt, fit_temperature
from models.bundle.decision import DECISION_KEY, DecisionRule
from models.bundle.ensemble import Ensemble, is_ensemble, load_ensemble, save_ensemble
from models.bundle.io import (
    BUNDLE_SCHEMA_VERSION,
    META_FILE,
    OPERATING_CURVE_KEY,
    WEIGHTS_FILE,
    BundleError,
    load_bundle,
    read_bundle_info,
)
from models.bundle.operating import OperatingCurve

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def raw_scores(path: Path, bundle_id: str, score: str) -> pd.DataFrame:
    """Labels and raw (uncalibrated) decision scores of one predictions file.

    Args:
        path: an `eval.evaluate` predictions.csv (its metrics.json beside it).
        bundle_id: the bundle the predictions must come from.
        score: "single" or "tta_mean".

    Returns:
        A frame with ``label``, ``score`` and ``group_id`` (if present).

    Raises:
        EvalError: no metrics.json, another bundle or an ensemble, a calibrated bundle, no
            TTA where the score needs it, or missing columns.
    """
    metrics, ids = _made_by(path, "bundle")
    if ids != [bundle_id]:
        raise EvalError(f"{path}: made by {ids}, not by the bundle {bundle_id} alone")
    if (metrics["bundles"][0].get("decision_rule") or {}).get("calibration"):
        raise EvalError(f"{path}: made with a calibrated bundle; evaluate the uncalibrated one")
    tta = bool(metrics.get("tta"))
    if score == "tta_mean" and not tta:
        raise EvalError(f"{path}: made without --tta, but the score is the TTA mean")
    column = "prob" if score == "tta_mean" or not tta else "prob_no_tta"
    return _label_score_frame(path, "label", column)


def _made_by(path: Path, what: str) -> tuple[dict[str, Any], list[Any]]:
    """The metrics.json beside `path` and the ids of the bundles that made the predictions.

    Raises:
        EvalError: no metrics.json (`what`: "bundle" or "ensemble", for the message).
    """
    metrics_path = path.with_name(METRICS_FILE)
    if not metrics_path.is_file():
        raise EvalError(f"{path}: no {METRICS_FILE} beside it (use eval.evaluate's output "
                        f"folder, so the predictions are known to come from the {what})")
    metrics = json.loads(metrics_path.read_text())
    return metrics, [b.get("bundle_id") for b in metrics.get("bundles", [])]


def _label_score_frame(path: Path, label: str, score: str) -> pd.DataFrame:
    """``label``, ``score`` and ``group_id`` (if present) from the CSV's named columns.

    Raises:
        EvalError: a named column is missing.
    """
    df = pd.read_csv(path)
    missing = [c for c in (label, score) if c not in df.columns]
    if missing:
        raise EvalError(f"{path}: missing columns {missing}")
    out = pd.DataFrame({"label": df[label].astype(int), "score": df[score].astype(float)})
    if "group_id" in df.columns:
        out["group_id"] = df["group_id"].astype(str)
    return out


TRAINING_PREDICTIONS = "val_predictions"
RECIPE_KEYS = ("model", "preprocessing", "classes")


def _recipe(info: dict[str, Any]) -> dict[str, Any]:
    """What a bundle's scores depend on apart from its weights: network and preprocessing."""
    return {k: info.get(k) for k in RECIPE_KEYS}


def _check_left_out(path: Path, training_data: dict[str, Any] | None,
                    scored: set[str] | None = None) -> None:
    """A proxy must score sources its bundle never trained on: a leave-source-out run
    (`--val-source`), or an `eval.evaluate` run whose scored sources (`scored`) and the
    bundle's training sources are known and share none.

    Raises:
        EvalError: a fold run, an overlap (named), or training sources that were not recorded.
    """
    td = training_data or {}
    if td.get("val_sources"):
        return
    trained = set(td.get("n_per_source") or {})
    if scored and trained:
        if not scored & trained:
            return
        raise EvalError(f"{path}: its bundle trained on {sorted(scored & trained)}, which these "
                        "predictions score; a proxy scores sources its bundle never saw")
    raise EvalError(f"{path}: its bundle is a fold run (it trained on the sources it is "
                    "scored on); a proxy is a --val-source run, or an eval.evaluate run on "
                    "sources its bundle's training data (n_per_source) does not name")


def _scored_sources(metrics: dict[str, Any]) -> set[str] | None:
    """The image sources an `eval.evaluate` run scored: recorded in its metrics.json, or (for
    outputs written before they were) read again from its dataset; None if unknown or a fold.
    """
    dataset = metrics.get("dataset") or {}
    if dataset.get("fold") is not None:
        return None
    if dataset.get("sources"):
        return set(dataset["sources"])
    try:
        return set(read_dataset(dataset["path"], dataset.get("format", "auto"),
                                on_error="skip")["source"].astype(str))
    except (KeyError, DatasetError, OSError) as err:
        log.warning("scored sources of %s unknown: %s", dataset.get("path"), err)
        return None


def proxy_scores(path: Path, recipe: dict[str, Any], score: str) -> tuple[pd.DataFrame, str]:
    """Labels and raw scores of another bundle of the same recipe, and that bundle's name.

    Reads an `eval.evaluate` output (checked as in `raw_scores`, for its own bundle) or a
    `pl_train` leave-source-out run's val_predictions.csv[.gz] (single view; the run's
    bundle/bundle.json beside it, when present, must be a --val-source run of this recipe).

    Raises:
        EvalError: an ensemble or a calibrated bundle, another recipe, a fold (not a
            leave-source-out) run, the TTA mean asked of single-view predictions, or missing
            columns.
    """
    if path.with_name(METRICS_FILE).is_file():
        metrics = json.loads(path.with_name(METRICS_FILE).read_text())
        bundles = metrics.get("bundles", [])
        if len(bundles) != 1:
            raise EvalError(f"{path}: made by {len(bundles)} bundles; a proxy is one bundle")
        entry = bundles[0]
        if (entry.get("preprocessing") != recipe["preprocessing"]
                or entry.get("backbone") != (recipe["model"] or {}).get("backbone")):
            raise EvalError(f"{path}: its bundle {entry.get('bundle_id')} has another backbone "
                            "or preprocessing; a proxy must share this bundle's recipe")
        _check_left_out(path, entry.get("training_data"), _scored_sources(metrics))
        return raw_scores(path, entry.get("bundle_id"), score), str(entry.get("bundle_id"))
    if not path.name.startswith(TRAINING_PREDICTIONS):
        raise EvalError(f"{path}: neither an eval.evaluate output (no {METRICS_FILE} beside "
                        f"it) nor a training run's {TRAINING_PREDICTIONS}.csv")
    if score != "single":
        raise EvalError(f"{path}: training validation predictions are single-view; use "
                        "--score single")
    name = str(path)
    bundle_json = path.parent / "bundle" / META_FILE
    if bundle_json.is_file():
        info = json.loads(bundle_json.read_text())
        if _recipe(info) != recipe:
            raise EvalError(f"{path}: its run's bundle ({bundle_json}) has another network or "
                            "preprocessing; a proxy must share this bundle's recipe")
        _check_left_out(path, info.get("training_data"))
        name = str(info.get("bundle_id", name))
    else:
        log.warning("%s: no bundle.json beside it; its recipe is taken on trust (--fitted-on "
                    "says what it is)", path)
    return _label_score_frame(path, "target", "prob"), name


def fit_rule(y: np.ndarray, raw: np.ndarray, score: str, method: str,
             fitted_on: str) -> DecisionRule:
    """The decision rule with its map fitted on `raw` against `y` (no map for "none")."""
    if method == "none":
        return DecisionRule(score=score)
    if method == "platt":
        slope, intercept = fit_platt(y, raw)
        params: dict[str, Any] = {"slope": slope, "intercept": intercept}
    else:
        params = {"temperature": fit_temperature(y, raw)}
    return DecisionRule(score=score, calibration={
        "method": method, **params, "fitted_on": fitted_on, "n": len(y),
        "n_pos": int(y.sum()), "ece_before": expected_calibration_error(y, raw)})


def calibrated_info(info: dict[str, Any], y: np.ndarray, raw: np.ndarray,
                    rule: DecisionRule, sensitivity_target: float,
                    sources: list[str]) -> dict[str, Any]:
    """The bundle JSON with the rule, thresholds and operating curve of the calibrated score."""
    p = rule.calibrate(raw)
    chosen = select_thresholds(y, p, sensitivity_target=sensitivity_target)
    thresholds = {k: float(v) for k, v in chosen.items() if k != "sensitivity_target_value"}
    out = {k: v for k, v in info.items() if k != "_folder"}
    out["schema_version"] = BUNDLE_SCHEMA_VERSION
    out[DECISION_KEY] = rule.to_dict()
    if rule.calibration is not None:
        out[DECISION_KEY]["calibration"]["ece_after"] = expected_calibration_error(y, p)
    out["thresholds"] = thresholds
    out[OPERATING_CURVE_KEY] = OperatingCurve.from_scores(
        y, p, include=thresholds.values()).to_dict()
    out["operating_curve_source"] = (
        f"{', '.join(sources)}: {rule.describe()}; thresholds and curve chosen on these "
        f"predictions (n={len(y)}, melanomas={int(y.sum())}), sensitivity target "
        f"{sensitivity_target:g}")
    out["decision_fit"] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "predictions": sources, "sensitivity_target": sensitivity_target,
        "brier_before": brier_score(y, raw), "brier_after": brier_score(y, p),
        "at_thresholds": {k: binary_metrics_at(y, p, t) for k, t in thresholds.items()},
        "previous_thresholds": info.get("thresholds")}
    return out


def run(s: CalibrateSettings) -> dict[str, Any]:
    """Fit and write the calibrated bundle; returns its bundle.json content.

    Raises:
        BundleError, EvalError: unusable bundle or predictions (message says which and why).
    """
    if is_ensemble(s.bundle):
        return calibrate_ensemble(s)
    info = read_bundle_info(s.bundle)
    bundle = load_bundle(s.bundle)  # verifies the weights' checksum
    if bundle.decision.calibration is not None:
        raise EvalError(f"{s.bundle}: already calibrated; fit from the uncalibrated bundle")
    if bundle.has_second_stage:  # its trees would not come along into the new folder
        raise EvalError(f"{s.bundle}: a two-stage bundle; calibrate its CNN bundle, then "
                        "write the two-stage bundle from the calibrated one")
    if bundle.classes:
        log.info("diagnosis bundle: the rule applies to its melanoma probability P(MEL)")
    proxies: list[str] = []
    if s.proxy:
        if not s.fitted_on.strip():
            raise EvalError("--proxy needs --fitted-on: the words the model card and the bundle "
                            "show on whose predictions the rule was fitted")
        parts = []
        for p in s.predictions:
            part, name = proxy_scores(p, _recipe(info), s.score)
            parts.append(part)
            proxies.append(name)
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.concat([raw_scores(p, bundle.bundle_id, s.score) for p in s.predictions],
                          ignore_index=True)
    y, raw = table["label"].to_numpy(), table["score"].to_numpy()
    if len(np.unique(y)) != 2:
        raise EvalError("the pooled predictions need melanomas and other lesions")
    rule = fit_rule(y, raw, s.score, s.method, s.fitted_on or
                    ", ".join(map(str, s.predictions)))
    new = calibrated_info(info, y, raw, rule, s.sensitivity_target,
                          [str(p) for p in s.predictions])
    if proxies:
        new["decision_fit"]["proxy"] = {
            "bundles": proxies,
            "why": "this bundle trained on every labelled source; its rule was fitted on other "
                   "bundles of its recipe, each scoring a source it never saw"}
    out = Path(s.out)
    if out.resolve() == Path(info["_folder"]).resolve():
        raise EvalError(f"{out}: write the calibrated bundle to a new folder")
    with atomic_folder(out) as tmp:  # swapped in whole, once it loads (models/bundle/atomic.py)
        shutil.copyfile(Path(info["_folder"]) / info.get("weights_file", WEIGHTS_FILE),
                        tmp / WEIGHTS_FILE)
        (tmp / WEIGHTS_FILE).chmod(0o644)
        (tmp / META_FILE).write_text(json.dumps(new, indent=2, default=str) + "\n")
        load_bundle(tmp)  # what was written must load
    log.info("wrote %s: %s", out, rule.describe())
    return new


def ensemble_scores(path: Path, ensemble: Ensemble) -> pd.DataFrame:
    """Labels and final scores of `eval.evaluate` predictions made by `ensemble` (its folder,
    or its members given one by one with the same combiner).

    Raises:
        EvalError: no metrics.json, predictions of other models or another combination.
    """
    metrics, ids = _made_by(path, "ensemble")
    members = [m.bundle_id for m in ensemble.members]
    made = metrics.get("ensemble") or {}
    if ids != members or made.get("method") != ensemble.combiner:
        raise EvalError(f"{path}: made by {ids} combined by {made.get('method')!r}, not by "
                        f"this ensemble's members {members} combined by {ensemble.combiner!r}")
    return _label_score_frame(path, "label", "prob")


def calibrate_ensemble(s: CalibrateSettings) -> dict[str, Any]:
    """The ensemble's thresholds and operating curve re-chosen on its pooled predictions;
    writes a new ensemble folder (same members, by relative path) and returns its manifest.

    Raises:
        EvalError: a calibration map asked for, or unusable predictions.
    """
    ensemble = load_ensemble(s.bundle)  # verifies every member's checksum
    if ("method" in s.model_fields_set and s.method != "none") or "score" in s.model_fields_set:
        raise EvalError(f"{s.bundle}: an ensemble decides on its members' own rules: calibrate "
                        "each member (eval.calibrate --bundle MEMBER), make the ensemble of the "
                        "calibrated members, then re-choose its thresholds here (no --method, "
                        "no --score)")
    if not ensemble.combination.probabilistic:
        raise EvalError(f"{s.bundle}: a rank ensemble's score is not a probability")
    table = pd.concat([ensemble_scores(p, ensemble) for p in s.predictions], ignore_index=True)
    y, p = table["label"].to_numpy(), table["score"].to_numpy()
    if len(np.unique(y)) != 2:
        raise EvalError("the pooled predictions need melanomas and other lesions")
    chosen = select_thresholds(y, p, sensitivity_target=s.sensitivity_target)
    thresholds = {k: float(v) for k, v in chosen.items() if k != "sensitivity_target_value"}
    rules = sorted({m.decision.describe() for m in ensemble.members})
    fitted = s.fitted_on or ", ".join(map(str, s.predictions))
    fit = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "predictions": [str(p) for p in s.predictions], "fitted_on": fitted,
           "sensitivity_target": s.sensitivity_target, "n": len(y), "n_pos": int(y.sum()),
           "members_decide_on": rules, "ece": expected_calibration_error(y, p),
           "brier": brier_score(y, p),
           "at_thresholds": {k: binary_metrics_at(y, p, t) for k, t in thresholds.items()},
           "previous_thresholds": dict(ensemble.thresholds)}
    out = Path(s.out)
    if out.resolve() == ensemble.path.resolve():
        raise EvalError(f"{out}: write the re-thresholded ensemble to a new folder")
    save_ensemble(out, ensemble.members, name=str(ensemble.info.get("name") or out.name),
                  combiner=ensemble.combiner, weights=ensemble.weights, thresholds=thresholds,
                  default_threshold=ensemble.default_threshold_name,
                  operating_curve=OperatingCurve.from_scores(y, p, include=thresholds.values()),
                  notes=f"chosen on {fitted} (n={len(y)}, melanomas={int(y.sum())}): the "
                        f"ensemble's own predictions, members deciding on {'; '.join(rules)}; "
                        f"sensitivity target {s.sensitivity_target:g}",
                  extra={"decision_fit": fit})
    log.info("wrote %s: thresholds %s", out, thresholds)
    return {**load_ensemble(out).info, "decision_fit": fit}


def show(s: CalibrateSettings, new: dict[str, Any]) -> None:
    """The new decision rule, its calibration and its thresholds on the fitting set."""
    fit = new["decision_fit"]
    if "members" in new:  # an ensemble: thresholds only
        print(f"{s.out}: ensemble of {len(new['members'])}, members deciding on "
              f"{'; '.join(fit['members_decide_on'])}; ECE {fit['ece']:.4f}, Brier "
              f"{fit['brier']:.4f} (on the fitting set)")
        _show_thresholds(new["thresholds"], fit)
        return
    cal = new[DECISION_KEY]["calibration"] or {}
    print(f"{s.out}: {DecisionRule.from_dict(new[DECISION_KEY]).describe()}")
    if cal:
        print(f"ECE {cal['ece_before']:.4f} -> {cal['ece_after']:.4f}, Brier "
              f"{fit['brier_before']:.4f} -> {fit['brier_after']:.4f} (on the fitting set)")
    _show_thresholds(new["thresholds"], fit)


def _show_thresholds(thresholds: dict[str, float], fit: dict[str, Any]) -> None:
    """Each threshold with its sensitivity and specificity on the fitting set."""
    for name, t in thresholds.items():
        m = fit["at_thresholds"][name]
        print(f"{name}: {t:.4f} (sensitivity {m['sensitivity']:.3f}, specificity "
              f"{m['specificity']:.3f})")


COMMAND = Command(CalibrateSettings, run, bad_input=(BundleError, EvalError, OSError, ValueError),
                  writes_to=lambda s: s.out, show=show)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
