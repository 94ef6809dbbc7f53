"""Second stage: gradient-boosted trees on the CNN's out-of-fold score, image embedding and
tabular features. `python -m training.stack --embeddings E.parquet --model lightgbm`.

Only rows whose CNN probability is out-of-fold (`training.embed`'s ``prob``) are used, so the
score the trees learn from never saw the row's label. Folds: the CNN's own folds when the
out-of-fold rows span every fold (a k-fold CNN run), otherwise fresh grouped, stratified folds
over those rows. Each outer fold's trees are fitted on the other folds, with early stopping on
one more held-out fold (log-loss, then the round with the best pAUC above 80 % TPR there), and
predict the outer fold: the out-of-fold predictions are honest estimates. Several libraries
are combined by averaging each score's percentile among that library's out-of-fold scores
(stored as quantiles, so one image can be scored the same way). The final trees, fitted on
every row with the median best round, are saved in each library's own text/JSON format with
`features.json` (feature list, PCA of the embedding, versions, SHA-256 of every tree file).
"""

from __future__ import annotations

import json
import logging
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
    FEATURES_FILE,
    STACK_FORMAT,
    STACK_SCHEMA,
    embedding_components,
    percentile_mean,
    reference_quantiles,
    write_two_stage,
)
from models.second_stage.trees import PACKAGES, TreeError, TreeModel

log = logging.getLogger(__name__)

MIN_TPR = DEFAULT_MIN_TPR
CHECK_EVERY = 25  # rounds between pAUC checks on the stopping fold


class StackError(ValueError):
    """Stacking cannot proceed as asked; the message says why."""


