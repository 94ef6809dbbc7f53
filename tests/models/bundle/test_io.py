"""Unit tests for models.bundle.io: save/load round trip and every way a bundle can be unusable."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from data.encoding import MetadataEncoder
from data.images import Preprocessing
from data.sites import SEXES, SITES
from models.bundle.decision import DecisionRule
from models.bundle.io import (
    BUNDLE_FORMAT,
    BUNDLE_SCHEMA_VERSION,
    META_FILE,
    REQUIRED_KEYS,
    WEIGHTS_FILE,
    Bundle,
    BundleError,
    load_bundle,
    predict_arrays,
    read_bundle_info,
    save_bundle,
    sha256_file,
)
from models.nn.fusion import FusionConfig, FusionNet
from tests.helpers import randomise

BACKBONE = "tf_efficientnet_lite0"
SIZE = 32
THRESHOLDS = {"sensitivity_target": 0.21, "closest_to_corner": 0.43}


@pytest.fixture(scope="module")
def encoder() -> MetadataEncoder:
    df = pd.DataFrame({"age": [35.0, 60.0, np.nan, 45.0],
                       "sex": ["male", "female", "unknown", "male"],
                       "site": ["head/neck", "posterior torso", "unknown", "palms/soles"]})
    return MetadataEncoder().fit(df)


@pytest.fixture(scope="module")
def preprocessing() -> Preprocessing:
    return Preprocessing(size=SIZE, color_constancy="shades_of_gray")


def _randomise(model: FusionNet, seed: int) -> FusionNet:
    """Non-default weights AND batch-norm statistics, so eval-mode behaviour is exercised."""
    return randomise(model, seed)


@pytest.fixture(scope="module")
def model(encoder) -> FusionNet:
    torch.manual_seed(0)
    cfg = FusionConfig(backbone=BACKBONE, meta_dim=encoder.dim, meta_hidden=(16, 8))
    return _randomise(FusionNet(cfg), seed=1)


@pytest.fixture(scope="module")
def inputs(encoder) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 3, SIZE, SIZE)).astype(np.float32)
    meta = np.stack([encoder.encode(30, "male", "head/neck"),
                     encoder.encode(None, None, None),
                     encoder.encode(80, "female", "oral/genital")])
    return images, meta


@pytest.fixture(scope="module")
def saved(tmp_path_factory, model, encoder, preprocessing) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "good"
    return save_bundle(out, model, preprocessing=preprocessing, encoder=encoder,
                       thresholds=THRESHOLDS, name="unit-test", metrics={"auroc": 0.9},
                       data_summary={"source": "synthetic"}, training={"epochs": 1},
                       extra={"licence": "CC BY-NC 4.0"})


@pytest.fixture
def copy(saved, tmp_path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(saved, dst)
    return dst


def _edit_json(folder: Path, **changes) -> None:
    path = folder / META_FILE
    info = json.loads(path.read_text())
    for key, value in changes.items():
        if value is _DELETE:
            del info[key]
        else:
            info[key] = value
    path.write_text(json.dumps(info))


_DELETE = object()


def _reference_probs(model: FusionNet, images: np.ndarray, meta: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        logits = model(torch.from_numpy(images), torch.from_numpy(meta))
    return torch.sigmoid(logits).double().numpy()


# --- round trip -----------------------------------------------------------------------------

def test_round_trip_gives_identical_predictions(saved, model, inputs):
    images, meta = inputs
    bundle = load_bundle(saved)
    assert isinstance(bundle, Bundle)
    assert not bundle.model.training
    probs = predict_arrays(bundle, images, meta)
    assert probs.dtype == np.float64 and probs.shape == (3,)
    assert np.all((probs > 0) & (probs < 1))
    np.testing.assert_array_equal(probs, _reference_probs(model, images, meta))
    # Predictions depend on the metadata, so a mis-encoded record would show.
    assert len(set(np.round(probs, 6))) > 1


def test_round_trip_state_dict_is_exact(saved, model):
    loaded = load_bundle(saved).model.state_dict()
    original = model.state_dict()
    assert loaded.keys() == original.keys()
    for key, value in original.items():
        assert torch.equal(loaded[key], value), key


def test_round_trip_restores_everything_else(saved, model, encoder, preprocessing):
    bundle = load_bundle(saved)
    assert bundle.config == model.config
    assert bundle.preprocessing == preprocessing
    assert bundle.encoder.to_dict() == encoder.to_dict()
    assert bundle.encoder.sites == SITES and bundle.encoder.sexes == SEXES
    assert bundle.thresholds == THRESHOLDS
    assert bundle.default_threshold_name == "sensitivity_target"
    assert bundle.threshold == THRESHOLDS["sensitivity_target"]
    np.testing.assert_array_equal(bundle.encode_metadata(50, "f", "torso"),
                                  encoder.encode(50, "f", "torso"))
    assert bundle.info["metrics"] == {"auroc": 0.9}
    assert bundle.info["licence"] == "CC BY-NC 4.0"
    assert bundle.path == saved


def test_load_via_json_path(saved):
    assert load_bundle(saved / META_FILE).bundle_id == load_bundle(saved).bundle_id


def test_bundle_json_contents(saved, model):
    info = json.loads((saved / META_FILE).read_text())
    for key in REQUIRED_KEYS:
        assert key in info, key
    digest = hashlib.sha256((saved / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert info["format"] == BUNDLE_FORMAT
    assert info["schema_version"] == BUNDLE_SCHEMA_VERSION
    assert info["weights_sha256"] == digest == sha256_file(saved / WEIGHTS_FILE)
    assert info["bundle_id"] == f"unit-test-{digest[:12]}"
    assert info["model"]["backbone"] == BACKBONE
    assert info["preprocessing"]["size"] == SIZE
    assert info["metadata_encoder"]["sites"] == list(SITES)
    assert info["thresholds"] == THRESHOLDS
    assert info["cam_layers"] == model.cam_layer_names()
    assert info["versions"]["torch"].startswith(torch.__version__.split("+")[0])
    assert {"python", "torch", "timm", "numpy"} <= set(info["versions"])


def test_weights_are_safetensors(saved, model):
    raw = (saved / WEIGHTS_FILE).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    assert header["__metadata__"]["format"] == BUNDLE_FORMAT
    assert not raw.startswith(b"\x80")  # not a pickle
    with safe_open(str(saved / WEIGHTS_FILE), framework="pt") as fh:
        keys = set(fh.keys())
        assert keys == set(model.state_dict())
        assert fh.get_tensor("head.1.weight").dtype == torch.float32


def test_save_overwrites_existing_bundle(tmp_path, model, encoder, preprocessing):
    out = tmp_path / "b"
    save_bundle(out, model, preprocessing=preprocessing, encoder=encoder,
                thresholds=THRESHOLDS, name="first")
    save_bundle(out, model, preprocessing=preprocessing, encoder=encoder,
                thresholds=THRESHOLDS, name="second", default_threshold="closest_to_corner")
    bundle = load_bundle(out)
    assert bundle.bundle_id.startswith("second-")
    assert bundle.threshold == THRESHOLDS["closest_to_corner"]


def test_image_only_bundle(tmp_path, encoder, preprocessing):
    net = _randomise(FusionNet(FusionConfig(backbone=BACKBONE, meta_dim=0)), seed=2)
    out = save_bundle(tmp_path / "img", net, preprocessing=preprocessing, encoder=encoder,
                      thresholds=THRESHOLDS, name="img")
    bundle = load_bundle(out)
    assert not bundle.model.uses_metadata
    images = np.random.default_rng(3).normal(size=(2, 3, SIZE, SIZE)).astype(np.float32)
    probs = predict_arrays(bundle, images, np.zeros((2, encoder.dim), np.float32))
    with torch.inference_mode():
        expected = torch.sigmoid(net(torch.from_numpy(images))).double().numpy()
    np.testing.assert_array_equal(probs, expected)


def test_save_rejects_unknown_default_threshold(tmp_path, model, encoder, preprocessing):
    with pytest.raises(BundleError, match="default threshold"):
        save_bundle(tmp_path / "x", model, preprocessing=preprocessing, encoder=encoder,
                    thresholds={"closest_to_corner": 0.5}, name="x")
    assert not (tmp_path / "x" / WEIGHTS_FILE).exists()


# --- unusable bundles --------------------------------------------------------------------

def _bundle_error(path) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    return str(info.value)


def test_bundle_error_is_value_error():
    assert issubclass(BundleError, ValueError)


def test_missing_folder(tmp_path):
    msg = _bundle_error(tmp_path / "nope")
    assert "nope" in msg and "no such bundle folder" in msg


def test_folder_without_json(tmp_path):
    (tmp_path / "empty").mkdir()
    msg = _bundle_error(tmp_path / "empty")
    assert "not a model bundle" in msg and META_FILE in msg


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage", b""])
def test_invalid_json(copy, content):
    (copy / META_FILE).write_bytes(content)
    assert "not valid JSON" in _bundle_error(copy)


@pytest.mark.parametrize("content", ["[1, 2]", '"melanoma-bundle"', '{"format": "other"}'])
def test_wrong_format(copy, content):
    (copy / META_FILE).write_text(content)
    assert f"not a {BUNDLE_FORMAT} file" in _bundle_error(copy)


@pytest.mark.parametrize("version", [0, 4, "1", None, True])
def test_wrong_schema_version(copy, version):
    _edit_json(copy, schema_version=version)
    msg = _bundle_error(copy)
    assert "schema version" in msg and repr(version) in msg


def test_new_bundles_record_the_default_decision_rule(saved):
    info = json.loads((saved / META_FILE).read_text())
    assert info["schema_version"] == 2
    assert info["decision"] == {"score": "single", "calibration": None}
    assert load_bundle(saved).decision == DecisionRule()


def test_schema_1_bundle_without_a_rule_loads_as_before(copy, saved, inputs):
    _edit_json(copy, schema_version=1, decision=_DELETE)
    old, new = load_bundle(copy), load_bundle(saved)
    assert old.decision == DecisionRule() and old.thresholds == new.thresholds
    np.testing.assert_array_equal(predict_arrays(old, *inputs), predict_arrays(new, *inputs))


@pytest.mark.parametrize(("decision", "fact"), [
    ({"score": "mode"}, "decision score"),
    ({"score": "single", "calibration": {"method": "platt", "slope": 0.0, "intercept": 0}},
     "slope"),
])
def test_invalid_decision_rule_is_refused(copy, decision, fact):
    _edit_json(copy, decision=decision)
    msg = _bundle_error(copy)
    assert "invalid content" in msg and fact in msg


@pytest.mark.parametrize("key", ["model", "weights_sha256", "thresholds", "metadata_encoder"])
def test_missing_required_key(copy, key):
    _edit_json(copy, **{key: _DELETE})
    msg = _bundle_error(copy)
    assert "missing keys" in msg and key in msg


def test_read_bundle_info_validates_without_weights(copy):
    (copy / WEIGHTS_FILE).unlink()
    info = read_bundle_info(copy)
    assert info["format"] == BUNDLE_FORMAT
    assert "weights file" in _bundle_error(copy)


def test_tampered_weights(copy):
    raw = bytearray((copy / WEIGHTS_FILE).read_bytes())
    raw[-1] ^= 0xFF  # flip bits in the last tensor's data
    (copy / WEIGHTS_FILE).write_bytes(bytes(raw))
    msg = _bundle_error(copy)
    assert "SHA-256 does not match" in msg
    # With the check off, the same file loads (the check is what catches it).
    assert load_bundle(copy, verify_hash=False).model is not None


def _replace_weights(folder: Path, data: bytes) -> None:
    (folder / WEIGHTS_FILE).write_bytes(data)
    _edit_json(folder, weights_sha256=hashlib.sha256(data).hexdigest())


def test_weights_of_another_architecture(copy, encoder):
    other = FusionNet(FusionConfig(backbone=BACKBONE, meta_dim=encoder.dim, meta_hidden=(4,)))
    state = {k: v.contiguous() for k, v in other.state_dict().items()}
    tmp = copy / "other.safetensors"
    save_file(state, str(tmp))
    _replace_weights(copy, tmp.read_bytes())
    msg = _bundle_error(copy)
    assert "do not fit" in msg


def test_weights_with_other_keys(copy):
    tmp = copy / "other.safetensors"
    save_file({"some.weight": torch.zeros(3)}, str(tmp))
    _replace_weights(copy, tmp.read_bytes())
    msg = _bundle_error(copy)
    assert "do not fit" in msg and "some.weight" in msg


def test_config_naming_other_backbone(copy):
    info = json.loads((copy / META_FILE).read_text())
    info["model"]["backbone"] = "efficientnet_b0"  # same widths as Lite0, plus SE blocks
    (copy / META_FILE).write_text(json.dumps(info))
    assert "do not fit efficientnet_b0" in _bundle_error(copy)


def test_unknown_backbone(copy):
    info = json.loads((copy / META_FILE).read_text())
    info["model"]["backbone"] = "no_such_backbone_xyz"
    (copy / META_FILE).write_text(json.dumps(info))
    msg = _bundle_error(copy)
    assert "cannot build backbone" in msg and "no_such_backbone_xyz" in msg


class _Payload:
    marker = Path("/nonexistent")

    def __reduce__(self):
        return (os.mkdir, (str(_Payload.marker),))


def test_pickle_renamed_to_safetensors_is_not_unpickled(copy, tmp_path):
    _Payload.marker = tmp_path / "pwned"
    _replace_weights(copy, pickle.dumps({"head.1.weight": _Payload()}))
    msg = _bundle_error(copy)
    assert "not a readable safetensors file" in msg
    assert not _Payload.marker.exists()


def test_torch_save_file_renamed_is_rejected(copy, model):
    tmp = copy / "state.pt"
    torch.save(model.state_dict(), tmp)
    _replace_weights(copy, tmp.read_bytes())
    assert "not a readable safetensors file" in _bundle_error(copy)


def test_encoder_dim_mismatch(copy):
    info = json.loads((copy / META_FILE).read_text())
    info["metadata_encoder"]["sites"] = ["arm", "unknown"]
    del info["metadata_encoder"]["feature_names"]
    (copy / META_FILE).write_text(json.dumps(info))
    msg = _bundle_error(copy)
    assert "metadata features" in msg


@pytest.mark.parametrize("section, key, value", [
    ("preprocessing", "crop", "centre"),
    ("preprocessing", "interpolation", "fancy"),
    ("metadata_encoder", "version", 99),
    ("model", "unknown_field", 1),
])
def test_invalid_sections(copy, section, key, value):
    info = json.loads((copy / META_FILE).read_text())
    info[section][key] = value
    (copy / META_FILE).write_text(json.dumps(info))
    assert "invalid content" in _bundle_error(copy)


def test_default_threshold_not_in_thresholds(copy):
    _edit_json(copy, default_threshold="youden")
    assert "default threshold" in _bundle_error(copy)
