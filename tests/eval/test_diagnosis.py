"""Evaluating diagnosis bundles: class probabilities, multi-class metrics, report, ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.evaluate import main
from eval.metrics.multiclass import balanced_accuracy
from models.bundle import load_bundle
from models.ensemble import CompatibilityError, EnsembleError, check_compatibility, save_ensemble

from .conftest import build_bundle
from .test_evaluate import FAST

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
