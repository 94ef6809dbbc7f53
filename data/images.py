"""Image decoding and preprocessing: the one definition used by training, evaluation and the app.

`load_image` turns any odd-but-valid file (EXIF-rotated, RGBA/LA/P with transparency, grayscale,
CMYK, 16-bit, very large) into an 8-bit RGB PIL image, and rejects bad input (not an image,
truncated, decompression bomb, too small) with an `ImageError` that says which file and why.
`Preprocessing` holds every parameter of the image->tensor step and is stored in the model
bundle, so no consumer re-implements it.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from data import hdf5_images

DEFAULT_MAX_PIXELS = 50_000_000  # ~8k x 6k; larger is treated as a decompression bomb
DEFAULT_MIN_SIDE = 32  # below this a dermoscopy image carries no usable detail
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_WHITE = (255, 255, 255)
_INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                   "lanczos": Image.Resampling.LANCZOS, "nearest": Image.Resampling.NEAREST}
ColorConstancy = Literal["none", "shades_of_gray"]
"""Colour normalisation before resizing; part of a bundle's preprocessing."""
_COLOR_CONSTANCY: tuple[str, ...] = get_args(ColorConstancy)

ImageSource = str | os.PathLike | bytes | Image.Image


class ImageError(ValueError):
    """An image cannot be used; the message names the file and the reason."""


def _name(source: ImageSource) -> str:
    if hdf5_images.is_reference(source):
        return hdf5_images.split_reference(source)[1]
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    if isinstance(source, Image.Image):
        return "image"
    return "uploaded image"


