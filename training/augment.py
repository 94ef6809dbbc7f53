"""Training-time augmentation. Geometry first, then the bundle's own colour step, then jitter.

Validation and inference never use this module: they go through `Preprocessing` alone.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import models  # noqa: F401  (torchvision shim)
from data.images import Preprocessing
from torchvision.transforms import v2

_RATIO = (3 / 4, 4 / 3)


class TrainAugment:
    """PIL image -> augmented, normalised float32 CHW tensor at the preprocessing size.

    Args:
        preprocessing: the bundle preprocessing (size, filter, colour constancy, mean/std).
        scale_min: minimum area fraction for the random resized crop (1 = no crop).
        rotate: random dihedral transforms (flips and 90-degree rotations).
        color: brightness/contrast/saturation jitter strength; hue gets a quarter.
    """

    def __init__(self, preprocessing: Preprocessing, scale_min: float = 0.5, rotate: bool = True,
                 color: float = 0.15) -> None:
        self.pre = preprocessing
        geometric: list = [v2.RandomResizedCrop(preprocessing.size, scale=(scale_min, 1.0),
                                                ratio=_RATIO, antialias=True)]
        if rotate:
            geometric += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                          v2.RandomApply([v2.RandomRotation((90, 90))], p=0.5)]
        self.geometric = v2.Compose(geometric)
        self.color = (v2.ColorJitter(brightness=color, contrast=color, saturation=color,
                                     hue=color / 4) if color > 0 else None)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """Augment one decoded RGB image."""
        arr = self.pre.finish(np.array(self.geometric(img), dtype=np.uint8))
        chw = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
        if self.color is not None:
            chw = self.color(chw)
        return torch.from_numpy(self.pre.normalize(chw.permute(1, 2, 0).numpy()))
