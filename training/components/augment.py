"""Training-time augmentation: images (geometry, the bundle's colour step, jitter) and metadata.

Validation and inference never use this module: they go through `Preprocessing` and
`MetadataEncoder` alone.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

import models  # noqa: F401  (torchvision shim)
from configs.choices import AUG_POLICIES
from data.encoding import MetadataEncoder
from data.images import Preprocessing

_RATIO = (3 / 4, 4 / 3)
_POLICIES = {"none": None, "randaugment": v2.RandAugment,
             "trivialaugment": v2.TrivialAugmentWide}  # keys: configs.choices.AUG_POLICIES


class TrainAugment:
    """PIL image -> augmented, normalised float32 CHW tensor at the preprocessing size.

    Args:
        preprocessing: the bundle preprocessing (size, filter, colour constancy, mean/std).
        scale_min: minimum area fraction for the random resized crop (1 = no crop).
        rotate: random dihedral transforms (flips and 90-degree rotations).
        color: brightness/contrast/saturation jitter strength; hue gets a quarter.
        rotate_degrees: random rotation in [-d, d] degrees (0 = none); corners are filled black,
            like a dermoscope's vignette.
        policy: "none", "randaugment" or "trivialaugment" (torchvision), applied after the
            bundle's colour step.
        downscale_prob: probability of the resolution augmentation: the image is first shrunk
            so that its shorter side is uniform in [downscale_min, min(its side, model size)],
            then resized up again by the crop, as a low-resolution camera (or an 84 px
            dataset) would give it.
        downscale_min: the smallest shorter side (px) the resolution augmentation shrinks to.
    """

    def __init__(self, preprocessing: Preprocessing, scale_min: float = 0.5, rotate: bool = True,
                 color: float = 0.15, rotate_degrees: float = 0.0,
                 policy: str = "none", downscale_prob: float = 0.0,
                 downscale_min: int = 64) -> None:
        self.pre = preprocessing
        self.downscale = RandomDownscale(downscale_prob, downscale_min, preprocessing.size)
        geometric: list = [v2.RandomResizedCrop(preprocessing.size, scale=(scale_min, 1.0),
                                                ratio=_RATIO, antialias=True)]
        if rotate:
            geometric += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                          v2.RandomApply([v2.RandomRotation((90, 90))], p=0.5)]
        if rotate_degrees > 0:
            geometric.append(v2.RandomRotation(rotate_degrees))
        self.geometric = v2.Compose(geometric)
        if policy not in AUG_POLICIES:
            raise ValueError(f"unknown augmentation policy {policy!r} (expected {AUG_POLICIES})")
        self.policy = _POLICIES[policy]() if _POLICIES[policy] else None
        self.color = (v2.ColorJitter(brightness=color, contrast=color, saturation=color,
                                     hue=color / 4) if color > 0 else None)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """Augment one decoded RGB image."""
        arr = self.pre.finish(np.array(self.geometric(self.downscale(img)), dtype=np.uint8))
        chw = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
        if self.policy is not None:
            chw = self.policy(chw)
        if self.color is not None:
            chw = self.color(chw)
        return torch.from_numpy(self.pre.normalize(chw.permute(1, 2, 0).numpy()))


class RandomDownscale:
    """With probability `prob`, shrink a PIL image to a random shorter side in [low, high].

    `high` is the smaller of the image's own shorter side and `cap` (the model size): shrinking
    below the model size is what loses detail; an image already smaller is left alone.
    """

    def __init__(self, prob: float, low: int, cap: int) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"downscale probability {prob} is outside [0, 1]")
        if low < 1:
            raise ValueError(f"downscale minimum side {low} must be at least 1 px")
        self.prob, self.low, self.cap = prob, low, cap

    def __call__(self, img: Image.Image) -> Image.Image:
        """The image, maybe shrunk (aspect kept, antialiased)."""
        if self.prob <= 0 or torch.rand(()) >= self.prob:
            return img
        short = min(img.size)
        high = min(short, self.cap)
        if high <= self.low:
            return img
        side = int(torch.randint(self.low, high + 1, ()).item())
        if side >= short:
            return img
        scale = side / short
        size = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
        return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


class MetadataMasking:
    """Randomly blanks whole metadata fields, using the encoder's own "missing" encoding.

    Why: in HAM10000 a missing field is not random (unknown sex: 0 of 57 melanoma; unknown
    site: 4% against 11% overall), so without masking the model learns "unknown means benign".
    Other datasets lack fields for unrelated reasons (ISIC 2017 has no site at all, and its
    unknown-sex images are 26% melanoma). Masking teaches "unknown" as "no information", the
    meaning the app gives a blank field.

    Args:
        encoder: the fitted metadata encoder (the masked value is its encoding of a blank field,
            so training and the app cannot disagree on what "missing" looks like).
        prob: independent probability of blanking each field (age, sex, site).
    """

    def __init__(self, encoder: MetadataEncoder, prob: float) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"metadata masking probability {prob} is outside [0, 1]")
        self.prob = prob
        self.slices = list(encoder.field_slices.values())
        self.missing = torch.from_numpy(encoder.missing_vector())

    def __call__(self, vec: torch.Tensor) -> torch.Tensor:
        """Return a copy of one encoded vector with each field blanked with probability `prob`."""
        draws = torch.rand(len(self.slices))
        out = vec.clone()
        for sl, draw in zip(self.slices, draws, strict=True):
            if draw < self.prob:
                out[sl] = self.missing[sl]
        return out
