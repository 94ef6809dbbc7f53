"""Tests for models.inference.engine: outputs, one source of truth, one-pass TTA + CAM, input
handling."""

from __future__ import annotations

import io
import json
import math
import struct
import threading
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from data.images import Preprocessing
from models.bundle.io import BundleError, predict_arrays
from models.inference.engine import ABOVE, BELOW, Analysis, Engine, InputError
from models.inference.tta import VIEW_NAMES, dihedral_views
from tests.models.conftest import (
    ENGINE_SIZE,
    ENGINE_THRESHOLDS,
    encode_image,
    lesion_array,
    make_tiny_bundle,
)

META = (52, "female", "posterior torso")


def _reference(bundle, source, age, sex, site) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess + encode straight through the bundle (what evaluation does)."""
    x = bundle.preprocessing(source)[None]
    m = bundle.encoder.encode(age, sex, site)[None]
    return x, m


# --- outputs --------------------------------------------------------------------------------

def test_analysis_contents(eager_engine, tiny_bundle, lesion_jpeg):
    a = eager_engine.analyze(lesion_jpeg, *META)
    assert isinstance(a, Analysis)
    assert [v["view"] for v in a.tta] == list(VIEW_NAMES) and len(a.tta) == 8
    probs = np.array([v["probability"] for v in a.tta])
    assert np.all((probs > 0) & (probs < 1))
    assert a.probability == probs[0]  # identity view
    assert a.tta_mean == pytest.approx(probs.mean(), abs=1e-12)
    assert a.tta_std == pytest.approx(probs.std(), abs=1e-12)
    assert (a.tta_min, a.tta_max) == (probs.min(), probs.max())
    assert a.tta_std > 0  # random weights are not flip-invariant: the views really differ
    assert a.threshold == tiny_bundle.threshold == ENGINE_THRESHOLDS["sensitivity_target"]
    assert a.threshold_name == "sensitivity_target"
    assert a.decision == (ABOVE if a.probability >= a.threshold else BELOW)
    assert a.model == tiny_bundle.bundle_id == eager_engine.bundle_id
    assert a.metadata == {"age": 52.0, "sex": "female", "site": "posterior torso"}
    names = tiny_bundle.model.cam_layer_names()
    assert a.cam_layer_names == names == eager_engine.cam_layer_names and len(names) >= 5
    sides = [c.resolution[0] for c in a.cams]
    assert sides == [24, 12, 6, 3, 3]  # early (fine) -> late (coarse) at 96 px
    for c in a.cams:
        assert c.heatmap.shape == (ENGINE_SIZE, ENGINE_SIZE) and c.heatmap.dtype == np.float32
        assert c.heatmap.min() >= 0.0 and c.heatmap.max() <= 1.0
        assert c.heatmap.max() == pytest.approx(1.0, abs=1e-5)
    assert a.model_view.shape == (ENGINE_SIZE, ENGINE_SIZE, 3) and a.model_view.dtype == np.uint8
    assert {"load", "preprocess", "forward", "cam", "total"} <= set(a.timings_ms)
    overlays = a.overlays(alpha=0.4)
    assert len(overlays) == len(a.cams) and overlays[0].shape == a.model_view.shape


def test_to_json_has_the_api_fields(eager_engine, lesion_jpeg):
    a = eager_engine.analyze(lesion_jpeg, *META)
    payload = json.loads(json.dumps(a.to_json()))  # JSON-serialisable as is
    for key in ("probability", "threshold", "threshold_name", "decision", "tta", "tta_mean",
                "tta_std", "tta_min", "tta_max", "cam_layers", "metadata", "timings_ms",
                "model"):
        assert key in payload, key
    assert payload["model"] == eager_engine.bundle_id
    assert payload["cam_layers"] == eager_engine.cam_layer_names
    assert payload["tta"][0] == {"view": "identity", "probability": a.probability}


def test_tta_and_cam_can_be_switched_off(eager_engine, lesion_jpeg):
    a = eager_engine.analyze(lesion_jpeg, *META, tta=False, cam=False)
    assert a.tta == [] and a.cams == [] and a.tta_mean is None and a.tta_std is None
    assert a.probability == pytest.approx(eager_engine.predict(lesion_jpeg, *META), abs=1e-6)
    json.dumps(a.to_json())


# --- one source of truth --------------------------------------------------------------------

def test_probabilities_equal_the_bundle_reference_path(eager_engine, tiny_bundle, lesion_jpeg):
    x, m = _reference(tiny_bundle, lesion_jpeg, *META)
    expected = predict_arrays(tiny_bundle, x, m)[0]
    assert eager_engine.predict(lesion_jpeg, *META) == pytest.approx(expected, abs=1e-6)
    a = eager_engine.analyze(lesion_jpeg, *META)
    assert a.probability == pytest.approx(expected, abs=1e-5)
    # TTA views: exactly the probabilities of scoring each dihedral view of the same tensor.
    views = dihedral_views(torch.from_numpy(x)).numpy()
    per_view = predict_arrays(tiny_bundle, views, np.repeat(m, 8, axis=0))
    np.testing.assert_allclose([v["probability"] for v in a.tta], per_view, atol=1e-5)
    np.testing.assert_allclose(eager_engine.predict_batch(x, m), [expected], atol=1e-6)


def test_model_view_is_the_bundle_preprocessing_output(eager_engine, tiny_bundle, lesion_jpeg):
    pre = tiny_bundle.preprocessing
    assert pre.color_constancy == "shades_of_gray"  # so a plain resize would differ
    expected = pre.model_view(pre.load(lesion_jpeg))
    a = eager_engine.analyze(lesion_jpeg, *META, cam=False)
    np.testing.assert_array_equal(a.model_view, expected)
    plain = np.asarray(pre.resize(pre.load(lesion_jpeg)))
    assert not np.array_equal(a.model_view, plain)


def test_preprocessing_and_encoding_go_through_the_bundle(eager_engine, tiny_bundle,
                                                         lesion_jpeg, monkeypatch):
    calls = {"model_view": 0, "normalize": 0, "encode": []}
    real_view, real_norm = Preprocessing.model_view, Preprocessing.normalize
    real_encode = tiny_bundle.encoder.encode

    def view(self, img):
        calls["model_view"] += 1
        return real_view(self, img)

    def norm(self, arr):
        calls["normalize"] += 1
        return real_norm(self, arr)

    def encode(age, sex, site):
        calls["encode"].append((age, sex, site))
        return real_encode(age, sex, site)

    monkeypatch.setattr(Preprocessing, "model_view", view)
    monkeypatch.setattr(Preprocessing, "normalize", norm)
    monkeypatch.setattr(tiny_bundle.encoder, "encode", encode)
    eager_engine.analyze(lesion_jpeg, " 52 ", "F", "Posterior Torso")
    assert calls["model_view"] == 1 and calls["normalize"] == 1
    assert calls["encode"] == [(52.0, "female", "posterior torso")]


def test_reanalysing_the_model_view_equals_analysing_the_image(eager_engine, lesion_jpeg):
    """The app re-runs other metadata on the kept model view: same numbers as a new decode."""
    first = eager_engine.analyze(lesion_jpeg, 50, "male", "head/neck")
    again = eager_engine.analyze(None, 50, "male", "head/neck", model_view=first.model_view)
    assert again.probability == first.probability
    assert [v["probability"] for v in again.tta] == [v["probability"] for v in first.tta]
    np.testing.assert_array_equal(again.model_view, first.model_view)
    other = eager_engine.analyze(None, 80, "female", "lower extremity",
                                 model_view=first.model_view)
    assert other.metadata == {"age": 80.0, "sex": "female", "site": "lower extremity"}
    with pytest.raises(InputError, match="model view must be uint8"):
        eager_engine.analyze(None, model_view=first.model_view.astype(np.float32))


def test_metadata_changes_the_probability(eager_engine, lesion_jpeg):
    # The metadata really reaches the model (random weights: only "different" is asserted).
    p1 = eager_engine.predict(lesion_jpeg, 20, "male", "head/neck")
    p2 = eager_engine.predict(lesion_jpeg, 85, "female", "palms/soles")
    assert abs(p1 - p2) > 1e-4


def test_tta_and_all_cams_come_from_one_batched_forward(eager_engine, tiny_bundle, lesion_jpeg):
    shapes = []
    handle = tiny_bundle.model.backbone.register_forward_pre_hook(
        lambda m, args: shapes.append(tuple(args[0].shape)))
    try:
        a = eager_engine.analyze(lesion_jpeg, *META)
    finally:
        handle.remove()
    assert shapes == [(8, 3, ENGINE_SIZE, ENGINE_SIZE)]  # ONE pass, the 8 views as one batch
    assert len(a.cams) >= 5


# --- bad input ------------------------------------------------------------------------------

def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


_JPEG = encode_image(lesion_array(), quality=90)


@pytest.mark.parametrize("image,needles", [
    (b"this is not an image at all", ["not a recognised image"]),
    (b"", ["not a recognised image"]),
    (_JPEG[: len(_JPEG) // 2], ["corrupt or truncated"]),
    (_png_header_only(8000, 7500), ["8000x7500", "decompression bomb"]),  # over our 50 MP cap
    (_png_header_only(20000, 20000), ["decompression bomb"]),  # over PIL's own limit too
    (encode_image(np.zeros((10, 12, 3), np.uint8), "PNG"), ["10", "too small"]),
    (None, ["No image"]),
    (12345, ["Unsupported image input"]),
], ids=["text", "empty", "truncated", "bomb", "bomb-huge", "tiny", "none", "int"])
def test_bad_images_raise_readable_input_errors(eager_engine, image, needles):
    for call in (eager_engine.analyze, eager_engine.predict):
        with pytest.raises(InputError) as err:
            call(image, *META)
        msg = str(err.value)
        assert all(n in msg for n in needles), msg
        assert "Traceback" not in msg and "\n" not in msg


def test_missing_file_is_an_input_error(eager_engine, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        eager_engine.predict(tmp_path / "nope.jpg")


@pytest.mark.parametrize("age,sex,site,needles", [
    (-1, "male", "torso", ["age", "-1", "0-120"]),
    (130, "male", "torso", ["age", "130", "0-120"]),
    ("forty", "male", "torso", ["age", "forty", "not a number"]),
    (40, "robot", "torso", ["sex", "robot"]),
    (40, "male", "moon", ["site", "moon", "head/neck"]),
], ids=["age-low", "age-high", "age-text", "sex", "site"])
def test_bad_metadata_raises_readable_input_errors(eager_engine, lesion_jpeg, age, sex, site,
                                                   needles):
    with pytest.raises(InputError) as err:
        eager_engine.analyze(lesion_jpeg, age, sex, site)
    msg = str(err.value)
    assert all(n in msg for n in needles), msg
    assert isinstance(err.value, ValueError)


# --- odd but valid input --------------------------------------------------------------------

@pytest.mark.parametrize("age,sex,site", [(None, None, None), ("", "", ""),
                                          (math.nan, "unknown", "unknown")])
def test_missing_metadata_is_fine(eager_engine, lesion_jpeg, age, sex, site):
    a = eager_engine.analyze(lesion_jpeg, age, sex, site, cam=False)
    assert a.metadata == {"age": None, "sex": "unknown", "site": "unknown"}
    assert 0 < a.probability < 1


def _rgba_png() -> bytes:
    arr = np.zeros((100, 120, 4), np.uint8)
    arr[..., :3] = lesion_array(120, 100)
    arr[..., 3] = 255
    arr[:, :30, 3] = 0  # left quarter fully transparent -> composited onto white
    return encode_image(Image.fromarray(arr, "RGBA"), "PNG")


def _exif_rotated_jpeg() -> bytes:
    stored = np.full((60, 120, 3), 40, np.uint8)
    stored[:24, :24] = (255, 0, 0)  # marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the marker goes top-right
    return encode_image(stored, "JPEG", quality=95, exif=exif.tobytes())


def _sixteen_bit_png() -> bytes:
    arr = (np.linspace(0, 65535, 80 * 80).reshape(80, 80)).astype(np.uint16)
    return encode_image(Image.fromarray(arr), "PNG")


def _cmyk_jpeg() -> bytes:
    return encode_image(Image.fromarray(lesion_array()).convert("CMYK"), "JPEG", quality=90)


def _gray_jpeg() -> bytes:
    return encode_image(Image.fromarray(lesion_array()).convert("L"), "JPEG")


def _palette_png() -> bytes:
    return encode_image(Image.fromarray(lesion_array()).convert("P"), "PNG")


def _large_jpeg() -> bytes:
    return encode_image(lesion_array(2400, 1800), quality=85)  # 4.3 MP


@pytest.mark.parametrize("make", [_rgba_png, _exif_rotated_jpeg, _sixteen_bit_png, _cmyk_jpeg,
                                  _gray_jpeg, _palette_png, _large_jpeg],
                         ids=["rgba", "exif", "16bit", "cmyk", "gray", "palette", "large"])
def test_odd_but_valid_images_work(eager_engine, make):
    a = eager_engine.analyze(make(), None, None, None)
    assert 0 < a.probability < 1 and len(a.cams) >= 5
    assert a.model_view.shape == (ENGINE_SIZE, ENGINE_SIZE, 3)


def test_transparency_is_white_and_exif_is_applied_in_the_model_view(eager_engine):
    a = eager_engine.analyze(_rgba_png(), cam=False, tta=False)
    # shades-of-gray rescales channels, but a fully white area stays the brightest, near grey
    left = a.model_view[:, :10].astype(int)
    assert left.min() > 200
    b = eager_engine.analyze(_exif_rotated_jpeg(), cam=False, tta=False)
    view = b.model_view.astype(int)
    top_right, top_left = view[:20, -20:].mean(axis=(0, 1)), view[:20, :20].mean(axis=(0, 1))
    assert top_right[0] > top_right[1] + 60 and top_right[0] > top_left[0] + 60


def test_path_bytes_pil_and_array_inputs_agree(eager_engine, lesion_jpeg):
    data = lesion_jpeg.read_bytes()
    pil = Image.open(io.BytesIO(data))
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    probs = [eager_engine.predict(src, *META) for src in (lesion_jpeg, str(lesion_jpeg), data,
                                                          pil, arr)]
    assert max(probs) - min(probs) < 1e-9


# --- engine API -----------------------------------------------------------------------------

def test_predict_batch_checks_shapes(eager_engine):
    with pytest.raises(ValueError, match="images must be"):
        eager_engine.predict_batch(np.zeros((2, 3, 10, 10), np.float32), np.zeros((2, 15)))
    with pytest.raises(ValueError, match="metadata"):
        eager_engine.predict_batch(np.zeros((2, 3, ENGINE_SIZE, ENGINE_SIZE), np.float32), None)
    assert eager_engine.predict_batch(np.zeros((0, 3, ENGINE_SIZE, ENGINE_SIZE), np.float32),
                                      np.zeros((0, 15), np.float32)).shape == (0,)


def test_predict_batch_chunks_consistently(eager_engine, tiny_bundle, monkeypatch):
    monkeypatch.setattr("models.inference.engine.PREDICT_CHUNK", 4)
    rng = np.random.default_rng(0)
    n = 9  # three chunks, the last one partial
    x = rng.normal(size=(n, 3, ENGINE_SIZE, ENGINE_SIZE)).astype(np.float32)
    m = np.repeat(tiny_bundle.encoder.encode(*META)[None], n, axis=0)
    np.testing.assert_allclose(eager_engine.predict_batch(x, m), predict_arrays(tiny_bundle, x, m),
                               atol=1e-5)


@pytest.fixture
def restore_torch_threads():
    """Engines set torch's process-wide thread count; put it back after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_image_only_bundle(tmp_path, lesion_jpeg, restore_torch_threads):
    folder = make_tiny_bundle(tmp_path / "b", backbone="tf_efficientnet_lite0", size=64,
                              use_metadata=False)
    engine = Engine.from_path(folder, backend="eager", num_threads=1)
    assert torch.get_num_threads() == 1
    a = engine.analyze(lesion_jpeg, 40, "male", "torso")
    assert a.metadata["age"] == 40.0 and len(a.cams) >= 5
    assert a.probability == pytest.approx(engine.predict(lesion_jpeg), abs=1e-5)
    x = engine.bundle.preprocessing(lesion_jpeg)[None]
    np.testing.assert_allclose(engine.predict_batch(x, None), [engine.predict(lesion_jpeg)],
                               atol=1e-6)


