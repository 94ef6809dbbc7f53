"""The hybrid ConvNeXtV2 + separable self-attention backbone: layout, parameter count, timm
registration, FusionNet/bundle use and loading stages 1-2 from a ConvNeXtV2 checkpoint."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from models.nn.hybrid import (
    DEPTHS,
    DIMS,
    HYBRID_NAME,
    HybridConvNeXtV2SSA,
    SeparableAttentionStage,
    stage_parameters,
)
from training.components.pretrained import PretrainedError, load_backbone_weights

# Per-stage parameters of the stated layout (depths 3/3/9/12, dims 96/192/384/768): the
# paper's 21.92 M cannot come from it, stage 4 alone (12 blocks at 768) holds 79 M.
STATED = {"stem": 4896, "stage1": 239904, "stage2": 996288, "stage3": 14938761,
          "stage4": 79157772}


@pytest.fixture(scope="module")
def hybrid() -> HybridConvNeXtV2SSA:
    return timm.create_model(HYBRID_NAME, num_classes=0).eval()


def test_registered_with_timm_and_shaped_as_stated(hybrid: HybridConvNeXtV2SSA) -> None:
    assert (DEPTHS, DIMS) == ((3, 3, 9, 12), (96, 192, 384, 768))
    assert hybrid.num_features == 768
    x = torch.zeros(1, 3, 224, 224)
    with torch.inference_mode():
        stem = hybrid.stem(x)
        shapes = []
        for stage in hybrid.stages:
            stem = stage(stem)
            shapes.append(tuple(stem.shape[1:]))
        assert hybrid(x).shape == (1, 768)
    assert shapes == [(96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7)]
    assert [len(s.blocks) for s in hybrid.stages] == list(DEPTHS)
    assert [type(s).__name__ for s in hybrid.stages] == ["ConvStage", "ConvStage",
                                                         "SeparableAttentionStage",
                                                         "SeparableAttentionStage"]


def test_parameter_breakdown(hybrid: HybridConvNeXtV2SSA) -> None:
    counts = stage_parameters(hybrid)
    assert {k: counts[k] for k in STATED} == STATED
    assert sum(counts.values()) == sum(p.numel() for p in hybrid.parameters())
    assert abs(sum(counts.values()) / 1e6 - 95.34) < 0.01  # vs the stated 21.92 M
    # Depths and dims are constructor arguments: halving every width gives ~23.9 M.
    half = HybridConvNeXtV2SSA(DEPTHS, tuple(d // 2 for d in DIMS), num_classes=0)
    assert 23.8e6 < sum(p.numel() for p in half.parameters()) < 24.0e6


def test_attention_blocks_are_timms_separable_self_attention() -> None:
    from timm.models.mobilevit import LinearSelfAttention, LinearTransformerBlock

    stage = SeparableAttentionStage(8, 16, 2, [0.0, 0.0])
    assert all(isinstance(b, LinearTransformerBlock) for b in stage.blocks)
    assert all(isinstance(b.attn, LinearSelfAttention) for b in stage.blocks)
    assert stage.blocks[0].mlp.fc1.out_channels == 64  # MLP ratio 4


def _convnextv2_state(name: str) -> dict[str, torch.Tensor]:
    return timm.create_model(name, num_classes=0).state_dict()


def test_stages_one_and_two_load_from_a_convnextv2_checkpoint(tmp_path) -> None:
    state = _convnextv2_state("convnextv2_tiny")  # dims 96/192/384/768, as the hybrid's
    path = tmp_path / "convnextv2_tiny.safetensors"
    save_file(state, str(path))
    model = timm.create_model(HYBRID_NAME, num_classes=0)
    before = model.stages[2].blocks[0].attn.qkv_proj.weight.clone()
    assert load_backbone_weights(model, HYBRID_NAME, "file", path) == []
    own = model.state_dict()
    for key in ("stem.0.weight", "stages.0.blocks.2.mlp.grn.weight",
                "stages.1.downsample.1.weight", "stages.1.blocks.0.conv_dw.weight"):
        assert torch.equal(own[key], state[key]), key
    assert torch.equal(model.stages[2].blocks[0].attn.qkv_proj.weight, before)


@pytest.mark.parametrize(("donor", "fact"), [
    ("convnextv2_tiny:wider-stem", "shapes differ"),
    ("convnextv2_atto", "keys of .* are missing"),  # depths 2/2: blocks missing
    ("tf_efficientnet_lite0", "keys of .* are missing"),
    ("convnextv2_tiny:extra-key", "belong to neither ConvNeXtV2 nor")])
def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path, donor: str, fact: str) -> None:
    name, _, change = donor.partition(":")
    state = _convnextv2_state(name)
    if change == "wider-stem":
        state["stem.0.weight"] = torch.zeros(128, 3, 4, 4)
    elif change == "extra-key":
        state["decoder.proj.weight"] = torch.zeros(2, 2)
    path = tmp_path / f"{name}.safetensors"
    save_file(state, str(path))
    with pytest.raises(PretrainedError, match=fact):
        load_backbone_weights(timm.create_model(HYBRID_NAME, num_classes=0), HYBRID_NAME,
                              "file", path)


def test_no_pretrained_download_is_pretended() -> None:
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model(HYBRID_NAME, pretrained=True)


def test_a_hybrid_bundle_exports_and_serves_with_heatmaps(tmp_path, lesion_jpeg) -> None:
    """A small hybrid (depths/dims recorded in the bundle) through save/load, ONNX Runtime
    agreeing with eager to 1e-4, and one heatmap per stage."""
    import numpy as np

    from data.images import Preprocessing
    from models.bundle.io import load_bundle, save_bundle
    from models.inference.engine import Engine
    from models.nn.fusion import FusionConfig, FusionNet
    from tests.helpers import tiny_encoder
    from tests.models.conftest import ENGINE_THRESHOLDS

    torch.manual_seed(0)
    encoder = tiny_encoder()
    config = FusionConfig(backbone=HYBRID_NAME, meta_dim=encoder.dim, meta_hidden=(8,),
                          classes=("MEL", "NV", "BKL"),
                          backbone_kwargs={"depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64]})
    folder = save_bundle(tmp_path / "hyb", FusionNet(config).eval(),
                         preprocessing=Preprocessing(size=64), encoder=encoder,
                         thresholds=ENGINE_THRESHOLDS, name="hybrid-test")
    bundle = load_bundle(folder)
    assert bundle.config.backbone_kwargs == {"depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64]}
    ref = Engine(bundle, num_threads=1, backend="eager").analyze(lesion_jpeg, 50, "male",
                                                                 "torso")
    fast = Engine(bundle, num_threads=1, backend="onnxruntime").analyze(lesion_jpeg, 50, "male",
                                                                        "torso")
    np.testing.assert_allclose([v["probability"] for v in fast.tta],
                               [v["probability"] for v in ref.tta], atol=1e-4)
    np.testing.assert_allclose(list(fast.classes.values()), list(ref.classes.values()),
                               atol=1e-4)
    assert [c.resolution for c in ref.cams] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    for a, b in zip(ref.cams, fast.cams, strict=True):
        assert np.abs(a.heatmap - b.heatmap).max() < 1e-3
