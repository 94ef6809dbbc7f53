"""Diagnosis (softmax) models through the model layer: head, probabilities, loss, bundle, engine.

Random weights: the tests check shapes, the melanoma column, agreement between backends to
1e-4 and invariants (probabilities sum to one), never which class wins.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from models.bundle.io import load_bundle
from models.inference.engine import Engine
from models.nn.fusion import FusionConfig, FusionNet, check_classes
from models.nn.probabilities import logits_to_class_probabilities, logits_to_probability
from tests.models.conftest import DIAGNOSIS_CLASSES, make_tiny_bundle
from training.components.losses import MultiClassFocalLoss, build_loss, class_weights_from_counts

META = (61, "male", "lower extremity")
TOL = 1e-4


@pytest.mark.parametrize(("classes", "fact"), [
    (("MEL",), "two or more"), (("MEL", "MEL"), "two or more"),
    (("NV", "MEL"), "canonical order"), (("NV", "BCC"), "lack MEL"),
    (("MEL", "melanoma"), "unknown diagnosis classes"),
])
def test_bad_class_lists_are_refused(classes, fact) -> None:
    with pytest.raises(ValueError, match=fact):
        check_classes(classes)


def test_head_width_and_config_round_trip() -> None:
    config = FusionConfig(backbone="tf_efficientnet_lite0", classes=("MEL", "NV", "BKL"))
    net = FusionNet(config).eval()
    out = net(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 3) and config.task == "diagnosis"
    assert FusionConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    binary = FusionConfig(backbone="tf_efficientnet_lite0")
    assert "classes" not in binary.to_dict() and binary.task == "melanoma"  # as before


def test_melanoma_probability_is_the_softmax_melanoma_column() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0]])
    classes = logits_to_class_probabilities(logits)
    expected = torch.softmax(logits, dim=1).double()
    torch.testing.assert_close(classes, expected)
    torch.testing.assert_close(logits_to_probability(logits), expected[:, 0])
    np.testing.assert_allclose(classes.sum(1).numpy(), 1.0, atol=1e-12)
    assert logits_to_class_probabilities(torch.zeros(4)) is None  # a melanoma model's


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weights", ["none", "inverse", "sqrt-inverse"])
def test_focal_with_gamma_zero_equals_cross_entropy(smoothing: float, weights: str) -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(16, 4), torch.randint(0, 4, (16,))
    w = class_weights_from_counts([10, 40, 5, 45], weights)
    focal = MultiClassFocalLoss(0.0, w, smoothing)(logits, target)
    ce = nn.CrossEntropyLoss(weight=w, label_smoothing=smoothing)(logits, target)
    torch.testing.assert_close(focal, ce)


def test_focusing_down_weights_confident_right_answers() -> None:
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.1, 0.0]])
    target = torch.tensor([0, 0])
    per_row = [MultiClassFocalLoss(2.0)(logits[i:i + 1], target[i:i + 1]).item()
               for i in range(2)]
    ce = [nn.functional.cross_entropy(logits[i:i + 1], target[i:i + 1]).item() for i in range(2)]
    assert per_row[0] / ce[0] < per_row[1] / ce[1] < 1.0


@pytest.mark.parametrize(("mode", "expected"), [
    ("inverse", [100 / (2 * 80), 100 / (2 * 20)]),
    ("sqrt-inverse", [(100 / (2 * 80)) ** 0.5, (100 / (2 * 20)) ** 0.5]),
])
def test_class_weights(mode: str, expected: list[float]) -> None:
    np.testing.assert_allclose(class_weights_from_counts([80, 20], mode).numpy(), expected,
                               rtol=1e-6)
    assert class_weights_from_counts([80, 20], "none") is None


@pytest.mark.parametrize(("kind", "counts", "fact"), [
    ("bce", [5, 5], "does not fit a diagnosis head"), ("ce", None, "for diagnosis models")])
def test_loss_kinds_must_fit_the_head(kind, counts, fact) -> None:
    with pytest.raises(ValueError, match=fact):
        build_loss(kind, alpha=0.25, gamma=2.0, n_pos=5, n_neg=5, class_counts=counts)


def test_bundle_records_task_and_classes(diagnosis_bundle) -> None:
    info = json.loads((diagnosis_bundle.path / "bundle.json").read_text())
    assert (info["task"], info["classes"], info["melanoma_class"]) == (
        "diagnosis", list(DIAGNOSIS_CLASSES), "MEL")
    assert diagnosis_bundle.classes == DIAGNOSIS_CLASSES
    assert diagnosis_bundle.task == "diagnosis"


def test_melanoma_bundles_say_so(tiny_bundle) -> None:
    info = json.loads((tiny_bundle.path / "bundle.json").read_text())
    assert info["task"] == "melanoma" and "classes" not in info
    assert tiny_bundle.classes == ()


@pytest.fixture(scope="module")
def engines(diagnosis_bundle):
    return {b: Engine(diagnosis_bundle, num_threads=1, backend=b)
            for b in ("eager", "onnxruntime", "torchscript")}


def test_engine_shows_the_differential(engines, diagnosis_bundle, lesion_jpeg) -> None:
    result = engines["eager"].analyze(lesion_jpeg, *META)
    assert list(result.classes) == list(DIAGNOSIS_CLASSES)
    assert sum(result.classes.values()) == pytest.approx(1.0, abs=1e-6)  # float32 softmax
    assert result.classes["MEL"] == pytest.approx(result.probability, abs=1e-12)
    mean = result.classes_tta_mean
    assert sum(mean.values()) == pytest.approx(1.0, abs=1e-6)
    assert mean["MEL"] == pytest.approx(result.tta_mean, abs=1e-12)
    payload = result.to_json()
    assert payload["classes"] == result.classes and payload["classes_tta_mean"] == mean
    assert engines["eager"].predict(lesion_jpeg, *META) == pytest.approx(result.probability,
                                                                        abs=1e-6)
    no_tta = engines["eager"].analyze(lesion_jpeg, *META, tta=False, cam=False)
    assert no_tta.classes_tta_mean is None and no_tta.classes == pytest.approx(result.classes)


@pytest.mark.parametrize("backend", ["onnxruntime", "torchscript"])
def test_exported_multiclass_graphs_agree_with_eager(engines, backend, lesion_jpeg) -> None:
    ref, out = (engines[b].analyze(lesion_jpeg, *META) for b in ("eager", backend))
    assert engines[backend].backend == backend
    np.testing.assert_allclose(list(out.classes.values()), list(ref.classes.values()),
                               rtol=0, atol=TOL)
    np.testing.assert_allclose(list(out.classes_tta_mean.values()),
                               list(ref.classes_tta_mean.values()), rtol=0, atol=TOL)
    np.testing.assert_allclose([v["probability"] for v in out.tta],
                               [v["probability"] for v in ref.tta], rtol=0, atol=TOL)


def test_a_bundle_with_a_bad_class_list_is_refused(tmp_path) -> None:
    from models.bundle.io import BundleError

    folder = make_tiny_bundle(tmp_path / "b", classes=("MEL", "NV"))
    info = json.loads((folder / "bundle.json").read_text())
    info["model"]["classes"] = ["NV", "MEL"]
    (folder / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match="canonical order"):
        load_bundle(folder)
