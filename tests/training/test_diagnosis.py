"""Diagnosis (multi-class) training end to end: generated data -> pl_train -> bundle -> reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from configs.training import TrainSettings
from eval.metrics.multiclass import balanced_accuracy, macro_f1
from models.bundle.io import load_bundle
from models.inference.engine import Engine
from tests.training.test_pl_train import TINY
from training.components.fit import build_datamodule
from training.pl_train import main

CLASSES = ["MEL", "NV", "BCC", "BKL"]


@pytest.fixture(scope="module")
def dx_run(ham_dx_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dx-runs")
    assert main(["--data-dir", str(ham_dx_dataset), "--output-dir", str(out), "--run-name",
                 "dx", *TINY, "--task", "diagnosis", "--loss", "ce", "--class-weights",
                 "inverse", "--label-smoothing", "0.1", "--sampler", "weighted", "--monitor",
                 "balanced_accuracy"]) == 0
    return out / "dx"


def test_bundle_records_the_task_and_its_classes(dx_run: Path) -> None:
    info = json.loads((dx_run / "bundle" / "bundle.json").read_text())
    assert (info["task"], info["classes"], info["melanoma_class"]) == ("diagnosis", CLASSES,
                                                                       "MEL")
    assert info["model"]["classes"] == CLASSES
    training = info["training"]
    assert (training["task"], training["loss"], training["class_weights"],
            training["label_smoothing"], training["sampler"], training["monitor"]) == (
        "diagnosis", "ce", "inverse", 0.1, "weighted", "balanced_accuracy")
    assert info["training_data"]["classes"] == CLASSES
    assert info["training_data"]["stratified_by"] == "diagnosis"
    assert list((dx_run / "checkpoints").glob("epoch00-balanced_accuracy*.ckpt"))


def test_validation_scores_are_what_the_bundle_computes(dx_run: Path) -> None:
    """P(MEL), the class probabilities and the metrics of training's validation pass equal what
    the exported bundle gives through the app's engine, and the recorded balanced accuracy is
    the one of the recorded predictions."""
    bundle = load_bundle(dx_run / "bundle")
    preds = pd.read_csv(dx_run / "val_predictions.csv")
    columns = [f"prob_class_{c}" for c in CLASSES]
    table = preds[columns].to_numpy()
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(preds["prob"], preds["prob_class_MEL"], atol=1e-12)
    assert ((preds["diagnosis"] == "MEL") == (preds["target"] == 1)).all()
    engine = Engine(bundle, num_threads=1, backend="eager")
    for _, row in preds.head(4).iterrows():
        result = engine.analyze(row["image_path"], row["age"], row["sex"], row["site"],
                                tta=False, cam=False)
        np.testing.assert_allclose(list(result.classes.values()), row[columns].to_numpy(
            dtype=float), atol=1e-5)
    labels = preds["diagnosis"].map(CLASSES.index).to_numpy()
    recorded = bundle.info["metrics"]["validation"]
    assert recorded["diagnosis"]["balanced_accuracy"] == pytest.approx(
        balanced_accuracy(labels, table), abs=1e-6)
    assert recorded["diagnosis"]["macro_f1"] == pytest.approx(macro_f1(labels, table),
                                                              abs=1e-6)
    logged = pd.read_csv(dx_run / "metrics.csv")["val/macro_f1"].dropna()
    assert len(logged) >= 1 and ((logged >= 0) & (logged <= 1)).all()
    assert set(recorded["diagnosis"]["per_class"]) == set(CLASSES)
    assert recorded["n_pos"] == int(preds["target"].sum())


@pytest.mark.parametrize("flags", [["--loss", "ce"], ["--class-weights", "inverse"],
                                   ["--monitor", "balanced_accuracy"], ["--monitor", "macro_f1"],
                                   ["--task", "diagnosis", "--loss", "bce"]])
def test_options_that_do_not_fit_the_task_are_refused(ham_dx_dataset: Path, tmp_path: Path,
                                                      flags: list[str], caplog) -> None:
    code = main(["--data-dir", str(ham_dx_dataset), "--output-dir", str(tmp_path), *TINY,
                 *flags])
    assert code == 2
    assert "do(es) not fit --task" in caplog.text


def test_weighted_sampler_draws_classes_evenly(ham_dx_dataset: Path) -> None:
    s = TrainSettings.from_cli(["--data-dir", str(ham_dx_dataset), *TINY, "--task",
                                "diagnosis", "--sampler", "weighted"])
    dm = build_datamodule(s)
    dm.setup()
    labels = dm.train_set.targets.numpy()
    sampler = dm.balanced_sampler()  # each epoch draws anew from the seeded generator
    drawn = np.concatenate([labels[list(sampler)] for _ in range(100)])
    shares = np.bincount(drawn, minlength=len(dm.classes)) / len(drawn)
    np.testing.assert_allclose(shares, 1 / len(dm.classes), atol=0.03)


def test_macro_f1_can_choose_the_checkpoint(ham_dx_dataset: Path, tmp_path: Path) -> None:
    """Issue 27: the reference recipe's checkpoint metric."""
    assert main(["--data-dir", str(ham_dx_dataset), "--output-dir", str(tmp_path),
                 "--run-name", "f1", *TINY, "--task", "diagnosis", "--monitor",
                 "macro_f1"]) == 0
    assert list((tmp_path / "f1" / "checkpoints").glob("epoch00-macro_f1*.ckpt"))
