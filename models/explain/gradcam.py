"""Class-specific Grad-CAM for every CAM layer from one eager forward and backward pass.

EigenCAM (`models.explain.cam`) shows where the network's features are strongest, whatever the
class.
Grad-CAM explains one output: each layer's map is ReLU(sum_c w_c A_c), where A_c is channel c
of the layer's activations and w_c the spatial mean of d(output)/dA_c (Selvaraju et al. 2017;
the same maths as pytorch-grad-cam's `GradCAM`, grad-cam 1.5.7). The output is a class logit of
a diagnosis model, or the melanoma logit of a one-logit model. Maps are scaled and resized as
`models.explain.cam.cam_map` does, so both methods read the same way. Gradients need eager PyTorch:
the engine's compiled runtimes (TorchScript, ONNX Runtime) are not used here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.explain.cam import _min_max
from models.explain.cam_layout import CamLayout

EIGENCAM, GRADCAM = "eigencam", "gradcam"
METHODS: tuple[str, ...] = (EIGENCAM, GRADCAM)
MELANOMA_OUTPUT = "melanoma"  # what a melanoma model's Grad-CAM explains: its one logit


def resolve_request(method: Any, heatmap_class: Any,
                    classes: Sequence[str] | None) -> tuple[str, str | None]:
    """A heatmap request checked against a model: (method, class name, or None = the
    decided class; a melanoma model's Grad-CAM explains MELANOMA_OUTPUT).

    Raises:
        ValueError: an unknown method, or a class the model has no output for.
    """
    method = str(method or EIGENCAM).strip().lower()
    if method not in METHODS:
        raise ValueError(f"heatmap method {method!r} is not one of {list(METHODS)}")
    wanted = str(heatmap_class).strip() if heatmap_class not in (None, "") else None
    if method == EIGENCAM or wanted is None:
        return method, None
    names = list(classes or [])
    if names:
        match = [c for c in names if c.lower() == wanted.lower()]
        if not match:
            raise ValueError(f"heatmap class {wanted!r} is not one of this model's classes "
                             f"{names}")
        return method, match[0]
    if wanted.lower() not in (MELANOMA_OUTPUT, "mel"):
        raise ValueError(f"heatmap class {wanted!r}: this melanoma model has one output, "
                         f"'{MELANOMA_OUTPUT}'; class heatmaps need a diagnosis model")
    return method, MELANOMA_OUTPUT


def gradcam_maps(model: nn.Module, layer_names: Sequence[str], image: torch.Tensor,
                 meta: torch.Tensor | None, target: int | None, size: int,
                 layouts: Sequence[CamLayout] | None = None
                 ) -> list[tuple[tuple[int, int], np.ndarray]]:
    """Grad-CAM heatmaps of one image for each named layer.

    Args:
        model: a `FusionNet` in eval mode (its weights get no gradient: only the activations).
        layer_names: the CAM layers, early -> late (`FusionNet.cam_layer_names()`).
        image: float32 (3, S, S) or (1, 3, S, S), preprocessed as the bundle says.
        meta: the encoded metadata (D,) or (1, D), or None for an image-only model.
        target: the class index whose logit is explained; None for a one-logit model's
            melanoma logit.
        size: the model's input side S (maps are resized to S x S).
        layouts: per layer, how to read its output (None = NCHW maps).

    Returns:
        Per layer, its grid size (h, w) and a float32 (S, S) map in [0, 1]. An output that no
        feature of a layer raises (every weighted sum <= 0) gives an all-zero map, as grad-cam
        does.
    """
    modules = dict(model.named_modules())
    missing = [n for n in layer_names if n not in modules]
    if missing:
        raise ValueError(f"CAM layers not found in the model: {missing}")
    layouts = list(layouts or [CamLayout()] * len(layer_names))
    # The input asks for gradients, so the activations get them even when the weights are
    # frozen (requires_grad False), without touching the shared model.
    x = (image[None] if image.dim() == 3 else image).detach().clone().requires_grad_(True)
    m = None if meta is None else (meta[None] if meta.dim() == 1 else meta)
    acts: list[torch.Tensor] = []
    handles = [modules[n].register_forward_hook(lambda _m, _i, out: acts.append(out))
               for n in layer_names]
    try:
        with torch.enable_grad():
            logits = model(x, m)
            score = logits[0] if logits.dim() == 1 else logits[0, _target(target, logits)]
            grads = torch.autograd.grad(score, acts)
    finally:
        for handle in handles:
            handle.remove()
    maps = []
    for a, g, layout in zip(acts, grads, layouts, strict=True):
        activation = layout.to_chw(a[0]).detach().float()
        gradient = layout.to_chw(g[0]).float()
        weights = gradient.mean(dim=(1, 2))
        cam = _min_max((weights[:, None, None] * activation).sum(dim=0).clamp_min(0))
        resized = F.interpolate(cam[None, None], size=(size, size), mode="bilinear",
                                align_corners=False)[0, 0]
        heatmap = _min_max(resized).clamp_(0.0, 1.0).numpy().astype(np.float32, copy=False)
        maps.append(((int(activation.shape[-2]), int(activation.shape[-1])), heatmap))
    return maps


def _target(target: int | None, logits: torch.Tensor) -> int:
    if target is None or not 0 <= target < logits.shape[1]:
        raise ValueError(f"a class index in [0, {logits.shape[1]}) is needed for a "
                         f"{logits.shape[1]}-class model, got {target}")
    return target
