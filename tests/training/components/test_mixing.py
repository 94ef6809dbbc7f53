"""Mixup / CutMix: images and labels mixed with the same weight, for both tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.components.mixing import BatchMixer


def _batch(n: int = 8):
    images = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 3, 16, 16)
    return images.contiguous(), torch.arange(n) % 3


def test_off_by_default_returns_hard_targets_as_probabilities() -> None:
    images, labels = _batch()
    out, soft, lam = BatchMixer(num_classes=3)(images, labels)
    assert out is images and lam == 1.0
    assert torch.equal(soft, torch.nn.functional.one_hot(labels, 3).float())


@pytest.mark.parametrize("classes", [0, 3], ids=["melanoma", "diagnosis"])
def test_mixup_mixes_images_and_labels_alike(classes: int) -> None:
    images, labels = _batch()
    targets = (labels == 0).float() if not classes else labels
    mixed, soft, lam = BatchMixer(mixup_alpha=0.4, num_classes=classes, seed=1)(images, targets)
    # Each image i is lam*i + (1-lam)*j: recover j and check the labels followed it.
    partner = ((mixed[:, 0, 0, 0] - lam * images[:, 0, 0, 0]) / (1 - lam)).round().long()
    hard = torch.nn.functional.one_hot(labels, 3).float() if classes else targets
    expected = lam * hard + (1 - lam) * hard[partner]
    torch.testing.assert_close(soft, expected)
    if classes:
        torch.testing.assert_close(soft.sum(1), torch.ones(8))


def test_cutmix_weight_is_the_kept_area() -> None:
    images, labels = _batch()
    mixed, soft, lam = BatchMixer(cutmix_alpha=1.0, num_classes=3, seed=3)(images, labels)
    kept = (mixed == images).float().mean(dim=(1, 2, 3))
    changed = images[:, 0, 0, 0] != images[torch.as_tensor(
        np.random.default_rng(3).permutation(8))][:, 0, 0, 0]
    assert np.allclose(kept[changed].numpy(), lam, atol=1e-6)
    torch.testing.assert_close(soft.sum(1), torch.ones(8))


def test_negative_alpha_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        BatchMixer(mixup_alpha=-1)
