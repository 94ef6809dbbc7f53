"""Import-time compatibility shim for torchvision wheels that do not match the installed torch.

PyPI's torchvision is a CUDA build; beside the CPU torch wheel its C++ ops cannot load and
`import torchvision` (hence timm and pytorch-grad-cam) fails with
"operator torchvision::nms does not exist", because torchvision registers fake kernels for
`nms`/`qnms` unconditionally. Defining the two op schemas first makes the import work. Nothing
in this product uses torchvision's detection ops. With a matching torch/torchvision pair (e.g.
PyTorch's CPU wheel index) the ops exist and this does nothing.
"""

from __future__ import annotations

import torch

_LIB: torch.library.Library | None = None


def ensure_torchvision_importable() -> None:
    """Define `torchvision::nms`/`qnms` schemas if torchvision's own ops failed to load."""
    global _LIB
    if _LIB is not None:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018  (attribute access is the probe)
        return
    except (AttributeError, RuntimeError):
        pass
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
