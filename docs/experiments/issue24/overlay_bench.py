"""Issue 24, session 14: the app's five heatmap overlays by the per-pixel float32 formula
against the table (`models.explain.overlay.blend_table`), in one process, alternating, on
a real 224-px model view and the shipped default's five EigenCAM maps. Prints medians and
checks the two outputs are equal. Usage: python overlay_bench.py [--reps 200]"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from models.explain.overlay import _blend, colorize, overlay
from models.inference.engine import Engine


def per_pixel(view: np.ndarray, heat: np.ndarray) -> np.ndarray:
    return _blend(view, colorize(heat), 0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="models/default")
    ap.add_argument("--image", default=None)
    ap.add_argument("--reps", type=int, default=200)
    a = ap.parse_args()
    image = a.image or sorted(Path("app/examples").glob("*.jpg"))[0]
    analysis = Engine.from_path(a.bundle, backend="openvino").analyze(image)
    view, heats = analysis.model_view, [c.heatmap for c in analysis.cams]
    for h in heats:
        assert np.array_equal(per_pixel(view, h), overlay(view, h)), "outputs differ"
    times: dict[str, list[float]] = {"per-pixel": [], "table": []}
    for _ in range(a.reps):
        for name, fn in (("per-pixel", per_pixel), ("table", overlay)):
            t = time.perf_counter()
            for h in heats:
                fn(view, h)
            times[name].append((time.perf_counter() - t) * 1000.0)
    p, t = (statistics.median(times[k]) for k in ("per-pixel", "table"))
    print(f"{len(heats)} overlays of {view.shape[0]} px, median of {a.reps}: per-pixel {p:.2f} ms,"
          f" table {t:.2f} ms, table/per-pixel {t / p:.2f}; outputs identical")


if __name__ == "__main__":
    main()
