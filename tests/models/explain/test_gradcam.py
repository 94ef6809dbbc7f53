"""Tests for models.explain.gradcam and the engine's Grad-CAM: equal to pytorch-grad-cam's GradCAM
per
layer, class-specific for diagnosis models, and chosen and checked through `Engine.analyze`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from models.explain.gradcam import gradcam_maps
from models.inference.engine import EIGENCAM, GRADCAM, MELANOMA_OUTPUT, Engine, InputError
from tests.models.conftest import DIAGNOSIS_CLASSES, ENGINE_SIZE


class _Logits(torch.nn.Module):
    """grad-cam calls model(image) and wants (N, outputs)."""

    def __init__(self, model, meta):
        super().__init__()
        self.model, self.meta = model, meta

    def forward(self, image):
        out = self.model(image, self.meta.expand(len(image), -1))
        return out[:, None] if out.dim() == 1 else out


def _reference(bundle, x, meta, layer, target):
    modules = dict(bundle.model.named_modules())
    cam = GradCAM(_Logits(bundle.model, meta), [modules[layer]])
    try:  # the input asks for gradients in case the loaded weights do not
        return cam(input_tensor=x.clone().requires_grad_(True),
                   targets=[ClassifierOutputTarget(target)])[0]
    finally:
        cam.activations_and_grads.release()


def _inputs(bundle, engine, image):
    analysis = engine.analyze(image, 50, "female", "torso", cam=False)
    x = torch.from_numpy(bundle.preprocessing.normalize(analysis.model_view))[None]
    meta = torch.from_numpy(bundle.encoder.encode(50, "female", "torso"))[None]
    return x, meta


@pytest.mark.parametrize("which", ["melanoma", "diagnosis"])
def test_maps_equal_grad_cam_gradcam_per_layer(which, tiny_bundle, diagnosis_bundle,
                                               lesion_jpeg):
    bundle = tiny_bundle if which == "melanoma" else diagnosis_bundle
    engine = Engine(bundle, num_threads=1, backend="eager")
    x, meta = _inputs(bundle, engine, lesion_jpeg)
    layers = bundle.model.cam_layer_names()
    targets = [None] if which == "melanoma" else [1, 4]  # NV and BKL
    for target in targets:
        ours = gradcam_maps(bundle.model, layers, x[0], meta[0], target, ENGINE_SIZE)
        assert [resolution for resolution, _ in ours] == [
            tuple(c.resolution) for c in engine.analyze(lesion_jpeg, 50, "female",
                                                        "torso").cams]
        for layer, (_, heatmap) in zip(layers, ours, strict=True):
            ref = _reference(bundle, x, meta, layer, 0 if target is None else target)
            assert ref.shape == heatmap.shape == (ENGINE_SIZE, ENGINE_SIZE)
            diff = np.abs(ref - heatmap).max()
            assert diff < 1e-4 or (ref.max() == 0 and heatmap.max() == 0), (layer, diff)


def test_class_heatmaps_differ_between_classes(diagnosis_bundle, lesion_jpeg):
    engine = Engine(diagnosis_bundle, num_threads=1, backend="eager")
    maps = {c: engine.analyze(lesion_jpeg, 50, "female", "torso", heatmap=GRADCAM,
                              heatmap_class=c).cams[-1].heatmap for c in ("NV", "BCC")}
    assert not np.allclose(maps["NV"], maps["BCC"])


@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_the_engine_names_the_method_and_the_decided_class(diagnosis_bundle, lesion_jpeg,
                                                           backend, tmp_path):
    """Grad-CAM runs eagerly whatever the backend; by default it explains the decided class."""
    engine = Engine(diagnosis_bundle, num_threads=1, backend=backend, cache_dir=tmp_path)
    result = engine.analyze(lesion_jpeg, 50, "female", "torso", heatmap="GradCAM")
    decided = max(result.classes_tta_mean, key=result.classes_tta_mean.get)
    assert (result.heatmap_method, result.heatmap_class) == (GRADCAM, decided)
    assert result.to_json()["heatmap_method"] == GRADCAM
    assert result.to_json()["heatmap_class"] == decided
    assert len(result.cams) == len(diagnosis_bundle.model.cam_layer_names())
    assert all(0.0 <= c.heatmap.min() and c.heatmap.max() <= 1.0 for c in result.cams)
    plain = engine.analyze(lesion_jpeg, 50, "female", "torso")
    assert (plain.heatmap_method, plain.heatmap_class) == (EIGENCAM, None)
    # The scores do not depend on the heatmap method.
    assert result.probability == pytest.approx(plain.probability, abs=1e-6)


def test_a_melanoma_model_explains_its_one_output(eager_engine, lesion_jpeg):
    result = eager_engine.analyze(lesion_jpeg, 50, "female", "torso", heatmap=GRADCAM)
    assert result.heatmap_class == MELANOMA_OUTPUT
    assert eager_engine.heatmap_target("gradcam", "MEL") == (GRADCAM, MELANOMA_OUTPUT)


@pytest.mark.parametrize(("which", "method", "cls", "fact"), [
    ("melanoma", "saliency", None, "heatmap method 'saliency' is not one of"),
    ("melanoma", "gradcam", "NV", "this melanoma model has one output"),
    ("diagnosis", "gradcam", "XYZ", "heatmap class 'XYZ' is not one of this model's classes"),
])
def test_bad_heatmap_requests_are_refused_before_any_work(which, method, cls, fact,
                                                          eager_engine, diagnosis_bundle,
                                                          lesion_jpeg):
    engine = eager_engine if which == "melanoma" else Engine(diagnosis_bundle, num_threads=1,
                                                             backend="eager")
    with pytest.raises(InputError, match=fact):
        engine.analyze(lesion_jpeg, 50, "female", "torso", heatmap=method, heatmap_class=cls)


def test_diagnosis_classes_are_matched_case_insensitively(diagnosis_bundle):
    engine = Engine(diagnosis_bundle, num_threads=1, backend="eager")
    assert engine.heatmap_target("gradcam", "bcc") == (GRADCAM, "BCC")
    assert engine.heatmap_target("eigencam", "bcc") == (EIGENCAM, None)
    assert set(DIAGNOSIS_CLASSES) >= set(diagnosis_bundle.classes)
