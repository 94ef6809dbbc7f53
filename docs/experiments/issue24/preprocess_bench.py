"""Preprocessing per image, the per-pixel formulas (before) against the table lookups of
`data.images` (after), in one process, alternating, on real JPEGs: decode, resize, Shades of
Gray and normalisation timed separately; medians of per-image times. Also checks that both give
bit-identical tensors. Usage: python preprocess_bench.py IMAGE_DIR [N]"""
import sys, time
from pathlib import Path
import numpy as np
from data.images import Preprocessing, shades_of_gray


def sog_before(arr, power=6.0):
    img = arr.astype(np.float32)
    illum = np.power(np.mean(np.power(img, power), axis=(0, 1)), 1.0 / power)
    illum = illum / max(float(np.sqrt(np.sum(illum ** 2))), 1e-6)
    gain = 1.0 / np.maximum(illum * np.sqrt(3.0), 1e-6)
    return np.clip(img * gain, 0, 255).astype(np.uint8)


def normalize_before(arr, pre):
    x = arr.astype(np.float32) / 255.0
    x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def ms(f, *a):
    t = time.perf_counter(); r = f(*a); return r, (time.perf_counter() - t) * 1e3


pre = Preprocessing(size=224, color_constancy="shades_of_gray")
paths = sorted(Path(sys.argv[1]).glob("*.jpg"))[: int(sys.argv[2]) if len(sys.argv) > 2 else 300]
t = {k: [] for k in ("decode", "resize", "sog_before", "sog_after", "norm_before", "norm_after")}
for p in paths:
    img, dt = ms(pre.load, p); t["decode"].append(dt)
    small, dt = ms(pre.resize, img); t["resize"].append(dt)
    arr = np.asarray(small, dtype=np.uint8)
    a, dt = ms(sog_before, arr); t["sog_before"].append(dt)
    b, dt = ms(shades_of_gray, arr); t["sog_after"].append(dt)
    assert np.array_equal(a, b), p
    x, dt = ms(normalize_before, a, pre); t["norm_before"].append(dt)
    y, dt = ms(pre.normalize, b); t["norm_after"].append(dt)
    assert np.array_equal(x, y), p
med = {k: float(np.median(v)) for k, v in t.items()}
print(f"{len(paths)} images from {sys.argv[1]}, median ms per image, bit-identical: yes")
for k, v in med.items():
    print(f"  {k:12s} {v:.3f}")
before = med["decode"] + med["resize"] + med["sog_before"] + med["norm_before"]
after = med["decode"] + med["resize"] + med["sog_after"] + med["norm_after"]
print(f"  total before {before:.2f} ms, after {after:.2f} ms, after/before {after / before:.2f}")
print(f"  Shades of Gray after/before {med['sog_after'] / med['sog_before']:.2f}, "
      f"normalisation after/before {med['norm_after'] / med['norm_before']:.2f}")
