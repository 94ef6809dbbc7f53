"""Evaluation inputs: find and load the bundles, read the dataset, pick a fold, check they fit.

Everything here fails early, before any image is decoded, with one line naming the problem:
a path that is not a bundle, a dataset the readers reject, a fold that is not the bundle's
held-out fold, or metadata values outside a bundle's vocabulary.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from data.folds import FOLD_COLUMN, assign_folds
from data.readers import read_dataset
from data.sites import UNKNOWN
from eval.pipeline.errors import EvalError
from models.bundle.ensemble import Combination, Ensemble, ensemble_thresholds
from models.bundle.io import Bundle
from models.second_stage.stack import Stack, bundle_stack, check_stack_for, load_stack

log = logging.getLogger(__name__)


def load_second_stage(path: Path | None, bundles: Sequence[Bundle]) -> Stack | None:
    """The `--second-stage` trees, checked against the (single) bundle; None without one.

    Raises:
        EvalError: several bundles; TreeError: unreadable, tampered or another bundle's stack.
    """
    if path is None:  # a two-stage bundle brings its own
        return bundle_stack(bundles[0]) if len(bundles) == 1 else None
    if len(bundles) != 1:
        raise EvalError("--second-stage scores one bundle's second stage: give one --bundle")
    stack = load_stack(path)
    check_stack_for(stack, bundles[0])
    log.info("second stage %s: %s", path, ", ".join(m.name for m in stack.members))
    return stack


def decision_rule(bundles: Sequence[Bundle], ensemble: Ensemble | None,
                  requested: str) -> tuple[Combination, dict[str, float], str, str]:
    """How the models' scores combine and which thresholds decide.

    An ensemble folder brings its own combiner, weights and thresholds (chosen on its own
    scores); bundles given one by one combine by `requested` ("weighted": by their validation
    AUROC) with the members' (weighted) mean thresholds.

    Returns:
        (combination, thresholds by name, a sentence on where they come from, default name).

    Raises:
        EnsembleError: "weighted" for members that record no validation AUROC.
    """
    if ensemble is not None:
        return (ensemble.combination, dict(ensemble.thresholds),
                str(ensemble.info.get("thresholds_rule") or "the ensemble's own thresholds"),
                ensemble.default_threshold_name)
    combination = Combination.of(requested if len(bundles) > 1 else "mean", bundles)
    thresholds, rule = ensemble_thresholds([b.thresholds for b in bundles], combination.method,
                                           combination.weights)
    return combination, thresholds, rule, bundles[0].default_threshold_name


def tta_for(bundles: Sequence[Bundle], requested: bool) -> tuple[bool, list[str]]:
    """Whether to run TTA: as requested, or on when a bundle decides on the TTA mean.

    Returns:
        (tta, notes): notes say when TTA was turned on for a bundle's decision rule.
    """
    needing = [b.bundle_id for b in bundles if b.decision.needs_tta]
    if needing and not requested:
        note = (f"TTA turned on: {', '.join(needing)} decide(s) on the mean of the 8 views "
                "(the bundle's decision rule)")
        log.info(note)
        return True, [note]
    return requested, []


def read_eval_dataset(data: Path, fmt: str, images: Path | None, on_bad_row: str) -> pd.DataFrame:
    """Read a labelled dataset into the canonical table (DatasetError on bad input)."""
    df = read_dataset(data, fmt=fmt, images_dir=images, on_error=on_bad_row)
    log.info("dataset %s (%s): %d images, %d melanoma", data, df.attrs.get("format"), len(df),
             int(df["target"].sum()))
    return df


def select_fold(df: pd.DataFrame, fold: int, n_folds: int, seed: int,
                stratify_by: str = "target") -> pd.DataFrame:
    """The rows of one fold (index reset, a ``fold`` column, attrs kept), assigned exactly as
    training.

    ``df`` must be the whole canonical table in reader order, and ``n_folds``, ``seed`` and
    ``stratify_by`` what training used (`fold_stratification`).
    """
    with_folds = assign_folds(df, n_folds=n_folds, seed=seed, stratify_by=stratify_by)
    part = with_folds[with_folds[FOLD_COLUMN] == fold].reset_index(drop=True)
    part.attrs = dict(df.attrs)
    log.info("fold %d of %d (seed %d): %d of %d images", fold, n_folds, seed, len(part), len(df))
    return part


def fold_stratification(bundles: Sequence[Bundle]) -> str:
    """The column the bundles' training folds were stratified by ("target" when unrecorded).

    Raises:
        EvalError: members stratified differently (no fold is held out from all of them).
    """
    found = {(b.info.get("training_data") or {}).get("stratified_by", "target")
             for b in bundles}
    if len(found) > 1:
        raise EvalError(f"the bundles' folds were stratified differently ({sorted(found)}): "
                        "no one --fold is held out from all of them")
    return found.pop() if found else "target"


def check_held_out_fold(bundles: Sequence[Bundle], fold: int, n_folds: int, seed: int,
                        n_total: int, selected: pd.DataFrame) -> list[str]:
    """Check that `fold` is really every bundle's held-out validation fold.

    A fold drawn from a different table (e.g. a bundle trained with `--max-images`), with other
    n_folds/seed, or another fold than the bundle validated on, contains training images: the
    score would be inflated without any visible sign. So a mismatch is an error.

    Args:
        bundles: the loaded bundles.
        fold, n_folds, seed: the requested fold.
        n_total: rows of the whole dataset before selecting the fold.
        selected: the fold's rows.

    Returns:
        Warnings for bundles that record no training split (cannot be verified).

    Raises:
        EvalError: naming the bundle and the differing figure.
    """
    warnings: list[str] = []
    n_sel, n_sel_pos = len(selected), int(selected["target"].sum())
    for b in bundles:
        td: dict[str, Any] = b.info.get("training_data") or {}
        if not {"fold", "n_folds", "seed"} <= set(td):
            warnings.append(f"bundle {b.bundle_id} records no training fold: cannot verify that "
                            f"fold {fold} is held out from its training data")
            continue
        if (td["fold"], td["n_folds"], td["seed"]) != (fold, n_folds, seed):
            raise EvalError(
                f"bundle {b.bundle_id} was validated on fold {td['fold']} of {td['n_folds']} "
                f"(seed {td['seed']}), but --fold {fold} --n-folds {n_folds} --seed {seed} was "
                "asked: that fold contains its training images")
        if td.get("val_sources"):
            raise EvalError(f"bundle {b.bundle_id} validated on held-out sources "
                            f"{td['val_sources']}, not on a fold: --fold does not apply")
        datasets = td.get("datasets") or []
        if len(datasets) > 1:  # multi-source: folds were assigned per dataset
            td = _matching_dataset(b.bundle_id, datasets, n_total)
        checks = (("n_images", n_total, "images in the whole dataset"),
                  ("n_val", n_sel, "images in the fold"),
                  ("n_val_positive", n_sel_pos, "melanomas in the fold"))
        for key, have, what in checks:
            if key in td and int(td[key]) != have:
                raise EvalError(
                    f"bundle {b.bundle_id}: {what}: {have} here, {td[key]} when it was trained "
                    f"(data {td.get('source', '?')}): fold {fold} here is not its held-out fold "
                    "(different data, subset, or reader options)")
    return warnings


def _matching_dataset(bundle_id: str, datasets: Sequence[dict[str, Any]],
                      n_total: int) -> dict[str, Any]:
    """The training dataset this evaluation set is (same row count), as fold-check figures."""
    for info in datasets:
        if int(info.get("n_read", -1)) == n_total:
            return {"n_images": n_total,
                    **{k: info[k] for k in ("n_val", "n_val_positive") if k in info}}
    listed = "; ".join(f"{d.get('path')}: {d.get('n_read')} images" for d in datasets)
    raise EvalError(f"bundle {bundle_id} was trained on several datasets ({listed}); none has "
                    f"the {n_total} images read here, so its fold cannot be matched")


def compatibility_notes(bundles: Sequence[Bundle], df: pd.DataFrame, metadata: str) -> list[str]:
    """Facts about how the bundles meet this dataset that a reader of the report should know."""
    notes: list[str] = []
    pres = {json.dumps(b.preprocessing.to_dict(), sort_keys=True) for b in bundles}
    if len(pres) > 1:
        sizes = ", ".join(f"{b.bundle_id}: {b.preprocessing.size} px" for b in bundles)
        notes.append(f"ensemble members preprocess differently ({sizes}); each member gets "
                     "its own preprocessing, as it did in training")
    meta_models = [b for b in bundles if b.model.uses_metadata]
    image_only = [b.bundle_id for b in bundles if not b.model.uses_metadata]
    if image_only:
        notes.append(f"image-only bundle(s) (no metadata branch): {', '.join(image_only)}")
    if meta_models and metadata == "ignore":
        notes.append("--metadata ignore: every image was scored with age, sex and site "
                     "'unknown' (the encoder's missing-value encoding)")
    elif meta_models:
        all_missing = [c for c in ("sex", "site") if (df[c] == UNKNOWN).all()]
        if df["age"].isna().all():
            all_missing.insert(0, "age")
        if all_missing:
            notes.append(f"the dataset records no {', '.join(all_missing)}: the model got "
                         "'unknown' for it on every image, as the app does")
    return notes


def dataset_summary(df: pd.DataFrame, data: Path, fold: int | None, n_folds: int,
                    seed: int, n_total: int) -> dict[str, Any]:
    """Dataset facts for metrics.json and the report."""
    n_pos = int(df["target"].sum())
    return {
        "path": str(data),
        "format": df.attrs.get("format", str(df["source"].iloc[0])),
        "source_file": str(df.attrs.get("source_file", "")),
        "n_images": len(df),
        "n_pos": n_pos,
        "n_neg": len(df) - n_pos,
        "n_groups": int(df["group_id"].nunique()),
        # which collections were scored: eval.calibrate --proxy checks them against the
        # sources the bundle trained on
        "sources": {str(k): int(v) for k, v in df["source"].value_counts().items()},
        "group_kinds": {str(k): int(v) for k, v in df["group_kind"].value_counts().items()},
        "skipped": {str(k): int(v) for k, v in (df.attrs.get("skipped") or {}).items()},
        "fold": fold,
        "n_folds": n_folds if fold is not None else None,
        "fold_seed": seed if fold is not None else None,
        "n_images_before_fold": n_total,
        "missing_metadata": {"age": int(df["age"].isna().sum()),
                             "sex": int((df["sex"] == UNKNOWN).sum()),
                             "site": int((df["site"] == UNKNOWN).sum())},
    }
