"""Tests for models.explain.cam: EigenCAM maths against pytorch-grad-cam, one-pass capture,
alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_grad_cam import EigenCAM
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

from models.explain.cam import LayerTap, cam_map, cam_maps, eigen_projection
from tests.models.conftest import ENGINE_SIZE


class SignCorrectedEigenCAM(EigenCAM):
    """grad-cam's EigenCAM with grad-cam's own sign-corrected projection (grad-cam 1.5.7)."""

    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads,
                      eigen_smooth):
        return get_2d_projection_with_sign_correction(activations)


class _ImageOnly(torch.nn.Module):
    """grad-cam calls model(image) and wants (N, classes) outputs."""

    def __init__(self, model, meta):
        super().__init__()
        self.model, self.meta = model, meta

    def forward(self, image):
        return self.model(image, self.meta.expand(len(image), -1)).unsqueeze(1)


def _activations(shape, seed):
    g = torch.Generator().manual_seed(seed)
    # Post-activation-like: mostly positive, with spatial structure in a few channels.
    acts = torch.randn(shape, generator=g).relu()
    acts[: shape[0] // 3, shape[1] // 3:, : shape[2] // 2] += 2.0
    return acts


@pytest.mark.parametrize("shape,seed", [((24, 24, 24), 0), ((40, 12, 12), 1), ((112, 6, 6), 2),
                                        ((320, 3, 3), 3), ((1280, 3, 3), 4)])
def test_projection_matches_grad_cam_sign_corrected(shape, seed):
    acts = _activations(shape, seed)
    ours = eigen_projection(acts).numpy()
    ref = get_2d_projection_with_sign_correction(acts.numpy()[None])[0]
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, atol=1e-4 * scale)


@pytest.mark.parametrize("shape", [(40, 12, 12), (320, 3, 3)])  # C <= hw and C > hw
def test_projection_is_invariant_to_the_eigenvector_sign(monkeypatch, shape):
    # The eigendecomposition may return v or -v; without the sign rule the map would flip, and
    # the ReLU would then keep the other half of the image. Force the other sign: same map.
    acts = _activations(shape, 3)
    expected = eigen_projection(acts).numpy()
    assert abs(expected.max()) >= abs(expected.min())
    real_eigh = torch.linalg.eigh

    def flipped_eigh(a):
        values, vectors = real_eigh(a)
        return values, -vectors

    monkeypatch.setattr(torch.linalg, "eigh", flipped_eigh)
    np.testing.assert_allclose(eigen_projection(acts).numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(eigen_projection(-acts).numpy(), expected, rtol=0,
                               atol=1e-4 * np.abs(expected).max())


def test_nan_activations_are_zeroed_like_grad_cam():
    acts = _activations((24, 8, 8), 4)
    acts[0, 0, 0] = float("nan")
    ours = eigen_projection(acts).numpy()
    ref = get_2d_projection_with_sign_correction(acts.numpy()[None])[0]
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, atol=1e-4 * np.abs(ref).max())


def test_cam_map_shape_range_and_normalisation():
    heat = cam_map(_activations((112, 6, 6), 5), 96)
    assert heat.shape == (96, 96) and heat.dtype == np.float32
    assert heat.min() == pytest.approx(0.0, abs=1e-6)
    assert heat.max() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("grid,size", [(7, 224), (3, 96), (12, 96)])
def test_cam_map_is_aligned_with_the_input_no_offset(grid, size):
    # One hot cell in an otherwise flat grid: the map's peak must sit on that cell's centre
    # in input pixels (a crop or a corner-aligned resize would shift it).
    row, col = grid - 2, 1
    acts = torch.full((16, grid, grid), 0.1)
    acts[:, row, col] = torch.linspace(1.0, 3.0, 16)
    heat = cam_map(acts, size)
    cell = size / grid
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    centre = ((row + 0.5) * cell, (col + 0.5) * cell)
    assert abs(peak[0] + 0.5 - centre[0]) <= 1.0 and abs(peak[1] + 0.5 - centre[1]) <= 1.0
    # symmetric around the centre: no half-pixel drift
    ys, xs = np.nonzero(heat > 0.5)
    assert abs((ys.mean() + 0.5) - centre[0]) < 0.5 and abs((xs.mean() + 0.5) - centre[1]) < 0.5


def test_layer_tap_captures_all_layers_in_one_forward(tiny_bundle):
    model = tiny_bundle.model
    names = model.cam_layer_names()
    tap = LayerTap(model, names).eval()
    calls = []
    handle = model.backbone.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape))
    try:
        with torch.inference_mode():
            x = torch.randn(8, 3, ENGINE_SIZE, ENGINE_SIZE)
            out = tap(x, torch.zeros(8, tiny_bundle.encoder.dim))
    finally:
        handle.remove()
    assert len(calls) == 1 and calls[0][0] == 8  # one forward of the whole batch
    logits, *acts = out
    assert logits.shape == (8,) and len(acts) == len(names) >= 5
    assert [a.shape[0] for a in acts] == [1] * len(names)  # only the identity row is kept
    sides = [a.shape[-1] for a in acts]
    assert sides == sorted(sides, reverse=True)  # early (fine) -> late (coarse)
    assert not model._forward_hooks and all(  # hooks are removed after the pass
        not m._forward_hooks for m in model.modules())


def test_layer_tap_rejects_unknown_layers(tiny_bundle):
    with pytest.raises(ValueError, match="not found"):
        LayerTap(tiny_bundle.model, ["backbone.nope"])


HAM_IMAGES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ham10000" / "images"


def _real_image() -> Path:
    images = sorted(HAM_IMAGES.glob("*.jpg"))[:1] if HAM_IMAGES.is_dir() else []
    if not images:
        pytest.skip(f"HAM10000 images not found under {HAM_IMAGES}")
    return images[0]


@pytest.mark.parametrize("source", [
    "synthetic", pytest.param("ham10000", marks=pytest.mark.realdata)])
def test_engine_cams_match_grad_cam_eigencam_per_layer(eager_engine, tiny_bundle, lesion_jpeg,
                                                       source):
    """Our one-pass maps == grad-cam's sign-corrected EigenCAM (one object per layer)."""
    image = lesion_jpeg if source == "synthetic" else _real_image()
    analysis = eager_engine.analyze(image, 50, "female", "torso")
    pre, model = tiny_bundle.preprocessing, tiny_bundle.model
    x = torch.from_numpy(pre.normalize(analysis.model_view))[None]
    meta = torch.from_numpy(tiny_bundle.encoder.encode(50, "female", "torso"))[None]
    modules = dict(model.named_modules())
    assert [c.name for c in analysis.cams] == model.cam_layer_names()
    for layer in analysis.cams:
        cam = SignCorrectedEigenCAM(_ImageOnly(model, meta), [modules[layer.name]])
        try:
            ref = cam(input_tensor=x, targets=None)[0]
        finally:
            cam.activations_and_grads.release()
        assert ref.shape == layer.heatmap.shape == (ENGINE_SIZE, ENGINE_SIZE)
        diff = np.abs(ref - layer.heatmap)
        assert diff.max() < 2e-3, f"{layer.name}: max |diff| {diff.max():.2e}"
        assert np.corrcoef(ref.ravel(), layer.heatmap.ravel())[0, 1] > 0.9999


def test_cam_maps_accepts_batched_and_unbatched():
    acts = _activations((24, 8, 8), 6)
    a, b = cam_maps([acts, acts[None]], 32)
    np.testing.assert_array_equal(a, b)
