"""Training losses for the one-logit melanoma head: focal loss and class-weighted BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BinaryFocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017) on logits: alpha-balanced, down-weights easy examples.

    Args:
        alpha: weight of the positive class (1 - alpha for negatives); None = no balancing.
        gamma: focusing parameter; 0 reduces to (alpha-weighted) BCE.
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        if alpha is not None and not 0.0 < alpha < 1.0:
            raise ValueError(f"focal alpha must be in (0, 1), got {alpha}")
        if gamma < 0:
            raise ValueError(f"focal gamma must be >= 0, got {gamma}")
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean focal loss over the batch."""
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_t = torch.exp(-bce)  # probability given to the true class
        loss = (1.0 - p_t) ** self.gamma * bce
        if self.alpha is not None:
            loss = loss * (self.alpha * target + (1.0 - self.alpha) * (1.0 - target))
        return loss.mean()


def pos_weight_from_counts(n_pos: int, n_neg: int) -> float:
    """BCE positive-class weight n_neg / n_pos from the training split's counts."""
    if n_pos <= 0:
        raise ValueError("the training split has no positives: cannot weight the loss")
    if n_neg <= 0:
        raise ValueError("the training split has no negatives: cannot weight the loss")
    return n_neg / n_pos


def build_loss(kind: str, *, alpha: float | None, gamma: float, n_pos: int,
               n_neg: int) -> tuple[nn.Module, dict[str, float | None]]:
    """Create the configured loss.

    Args:
        kind: "focal" or "bce" (BCE with pos_weight = n_neg / n_pos).
        alpha, gamma: focal parameters.
        n_pos, n_neg: training-split class counts.

    Returns:
        (loss module, the parameters used, for logging and the bundle).
    """
    if kind == "focal":
        return BinaryFocalLoss(alpha, gamma), {"alpha": alpha, "gamma": gamma}
    if kind == "bce":
        weight = pos_weight_from_counts(n_pos, n_neg)
        return (nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weight)), {"pos_weight": weight})
    raise ValueError(f"unknown loss {kind!r} (expected focal or bce)")
