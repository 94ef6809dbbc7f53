"""Second stage: gradient-boosted trees on the CNN's out-of-fold score, image embeddings and
tabular features. `python -m training.stack --embeddings E.parquet --tree-libraries lightgbm`.

Only rows whose CNN probability is out-of-fold (`training.embed`'s ``prob``) are used, so the
score the trees learn from never saw the row's label. Folds: the CNN's own folds when the
out-of-fold rows span every fold (a k-fold CNN run), otherwise fresh grouped, stratified folds
over those rows. Each outer fold's trees are fitted on the other folds, with early stopping on
one more held-out fold (log-loss, then the round with the best pAUC above 80 % TPR there), and
predict the outer fold: the out-of-fold predictions are honest estimates.

As the ISIC 2024 references do, every member's embedding is used (one PCA each, columns
``m<k>_pc<i>``; ``emb_pc<i>`` for a single member), a tabular-only baseline is fitted beside
(no CNN score, no embedding), and the final score rank-averages the CNN, each library's trees
and the tabular trees with weights chosen out of fold (`training.components.blend`; the
reported blend is nested: each fold is blended with weights chosen on the others). Each score
is turned into its percentile among its component's out-of-fold scores (stored as quantiles, so
one image is scored the same way). The final trees, fitted on every row with the median best
round, are saved in each library's own text/JSON format with `features.json` (names, columns,
PCAs, versions, blend weights, SHA-256 of every tree file).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from configs.cli import Command
from configs.second_stage import StackSettings
from data.folds import FoldError, assign_folds
from eval.metrics import DEFAULT_MIN_TPR, auroc, pauc_above_tpr
from models.bundle.io import BundleError, sha256_file
from models.second_stage.features import (
    IMAGE_STAT_COLUMNS,
    has_patient_ids,
    lesion_features,
    with_patient_context,
)
from models.second_stage.stack import (
    CNN,
    FEATURES_FILE,
    STACK_FORMAT,
    STACK_SCHEMA,
    component_prefix,
    embedding_components,
    percentile_mean,
    reference_quantiles,
    write_two_stage,
)
from models.second_stage.trees import PACKAGES, TreeError, TreeModel
from training.components.blend import blend_metric, nested_blend, search_weights

log = logging.getLogger(__name__)

MIN_TPR = DEFAULT_MIN_TPR
CHECK_EVERY = 25  # rounds between pAUC checks on the stopping fold


class StackError(ValueError):
    """Stacking cannot proceed as asked; the message says why."""


def load_embeddings(path: Path) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Out-of-fold rows of an embeddings file and every member's embedding matrix (m0, m1...).

    Raises:
        StackError: no out-of-fold rows, a single class among them, or no embedding columns.
    """
    df = pd.read_parquet(path)
    n = len(df)
    df = df[df["prob"].notna()].reset_index(drop=True)
    log.info("%s: %d images, %d with an out-of-fold CNN score (the others are left out)",
             path, n, len(df))
    if df.empty or df["target"].nunique() < 2:
        raise StackError(f"{path}: the out-of-fold rows need melanomas and other lesions")
    members = sorted({int(m.group(1)) for c in df.columns if (m := re.match(r"m(\d+)_emb_", c))})
    if not members:
        raise StackError(f"{path}: no m<k>_emb_<j> columns (not a training.embed file)")
    return df, [df[sorted(c for c in df.columns if c.startswith(f"m{k}_emb_"))]
                .to_numpy(np.float32) for k in members]


