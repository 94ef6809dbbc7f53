"""`python -m training.cv`: a tiny 2-fold CV end to end, resume/skip, OOF table, ensemble."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.evaluate import main as evaluate_main
from eval.metrics.ranking import auroc
from models.bundle.ensemble import EnsembleError, load_ensemble
from training.cv import main

TINY = ["--backbone", "tf_efficientnet_lite0", "--pretrained", "none", "--image-size", "32",
        "--batch-size", "8", "--num-workers", "0", "--n-folds", "2", "--epochs", "1",
        "--limit-train-batches", "2", "--meta-hidden", "8"]


@pytest.fixture(scope="module")
def cv_run(ham_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cv")
    assert main(["--data-dir", str(ham_dataset), "--output-dir", str(out), "--run-name", "cv",
                 *TINY]) == 0
    return out / "cv"


def test_every_training_image_gets_one_out_of_fold_prediction(cv_run: Path,
                                                              ham_dataset: Path) -> None:
    oof = pd.read_csv(cv_run / "oof_predictions.csv", dtype={"image_id": str, "group_id": str})
    meta = pd.read_csv(ham_dataset / "HAM10000_metadata.csv")
    assert sorted(oof["image_id"]) == sorted(meta["image_id"])
    assert set(oof["fold"]) == {0, 1}
    # Groups (lesions) never straddle folds, and each fold's rows are its own validation set.
    assert (oof.groupby("group_id")["fold"].nunique() == 1).all()
    for fold in (0, 1):
        own = pd.read_csv(cv_run / f"fold{fold}" / "val_predictions.csv", dtype={"image_id": str})
        assert sorted(own["image_id"]) == sorted(oof.loc[oof["fold"] == fold, "image_id"])


def test_summary_has_fold_metrics_and_the_pooled_auroc(cv_run: Path) -> None:
    summary = json.loads((cv_run / "cv_summary.json").read_text())
    oof = pd.read_csv(cv_run / "oof_predictions.csv")
    folds = summary["folds"]
    assert set(folds) == {"0", "1"}
    for fold, m in folds.items():
        info = json.loads((cv_run / f"fold{fold}" / "bundle" / "bundle.json").read_text())
        assert m["auroc"] == info["metrics"]["validation"]["auroc"]
    aurocs = [m["auroc"] for m in folds.values()]
    assert summary["auroc_mean"] == pytest.approx(np.mean(aurocs))
    assert summary["auroc_sd"] == pytest.approx(np.std(aurocs, ddof=1))
    pooled = summary["pooled_oof"]
    assert pooled["auroc"] == pytest.approx(auroc(oof["target"], oof["prob"]))
    assert pooled["auroc_ci"][0] <= pooled["auroc"] <= pooled["auroc_ci"][1]
    assert pooled["n"] == len(oof)


def test_rerun_skips_finished_folds(cv_run: Path, ham_dataset: Path, caplog) -> None:
    before = (cv_run / "fold0" / "bundle" / "model.safetensors").stat().st_mtime_ns
    caplog.set_level(logging.INFO)
    assert main(["--data-dir", str(ham_dataset), "--output-dir", str(cv_run.parent),
                 "--run-name", "cv", *TINY]) == 0
    assert "finished earlier" in caplog.text
    assert (cv_run / "fold0" / "bundle" / "model.safetensors").stat().st_mtime_ns == before


def test_half_finished_fold_resumes_from_last_checkpoint(cv_run: Path, ham_dataset: Path,
                                                         tmp_path: Path, caplog) -> None:
    copy = tmp_path / "cv"
    shutil.copytree(cv_run, copy)
    shutil.rmtree(copy / "fold1" / "bundle")  # as if the run died after its last epoch
    caplog.set_level(logging.INFO)
    assert main(["--data-dir", str(ham_dataset), "--output-dir", str(tmp_path),
                 "--run-name", "cv", *TINY]) == 0
    assert "fold 1: resuming from" in caplog.text
    assert (copy / "fold1" / "bundle" / "bundle.json").is_file()


def test_ensemble_of_folds_loads_and_scores(cv_run: Path, ham_dataset: Path,
                                            tmp_path: Path) -> None:
    ensemble = load_ensemble(cv_run / "ensemble")
    assert len(ensemble.members) == 2 and ensemble.combiner == "mean"
    assert set(ensemble.thresholds) == {"sensitivity_target", "closest_to_corner"}
    out = tmp_path / "eval"
    assert evaluate_main(["--bundle", str(cv_run / "ensemble"), "--data", str(ham_dataset),
                          "--out", str(out), "--n-boot", "0", "--no-progress",
                          "--num-workers", "0", "--backend", "eager"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble"]["ensemble_id"] == ensemble.ensemble_id
    assert metrics["ensemble"]["n_members"] == 2
    assert metrics["thresholds"]["sensitivity_target"]["threshold"] == pytest.approx(
        ensemble.thresholds["sensitivity_target"])


def test_tampered_member_is_refused(cv_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cv"
    shutil.copytree(cv_run, copy)
    weights = copy / "fold1" / "bundle" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(EnsembleError, match="fold1/bundle.*SHA-256 does not match"):
        load_ensemble(copy / "ensemble")
    # A whole other (valid) bundle in the member's place: its weights are not the recorded ones.
    shutil.rmtree(copy / "fold1" / "bundle")
    shutil.copytree(copy / "fold0" / "bundle", copy / "fold1" / "bundle")
    with pytest.raises(EnsembleError, match="fold1/bundle.*replaced or tampered"):
        load_ensemble(copy / "ensemble")
    manifest = json.loads((copy / "ensemble" / "ensemble.json").read_text())
    manifest["members"][0]["path"] = "../nowhere"
    (copy / "ensemble" / "ensemble.json").write_text(json.dumps(manifest))
    with pytest.raises(EnsembleError, match="nowhere"):
        load_ensemble(copy / "ensemble")


@pytest.mark.parametrize(("folds", "fact"), [("7", "do not exist"), ("a,b", "fold numbers")])
def test_bad_folds_are_refused(ham_dataset: Path, tmp_path: Path, folds: str, fact: str,
                               caplog) -> None:
    assert main(["--data-dir", str(ham_dataset), "--output-dir", str(tmp_path),
                 "--folds", folds, *TINY]) == 2
    assert fact in caplog.text


def test_weighted_ensemble_weights_members_by_their_validation_auroc(cv_run: Path,
                                                                      ham_dataset: Path,
                                                                      tmp_path: Path) -> None:
    from models.bundle.ensemble import save_ensemble
    from models.bundle.io import load_bundle

    members = [load_bundle(cv_run / f"fold{k}" / "bundle") for k in (0, 1)]
    aurocs = np.array([m.info["metrics"]["validation"]["auroc"] for m in members])
    folder = save_ensemble(tmp_path / "weighted", members, name="w", combiner="weighted")
    ensemble = load_ensemble(folder)
    np.testing.assert_allclose(ensemble.weights, aurocs / aurocs.sum())
    out = tmp_path / "eval"
    assert evaluate_main(["--bundle", str(folder), "--data", str(ham_dataset), "--out",
                          str(out), "--n-boot", "0", "--no-progress", "--num-workers", "0",
                          "--backend", "eager"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble"]["method"] == "weighted"
    np.testing.assert_allclose(metrics["ensemble"]["weights"], ensemble.weights)
    preds = pd.read_csv(out / "predictions.csv")
    expected = preds[["member0_prob", "member1_prob"]].to_numpy() @ np.asarray(ensemble.weights)
    np.testing.assert_allclose(preds["prob"], expected, atol=1e-12)


def test_diagnosis_cv_writes_class_probabilities_and_balanced_accuracy(
        ham_dx_dataset: Path, tmp_path: Path) -> None:
    from eval.metrics.multiclass import balanced_accuracy

    assert main(["--data-dir", str(ham_dx_dataset), "--output-dir", str(tmp_path),
                 "--run-name", "dx", *TINY, "--task", "diagnosis"]) == 0
    oof = pd.read_csv(tmp_path / "dx" / "oof_predictions.csv")
    classes = ["MEL", "NV", "BCC", "BKL"]
    table = oof[[f"prob_class_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-6)
    summary = json.loads((tmp_path / "dx" / "cv_summary.json").read_text())
    assert set(summary["folds"]["0"]) >= {"balanced_accuracy", "auroc"}
    labels = oof["diagnosis"].map(classes.index).to_numpy()
    assert summary["pooled_oof"]["balanced_accuracy"] == pytest.approx(
        balanced_accuracy(labels, table))
    assert load_ensemble(tmp_path / "dx" / "ensemble").members[0].classes == tuple(classes)
