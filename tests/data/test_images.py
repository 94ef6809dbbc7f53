"""Unit tests for data.images: decoding odd-but-valid files, rejecting bad ones, preprocessing."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    Preprocessing,
    load_image,
    shades_of_gray,
)

RED = (255, 0, 0)
WHITE = (255, 255, 255)


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _png_header_only(width: int, height: int) -> bytes:
    """A 1-bit grayscale PNG whose header claims width x height but holds a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + _png_chunk(b"IEND", b""))


def _rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


# --- odd but valid files --------------------------------------------------------------------------

def test_rgb_png_from_path_is_unchanged(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    path = _write(tmp_path, "lesion.png", _save(Image.fromarray(arr), "PNG"))
    img = load_image(path)
    assert img.size == (50, 40)
    np.testing.assert_array_equal(_rgb(img), arr)
    # str paths work too
    np.testing.assert_array_equal(_rgb(load_image(str(path))), arr)


def test_rgba_transparency_composited_on_white(tmp_path):
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:, :20] = (255, 0, 0, 255)  # opaque red
    rgba[:, 20:30] = (0, 0, 0, 0)  # fully transparent black -> white
    rgba[:, 30:] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    path = _write(tmp_path, "a.png", _save(Image.fromarray(rgba, "RGBA"), "PNG"))
    out = _rgb(load_image(path))
    assert tuple(out[5, 5]) == RED
    assert tuple(out[5, 25]) == WHITE
    assert np.all(np.abs(out[5, 35].astype(int) - 127) <= 1)


def test_la_transparency_composited_on_white():
    la = np.zeros((40, 40, 2), dtype=np.uint8)
    la[:, :20] = (50, 255)
    la[:, 20:] = (0, 0)
    out = _rgb(load_image(_save(Image.fromarray(la, "LA"), "PNG")))
    assert tuple(out[0, 0]) == (50, 50, 50)
    assert tuple(out[0, 30]) == WHITE


def test_palette_with_transparency_composited_on_white():
    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * (3 * 254))
    pal.paste(1, (0, 0, 20, 40))  # left half: green, right half: index 0 (transparent black)
    out = _rgb(load_image(_save(pal, "PNG", transparency=0)))
    assert tuple(out[0, 5]) == (0, 255, 0)
    assert tuple(out[0, 30]) == WHITE


