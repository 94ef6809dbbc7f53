"""Heatmap overlays in correct colours.

Earlier apps of this kind added a uint8 colour map to a uint8 image, which wraps around past
255 and shows inverted colours. Here everything is blended in float32, clipped to [0, 255],
rounded, and only then cast to uint8.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def colormap_lut(name: str = "jet") -> np.ndarray:
    """A matplotlib colour map as a read-only (256, 3) float32 table of RGB in [0, 255].

    Raises:
        ValueError: unknown colour map name.
    """
    from matplotlib import colormaps  # local: matplotlib is only needed for overlays

    try:
        cmap = colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}") from None
    lut = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.float32)
    lut.flags.writeable = False
    return lut


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map a [0, 1] heatmap to float32 RGB in [0, 255] (values outside [0, 1] are clipped)."""
    heat = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    index = np.rint(np.clip(heat, 0.0, 1.0) * 255.0).astype(np.intp)
    return colormap_lut(colormap)[index]


def overlay(model_view: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5,
            colormap: str = "jet") -> np.ndarray:
    """``(1 - alpha) * image + alpha * colormap(heatmap)`` as (S, S, 3) uint8 RGB.

    ``model_view`` is the (S, S, 3) uint8 image the model saw, ``heatmap`` an aligned (S, S) map in
    [0, 1]; ``alpha`` is the heatmap's opacity. ValueError for mismatched shapes or alpha outside
    [0, 1].
    """
    image = np.asarray(model_view)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"model_view must be (H, W, 3), got {image.shape}")
    if np.shape(heatmap) != image.shape[:2]:
        raise ValueError(f"heatmap shape {np.shape(heatmap)} does not match the image "
                         f"{image.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colorize(heatmap, colormap)
    return np.rint(np.clip(blended, 0.0, 255.0)).astype(np.uint8)
