"""Tests for models.explain.overlay: correct colours, no uint8 wrap-around, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from models.explain.overlay import blend_table, colorize, colormap_lut, overlay

S = 32


def _jet(value: float) -> np.ndarray:
    return np.asarray(colormaps["jet"](value)[:3]) * 255.0


def _image(value: int) -> np.ndarray:
    return np.full((S, S, 3), value, dtype=np.uint8)


def test_zero_heat_gives_the_colormaps_low_colour_blended():
    out = overlay(_image(255), np.zeros((S, S), np.float32), alpha=0.5)
    expected = 0.5 * 255 + 0.5 * _jet(0.0)  # jet(0) is dark blue (0, 0, 0.5)
    assert out.dtype == np.uint8 and out.shape == (S, S, 3)
    assert np.abs(out.reshape(-1, 3).astype(float) - expected).max() <= 0.5
    assert tuple(out[0, 0]) == (128, 128, 191)


def test_full_heat_gives_the_colormaps_high_colour_blended():
    out = overlay(_image(0), np.ones((S, S), np.float32), alpha=0.4)
    expected = 0.4 * _jet(1.0)  # jet(1) is dark red (0.5, 0, 0)
    assert np.abs(out.reshape(-1, 3).astype(float) - expected).max() <= 0.5
    assert out[0, 0, 0] > out[0, 0, 1] and out[0, 0, 0] > out[0, 0, 2]  # red dominates


def test_white_image_stays_bright_everywhere_no_wraparound():
    # The known bug: uint8 image + uint8 heatmap wraps past 255 and turns white into dark.
    heat = np.linspace(0, 1, S * S, dtype=np.float32).reshape(S, S)
    for alpha in (0.2, 0.5, 0.8):
        out = overlay(_image(255), heat, alpha=alpha).astype(int)
        assert out.min() >= round((1 - alpha) * 255) - 1
        low = out[0, 0]
        assert low.min() >= round((1 - alpha) * 255) - 1 and low.max() <= 255


def test_black_image_never_exceeds_the_heat_contribution():
    heat = np.linspace(0, 1, S * S, dtype=np.float32).reshape(S, S)
    out = overlay(_image(0), heat, alpha=0.3).astype(int)
    assert out.max() <= round(0.3 * 255) + 1


def test_blend_matches_float_reference_on_a_real_like_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    heat = rng.random((S, S)).astype(np.float32)
    out = overlay(img, heat, alpha=0.5)
    ref = 0.5 * img + 0.5 * colormaps["jet"](heat)[..., :3] * 255
    # LUT quantisation of the heat to 256 levels: at most a couple of levels off.
    assert np.abs(out.astype(float) - ref).max() <= 3.0


def test_alpha_extremes():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    heat = rng.random((S, S)).astype(np.float32)
    np.testing.assert_array_equal(overlay(img, heat, alpha=0.0), img)
    np.testing.assert_array_equal(overlay(img, heat, alpha=1.0),
                                  np.rint(colorize(heat)).astype(np.uint8))


def test_out_of_range_and_nan_heat_are_clipped():
    heat = np.array([[-1.0, 2.0], [np.nan, 0.5]], dtype=np.float32)
    out = overlay(np.full((2, 2, 3), 100, np.uint8), heat, alpha=1.0).astype(float)
    np.testing.assert_allclose(out[0, 0], np.rint(_jet(0.0)))
    np.testing.assert_allclose(out[0, 1], np.rint(_jet(1.0)))
    np.testing.assert_allclose(out[1, 0], np.rint(_jet(0.0)))


def test_other_colormaps_and_unknown_name():
    out = overlay(_image(0), np.ones((S, S), np.float32), alpha=1.0, colormap="gray")
    assert tuple(out[0, 0]) == (255, 255, 255)
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap_lut("no-such-map")


@pytest.mark.parametrize("img,heat,alpha,match", [
    (np.zeros((S, S), np.uint8), np.zeros((S, S)), 0.5, "must be"),
    (np.zeros((S, S, 3), np.uint8), np.zeros((S, S + 1)), 0.5, "does not match"),
    (np.zeros((S, S, 3), np.uint8), np.zeros((S, S)), 1.5, "alpha"),
])
def test_bad_arguments(img, heat, alpha, match):
    with pytest.raises(ValueError, match=match):
        overlay(img, heat, alpha=alpha)


def test_lut_is_read_only():
    with pytest.raises(ValueError):
        colormap_lut("jet")[0, 0] = 1.0


def _per_pixel(img: np.ndarray, heat: np.ndarray, alpha: float, colormap: str) -> np.ndarray:
    """The documented formula, per pixel in float32 (what the table must reproduce)."""
    blended = (1.0 - alpha) * img.astype(np.float32) + alpha * colorize(heat, colormap)
    return np.rint(np.clip(blended, 0.0, 255.0)).astype(np.uint8)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.65, 1.0])
@pytest.mark.parametrize("colormap", ["jet", "viridis"])
def test_table_path_is_bit_identical_to_the_per_pixel_formula(alpha, colormap):
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    heat = rng.random((64, 48)).astype(np.float32)
    heat[0, :3] = (np.nan, -0.5, 1.5)
    np.testing.assert_array_equal(overlay(img, heat, alpha, colormap),
                                  _per_pixel(img, heat, alpha, colormap))


def test_every_level_and_colour_pair_matches_the_formula():
    # all 256 x 256 (image level, heat index) pairs at once, in every channel
    img = np.repeat(np.arange(256, dtype=np.uint8), 256)[:, None, None].repeat(3, axis=2)
    heat = np.tile(np.arange(256, dtype=np.float32) / 255.0, 256)[:, None]
    np.testing.assert_array_equal(overlay(img, heat, 0.5), _per_pixel(img, heat, 0.5, "jet"))


def test_non_uint8_image_takes_the_per_pixel_path():
    img = np.full((S, S, 3), 300.0, np.float32)  # out of uint8 range: clipped, not wrapped
    out = overlay(img, np.zeros((S, S), np.float32), alpha=0.0)
    assert out.dtype == np.uint8 and (out == 255).all()


def test_blend_table_is_read_only():
    with pytest.raises(ValueError):
        blend_table(0.5, "jet")[0, 0] = 1
