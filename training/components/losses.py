"""Training losses: focal loss and weighted BCE for the one-logit melanoma head; cross-entropy
and multi-class focal loss (class weights, label smoothing) for the diagnosis softmax head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from configs.choices import CLASS_WEIGHTS


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


class MultiClassFocalLoss(nn.Module):
    """Softmax focal loss: cross-entropy scaled by (1 - p_class)^gamma per class.

    With gamma 0 it equals `nn.CrossEntropyLoss` with the same weight and label smoothing:
    each sample is weighted by its true class's weight and the mean is taken over the sum of
    those weights, as PyTorch's cross-entropy does.

    Args:
        gamma: focusing parameter (>= 0).
        weight: (K,) class weights, or None.
        label_smoothing: share of the target mass spread evenly over all K classes.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal gamma must be >= 0, got {gamma}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {label_smoothing}")
        self.gamma, self.label_smoothing = gamma, label_smoothing
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch.

        Args:
            logits: (N, K).
            target: (N,) class indices, or (N, K) class probabilities (mixup/cutmix).
        """
        log_p = F.log_softmax(logits.float(), dim=1)
        k = logits.shape[1]
        soft = target.is_floating_point() and target.ndim == 2
        q = target.float() if soft else F.one_hot(target.long(), k).float()
        q = q * (1.0 - self.label_smoothing) + self.label_smoothing / k
        per_class = -q * (1.0 - log_p.exp()) ** self.gamma * log_p
        if self.weight is None:
            return per_class.sum(1).mean()
        w = self.weight.to(logits.device)
        if soft:  # as CrossEntropyLoss with probability targets: a plain mean over the batch
            return (per_class * w[None, :]).sum(1).mean()
        # CrossEntropyLoss weighs each target class term by its class weight and divides by
        # the true classes' weights: same here, so gamma = 0 reproduces it exactly.
        return (per_class * w[None, :]).sum() / w[target.long()].sum()


def class_weights_from_counts(counts: list[int], mode: str) -> torch.Tensor | None:
    """Per-class loss weights from the training split's class counts.

    Args:
        counts: images per class, in class order (each > 0).
        mode: "none", "inverse" (n / (K * n_c): a balanced class mix) or "sqrt-inverse" (its
            square root, a milder correction).

    Returns:
        (K,) float32 weights, or None for "none".
    """
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"unknown class weighting {mode!r} (expected one of {CLASS_WEIGHTS})")
    if mode == "none":
        return None
    c = torch.tensor(counts, dtype=torch.float64)
    if (c <= 0).any():
        raise ValueError(f"every class needs training images to be weighted, got {counts}")
    w = c.sum() / (len(c) * c)
    return (w.sqrt() if mode == "sqrt-inverse" else w).float()


def pos_weight_from_counts(n_pos: int, n_neg: int) -> float:
    """BCE positive-class weight n_neg / n_pos from the training split's counts."""
    if n_pos <= 0:
        raise ValueError("the training split has no positives: cannot weight the loss")
    if n_neg <= 0:
        raise ValueError("the training split has no negatives: cannot weight the loss")
    return n_neg / n_pos


def build_loss(kind: str, *, alpha: float | None, gamma: float, n_pos: int, n_neg: int,
               class_counts: list[int] | None = None, class_weights: str = "none",
               label_smoothing: float = 0.0) -> tuple[nn.Module, dict]:
    """Create the configured loss.

    Args:
        kind: "focal", "bce" (BCE with pos_weight = n_neg / n_pos; melanoma head) or "ce"
            (cross-entropy; diagnosis head).
        alpha, gamma: focal parameters (alpha: melanoma head only).
        n_pos, n_neg: training-split melanoma counts.
        class_counts: training-split images per class for a diagnosis head; None for the
            melanoma head.
        class_weights, label_smoothing: diagnosis head only (see `class_weights_from_counts`).

    Returns:
        (loss module, the parameters used, for logging and the bundle).
    """
    if class_counts is not None:
        weight = class_weights_from_counts(class_counts, class_weights)
        params = {"class_weights": class_weights, "label_smoothing": label_smoothing,
                  "weights": None if weight is None else [round(float(w), 6) for w in weight]}
        if kind == "focal":
            return MultiClassFocalLoss(gamma, weight, label_smoothing), {"gamma": gamma, **params}
        if kind == "ce":
            return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing), params
        raise ValueError(f"loss {kind!r} does not fit a diagnosis head (use focal or ce)")
    if kind == "ce":
        raise ValueError("loss 'ce' is for diagnosis models: a melanoma head uses focal or bce")
    if kind == "focal":
        return BinaryFocalLoss(alpha, gamma), {"alpha": alpha, "gamma": gamma}
    if kind == "bce":
        weight = pos_weight_from_counts(n_pos, n_neg)
        return (nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weight)), {"pos_weight": weight})
    raise ValueError(f"unknown loss {kind!r} (expected focal or bce)")