def _to_rgb8(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, compositing transparency onto white."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit sources use the full 0..65535 range; 32-bit int/float ones may not.
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(np.round(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return img


def image_size(source: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels.

    Raises:
        ImageError: not a readable image.
    """
    name = _name(source)
    try:
        if hdf5_images.is_reference(source):
            with Image.open(io.BytesIO(hdf5_images.read_bytes(source))) as img:
                return img.size
        with Image.open(source) as img:
            return img.size
    except (OSError, UnidentifiedImageError, FileNotFoundError) as err:
        raise ImageError(f"{name}: cannot read the image header ({err})") from None


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               min_side: int = DEFAULT_MIN_SIDE, draft_size: int | None = None) -> Image.Image:
    """Decode an image into 8-bit RGB with EXIF orientation applied.

    Args:
        source: a path, an HDF5 image reference (`<file.hdf5>::<id>`, `data.hdf5_images`),
            raw bytes, or an already opened PIL image.
        max_pixels: pixel cap checked from the header before decoding (decompression bombs).
        min_side: minimum width and height after decoding.
        draft_size: if set, JPEGs much larger than this are decoded at a reduced scale (still
            at least this size), which makes very large photos fast to load.

    Returns:
        An RGB PIL image (fully loaded; the file is closed).

    Raises:
        ImageError: not an image, corrupt/truncated, too many pixels, or too small.
    """
    name = _name(source)
    try:
        if isinstance(source, Image.Image):
            img = source
        elif isinstance(source, bytes):
            img = Image.open(io.BytesIO(source))
        elif hdf5_images.is_reference(source):
            try:
                img = Image.open(io.BytesIO(hdf5_images.read_bytes(source)))
            except FileNotFoundError as err:
                raise ImageError(f"{name}: {err}") from None
        else:
            if not os.path.exists(source):
                raise ImageError(f"{name}: file not found ({source})")
            img = Image.open(source)
        width, height = img.size
        if width * height > max_pixels:
            raise ImageError(f"{name}: {width}x{height} = {width * height:,} pixels exceeds the "
                             f"limit of {max_pixels:,} (possible decompression bomb)")
        if draft_size and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
        img = ImageOps.exif_transpose(img)
        img = _to_rgb8(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a recognised image file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name}: rejected as a possible decompression bomb ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{name}: cannot be decoded, the file is corrupt or truncated "
                         f"({err})") from None
    if min(img.size) < min_side:
        raise ImageError(f"{name}: {img.size[0]}x{img.size[1]} is too small (each side must be "
                         f"at least {min_side} px)")
    return img


@functools.lru_cache(maxsize=8)
def _power_table(power: float) -> np.ndarray:
    """float32 v**power for every uint8 value v: what `np.power` gives each pixel, looked up."""
    return np.power(np.arange(256, dtype=np.float32), power)


def _sog_gain(img_power_mean: np.ndarray, power: float) -> np.ndarray:
    """Per-channel gain that makes the Minkowski p-norm illuminant neutral grey."""
    illum = np.power(img_power_mean, 1.0 / power)
    illum = illum / max(float(np.sqrt(np.sum(illum ** 2))), 1e-6)
    return 1.0 / np.maximum(illum * np.sqrt(3.0), 1e-6)


def _apply_gain(x: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Float values (channels last) times the per-channel gain, as uint8."""
    return np.clip(x * gain, 0, 255).astype(np.uint8)


def shades_of_gray(arr: np.ndarray, power: float = 6.0) -> np.ndarray:
    """Shades of Gray colour constancy (Finlayson & Trezzi 2004), uint8 HWC in and out.

    Estimates the illuminant per channel as the Minkowski p-norm mean and rescales each
    channel so the illuminant becomes neutral grey; reduces camera/clinic colour casts.
    A uint8 image has 256 values per channel, so both per-pixel steps (the p-th power, the
    gain) are table lookups with the same float32 arithmetic: bit-identical to computing them
    on every pixel (tests/data/test_images.py); 1.46 -> 1.27 ms on a 224-px image, the float32
    mean being most of what is left (BENCHMARKS.md).
    """
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        img = arr.astype(np.float32)
        return _apply_gain(img, _sog_gain(np.mean(np.power(img, power), axis=(0, 1)), power))
    gain = _sog_gain(np.mean(_power_table(power)[arr], axis=(0, 1)), power)
    table = _apply_gain(np.arange(256, dtype=np.float32)[:, None], gain)
    # PIL applies a per-band table (256 entries per band, band after band) in C
    return np.asarray(Image.fromarray(arr).point(table.T.ravel().tolist()))


@dataclass(frozen=True)
class Preprocessing:
    """Every parameter of image -> model tensor. Serialised into the model bundle.

    The image is resized to exactly size x size (no crop), so a CAM computed on the model input
    maps back onto the whole photo without offsets.
    """

    size: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    color_constancy: str = "none"
    sog_power: float = 6.0
    resize_mode: str = "squash"
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation {self.interpolation!r} is not one of "
                             f"{sorted(_INTERPOLATIONS)}")
        if self.color_constancy not in _COLOR_CONSTANCY:
            raise ValueError(f"color_constancy {self.color_constancy!r} is not one of "
                             f"{_COLOR_CONSTANCY}")
        if self.resize_mode != "squash":
            raise ValueError(f"resize_mode {self.resize_mode!r} is not supported (only 'squash')")

    def load(self, source: ImageSource) -> Image.Image:
        """Decode `source` with this preprocessing's safety limits (see `load_image`)."""
        return load_image(source, max_pixels=self.max_pixels, min_side=self.min_side,
                          draft_size=2 * self.size)

    def resize(self, img: Image.Image) -> Image.Image:
        """Resize to size x size with the configured filter (no crop)."""
        return img.resize((self.size, self.size), _INTERPOLATIONS[self.interpolation])

    def finish(self, arr: np.ndarray) -> np.ndarray:
        """Colour steps applied to every sized uint8 HWC image, in training and inference."""
        if self.color_constancy == "shades_of_gray":
            return shades_of_gray(arr, self.sog_power)
        return arr

    def model_view(self, img: Image.Image) -> np.ndarray:
        """The exact RGB uint8 image (size x size x 3) the model sees, before normalisation."""
        return self.finish(np.asarray(self.resize(img), dtype=np.uint8))

    def normalize(self, arr: np.ndarray) -> np.ndarray:
        """uint8 HWC (or NHWC) -> normalised float32 CHW (or NCHW).

        A uint8 image goes through a per-channel table of its 256 normalised values (the
        same float32 arithmetic, so bit-identical, written straight into CHW order).
        """
        if arr.dtype == np.uint8 and arr.ndim == 3:
            table = self._normalize_table()
            out = np.empty((arr.shape[2], *arr.shape[:2]), dtype=np.float32)
            for c in range(arr.shape[2]):
                out[c] = table[arr[..., c], c]
            return out
        return np.ascontiguousarray(np.moveaxis(self._scaled(arr.astype(np.float32)), -1, -3))

    def _normalize_table(self) -> np.ndarray:
        """(256, 3) float32: the normalised value of each uint8 value, per channel."""
        return self._scaled(np.arange(256, dtype=np.float32)[:, None])

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        """float32 pixel values 0-255 (channels last) -> ImageNet-style normalised values."""
        return (x / 255.0 - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def __call__(self, source: ImageSource) -> np.ndarray:
        """Load and preprocess one image to a float32 CHW array."""
        return self.normalize(self.model_view(self.load(source)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """Inverse of `to_dict`; unknown keys are an error (a newer bundle format)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"preprocessing has unknown keys {sorted(unknown)}")
        d = dict(d)
        d["mean"], d["std"] = tuple(d.get("mean", IMAGENET_MEAN)), tuple(d.get("std", IMAGENET_STD))
        return cls(**d)
