"""CAM layers of every backbone family read as the right grid, or refused by name.

For CNN maps, Swin's channels-last maps, ViT/EVA token sequences (prefix tokens removed, grid
from the model) and the hybrid network, our projection equals pytorch-grad-cam's EigenCAM
projection given the right `reshape_transform` to 1e-4, and the full heatmap agrees as in
test_cam.py (bilinear resizes differ slightly between torch and OpenCV).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

from models.bundle.io import BundleError, load_bundle, save_bundle
from models.explain.cam import LayerTap, cam_map, eigen_projection, feature_maps
from models.explain.cam_layout import NCHW, NHWC, TOKENS, CamLayoutError, infer_layouts
from models.inference.engine import Engine
from models.nn.fusion import FusionConfig, FusionNet
from tests.helpers import tiny_encoder
from tests.models.conftest import ENGINE_THRESHOLDS
from tests.models.explain.test_cam import SignCorrectedEigenCAM

SIZE = 224
FAMILIES = {  # backbone: (layout kind, prefix tokens, grid of the last CAM layer)
    "vit_tiny_patch16_224": (TOKENS, 1, (14, 14)),
    "eva02_tiny_patch14_224": (TOKENS, 1, (16, 16)),
    "swin_tiny_patch4_window7_224": (NHWC, 0, (7, 7)),
    "convnextv2_atto": (NCHW, 0, (7, 7)),
    "hybrid_convnextv2_ssa": (NCHW, 0, (7, 7)),
}


def _reshape_transform(kind: str, prefix: int, grid: tuple[int, int]):
    """What a grad-cam user writes for this family (grad-cam's own documented recipes)."""
    if kind == TOKENS:
        return lambda t: t[:, prefix:, :].reshape(t.shape[0], *grid, t.shape[2]).permute(
            0, 3, 1, 2)
    if kind == NHWC:
        return lambda t: t.permute(0, 3, 1, 2)
    return None


class _Logits(torch.nn.Module):
    def __init__(self, model: FusionNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request):
    torch.manual_seed(0)
    model = FusionNet(FusionConfig(backbone=request.param, classes=("MEL", "NV"))).eval()
    return request.param, model


def test_layouts_are_read_from_the_model(family) -> None:
    name, model = family
    kind, prefix, grid = FAMILIES[name]
    layouts = infer_layouts(model, model.cam_layer_names(), SIZE)
    assert {layout.kind for layout in layouts} == {kind}
    assert layouts[-1].prefix == prefix
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.inference_mode():
        _, *acts = LayerTap(model, model.cam_layer_names())(x)
    maps = feature_maps(acts, layouts)
    assert tuple(maps[-1].shape[-2:]) == grid


def test_projection_equals_grad_cam_with_the_right_reshape(family) -> None:
    name, model = family
    kind, prefix, grid = FAMILIES[name]
    layer = model.cam_layer_names()[-1]
    layout = infer_layouts(model, [layer], SIZE)[0]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, SIZE, SIZE, generator=g)
    with torch.inference_mode():
        _, act = LayerTap(model, [layer])(x)
    ours = eigen_projection(feature_maps([act], [layout])[0]).numpy()
    ref_acts = act if kind == NCHW else _reshape_transform(kind, prefix, grid)(act)
    ref = get_2d_projection_with_sign_correction(ref_acts.numpy())[0]
    np.testing.assert_allclose(ours, ref, atol=1e-4 * max(1.0, np.abs(ref).max()))
    # The whole heatmap, as grad-cam draws it with that reshape_transform.
    cam = SignCorrectedEigenCAM(_Logits(model), [dict(model.named_modules())[layer]],
                                reshape_transform=_reshape_transform(kind, prefix, grid))
    try:
        heat = cam(input_tensor=x, targets=None)[0]
    finally:
        cam.activations_and_grads.release()
    mine = cam_map(feature_maps([act], [layout])[0], SIZE)
    assert np.abs(heat - mine).max() < 2e-3
    assert np.corrcoef(heat.ravel(), mine.ravel())[0, 1] > 0.9999


def _bundle(tmp_path, backbone: str):
    torch.manual_seed(0)
    encoder = tiny_encoder()
    model = FusionNet(FusionConfig(backbone=backbone, meta_dim=encoder.dim, meta_hidden=(8,)))
    from data.images import Preprocessing

    return load_bundle(save_bundle(tmp_path / backbone, model.eval(),
                                   preprocessing=Preprocessing(size=SIZE), encoder=encoder,
                                   thresholds=ENGINE_THRESHOLDS, name="cam-test"))


def test_a_transformer_bundle_serves_grid_heatmaps(tmp_path, lesion_jpeg) -> None:
    bundle = _bundle(tmp_path, "vit_tiny_patch16_224")
    result = Engine(bundle, num_threads=1, backend="eager").analyze(lesion_jpeg, tta=False)
    assert [c.resolution for c in result.cams] == [(14, 14)] * 4
    assert all(c.heatmap.shape == (SIZE, SIZE) for c in result.cams)


@pytest.mark.parametrize(("backbone", "layers", "patch", "fact"), [
    ("tf_efficientnet_lite0", ["backbone.global_pool"], None, "neither a feature map"),
    ("vit_tiny_patch16_224", ["backbone.blocks.11"], {"num_prefix_tokens": 0},
     "197 tokens minus 0 prefix tokens do not make the 14x14"),
])
def test_a_layer_that_is_no_grid_is_refused_by_name(tmp_path, backbone, layers, patch,
                                                    fact) -> None:
    bundle = _bundle(tmp_path, backbone)
    bundle.model.cam_layer_names = lambda: layers
    for attr, value in (patch or {}).items():
        setattr(bundle.model.backbone, attr, value)
    with pytest.raises(BundleError, match=rf"CAM layer {layers[0]}: .*{fact}"):
        Engine(bundle, num_threads=1, backend="eager")
    with pytest.raises(CamLayoutError):
        infer_layouts(bundle.model, layers, SIZE, bundle.config.meta_dim)
