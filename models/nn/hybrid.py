"""The hybrid ConvNeXtV2 + separable self-attention backbone of the reference paper ("A robust
deep learning framework for multiclass skin cancer classification"), from timm's own blocks.

Layout (224 px input): a 4x4/4 patchify stem; stages 1-2 of ConvNeXtV2 blocks (timm
`ConvNeXtBlock(use_grn=True)`: 7x7 depthwise conv, LayerNorm, 4x MLP with global response
normalisation, no layer scale) at 56x56 and 28x28; stages 3-4 of MobileViTv2 separable
self-attention blocks (timm `LinearTransformerBlock`, MLP ratio 4) at 14x14 and 7x7, each
stage opening with ConvNeXt's LayerNorm + 2x2/2 convolution downsampling.

timm's `LinearSelfAttention` is the paper's separable attention: a 1x1 projection gives one
latent-token score per position (softmax over positions = context scores), keys are summed
with those weights into one context vector, values go through ReLU and are multiplied by the
broadcast context vector, then an output projection. Where this differs from the paper:
positions are the whole stage's grid (MobileViTv2 itself first unfolds 2x2 patches and
attends within each patch position), and timm normalises with GroupNorm(1 group) over a whole
(C, positions) map, not a per-token LayerNorm. Importing this module registers
`hybrid_convnextv2_ssa` with timm, so `--backbone hybrid_convnextv2_ssa` works everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import LayerNorm2d, NormMlpClassifierHead
from timm.models import register_model
from timm.models.convnext import ConvNeXtBlock
from timm.models.mobilevit import LinearTransformerBlock
from torch import nn

HYBRID_NAME = "hybrid_convnextv2_ssa"
DEPTHS = (3, 3, 9, 12)
DIMS = (96, 192, 384, 768)
CONV_STAGES = 2  # stages 1-2 convolutional, the rest separable self-attention


def _downsample(in_chs: int, out_chs: int) -> nn.Sequential:
    """ConvNeXt's stage opening: LayerNorm, then a 2x2 stride-2 convolution."""
    return nn.Sequential(LayerNorm2d(in_chs), nn.Conv2d(in_chs, out_chs, kernel_size=2, stride=2))


class SeparableAttentionStage(nn.Module):
    """Downsample, then separable self-attention blocks over the stage's grid positions."""

    def __init__(self, in_chs: int, out_chs: int, depth: int, drop_path: Sequence[float],
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.downsample = _downsample(in_chs, out_chs)
        self.blocks = nn.ModuleList(LinearTransformerBlock(out_chs, mlp_ratio=mlp_ratio,
                                                           drop_path=dp) for dp in drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, 1, h * w)  # (B, C, P=1, N=H*W): attend over all positions
        for block in self.blocks:
            tokens = block(tokens)
        return tokens.reshape(b, c, h, w)


class ConvStage(nn.Module):
    """Optional downsample, then ConvNeXtV2 blocks."""

    def __init__(self, in_chs: int, out_chs: int, depth: int, drop_path: Sequence[float],
                 downsample: bool) -> None:
        super().__init__()
        self.downsample = _downsample(in_chs, out_chs) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*(ConvNeXtBlock(out_chs, use_grn=True, ls_init_value=None,
                                                    drop_path=dp) for dp in drop_path))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class HybridConvNeXtV2SSA(nn.Module):
    """The hybrid network with timm's model interface (num_classes, num_features, feature_info,
    forward_features, forward_head, reset_classifier).

    Args:
        depths: blocks per stage (4 stages).
        dims: channels per stage.
        conv_stages: how many leading stages are convolutional.
        num_classes: classifier outputs (0 = pooled features).
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        in_chans: input channels.
    """

    def __init__(self, depths: Sequence[int] = DEPTHS, dims: Sequence[int] = DIMS,
                 conv_stages: int = CONV_STAGES, num_classes: int = 1000,
                 drop_path_rate: float = 0.0, in_chans: int = 3, **_: object) -> None:
        super().__init__()
        if len(depths) != len(dims):
            raise ValueError(f"depths {tuple(depths)} and dims {tuple(dims)} differ in length")
        self.num_classes, self.num_features = num_classes, dims[-1]
        self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4),
                                  LayerNorm2d(dims[0]))
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        stages, start, prev = [], 0, dims[0]
        self.feature_info = []
        for i, (depth, dim) in enumerate(zip(depths, dims, strict=True)):
            dp = rates[start:start + depth]
            start += depth
            stages.append(ConvStage(prev, dim, depth, dp, downsample=i > 0) if i < conv_stages
                          else SeparableAttentionStage(prev, dim, depth, dp))
            self.feature_info.append({"num_chs": dim, "reduction": 4 * 2 ** i,
                                      "module": f"stages.{i}"})
            prev = dim
        self.stages = nn.Sequential(*stages)
        self.head = NormMlpClassifierHead(dims[-1], num_classes, pool_type="avg")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H/32, W/32) features of the last stage."""
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, normalise and classify (or return the pooled features)."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool)


def stage_parameters(model: HybridConvNeXtV2SSA) -> dict[str, int]:
    """Parameter count of the stem, each stage and the head."""
    parts = {"stem": model.stem, **{f"stage{i + 1}": s for i, s in enumerate(model.stages)},
             "head": model.head}
    return {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}


@register_model
def hybrid_convnextv2_ssa(pretrained: bool = False, **kwargs: object) -> HybridConvNeXtV2SSA:
    """timm entry point; no pretrained weights exist (stages 1-2 can load a ConvNeXtV2 file)."""
    if pretrained:
        raise ValueError(f"{HYBRID_NAME} has no pretrained weights here: use --pretrained file "
                         "with a timm ConvNeXtV2 checkpoint for stages 1-2")
    return HybridConvNeXtV2SSA(**kwargs)


CONV_PREFIXES = ("stem.", "stages.0.", "stages.1.")  # what a ConvNeXtV2 checkpoint can fill
# Parts of a timm ConvNeXtV2 checkpoint the hybrid has no use for (its own stages 3-4 differ).
_CONVNEXT_REST = ("stages.2.", "stages.3.", "norm_pre.", "head.")


def load_conv_stages(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> int:
    """Load the stem and stages 1-2 from a timm ConvNeXtV2 state dict (same key names).

    Args:
        model: the hybrid backbone, in place.
        state: a timm ConvNeXtV2 state dict (e.g. convnextv2_tiny: dims 96/192 as here).
        source: where it came from (for messages).

    Returns:
        The number of tensors loaded.

    Raises:
        ValueError: a stage-1/2 key missing from the file, a shape that differs, or keys that
            belong to neither ConvNeXtV2 nor the hybrid (another architecture's file).
    """
    own = {k: v for k, v in model.state_dict().items() if k.startswith(CONV_PREFIXES)}
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"{source}: {len(missing)} stem/stage 1-2 keys of {HYBRID_NAME} are "
                         f"missing, e.g. {missing[:3]}: not a ConvNeXtV2 checkpoint?")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if state[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{source}: shapes differ from {HYBRID_NAME}'s stages 1-2 (file vs "
                         f"model): {wrong[:3]}")
    foreign = [k for k in state if k not in own and not k.startswith(_CONVNEXT_REST)]
    if foreign:
        raise ValueError(f"{source}: {len(foreign)} keys belong to neither ConvNeXtV2 nor "
                         f"{HYBRID_NAME}, e.g. {foreign[:3]}: wrong architecture?")
    model.load_state_dict({k: state[k] for k in own}, strict=False)
    return len(own)
