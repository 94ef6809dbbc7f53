"""Turn predictions into the metrics of metrics.json, using eval.metrics for every number.

Scores the final model (ensemble, with TTA when on), the same without TTA, each TTA view,
each ensemble member alone, and subgroups by sex, site and age band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from eval.metrics import age_band, auroc, subgroup_table, summarize
from eval.pipeline.inference import Predictions
from models.bundle.ensemble import Combination
from models.bundle.io import Bundle

SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "site", "age_band")


def bootstrap_groups(df: pd.DataFrame) -> np.ndarray | None:
    """Patient/lesion ids for a cluster bootstrap, or None when every group is one image."""
    if (df["group_kind"] == "image").all():
        return None
    return df["group_id"].astype(str).to_numpy()


def score(y: np.ndarray, prob: np.ndarray, thresholds: Mapping[str, float], *,
          groups: np.ndarray | None, n_boot: int, min_tpr: float,
          probabilistic: bool = True) -> dict[str, Any]:
    """`eval.metrics.summarize` (0.5 always among the thresholds), calibration blanked for ranks.

    With ``probabilistic=False`` (rank scores) Brier and ECE are None, with a note; ``n_boot=0``
    gives no intervals.
    """
    out = summarize(y, prob, thresholds, groups=groups, n_boot=n_boot, min_tpr=min_tpr)
    if not probabilistic:
        out["brier"] = out["ece"] = None
        out["notes"].append("scores are ranks, not probabilities: Brier score and ECE do not "
                            "apply")
    return out


def per_view_auroc(y: np.ndarray, views: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """AUROC of each TTA view's probabilities (columns of `views`)."""
    return {name: auroc(y, views[:, v]) for v, name in enumerate(names)}


def subgroups(df: pd.DataFrame, prob: np.ndarray) -> list[dict[str, Any]]:
    """Subgroup AUROCs by sex, site and age band; too-small groups are flagged, not hidden."""
    table = pd.DataFrame({"prob": prob, "label": df["target"].to_numpy(),
                          "sex": df["sex"].to_numpy(), "site": df["site"].to_numpy(),
                          "age_band": age_band(df["age"]).to_numpy()})
    rows = subgroup_table(table, "prob", "label", list(SUBGROUP_COLUMNS))
    # Age bands in age order ("<30" first, "unknown" last), not string order.
    return sorted(rows, key=lambda r: (SUBGROUP_COLUMNS.index(r["column"]),
                                       _band_key(r["value"]) if r["column"] == "age_band"
                                       else 0))


def _band_key(label: str) -> float:
    """Sort key of an age-band label: "<30" -> -1, "30-44" -> 30, ">=75" -> 75, else last."""
    if label.startswith("<"):
        return -1.0
    digits = label.lstrip(">=").split("-")[0]
    return float(digits) if digits.isdigit() else float("inf")


def final_scores(preds: Predictions, combination: Combination) -> dict[str, np.ndarray]:
    """The combined scores: `final` (TTA when on), `plain`, and one per view `view:<name>`."""
    out = {"final": combination([m.prob for m in preds.members]),
           "plain": combination([m.plain for m in preds.members])}
    if preds.tta:
        for v, name in enumerate(preds.view_names):
            out[f"view:{name}"] = combination([m.view(v) for m in preds.members])
    if any(m.rule.calibration for m in preds.members):
        out["raw"] = combination([m.raw_prob for m in preds.members])
    return out


def evaluate_predictions(df: pd.DataFrame, preds: Predictions, bundles: Sequence[Bundle], *,
                         combination: Combination, thresholds: Mapping[str, float],
                         n_boot: int,
                         min_tpr: float) -> dict[str, Any]:
    """All metrics of one evaluation.

    Args:
        df: canonical table of the scored rows (aligned with the predictions).
        preds: predictions of every member.
        bundles: the members, in the order of `preds.members`.
        combination: how members combine (irrelevant for one bundle).
        thresholds: operating points of the final score.
        n_boot: bootstrap resamples.
        min_tpr: minimum TPR of the partial AUC.

    Returns:
        Dict: the final model's summary at the top level, plus `without_tta` and
        `per_view_auroc` (TTA on), `members` (ensembles), `subgroups`.
    """
    y = df["target"].to_numpy()
    groups = bootstrap_groups(df)
    probabilistic = len(bundles) == 1 or combination.probabilistic
    kw = {"groups": groups, "n_boot": n_boot, "min_tpr": min_tpr}
    scores = final_scores(preds, combination)
    result = score(y, scores["final"], thresholds, probabilistic=probabilistic, **kw)
    if preds.tta:
        result["without_tta"] = score(y, scores["plain"], thresholds,
                                      probabilistic=probabilistic, **kw)
        result["per_view_auroc"] = per_view_auroc(y, np.column_stack(
            [scores[f"view:{name}"] for name in preds.view_names]), preds.view_names)
    if len(bundles) > 1:
        members = []
        for b, m in zip(bundles, preds.members, strict=True):
            entry = {"bundle_id": b.bundle_id, "default_threshold": b.default_threshold_name,
                     **score(y, m.prob, b.thresholds, **kw)}
            if preds.tta:
                entry["without_tta"] = score(y, m.plain, b.thresholds, **kw)
                entry["per_view_auroc"] = per_view_auroc(y, m.views, preds.view_names)
            entry["decision_rule"] = m.rule.describe()
            members.append(entry)
        result["members"] = members
    if "raw" in scores:  # ECE and Brier before the calibration map (ranking unchanged)
        raw = score(y, scores["raw"], {}, groups=groups, n_boot=0, min_tpr=min_tpr,
                    probabilistic=probabilistic)
        result["uncalibrated"] = {k: raw[k] for k in ("ece", "brier", "auroc") if k in raw}
    result["subgroups"] = subgroups(df, scores["final"])
    return result
