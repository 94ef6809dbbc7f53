"""Unit tests for models.nn.fusion: FusionNet shapes, metadata handling and CAM layer names."""

from __future__ import annotations

import json

import pytest
import torch

from models.nn.fusion import FusionConfig, FusionNet

BACKBONES = ["tf_efficientnet_lite0", "efficientnet_b0"]
META_DIM = 15
SIZE = 64


@pytest.fixture(scope="module", params=BACKBONES)
def fused(request) -> FusionNet:
    torch.manual_seed(0)
    return FusionNet(FusionConfig(backbone=request.param, meta_dim=META_DIM)).eval()


@pytest.fixture(scope="module")
def image_only() -> FusionNet:
    torch.manual_seed(0)
    return FusionNet(FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=0)).eval()


def _inputs(n: int = 2, meta_dim: int = META_DIM) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, SIZE, SIZE, generator=g), torch.randn(n, meta_dim, generator=g)


@pytest.fixture(scope="module")
def run(fused) -> dict:
    """One set of forward passes per backbone, shared by the tests below (CPU time is scarce).

    Hooks on the CAM layers record each layer's output spatial size during the first pass.
    """
    image, meta = _inputs()
    modules = dict(fused.named_modules())
    sizes: dict[str, tuple[int, int]] = {}
    handles = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: sizes.__setitem__(n, tuple(out.shape[-2:])))
        for n in fused.cam_layer_names()]
    try:
        with torch.no_grad():
            out = fused(image, meta)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        again = fused(image, meta)
        other_meta = fused(image, meta + 3.0)
    return {"out": out, "again": again, "other_meta": other_meta, "sizes": sizes}


def test_output_is_one_logit_per_image(run):
    out = run["out"]
    assert out.shape == (2,)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_metadata_changes_the_output(run):
    assert not torch.allclose(run["out"], run["other_meta"])


def test_eval_mode_is_deterministic(run):
    torch.testing.assert_close(run["out"], run["again"])


def test_meta_required_when_model_uses_metadata(fused):
    image = torch.zeros(1, 3, 32, 32)
    assert fused.uses_metadata
    with pytest.raises(ValueError, match="metadata"):
        fused(image)
    with pytest.raises(ValueError, match="metadata"):
        fused(image, None)


def test_image_only_model(image_only):
    image = _inputs(n=3)[0][..., :32, :32]
    assert not image_only.uses_metadata
    assert image_only.meta_mlp is None
    with torch.no_grad():
        out = image_only(image)
        # Metadata passed to an image-only model is ignored.
        out_with_meta = image_only(image, torch.zeros(3, 4))
    assert out.shape == (3,)
    torch.testing.assert_close(out, out_with_meta)


def test_head_width_matches_fusion():
    cfg = FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=7, meta_hidden=(16,))
    model = FusionNet(cfg)
    linear = model.head[-1]
    assert linear.in_features == model.backbone.num_features + 16
    assert linear.out_features == 1
    empty = FusionNet(FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=7, meta_hidden=()))
    assert empty.head[-1].in_features == empty.backbone.num_features + 7
    with torch.no_grad():
        image, meta = _inputs(2, 7)
        assert empty.eval()(image[..., :32, :32], meta).shape == (2,)


def test_training_mode_backward():
    torch.manual_seed(0)
    model = FusionNet(FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=META_DIM)).train()
    image, meta = _inputs()
    model(image[..., :32, :32], meta).sum().backward()
    # Every trainable part gets a real (non-zero, finite) gradient: the head, the metadata MLP
    # and the backbone's first convolution (the image path all the way back).
    for name, param in [("head", model.head[-1].weight),
                        ("metadata MLP", next(model.meta_mlp.parameters())),
                        ("backbone stem", next(model.backbone.parameters()))]:
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name
    assert model.meta_mlp[0].weight.grad is not None
    assert model.backbone.conv_stem.weight.grad is not None


def test_no_submodule_named_meta(fused):
    names = [name for name, _ in fused.named_modules()]
    assert any(n.startswith("meta_mlp") for n in names)
    for name in names:
        assert "meta" not in name.split("."), f"submodule {name!r} is named 'meta' (breaks ONNX)"


def test_cam_layer_names_resolve(fused):
    names = fused.cam_layer_names()
    assert len(names) == 5
    assert len(set(names)) == 5
    modules = dict(fused.named_modules())
    for name in names:
        assert name in modules, name
        assert name.startswith("backbone.")
    assert names[-1] == "backbone.bn2"


def test_cam_layers_go_from_early_to_late(fused, run):
    names = fused.cam_layer_names()
    order = {name: i for i, (name, _) in enumerate(fused.named_modules())}
    assert [order[n] for n in names] == sorted(order[n] for n in names)
    assert set(run["sizes"]) == set(names)  # every hook fired
    spatial = [run["sizes"][n] for n in names]
    heights = [h for h, _ in spatial]
    assert all(a >= b for a, b in zip(heights, heights[1:])), spatial
    assert heights[0] > heights[-1]
    # Early layer: stride 4 (the stride-2 stem stage is skipped); last: stride 32.
    assert heights[0] == SIZE // 4
    assert heights[-1] == SIZE // 32


def test_config_round_trip():
    cfg = FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=12, meta_hidden=(8, 4),
                       meta_dropout=0.1, head_dropout=0.0, drop_path_rate=0.0,
                       extra={"k": 1})
    state = json.loads(json.dumps(cfg.to_dict()))
    assert state["meta_hidden"] == [8, 4]
    back = FusionConfig.from_dict(state)
    assert back == cfg
    assert isinstance(back.meta_hidden, tuple)


def test_model_keeps_its_config():
    cfg = FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=3)
    assert FusionNet(cfg).config is cfg


@pytest.mark.parametrize(("backbone", "size", "fact"), [
    ("vit_tiny_patch16_224", 128, "takes 224x224 images only"),
    ("eva02_tiny_patch14_224", 96, "--image-size is 96: use --image-size 224"),
    ("no_such_backbone_xyz", 128, "not a timm model name"),
])
def test_a_backbone_that_cannot_take_the_size_is_refused_naming_both(backbone: str, size: int,
                                                                      fact: str) -> None:
    from models.nn.fusion import BackboneError, check_input_size

    with pytest.raises(BackboneError, match=fact):
        check_input_size(backbone, size)


@pytest.mark.parametrize(("backbone", "size"), [
    ("vit_tiny_patch16_224", 224), ("tf_efficientnet_lite0", 128),
    ("convnextv2_atto", 96), ("hybrid_convnextv2_ssa", 128)])
def test_backbones_that_take_the_size_pass(backbone: str, size: int) -> None:
    from models.nn.fusion import check_input_size

    check_input_size(backbone, size)
