"""How each CAM layer's output becomes a (C, h, w) feature map, for every backbone family.

CNNs give (N, C, H, W); Swin-style backbones give channels-last (N, H, W, C) maps (timm's
`output_fmt == "NHWC"`); ViT / EVA-style backbones give token sequences (N, T, C) whose first
`num_prefix_tokens` are class/register/distillation tokens, followed by a row-major grid of
patch tokens whose size comes from the model's patch size and the input size, never guessed
from T. A layer whose output fits none of these is refused by name (`CamLayoutError`) when an
engine loads the bundle, so no heatmap is ever drawn from a misread tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

NCHW, NHWC, TOKENS = "nchw", "nhwc", "tokens"


class CamLayoutError(ValueError):
    """A CAM layer's output cannot be read as a spatial grid; the message names the layer."""


@dataclass(frozen=True)
class CamLayout:
    """The layout of one layer's activations.

    Attributes:
        kind: NCHW, NHWC or TOKENS.
        prefix: leading non-patch tokens to drop (TOKENS).
        grid: (rows, cols) of patch tokens (TOKENS).
    """

    kind: str = NCHW
    prefix: int = 0
    grid: tuple[int, int] | None = None

    @property
    def batched_dims(self) -> int:
        """Dimensions of a batched output in this layout."""
        return 3 if self.kind == TOKENS else 4

    def to_chw(self, act: torch.Tensor) -> torch.Tensor:
        """One image's activations (batch dimension removed) as (C, h, w)."""
        if self.kind == NCHW:
            return act
        if self.kind == NHWC:
            return act.permute(2, 0, 1)
        rows, cols = self.grid
        patches = act[self.prefix:]
        return patches.T.reshape(patches.shape[1], rows, cols)


def _token_layout(name: str, shape: tuple[int, ...], backbone: nn.Module,
                  size: int) -> CamLayout:
    prefix = int(getattr(backbone, "num_prefix_tokens", 0) or 0)
    patch = getattr(getattr(backbone, "patch_embed", None), "patch_size", None)
    if patch is None:
        raise CamLayoutError(f"CAM layer {name}: token output {shape} but the backbone states no "
                             "patch size, so its grid is unknown")
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    grid = (size // ph, size // pw)
    if shape[1] - prefix != grid[0] * grid[1]:
        raise CamLayoutError(f"CAM layer {name}: {shape[1]} tokens minus {prefix} prefix tokens "
                             f"do not make the {grid[0]}x{grid[1]} patch grid of a {size} px "
                             "input")
    return CamLayout(TOKENS, prefix, grid)


def layout_for(name: str, shape: Sequence[int], backbone: nn.Module, size: int) -> CamLayout:
    """The layout of a layer's output of `shape` (batch first) for an input of `size` px.

    Raises:
        CamLayoutError: the output is not a map or token grid (naming the layer and shape).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4:
        return CamLayout(NHWC if getattr(backbone, "output_fmt", None) == "NHWC" else NCHW)
    if len(shape) == 3:
        return _token_layout(name, shape, backbone, size)
    raise CamLayoutError(f"CAM layer {name}: output of shape {shape} is neither a feature map "
                         "nor a token sequence; choose other CAM layers for this backbone")


def infer_layouts(model: nn.Module, layer_names: Sequence[str], size: int,
                  meta_dim: int = 0) -> list[CamLayout]:
    """Probe one forward pass of a zero image and read each CAM layer's layout.

    Args:
        model: a FusionNet (anything with a `backbone` and a forward(image, meta)).
        layer_names: the CAM layers.
        size: the model's input side in px.
        meta_dim: width of the metadata input (0 = image-only model).

    Raises:
        CamLayoutError: a layer that cannot be read as a grid, or that is not found.
    """
    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):  # noqa: ANN202
        def hook(_module: nn.Module, _inputs: object, out: object) -> None:
            shapes[name] = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
        return hook

    handles = []
    for name in layer_names:
        if name not in modules:
            raise CamLayoutError(f"CAM layer {name} is not in the model")
        handles.append(modules[name].register_forward_hook(record(name)))
    try:
        with torch.inference_mode():
            meta = torch.zeros(1, meta_dim) if meta_dim else None
            model.eval()(torch.zeros(1, 3, size, size), meta)
    finally:
        for handle in handles:
            handle.remove()
    return [layout_for(n, shapes.get(n, ()), model.backbone, size) for n in layer_names]
