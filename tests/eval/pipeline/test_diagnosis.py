"""Evaluating diagnosis bundles: class probabilities, multi-class metrics, report, ensembles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.evaluate import main
from eval.metrics.multiclass import balanced_accuracy
from models.bundle.ensemble import (
    CompatibilityError,
    EnsembleError,
    check_compatibility,
    save_ensemble,
)
from models.bundle.io import load_bundle
from tests.eval.conftest import build_bundle
from tests.eval.test_evaluate import FAST

CLASSES = ("MEL", "NV", "BCC", "BKL")  # the generated data has MEL, NV and BKL only


@pytest.fixture(scope="module")
def dx_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("dx") / "b", classes=CLASSES, name="dx")


@pytest.mark.parametrize("tta", [False, True], ids=["plain", "tta"])
def test_diagnosis_bundle_is_scored_as_classes_and_as_melanoma(
        dx_bundle: Path, ham_source: Path, tmp_path: Path, tta: bool) -> None:
    out = tmp_path / "eval"
    assert main(["--bundle", str(dx_bundle), "--data", str(ham_source), "--out", str(out),
                 *FAST, *(["--tta"] if tta else [])]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pd.read_csv(out / "predictions.csv")
    table = preds[[f"prob_class_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-6)
    if not tta:  # P(melanoma) is the MEL class's probability
        np.testing.assert_allclose(preds["prob"], preds["prob_class_MEL"], atol=1e-12)
    d = metrics["diagnosis"]
    labels = preds["diagnosis"].map(list(CLASSES).index).to_numpy()
    assert d["balanced_accuracy"] == pytest.approx(balanced_accuracy(labels, table), abs=1e-9)
    assert d["n"] == len(preds) and d["left_out"] == {"unknown diagnosis": 0,
                                                     "class not in the model": 0}
    assert d["absent_classes"] == ["BCC"] and d["per_class"]["BCC"]["absent"] is True
    assert d["per_class"]["MEL"]["support"] == int(preds["label"].sum())
    # The melanoma figures keep their keys and meaning.
    assert {"auroc", "auroc_ci", "thresholds"} <= set(metrics)
    assert (out / "class_confusion.png").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "## Diagnosis (multi-class)" in report and "| BCC | absent |" in report


def test_fast_backend_gives_the_eager_class_probabilities(dx_bundle: Path, ham_source: Path,
                                                          tmp_path: Path) -> None:
    runs = {}
    for backend in ("eager", "onnxruntime"):
        out = tmp_path / backend
        args = [a for a in FAST if a not in ("--backend", "eager")]
        assert main(["--bundle", str(dx_bundle), "--data", str(ham_source), "--out", str(out),
                     *args, "--backend", backend]) == 0
        runs[backend] = pd.read_csv(out / "predictions.csv")
    columns = [f"prob_class_{c}" for c in CLASSES]
    np.testing.assert_allclose(runs["onnxruntime"][columns], runs["eager"][columns], atol=1e-4)


def test_members_of_different_tasks_are_refused(dx_bundle: Path, bundle64: Path,
                                                tmp_path: Path) -> None:
    other = build_bundle(tmp_path / "other", classes=("MEL", "NV"), name="other")
    df = pd.DataFrame({"sex": ["male"], "site": ["unknown"]})
    for pair in ((dx_bundle, bundle64), (dx_bundle, other)):
        members = [load_bundle(p) for p in pair]
        with pytest.raises(CompatibilityError, match="tasks or classes differ"):
            check_compatibility(members, df)
        with pytest.raises(EnsembleError, match=r"different tasks or classes cannot be "
                                                r"combined: .*: diagnosis \['MEL'"):
            save_ensemble(tmp_path / "ens", members, name="mixed",
                          thresholds={"sensitivity_target": 0.5})


def test_an_ensemble_of_diagnosis_bundles_averages_class_probabilities(
        dx_bundle: Path, ham_source: Path, tmp_path: Path) -> None:
    second = build_bundle(tmp_path / "second", classes=CLASSES, seed=5, name="dx2")
    outs = {}
    for name, bundles in (("a", [dx_bundle]), ("b", [second]), ("ab", [dx_bundle, second])):
        out = tmp_path / name
        flags = [arg for b in bundles for arg in ("--bundle", str(b))]
        assert main([*flags, "--data", str(ham_source), "--out", str(out), *FAST]) == 0
        outs[name] = pd.read_csv(out / "predictions.csv")
    columns = [f"prob_class_{c}" for c in CLASSES]
    np.testing.assert_allclose(outs["ab"][columns],
                               (outs["a"][columns] + outs["b"][columns]) / 2, atol=1e-9)


ISIC2017 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "isic2017_train"
N_BINARY = 40  # real ISIC 2017 images, melanomas among them


@pytest.fixture(scope="module")
def binary_labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain `image,label` CSV (PH2/Derm7pt style) over real ISIC 2017 training images."""
    truth = ISIC2017 / "ISIC-2017_Training_Part3_GroundTruth.csv"
    if not truth.is_file():
        pytest.skip(f"real data not available: {truth} (see ../shared/data/README.md)")
    table = pd.read_csv(truth)
    rows = pd.concat([table[table["melanoma"] == 1].head(N_BINARY // 4),
                      table[table["melanoma"] == 0].head(N_BINARY - N_BINARY // 4)])
    path = tmp_path_factory.mktemp("binary") / "labels.csv"
    pd.DataFrame({"image": rows["image_id"] + ".jpg",
                  "label": rows["melanoma"].astype(int)}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("members", [1, 2], ids=["bundle", "ensemble"])
def test_a_diagnosis_model_on_binary_labels_gives_the_melanoma_metrics(
        dx_bundle: Path, binary_labels: Path, tmp_path: Path, members: int) -> None:
    """Binary labels leave the non-melanomas without a diagnosis: one known class. The run
    must still score melanoma, and say why the multi-class block is absent."""
    bundles = [dx_bundle] if members == 1 else [
        dx_bundle, build_bundle(tmp_path / "second", classes=CLASSES, seed=5, name="dx2")]
    flags = [arg for b in bundles for arg in ("--bundle", str(b))]
    out = tmp_path / "eval"
    code = main([*flags, "--data", str(binary_labels), "--images",
                 str(ISIC2017 / "ISIC-2017_Training_Data"), "--format", "csv", "--out", str(out),
                 *FAST])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == N_BINARY and int(preds["label"].sum()) == N_BINARY // 4
    assert 0.0 <= metrics["auroc"] <= 1.0 and metrics["n"] == N_BINARY
    d = metrics["diagnosis"]
    assert d["classes_present"] == ["MEL"] and d["n"] == N_BINARY // 4
    assert d["left_out"]["unknown diagnosis"] == N_BINARY - N_BINARY // 4
    assert "fewer than 2 known diagnosis classes" in d["not_computed"]
    assert "balanced_accuracy" not in d and not (out / "class_confusion.png").exists()
    report = (out / "report.md").read_text()
    assert "Not computed: fewer than 2 known diagnosis classes" in report


def test_predict_with_a_diagnosis_model_on_a_binary_labelled_csv(
        dx_bundle: Path, binary_labels: Path, tmp_path: Path) -> None:
    from eval.predict import main as predict

    out = tmp_path / "predictions.csv"
    images = tmp_path / "images"
    images.mkdir()
    for name in pd.read_csv(binary_labels)["image"]:
        shutil.copyfile(ISIC2017 / "ISIC-2017_Training_Data" / name, images / name)
    assert predict(["--bundle", str(dx_bundle), "--images", str(images), "--out", str(out),
                    "--no-progress", "--num-workers", "0", "--backend", "eager"]) == 0
    table = pd.read_csv(out)
    assert len(table) == N_BINARY
    np.testing.assert_allclose(table[[f"prob_class_{c}" for c in CLASSES]].sum(axis=1), 1.0,
                               atol=1e-6)