def load_embeddings(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Out-of-fold rows of an embeddings file and member 0's embedding matrix.

    Raises:
        StackError: no out-of-fold rows, or a single class among them.
    """
    df = pd.read_parquet(path)
    n = len(df)
    df = df[df["prob"].notna()].reset_index(drop=True)
    log.info("%s: %d images, %d with an out-of-fold CNN score (the others are left out)",
             path, n, len(df))
    if df.empty or df["target"].nunique() < 2:
        raise StackError(f"{path}: the out-of-fold rows need melanomas and other lesions")
    emb_cols = sorted(c for c in df.columns if c.startswith("m0_emb_"))
    return df, df[emb_cols].to_numpy(np.float32)


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


def _pca(train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-k principal axes of `train` (k x D)."""
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    return mean, vt[:k]


def with_components(features: pd.DataFrame, emb: np.ndarray,
                    pca: tuple[np.ndarray, np.ndarray] | None) -> pd.DataFrame:
    """Features plus the embedding's principal components."""
    if pca is None:
        return features
    return pd.concat([features, embedding_components(emb, *pca, index=features.index)], axis=1)


def _best_round(model: TreeModel, x: np.ndarray, y: np.ndarray) -> int:
    """The round (checked every CHECK_EVERY) with the best pAUC on the stopping fold."""
    rounds = sorted({*range(CHECK_EVERY, model.n_iter + 1, CHECK_EVERY), model.n_iter})
    scores = [pauc_above_tpr(y, model.predict(x, at=r), min_tpr=MIN_TPR) for r in rounds]
    return rounds[int(np.argmax(scores))]


def fit_fold(s: StackSettings, library: str, features: pd.DataFrame, emb: np.ndarray,
             y: np.ndarray, folds: np.ndarray, outer: int) -> tuple[np.ndarray, int]:
    """Trees fitted without fold `outer` (early stopping on the next fold); its predictions."""
    ordered = sorted(set(folds))
    stop = ordered[(ordered.index(outer) + 1) % len(ordered)]
    fit, stopping, test = (~np.isin(folds, [outer, stop])), folds == stop, folds == outer
    pca = _pca(emb[fit], s.embedding_dims) if s.embedding_dims else None
    x = with_components(features, emb, pca).to_numpy(np.float32)
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


def fit_final(s: StackSettings, library: str, features: pd.DataFrame, emb: np.ndarray,
              y: np.ndarray, rounds: int) -> dict[str, Any]:
    """Trees on every row with `rounds` rounds, saved; their entry in features.json."""
    pca = _pca(emb, s.embedding_dims) if s.embedding_dims else None
    x = with_components(features, emb, pca)
    model = TreeModel.fit(library, x.to_numpy(np.float32), y, n_estimators=rounds,
                          learning_rate=s.learning_rate, seed=s.seed)
    path = model.save(s.out)
    entry = {"library": library, "version": _version(library), "file": path.name,
             "sha256": sha256_file(path), "n_iter": model.n_iter}
    if pca is not None:
        entry["pca_mean"], entry["pca_axes"] = pca[0].tolist(), pca[1].tolist()
    entry["columns"] = list(x.columns)
    gain = model.importance(x.shape[1])
    share = gain / gain.sum() if gain.sum() > 0 else gain
    entry["importance"] = {c: round(float(v), 5) for c, v in sorted(
        zip(x.columns, share, strict=True), key=lambda kv: -kv[1])}
    return entry


def run(s: StackSettings) -> dict[str, Any]:
    """Cross-validate, write the out-of-fold predictions, fit and save the final trees."""
    df, emb = load_embeddings(s.embeddings)
    y = df["target"].to_numpy()
    folds = stack_folds(df, s.n_folds, s.seed)
    features = stack_features(df, s.image_stats, emb)
    s.out.mkdir(parents=True, exist_ok=True)
    oof = pd.DataFrame({"image_id": df["image_id"], "group_id": df["group_id"], "label": y,
                        "fold": folds, "cnn_prob": df["prob"]})
    summary: dict[str, Any] = {"n": len(df), "n_pos": int(y.sum()), "models": {},
                               "features": list(features.columns)}
    entries = []
    for library in s.tree_libraries:
        preds, bests = np.full(len(df), np.nan), []
        for outer in sorted(set(folds)):
            preds[folds == outer], best = fit_fold(s, library, features, emb, y, folds, outer)
            bests.append(best)
        oof[f"{library}_prob"] = preds
        summary["models"][library] = {"auroc": auroc(y, preds),
                                      "pauc80": pauc_above_tpr(y, preds, min_tpr=MIN_TPR),
                                      "best_rounds": bests}
        entries.append(fit_final(s, library, features, emb, y, int(np.median(bests))))
        entries[-1]["reference"] = reference_quantiles(preds).tolist()
        summary["models"][library]["importance_top"] = dict(
            list(entries[-1]["importance"].items())[:15])
    # Combined exactly as the saved stack combines them (percentiles in the stored reference).
    libraries = s.tree_libraries
    oof["prob"] = (oof[f"{libraries[0]}_prob"] if len(libraries) == 1 else percentile_mean(
        [oof[f"{m}_prob"].to_numpy() for m in libraries], [np.asarray(e["reference"])
                                                           for e in entries]))
    summary["cnn"] = {"auroc": auroc(y, df["prob"]),
                      "pauc80": pauc_above_tpr(y, df["prob"], min_tpr=MIN_TPR)}
    summary["stack"] = {"auroc": auroc(y, oof["prob"]),
                        "pauc80": pauc_above_tpr(y, oof["prob"], min_tpr=MIN_TPR)}
    # eval.compare-ready: --baseline cnn_predictions.csv --candidate oof_predictions.csv
    oof.to_csv(s.out / "oof_predictions.csv", index=False)
    oof[["image_id", "group_id", "label", "cnn_prob"]].rename(
        columns={"cnn_prob": "prob"}).to_csv(s.out / "cnn_predictions.csv", index=False)
    sidecar = s.embeddings.with_name(s.embeddings.name + ".json")
    bundles = json.loads(sidecar.read_text()).get("bundles") if sidecar.is_file() else None
    spec = {"format": STACK_FORMAT, "schema_version": STACK_SCHEMA,
            "combiner": "percentile_mean" if len(entries) > 1 else "single", "trees": entries,
            "bundles": bundles,
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
    print(f"{'model':<10} {'AUROC':>7} {'pAUC80':>7}   (out-of-fold, {summary['n']} images)")
    for name, m in [("cnn", summary["cnn"]), *summary["models"].items(),
                    ("stack", summary["stack"])]:
        print(f"{name:<10} {m['auroc']:>7.4f} {m['pauc80']:>7.4f}")


COMMAND = Command(StackSettings, fit_all, bad_input=(StackError, TreeError, BundleError,
                                                     FoldError, OSError),
                  writes_to=lambda s: s.out, show=show)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