def test_from_path_rejects_a_non_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle folder"):
        Engine.from_path(tmp_path / "missing")


def test_engine_is_safe_to_share_between_threads(eager_engine, lesion_jpeg):
    sources = [encode_image(lesion_array(seed=i), quality=90) for i in range(2)]
    expected = [eager_engine.analyze(s, *META) for s in sources]
    results: dict[int, Analysis] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = eager_engine.analyze(sources[i % 2], *META)
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for i, a in results.items():
        ref = expected[i % 2]
        assert a.probability == pytest.approx(ref.probability, abs=1e-6)
        for c, r in zip(a.cams, ref.cams, strict=True):
            np.testing.assert_allclose(c.heatmap, r.heatmap, atol=1e-5)


# --- decision rule (score + calibration map) --------------------------------------------------

PLATT = {"method": "platt", "slope": 1.7, "intercept": -0.4}


@pytest.fixture(scope="module")
def calibrated_engine(tiny_bundle_dir, tmp_path_factory) -> Engine:
    """The tiny bundle's weights deciding on the Platt-calibrated TTA mean."""
    folder = tmp_path_factory.mktemp("calibrated")
    for name in ("model.safetensors", "bundle.json"):
        (folder / name).write_bytes((tiny_bundle_dir / name).read_bytes())
    info = json.loads((folder / "bundle.json").read_text())
    info["decision"] = {"score": "tta_mean", "calibration": PLATT}
    (folder / "bundle.json").write_text(json.dumps(info))
    return Engine.from_path(folder, num_threads=1, backend="eager")


