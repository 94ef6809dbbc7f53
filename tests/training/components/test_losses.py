"""Unit tests for training.components.losses: focal loss, BCE positive weighting, build_loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training.components.losses import BinaryFocalLoss, build_loss, pos_weight_from_counts

LOGITS = torch.tensor([-3.0, -0.5, 0.0, 0.7, 2.5, 4.0])
TARGET = torch.tensor([0, 1, 0, 1, 1, 0])


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_gamma_zero_no_alpha_equals_bce():
    loss = BinaryFocalLoss(alpha=None, gamma=0.0)(LOGITS, TARGET)
    expected = F.binary_cross_entropy_with_logits(LOGITS, TARGET.float())
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("alpha", [0.25, 0.75])
def test_gamma_zero_with_alpha_is_weighted_bce(alpha):
    loss = BinaryFocalLoss(alpha=alpha, gamma=0.0)(LOGITS, TARGET)
    t = TARGET.float()
    weights = alpha * t + (1 - alpha) * (1 - t)
    expected = (F.binary_cross_entropy_with_logits(LOGITS, t, reduction="none") * weights).mean()
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("logit, target, alpha, gamma", [
    (2.0, 1, None, 2.0),
    (2.0, 1, 0.25, 2.0),
    (2.0, 0, 0.25, 2.0),  # confident and wrong
    (-1.0, 0, 0.75, 1.5),
    (0.0, 1, None, 3.0),
])
def test_focal_single_example_hand_computed(logit, target, alpha, gamma):
    p = _sigmoid(logit)
    p_t = p if target == 1 else 1 - p
    expected = -((1 - p_t) ** gamma) * math.log(p_t)
    if alpha is not None:
        expected *= alpha if target == 1 else 1 - alpha
    loss = BinaryFocalLoss(alpha=alpha, gamma=gamma)(torch.tensor([logit]), torch.tensor([target]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_focal_known_number():
    # logit 2, positive: p = 0.880797, BCE = 0.126928, (1 - p)^2 = 0.014209 -> 0.0018035.
    loss = BinaryFocalLoss(alpha=None, gamma=2.0)(torch.tensor([2.0]), torch.tensor([1]))
    assert loss.item() == pytest.approx(0.0018035, abs=2e-7)


def test_gamma_down_weights_easy_examples_more_than_hard_ones():
    easy = (torch.tensor([4.0]), torch.tensor([1]))
    hard = (torch.tensor([-1.0]), torch.tensor([1]))
    bce = BinaryFocalLoss(alpha=None, gamma=0.0)
    focal = BinaryFocalLoss(alpha=None, gamma=2.0)
    easy_ratio = focal(*easy) / bce(*easy)
    hard_ratio = focal(*hard) / bce(*hard)
    assert easy_ratio < 0.001
    assert hard_ratio > 0.5
    assert focal(*easy) < bce(*easy)


def test_larger_gamma_means_smaller_loss():
    values = [BinaryFocalLoss(alpha=None, gamma=g)(LOGITS, TARGET).item() for g in (0, 1, 2, 5)]
    assert values == sorted(values, reverse=True)
    assert values[0] > values[-1]


def test_alpha_weights_positives_and_negatives():
    pos = (torch.tensor([0.3]), torch.tensor([1]))
    neg = (torch.tensor([0.3]), torch.tensor([0]))
    plain = BinaryFocalLoss(alpha=None, gamma=2.0)
    weighted = BinaryFocalLoss(alpha=0.8, gamma=2.0)
    assert weighted(*pos).item() == pytest.approx(0.8 * plain(*pos).item(), rel=1e-6)
    assert weighted(*neg).item() == pytest.approx(0.2 * plain(*neg).item(), rel=1e-6)


def test_focal_accepts_float_or_bool_targets_and_has_gradient():
    logits = LOGITS.clone().requires_grad_(True)
    loss_int = BinaryFocalLoss()(logits, TARGET)
    loss_float = BinaryFocalLoss()(logits, TARGET.float())
    loss_bool = BinaryFocalLoss()(logits, TARGET.bool())
    torch.testing.assert_close(loss_int, loss_float)
    torch.testing.assert_close(loss_int, loss_bool)
    loss_int.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert loss_int.ndim == 0


def test_focal_is_stable_for_extreme_logits():
    loss = BinaryFocalLoss()(torch.tensor([100.0, -100.0]), torch.tensor([0, 1]))
    assert torch.isfinite(loss)
    assert loss.item() > 10


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_invalid_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        BinaryFocalLoss(alpha=alpha)


@pytest.mark.parametrize("gamma", [-0.01, -2.0])
def test_invalid_gamma(gamma):
    with pytest.raises(ValueError, match="gamma"):
        BinaryFocalLoss(gamma=gamma)


@pytest.mark.parametrize("n_pos, n_neg, expected", [(10, 90, 9.0), (1, 1, 1.0), (4, 2, 0.5)])
def test_pos_weight_is_neg_over_pos(n_pos, n_neg, expected):
    assert pos_weight_from_counts(n_pos, n_neg) == pytest.approx(expected)


@pytest.mark.parametrize("n_pos", [0, -1])
def test_pos_weight_without_positives_raises(n_pos):
    with pytest.raises(ValueError, match="no positives"):
        pos_weight_from_counts(n_pos, 10)


def test_pos_weight_without_negatives_raises():
    with pytest.raises(ValueError, match="no negatives"):
        pos_weight_from_counts(10, 0)


def test_build_bce_uses_pos_weight():
    loss, params = build_loss("bce", alpha=None, gamma=0.0, n_pos=20, n_neg=180)
    assert params == {"pos_weight": pytest.approx(9.0)}
    assert isinstance(loss, nn.BCEWithLogitsLoss)
    assert loss.pos_weight.item() == pytest.approx(9.0)
    t = TARGET.float()
    expected = F.binary_cross_entropy_with_logits(LOGITS, t, pos_weight=torch.tensor(9.0))
    torch.testing.assert_close(loss(LOGITS, t), expected)
    # The positive term is 9x its unweighted value.
    one = loss(torch.tensor([0.0]), torch.tensor([1.0]))
    assert one.item() == pytest.approx(9.0 * math.log(2.0), rel=1e-6)


def test_build_focal():
    loss, params = build_loss("focal", alpha=0.75, gamma=2.0, n_pos=1, n_neg=9)
    assert isinstance(loss, BinaryFocalLoss)
    assert (loss.alpha, loss.gamma) == (0.75, 2.0)
    assert params == {"alpha": 0.75, "gamma": 2.0}


def test_build_focal_validates_params():
    with pytest.raises(ValueError, match="alpha"):
        build_loss("focal", alpha=2.0, gamma=2.0, n_pos=1, n_neg=1)


def test_build_bce_without_positives_raises():
    with pytest.raises(ValueError, match="no positives"):
        build_loss("bce", alpha=None, gamma=0.0, n_pos=0, n_neg=10)


@pytest.mark.parametrize("kind", ["mse", "Focal", ""])
def test_build_unknown_loss(kind):
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss(kind, alpha=0.5, gamma=2.0, n_pos=1, n_neg=1)