def test_palette_without_transparency():
    pal = Image.new("P", (40, 40), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * (3 * 254))
    out = _rgb(load_image(_save(pal, "PNG")))
    assert tuple(out[3, 3]) == (10, 20, 30)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grayscale_becomes_rgb(fmt):
    gray = Image.new("L", (40, 40), 77)
    out = _rgb(load_image(_save(gray, fmt)))
    assert out.shape == (40, 40, 3)
    assert np.all(np.abs(out.astype(int) - 77) <= 1)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red in CMYK
    data = _save(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = _rgb(load_image(data))
    assert out.shape == (48, 64, 3)
    r, g, b = out[24, 32].astype(int)
    assert r > 240 and g < 15 and b < 15


def test_16bit_grayscale_png_scaled_to_8bit():
    arr = np.zeros((40, 40), dtype=np.uint16)
    arr[:10] = 65535
    arr[10:20] = 32768
    arr[20:30] = 0
    arr[30:] = 257  # 1/255 of full scale -> 1
    data = _save(Image.fromarray(arr), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    out = _rgb(load_image(data))
    assert tuple(out[0, 0]) == WHITE
    assert np.all(np.abs(out[15, 0].astype(int) - 128) <= 1)
    assert tuple(out[25, 0]) == (0, 0, 0)
    assert tuple(out[35, 0]) == (1, 1, 1)


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    # Stored 80 wide x 40 high with a red block at the stored top-left corner.
    stored = np.full((40, 80, 3), 40, dtype=np.uint8)
    stored[:16, :16] = RED
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = _write(tmp_path, "rot.jpg", _save(Image.fromarray(stored), "JPEG", quality=95,
                                             exif=exif.tobytes()))
    out = _rgb(load_image(path))
    assert out.shape == (80, 40, 3)  # width and height swapped
    top_right = out[2:14, -14:-2].astype(int).mean(axis=(0, 1))
    top_left = out[2:14, 2:14].astype(int).mean(axis=(0, 1))
    bottom_left = out[-14:-2, 2:14].astype(int).mean(axis=(0, 1))
    assert top_right[0] > 200 and top_right[1] < 60  # the marker is now top-right
    assert top_left[0] < 80 and bottom_left[0] < 80


def test_exif_orientation_1_is_left_alone():
    stored = np.full((40, 80, 3), 40, dtype=np.uint8)
    stored[:16, :16] = RED
    exif = Image.Exif()
    exif[0x0112] = 1
    out = _rgb(load_image(_save(Image.fromarray(stored), "JPEG", quality=95,
                                exif=exif.tobytes())))
    assert out.shape == (40, 80, 3)
    assert out[5, 5, 0] > 200


@pytest.fixture(scope="module")
def large_jpeg() -> bytes:
    img = Image.new("RGB", (4000, 3000), (10, 200, 30))
    return _save(img, "JPEG", quality=80)


def test_large_jpeg_loads_full_size(large_jpeg):
    img = load_image(large_jpeg)
    assert img.size == (4000, 3000)
    assert img.mode == "RGB"


@pytest.mark.parametrize("draft_size", [448, 1000, 1500])
def test_large_jpeg_draft_is_smaller_but_not_below_draft_size(large_jpeg, draft_size):
    img = load_image(large_jpeg, draft_size=draft_size)
    assert img.mode == "RGB"
    assert img.size[0] < 4000 and img.size[1] < 3000
    assert min(img.size) >= draft_size
    assert img.size[0] * 3 == img.size[1] * 4  # aspect ratio kept
    r, g, b = np.asarray(img)[img.size[1] // 2, img.size[0] // 2].astype(int)
    assert abs(r - 10) < 10 and abs(g - 200) < 10 and abs(b - 30) < 10


def test_draft_ignored_for_png():
    data = _save(Image.new("RGB", (400, 300), (1, 2, 3)), "PNG")
    assert load_image(data, draft_size=64).size == (400, 300)


def test_bytes_and_pil_input():
    arr = np.random.default_rng(1).integers(0, 256, (33, 35, 3), dtype=np.uint8)
    data = _save(Image.fromarray(arr), "PNG")
    np.testing.assert_array_equal(_rgb(load_image(data)), arr)
    np.testing.assert_array_equal(_rgb(load_image(Image.fromarray(arr))), arr)


# --- bad input --------------------------------------------------------------------------------

def _error(source, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        load_image(source, **kwargs)
    return str(info.value)


def test_image_error_is_value_error():
    assert issubclass(ImageError, ValueError)


def test_text_file_is_rejected(tmp_path):
    path = _write(tmp_path, "notes.jpg", b"this is not an image\n" * 10)
    msg = _error(path)
    assert "notes.jpg" in msg
    assert "not a recognised image" in msg


def test_empty_file_is_rejected(tmp_path):
    msg = _error(_write(tmp_path, "empty.png", b""))
    assert "empty.png" in msg


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_jpeg_is_rejected(tmp_path, fraction):
    arr = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    data = _save(Image.fromarray(arr), "JPEG", quality=90)
    path = _write(tmp_path, "cut.jpg", data[: int(len(data) * fraction)])
    msg = _error(path)
    assert "cut.jpg" in msg
    assert "truncated" in msg


def test_truncated_png_is_rejected(tmp_path):
    arr = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _save(Image.fromarray(arr), "PNG")
    msg = _error(_write(tmp_path, "cut.png", data[: len(data) // 2]))
    assert "cut.png" in msg


def test_bytes_input_error_names_upload():
    assert "uploaded image" in _error(b"garbage bytes")


def test_missing_file(tmp_path):
    msg = _error(tmp_path / "nowhere.jpg")
    assert "nowhere.jpg" in msg
    assert "not found" in msg


@pytest.mark.parametrize("size", [(10, 10), (10, 200), (200, 31)])
def test_tiny_image_is_rejected(tmp_path, size):
    path = _write(tmp_path, "tiny.png", _save(Image.new("RGB", size, RED), "PNG"))
    msg = _error(path)
    assert "tiny.png" in msg
    assert "too small" in msg
    assert f"{size[0]}x{size[1]}" in msg


def test_min_side_is_configurable(tmp_path):
    data = _save(Image.new("RGB", (10, 10), RED), "PNG")
    assert load_image(data, min_side=8).size == (10, 10)


class _NoDecode:
    """Makes any pixel decoding fail loudly (AssertionError is not caught by load_image)."""

    def __init__(self, monkeypatch):
        def boom(self, *args, **kwargs):
            raise AssertionError("pixels were decoded")
        monkeypatch.setattr(ImageFile.ImageFile, "load", boom)


def test_header_claiming_huge_size_rejected_before_decoding(tmp_path, monkeypatch):
    path = _write(tmp_path, "bomb.png", _png_header_only(5000, 5000))
    assert path.stat().st_size < 200
    _NoDecode(monkeypatch)
    msg = _error(path, max_pixels=1_000_000)
    assert "bomb.png" in msg
    assert "5000x5000" in msg
    assert "decompression bomb" in msg


def test_default_cap_rejects_large_but_small_on_disk_png(tmp_path, monkeypatch):
    # 8000 x 7000 = 56 MP: above the product's 50 MP cap, below PIL's own bomb limits.
    path = tmp_path / "big.png"
    Image.new("1", (8000, 7000)).save(path)
    assert path.stat().st_size < 100_000
    assert 8000 * 7000 > DEFAULT_MAX_PIXELS
    _NoDecode(monkeypatch)
    msg = _error(path)
    assert "big.png" in msg
    assert "decompression bomb" in msg
    assert f"{DEFAULT_MAX_PIXELS:,}" in msg


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "huge.png"
    Image.new("1", (20000, 20000)).save(path, compress_level=1)
    return path


def test_genuine_20000_square_png_rejected_by_default(huge_png, monkeypatch):
    assert huge_png.stat().st_size < 2_000_000  # tiny on disk, 400 MP decoded
    _NoDecode(monkeypatch)
    msg = _error(huge_png)
    assert "huge.png" in msg
    assert "decompression bomb" in msg


# --- preprocessing ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("src_size", [(100, 60), (40, 90), (64, 64)])
def test_preprocessing_output_shape_and_dtype(size, src_size):
    data = _save(Image.new("RGB", src_size, (120, 30, 200)), "PNG")
    pre = Preprocessing(size=size)
    out = pre(data)
    assert out.shape == (3, size, size)
    assert out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("value", [(0, 0, 0), (255, 255, 255), (200, 100, 50)])
def test_normalisation_of_constant_image(value):
    pre = Preprocessing(size=32)
    out = pre(Image.new("RGB", (48, 48), value))
    for c in range(3):
        expected = (value[c] / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        np.testing.assert_allclose(out[c], expected, rtol=0, atol=1e-5)


def test_custom_mean_std():
    pre = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 1.0))
    out = pre(Image.new("RGB", (32, 32), (255, 255, 255)))
    np.testing.assert_allclose(out[:, 0, 0], [1.0, 2.0, 0.5], atol=1e-6)


def test_normalize_batch_is_nchw():
    pre = Preprocessing(size=8)
    batch = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    assert pre.normalize(batch).shape == (2, 3, 8, 8)


@pytest.mark.parametrize("src_size", [(300, 100), (50, 400), (33, 33)])
def test_model_view_is_exactly_square_without_crop(src_size):
    # Mark the four corners; a squash-resize keeps them all, a centre-crop would lose them.
    arr = np.full((src_size[1], src_size[0], 3), 128, dtype=np.uint8)
    k = 8
    arr[:k, :k] = (255, 0, 0)
    arr[:k, -k:] = (0, 255, 0)
    arr[-k:, :k] = (0, 0, 255)
    arr[-k:, -k:] = (255, 255, 0)
    pre = Preprocessing(size=64, interpolation="nearest")
    view = pre.model_view(Image.fromarray(arr))
    assert view.shape == (64, 64, 3)
    assert view.dtype == np.uint8
    assert tuple(view[0, 0]) == (255, 0, 0)
    assert tuple(view[0, -1]) == (0, 255, 0)
    assert tuple(view[-1, 0]) == (0, 0, 255)
    assert tuple(view[-1, -1]) == (255, 255, 0)


def test_preprocessing_round_trip():
    pre = Preprocessing(size=96, interpolation="bicubic", color_constancy="shades_of_gray",
                        sog_power=4.0, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6),
                        max_pixels=1234567, min_side=16, extra={"note": "x"})
    state = json.loads(json.dumps(pre.to_dict()))
    back = Preprocessing.from_dict(state)
    assert back == pre
    assert back.to_dict() == pre.to_dict()
    img = Image.fromarray(np.random.default_rng(4).integers(0, 256, (50, 70, 3), np.uint8))
    np.testing.assert_array_equal(back(img), pre(img))


def test_default_preprocessing_round_trip():
    pre = Preprocessing()
    assert Preprocessing.from_dict(pre.to_dict()) == pre


def test_from_dict_rejects_unknown_keys():
    state = Preprocessing().to_dict()
    state["crop"] = "centre"
    with pytest.raises(ValueError, match="crop"):
        Preprocessing.from_dict(state)


@pytest.mark.parametrize("kwargs, word", [
    ({"interpolation": "cubic-ish"}, "interpolation"),
    ({"color_constancy": "grey_world"}, "color_constancy"),
])
def test_invalid_preprocessing_rejected(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Preprocessing(**kwargs)


def test_preprocessing_applies_its_limits():
    pre = Preprocessing(size=32, min_side=64)
    with pytest.raises(ImageError, match="too small"):
        pre(Image.new("RGB", (40, 40)))
    pre = Preprocessing(size=32, max_pixels=1000)
    with pytest.raises(ImageError, match="decompression bomb"):
        pre(_save(Image.new("RGB", (40, 40)), "PNG"))


def _cast_image() -> np.ndarray:
    rng = np.random.default_rng(5)
    base = rng.integers(60, 200, (64, 64, 1)).astype(np.float32)
    cast = np.array([1.25, 0.9, 0.55], dtype=np.float32)  # warm (reddish) cast
    return np.clip(base * cast + rng.normal(0, 5, (64, 64, 3)), 0, 255).astype(np.uint8)


def test_shades_of_gray_reduces_colour_cast():
    arr = _cast_image()
    before = arr.reshape(-1, 3).mean(axis=0)
    after = shades_of_gray(arr).reshape(-1, 3).mean(axis=0)
    assert after.dtype == np.float64 and shades_of_gray(arr).dtype == np.uint8
    assert shades_of_gray(arr).shape == arr.shape
    assert np.ptp(after) < 0.5 * np.ptp(before)


def test_shades_of_gray_keeps_neutral_image_neutral():
    arr = np.full((16, 16, 3), 100, dtype=np.uint8)
    out = shades_of_gray(arr)
    assert np.ptp(out.reshape(-1, 3).mean(axis=0)) < 1.0


def _reference_shades_of_gray(arr: np.ndarray, power: float = 6.0) -> np.ndarray:
    """The per-pixel formula the table lookups replace (the pre-issue-24 code, verbatim)."""
    img = arr.astype(np.float32)
    illum = np.power(np.mean(np.power(img, power), axis=(0, 1)), 1.0 / power)
    illum = illum / max(float(np.sqrt(np.sum(illum ** 2))), 1e-6)
    gain = 1.0 / np.maximum(illum * np.sqrt(3.0), 1e-6)
    return np.clip(img * gain, 0, 255).astype(np.uint8)


def _reference_normalize(arr: np.ndarray, pre: Preprocessing) -> np.ndarray:
    x = arr.astype(np.float32) / 255.0
    x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


_LUT_CASES = {
    "cast": lambda: _cast_image(),
    "full_range": lambda: np.random.default_rng(1).integers(0, 256, (224, 224, 3), np.uint8),
    "dark": lambda: np.random.default_rng(2).integers(0, 4, (50, 70, 3), np.uint8),
    "saturated": lambda: np.full((9, 13, 3), (255, 250, 3), np.uint8),
    "black": lambda: np.zeros((8, 8, 3), np.uint8),
    "non_contiguous": lambda: np.random.default_rng(3).integers(0, 256, (40, 60, 3),
                                                                np.uint8)[::2, ::-3],
}


@pytest.mark.parametrize("case", sorted(_LUT_CASES))
@pytest.mark.parametrize("power", [6.0, 2.0])
def test_shades_of_gray_table_lookup_is_bit_identical(case: str, power: float) -> None:
    arr = _LUT_CASES[case]()
    out = shades_of_gray(arr, power)
    assert out.dtype == np.uint8 and out.shape == arr.shape
    assert np.array_equal(out, _reference_shades_of_gray(arr, power))


@pytest.mark.parametrize("case", sorted(_LUT_CASES))
def test_normalize_table_lookup_is_bit_identical(case: str) -> None:
    arr = _LUT_CASES[case]()
    pre = Preprocessing(size=8, mean=(0.5, 0.25, 0.125), std=(0.2, 0.3, 0.7))
    out = pre.normalize(arr)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.shape == (3, *arr.shape[:2])
    assert np.array_equal(out, _reference_normalize(arr, pre))


def test_preprocessing_of_real_photos_is_bit_identical(real_image_paths: list[Path]) -> None:
    pre = Preprocessing(size=224, color_constancy="shades_of_gray")
    assert len(real_image_paths) == 6
    for path in real_image_paths:
        resized = np.asarray(pre.resize(pre.load(path)), dtype=np.uint8)
        expected = _reference_normalize(_reference_shades_of_gray(resized), pre)
        assert np.array_equal(pre(path), expected), path


def test_preprocessing_colour_constancy_changes_model_view():
    img = Image.fromarray(_cast_image())
    plain = Preprocessing(size=32).model_view(img)
    sog = Preprocessing(size=32, color_constancy="shades_of_gray").model_view(img)
    assert sog.shape == plain.shape == (32, 32, 3)
    assert np.ptp(sog.reshape(-1, 3).mean(axis=0)) < 0.5 * np.ptp(plain.reshape(-1, 3).mean(axis=0))
