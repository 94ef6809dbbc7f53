"""Learning-rate schedule and optimiser choice (training.components.optim)."""

from __future__ import annotations

import math

import pytest
import torch

from models.nn.fusion import FusionConfig, FusionNet
from training.components.optim import OptimConfig, build_optimizer, build_schedule, lr_factor


def _original(step: int, total: int, warmup: int) -> float:
    """The schedule before these options existed (a regression reference)."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@pytest.mark.parametrize(("total", "warmup"), [(100, 0), (100, 10), (7, 3)])
def test_default_schedule_is_unchanged(total: int, warmup: int) -> None:
    for step in range(total + 2):
        assert lr_factor(step, total=total, warmup=warmup, start=None) == pytest.approx(
            _original(step, total, warmup))


def test_warmup_starts_from_the_given_learning_rate() -> None:
    start = 1e-5 / 1e-2
    assert lr_factor(0, total=100, warmup=10, start=start) == pytest.approx(start)
    assert lr_factor(5, total=100, warmup=10, start=start) == pytest.approx(
        start + (1 - start) * 0.5)
    assert lr_factor(10, total=100, warmup=10, start=start) == pytest.approx(1.0)


def test_a_frozen_backbone_learns_nothing_then_warms_up() -> None:
    assert lr_factor(19, total=100, warmup=5, start=None, begin=20) == 0.0
    assert 0 < lr_factor(20, total=100, warmup=5, start=None, begin=20) < 0.2
    assert lr_factor(25, total=100, warmup=5, start=None, begin=20) == pytest.approx(1.0)
    assert lr_factor(100, total=100, warmup=5, start=None, begin=20) == pytest.approx(0.0)


@pytest.fixture(scope="module")
def net() -> FusionNet:
    return FusionNet(FusionConfig(backbone="tf_efficientnet_lite0", meta_dim=4,
                                  meta_hidden=(8,)))


@pytest.mark.parametrize(("name", "cls"), [("adamw", torch.optim.AdamW),
                                           ("sgd", torch.optim.SGD)])
def test_optimiser_choice_and_groups(net: FusionNet, name: str, cls: type) -> None:
    config = OptimConfig(optimizer=name, lr_backbone=1e-3, lr_head=1e-2, nesterov=name == "sgd")
    optimizer = build_optimizer(net, config)
    assert isinstance(optimizer, cls)
    lrs = {(g["backbone"], g["weight_decay"] > 0): g["lr"] for g in optimizer.param_groups}
    assert lrs == {(True, True): 1e-3, (False, True): 1e-2, (True, False): 1e-3,
                   (False, False): 1e-2}
    if name == "sgd":
        assert all(g["momentum"] == 0.9 and g["nesterov"] for g in optimizer.param_groups)


def test_schedule_freezes_only_the_backbone_groups(net: FusionNet) -> None:
    config = OptimConfig(lr_backbone=1e-3, lr_head=1e-2, warmup_epochs=0,
                         freeze_backbone_epochs=1)
    optimizer = build_optimizer(net, config)
    build_schedule(optimizer, config, total=40, epochs=4)  # 10 steps per epoch
    first = {g["backbone"]: g["lr"] for g in optimizer.param_groups}
    assert first == {True: 0.0, False: pytest.approx(1e-2)}


def test_unknown_optimiser_is_refused(net: FusionNet) -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        build_optimizer(net, OptimConfig(optimizer="lamb"))
