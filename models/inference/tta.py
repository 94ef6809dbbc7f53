"""Test-time augmentation: the 8 dihedral views of a square image, as one batch.

Shared by the inference engine and `eval.evaluate`, so the app and evaluation average exactly
the same views.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# (name, transform on the last two dims of an (..., H, W) tensor). Together: the dihedral
# group D4 of the square, each element once.
_VIEWS: tuple[tuple[str, Callable[[torch.Tensor], torch.Tensor]], ...] = (
    ("identity", lambda x: x),
    ("hflip", lambda x: x.flip(-1)),
    ("vflip", lambda x: x.flip(-2)),
    ("rot90", lambda x: x.rot90(1, (-2, -1))),
    ("rot180", lambda x: x.rot90(2, (-2, -1))),
    ("rot270", lambda x: x.rot90(3, (-2, -1))),
    ("transpose", lambda x: x.transpose(-2, -1)),
    ("antitranspose", lambda x: x.rot90(2, (-2, -1)).transpose(-2, -1)),
)
VIEW_NAMES: tuple[str, ...] = tuple(name for name, _ in _VIEWS)


def dihedral_views(x: torch.Tensor) -> torch.Tensor:
    """Stack the 8 dihedral views of a batch, view-major.

    Args:
        x: (N, C, H, W) with H == W.

    Returns:
        (8 * N, C, H, W): rows [v*N:(v+1)*N] hold view `VIEW_NAMES[v]` of every image.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"dihedral views need square images, got {tuple(x.shape[-2:])}")
    return torch.cat([fn(x) for _, fn in _VIEWS], dim=0).contiguous()


def view_probabilities(probs: torch.Tensor, n: int) -> torch.Tensor:
    """Reshape view-major outputs of `dihedral_views` to (N, 8)."""
    return probs.reshape(len(_VIEWS), n).T
