"""Mixup and CutMix on training batches, with label mixing for both tasks.

Images are mixed within the batch (pairs are the batch and a shuffled copy of it); the targets
are mixed with the same weight: melanoma targets (N,) as soft 0..1 values, diagnosis targets as
(N, K) class probabilities. The metadata vector is the first image's: CutMix keeps most of that
image, and a mixed age or site has no meaning. Validation and inference never mix.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class BatchMixer:
    """Mix a batch by mixup (weighted average) or CutMix (a pasted box), one of them per batch.

    Args:
        mixup_alpha: Beta(alpha, alpha) of the mixup weight; 0 = no mixup.
        cutmix_alpha: Beta(alpha, alpha) of the CutMix area; 0 = no CutMix.
        num_classes: a diagnosis head's class count (targets become (N, K)); 0 for the
            melanoma head.
        seed: seed of the mixer's own generator (reproducible runs).
    """

    def __init__(self, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
                 num_classes: int = 0, seed: int = 0) -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError("mixup and cutmix alphas must be >= 0")
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.num_classes = num_classes
        self.rng = np.random.default_rng(seed)

    @property
    def enabled(self) -> bool:
        """Whether any mixing happens."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def __call__(self, images: torch.Tensor, targets: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Mix one batch.

        Args:
            images: (N, C, H, W).
            targets: (N,) melanoma 0/1 floats or diagnosis class indices.

        Returns:
            (mixed images, mixed targets, the weight of the original images).
        """
        soft = (F.one_hot(targets.long(), self.num_classes).float() if self.num_classes
                else targets.float())
        if not self.enabled or images.shape[0] < 2:
            return images, soft, 1.0
        perm = torch.from_numpy(self.rng.permutation(images.shape[0])).to(images.device)
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or self.rng.random() < 0.5)
        if use_cutmix:
            images, lam = self._cutmix(images, perm)
        else:
            lam = float(self.rng.beta(self.mixup_alpha, self.mixup_alpha))
            images = lam * images + (1.0 - lam) * images[perm]
        return images, lam * soft + (1.0 - lam) * soft[perm], lam

    def _cutmix(self, images: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Paste a random box of the paired images; the weight is the box's true area share."""
        h, w = images.shape[-2:]
        lam = float(self.rng.beta(self.cutmix_alpha, self.cutmix_alpha))
        cut_h, cut_w = int(h * np.sqrt(1.0 - lam)), int(w * np.sqrt(1.0 - lam))
        cy, cx = int(self.rng.integers(h)), int(self.rng.integers(w))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        mixed = images.clone()
        mixed[..., y0:y1, x0:x1] = images[perm][..., y0:y1, x0:x1]
        return mixed, 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