def stack_folds(df: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """The CNN's folds if the rows span `n_folds` of them, else fresh grouped folds."""
    if "fold" in df.columns and df["fold"].nunique() >= n_folds:
        log.info("trees reuse the CNN's %d folds", df["fold"].nunique())
        return df["fold"].to_numpy()
    log.info("out-of-fold rows lie in %d CNN fold(s): %d fresh grouped folds over them",
             df["fold"].nunique() if "fold" in df.columns else 0, n_folds)
    return assign_folds(df.drop(columns=["fold"], errors="ignore"), n_folds=n_folds,
                        seed=seed)["fold"].to_numpy()


def stack_features(df: pd.DataFrame, with_image_stats: bool,
                   embedding: np.ndarray | None = None) -> pd.DataFrame:
    """`models.second_stage.features.lesion_features` (without the ``img_*`` statistics if asked)
    and, with patient ids, each row's context within its patient (with `embedding`, its
    distance to the patient's other lesions too)."""
    features = lesion_features(df)
    if not with_image_stats:
        features = features.drop(columns=list(IMAGE_STAT_COLUMNS), errors="ignore")
    if has_patient_ids(df):
        features = with_patient_context(features, df, embedding)
    else:
        log.info("no patient ids (groups are %s): patient-normalised features omitted",
                 ", ".join(sorted(df["group_kind"].unique())))
    return features


def tabular_columns(features: pd.DataFrame) -> list[str]:
    """The columns of the tabular-only baseline: no CNN score (nor its patient context), no
    embedding distance."""
    return [c for c in features.columns if not c.startswith("cnn_") and c != "emb_patient_dist"]


def _pca(train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-k principal axes of `train` (k x D)."""
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    return mean, vt[:k]


def fit_pcas(embs: list[np.ndarray], rows: np.ndarray, k: int
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """One PCA per member's embedding, fitted on `rows` only (none when `k` is 0)."""
    return [_pca(e[rows], k) for e in embs] if k else []


def with_components(features: pd.DataFrame, embs: list[np.ndarray],
                    pcas: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Features plus every member's principal components (`component_prefix` names)."""
    if not pcas:
        return features
    return pd.concat([features, *(embedding_components(
        e, mean, axes, index=features.index, prefix=component_prefix(k, len(embs)))
        for k, (e, (mean, axes)) in enumerate(zip(embs, pcas, strict=True)))], axis=1)


def design(features: pd.DataFrame, embs: list[np.ndarray], rows: np.ndarray, k: int,
           tabular: bool) -> tuple[pd.DataFrame, list[tuple[np.ndarray, np.ndarray]]]:
    """The trees' feature table (PCAs fitted on `rows`) and its PCAs; the tabular baseline's
    columns only with `tabular`."""
    if tabular:
        return features[tabular_columns(features)], []
    pcas = fit_pcas(embs, rows, k)
    return with_components(features, embs, pcas), pcas


def _best_round(model: TreeModel, x: np.ndarray, y: np.ndarray) -> int:
    """The round (checked every CHECK_EVERY) with the best pAUC on the stopping fold."""
    rounds = sorted({*range(CHECK_EVERY, model.n_iter + 1, CHECK_EVERY), model.n_iter})
    scores = [pauc_above_tpr(y, model.predict(x, at=r), min_tpr=MIN_TPR) for r in rounds]
    return rounds[int(np.argmax(scores))]


def fit_fold(s: StackSettings, library: str, features: pd.DataFrame, embs: list[np.ndarray],
             y: np.ndarray, folds: np.ndarray, outer: int, *, tabular: bool = False
             ) -> tuple[np.ndarray, int]:
    """Trees fitted without fold `outer` (early stopping on the next fold); its predictions."""
    ordered = sorted(set(folds))
    stop = ordered[(ordered.index(outer) + 1) % len(ordered)]
    fit, stopping, test = (~np.isin(folds, [outer, stop])), folds == stop, folds == outer
    x = design(features, embs, fit, s.embedding_dims, tabular)[0].to_numpy(np.float32)
    model = TreeModel.fit(library, x[fit], y[fit], n_estimators=s.n_estimators,
                          learning_rate=s.learning_rate, seed=s.seed, x_stop=x[stopping],
                          y_stop=y[stopping], stop_rounds=s.early_stopping_rounds)
    best = _best_round(model, x[stopping], y[stopping])
    return model.predict(x[test], at=best), best


def _version(library: str) -> str:
    try:
        return importlib_metadata.version(PACKAGES[library])
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def fit_final(s: StackSettings, library: str, features: pd.DataFrame, embs: list[np.ndarray],
              y: np.ndarray, rounds: int, *, tabular: bool = False) -> dict[str, Any]:
    """Trees on every row with `rounds` rounds, saved; their entry in features.json."""
    x, pcas = design(features, embs, np.ones(len(y), bool), s.embedding_dims, tabular)
    model = TreeModel.fit(library, x.to_numpy(np.float32), y, n_estimators=rounds,
                          learning_rate=s.learning_rate, seed=s.seed)
    name = tree_name(library, tabular)
    path = model.save(s.out, stem=name)
    entry = {"name": name, "library": library, "version": _version(library),
             "file": path.name, "sha256": sha256_file(path), "n_iter": model.n_iter,
             "pca": [{"member": k, "prefix": component_prefix(k, len(embs)),
                      "mean": mean.tolist(), "axes": axes.tolist()}
                     for k, (mean, axes) in enumerate(pcas)]}
    entry["columns"] = list(x.columns)
    gain = model.importance(x.shape[1])
    share = gain / gain.sum() if gain.sum() > 0 else gain
    entry["importance"] = {c: round(float(v), 5) for c, v in sorted(
        zip(x.columns, share, strict=True), key=lambda kv: -kv[1])}
    return entry


def tree_name(library: str, tabular: bool) -> str:
    """A set of trees' name: its library, or ``tabular-<library>`` for the baseline."""
    return f"tabular-{library}" if tabular else library


def cross_validate(s: StackSettings, library: str, features: pd.DataFrame,
                   embs: list[np.ndarray], y: np.ndarray, folds: np.ndarray, tabular: bool
                   ) -> tuple[np.ndarray, list[int]]:
    """Every row's out-of-fold prediction by one set of trees, and each fold's best round."""
    preds, bests = np.full(len(y), np.nan), []
    for outer in sorted(set(folds)):
        preds[folds == outer], best = fit_fold(s, library, features, embs, y, folds, outer,
                                               tabular=tabular)
        bests.append(best)
    return preds, bests


def blend(s: StackSettings, scores: dict[str, np.ndarray], trees: list[str], y: np.ndarray,
          folds: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """The combiner's weights (on every out-of-fold row) and its out-of-fold score (nested for
    "weighted": each fold blended with weights chosen on the other folds)."""
    cnn_reference = reference_quantiles(scores[CNN]).tolist()
    if s.combiner == "mean":
        weights = {name: float(name in trees) for name in scores}
        spec = {"metric": None, "cnn_reference": cnn_reference,
                "components": [{"name": n, "weight": w} for n, w in weights.items()]}
        # Exactly as the saved stack combines them (percentiles in the stored references).
        return spec, (scores[trees[0]] if len(trees) == 1 else percentile_mean(
            [scores[n] for n in trees], [reference_quantiles(scores[n]) for n in trees]))
    metric = blend_metric(s.blend_metric, MIN_TPR)
    weights = search_weights(scores, y, metric, trials=s.blend_trials, seed=s.seed)
    log.info("blend weights (%s): %s", s.blend_metric,
             ", ".join(f"{n} {w:.2f}" for n, w in weights.items()))
    spec = {"metric": s.blend_metric, "trials": s.blend_trials, "cnn_reference": cnn_reference,
            "components": [{"name": n, "weight": w} for n, w in weights.items()]}
    return spec, nested_blend(scores, y, folds, metric, trials=s.blend_trials, seed=s.seed)


def run(s: StackSettings) -> dict[str, Any]:
    """Cross-validate, write the out-of-fold predictions, fit and save the final trees."""
    df, embs = load_embeddings(s.embeddings)
    y = df["target"].to_numpy()
    folds = stack_folds(df, s.n_folds, s.seed)
    features = stack_features(df, s.image_stats, embs[0])
    s.out.mkdir(parents=True, exist_ok=True)
    oof = pd.DataFrame({"image_id": df["image_id"], "group_id": df["group_id"], "label": y,
                        "fold": folds, "cnn_prob": df["prob"]})
    summary: dict[str, Any] = {"n": len(df), "n_pos": int(y.sum()), "members": len(embs),
                               "models": {}, "features": list(features.columns)}
    runs = [(lib, False) for lib in s.tree_libraries]
    if s.tabular_baseline:
        runs.append((s.tree_libraries[0], True))
    scores, entries = {CNN: df["prob"].to_numpy(np.float64)}, []
    for library, tabular in runs:
        name = tree_name(library, tabular)
        preds, bests = cross_validate(s, library, features, embs, y, folds, tabular)
        oof[f"{name}_prob"] = scores[name] = preds
        entries.append(fit_final(s, library, features, embs, y, int(np.median(bests)),
                                 tabular=tabular))
        entries[-1]["reference"] = reference_quantiles(preds).tolist()
        summary["models"][name] = {"auroc": auroc(y, preds),
                                   "pauc80": pauc_above_tpr(y, preds, min_tpr=MIN_TPR),
                                   "best_rounds": bests, "importance_top": dict(
                                       list(entries[-1]["importance"].items())[:15])}
    blend_spec, oof["prob"] = blend(s, scores, list(s.tree_libraries), y, folds)
    summary["cnn"] = {"auroc": auroc(y, df["prob"]),
                      "pauc80": pauc_above_tpr(y, df["prob"], min_tpr=MIN_TPR)}
    summary["stack"] = {"auroc": auroc(y, oof["prob"]),
                        "pauc80": pauc_above_tpr(y, oof["prob"], min_tpr=MIN_TPR),
                        "combiner": s.combiner, "weights": {
                            c["name"]: c["weight"] for c in blend_spec["components"]}}
    # eval.compare-ready: --baseline cnn_predictions.csv --candidate oof_predictions.csv
    oof.to_csv(s.out / "oof_predictions.csv", index=False)
    oof[["image_id", "group_id", "label", "cnn_prob"]].rename(
        columns={"cnn_prob": "prob"}).to_csv(s.out / "cnn_predictions.csv", index=False)
    sidecar = s.embeddings.with_name(s.embeddings.name + ".json")
    bundles = json.loads(sidecar.read_text()).get("bundles") if sidecar.is_file() else None
    single = s.combiner == "mean" and len(s.tree_libraries) == 1
    spec = {"format": STACK_FORMAT, "schema_version": STACK_SCHEMA,
            "combiner": "single" if single else f"{s.combiner}_percentile",
            "trees": entries, "blend": blend_spec, "bundles": bundles,
            "base_features": list(features.columns), "image_stats": s.image_stats,
            "embeddings": str(s.embeddings)}
    (s.out / FEATURES_FILE).write_text(json.dumps(spec, indent=1) + "\n")
    (s.out / "stack_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def fit_all(s: StackSettings) -> dict[str, Any]:
    """`run`, then the two-stage bundle when asked."""
    summary = run(s)
    if s.two_stage_out is not None:
        write_two_stage(s.bundle, s.out, s.two_stage_out)
        log.info("two-stage bundle: %s", s.two_stage_out)
    return summary


def show(s: StackSettings, summary: dict[str, Any]) -> None:
    """The out-of-fold table of every model and the stack."""
    print(f"{'model':<18} {'AUROC':>7} {'pAUC80':>7} {'weight':>7}   (out-of-fold, "
          f"{summary['n']} images, {summary['members']} member embedding(s))")
    weights = summary["stack"]["weights"]
    for name, m in [("cnn", summary["cnn"]), *summary["models"].items(),
                    ("stack", summary["stack"])]:
        w = f"{weights[name]:>7.2f}" if name in weights else " " * 7
        print(f"{name:<18} {m['auroc']:>7.4f} {m['pauc80']:>7.4f} {w}")


COMMAND = Command(StackSettings, fit_all, bad_input=(StackError, TreeError, BundleError,
                                                     FoldError, OSError),
                  writes_to=lambda s: s.out, show=show)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