def test_calibrated_tta_mean_decides(calibrated_engine, eager_engine, lesion_jpeg):
    raw = eager_engine.analyze(lesion_jpeg, *META, cam=False)
    cal = calibrated_engine.analyze(lesion_jpeg, *META, cam=False)
    rule = calibrated_engine.bundle.decision
    raw_views = np.array([v["probability"] for v in raw.tta])
    assert raw.decision_probability == raw.probability  # uncalibrated single view: as before
    assert raw.decision_score == "single" and raw.calibration is None
    expected = float(rule.calibrate(raw_views.mean()))
    assert cal.decision_probability == pytest.approx(expected, abs=1e-6)
    assert cal.tta_mean == pytest.approx(expected, abs=1e-6)
    assert cal.probability == pytest.approx(float(rule.calibrate(raw.probability)), abs=1e-6)
    np.testing.assert_allclose([v["probability"] for v in cal.tta], rule.calibrate(raw_views),
                               atol=1e-6)
    assert cal.decision == (ABOVE if expected >= cal.threshold else BELOW)
    out = cal.to_json()
    assert out["decision_score"] == "tta_mean" and out["calibration"] == "platt"
    assert out["decision_probability"] == cal.decision_probability


def test_tta_mean_rule_runs_the_views_even_when_tta_is_off(calibrated_engine, lesion_jpeg):
    full = calibrated_engine.analyze(lesion_jpeg, *META, cam=False)
    off = calibrated_engine.analyze(lesion_jpeg, *META, tta=False, cam=False)
    assert len(off.tta) == 8
    assert off.decision_probability == pytest.approx(full.decision_probability, abs=1e-6)
    assert calibrated_engine.predict(lesion_jpeg, *META) == pytest.approx(
        full.decision_probability, abs=1e-5)
