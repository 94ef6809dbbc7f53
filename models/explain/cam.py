"""Multi-layer EigenCAM from activations captured in ONE forward pass.

`LayerTap` wraps a `FusionNet` so that a single forward returns the logits plus the activations
of every CAM layer (forward hooks registered inside `forward`, so the same module also traces
into TorchScript / ONNX graphs). `eigen_projection` and `cam_map` turn one layer's activations
into a heatmap exactly like pytorch-grad-cam's EigenCAM with its sign correction
(`get_2d_projection_with_sign_correction`, grad-cam 1.5.7), but computed from the smaller Gram
matrix (C x C or hw x hw) in float64 (grad-cam's numpy SVD computes the full (h*w, h*w) U
matrix, which is most of its cost; a reduced SVD was still 2.3x slower, BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.explain.cam_layout import CamLayout

_EPS = 1e-7  # grad-cam's scale_cam_image uses the same epsilon


class LayerTap(nn.Module):
    """A model wrapper whose forward returns `(logits, *activations)` from one pass.

    Activations are those of `layer_names` (early -> late), sliced to the first `keep` rows of
    the batch: the engine only needs the identity view of an 8-view TTA batch, so the other
    rows are never copied out.
    """

    def __init__(self, model: nn.Module, layer_names: Sequence[str], keep: int = 1) -> None:
        super().__init__()
        self.model = model
        modules = dict(model.named_modules())
        missing = [n for n in layer_names if n not in modules]
        if missing:
            raise ValueError(f"CAM layers not found in the model: {missing}")
        self.layer_names = list(layer_names)
        self._layers = [modules[n] for n in layer_names]  # plain list: not re-registered
        self.keep = keep

    def forward(self, image: torch.Tensor,
                meta: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Run the model once, returning logits (N,) then each layer's (keep, C, h, w)."""
        acts: list[torch.Tensor] = []
        handles = [layer.register_forward_hook(
            lambda _m, _i, out: acts.append(out[:self.keep])) for layer in self._layers]
        try:
            logits = self.model(image, meta)
        finally:
            for handle in handles:
                handle.remove()
        return (logits, *acts)


def eigen_projection(activations: torch.Tensor) -> torch.Tensor:
    """Sign-corrected projection of one image's activations on their first principal component.

    Same maths as grad-cam's `get_2d_projection_with_sign_correction`: NaN -> 0, centre each
    channel over positions, project onto the first right-singular vector (whose sign is
    arbitrary), and flip the sign
    when |min| > |max| so the salient side is positive.

    Args:
        activations: (C, h, w).

    Returns:
        float32 (h, w) projection (not yet clipped or normalised).
    """
    c, h, w = activations.shape
    a = torch.nan_to_num(activations.detach().float().reshape(c, h * w).T, nan=0.0)
    a = (a - a.mean(dim=0, keepdim=True)).double()
    # a @ v1 (v1 = first right-singular vector) from the eigendecomposition of the smaller Gram
    # matrix: A^T A gives v1; A A^T gives u1, and a @ v1 = sigma1 * u1. float64, because the
    # Gram matrix squares the condition number (measured: within 4e-7 of grad-cam's SVD).
    if c <= h * w:
        _, vectors = torch.linalg.eigh(a.T @ a)  # eigenvalues ascending: the last is the largest
        projection = a @ vectors[:, -1]
    else:
        values, vectors = torch.linalg.eigh(a @ a.T)
        projection = vectors[:, -1] * values[-1].clamp_min(0.0).sqrt()
    projection = projection.float()
    if projection.min().abs() > projection.max().abs():
        projection = -projection
    return projection.reshape(h, w)


def _min_max(x: torch.Tensor) -> torch.Tensor:
    x = x - x.min()
    return x / (_EPS + x.max())


def cam_map(activations: torch.Tensor, size: int) -> np.ndarray:
    """EigenCAM heatmap of one image's (C, h, w) layer, as float32 (size, size) in [0, 1].

    As grad-cam: ReLU, min-max, bilinear resize (half-pixel centres, like cv2.resize), min-max.
    The model input is the whole photo squashed to size x size, so the map has no crop offset.
    """
    cam = _min_max(eigen_projection(activations).clamp_min(0))
    cam = F.interpolate(cam[None, None], size=(size, size), mode="bilinear",
                        align_corners=False)[0, 0]
    return _min_max(cam).clamp_(0.0, 1.0).numpy().astype(np.float32, copy=False)


def feature_maps(activations: Sequence[torch.Tensor],
                 layouts: Sequence[CamLayout] | None = None) -> list[torch.Tensor]:
    """One image's activations per layer as (C, h, w) maps.

    Args:
        activations: per layer, one image's output, with or without its batch dimension
            ((1, C, h, w), (1, h, w, C) or (1, T, C)).
        layouts: per layer, how to read it (`models.explain.cam_layout`); None = all NCHW.
    """
    layouts = layouts or [CamLayout()] * len(activations)
    return [layout.to_chw(a[0] if a.dim() == layout.batched_dims else a)
            for a, layout in zip(activations, layouts, strict=True)]


def cam_maps(activations: Sequence[torch.Tensor], size: int,
             layouts: Sequence[CamLayout] | None = None) -> list[np.ndarray]:
    """One float32 (S, S) heatmap in [0, 1] per layer of one image, in order.

    ``activations`` are each layer's output for the first image, batch dimension kept; ``layouts``
    say how to read each (None = NCHW maps).
    """
    return [cam_map(a, size) for a in feature_maps(activations, layouts)]
