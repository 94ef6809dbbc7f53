"""Issue 23: the app's full analysis (8 TTA views + every CAM layer + the overlays) of model B
(a bundle or an ensemble folder) against model A, each served as the app serves it
(`load_engine`, `--precision auto` by default), in one process, interleaved image by image (the
order alternates), on the same real images; medians and the median of the paired ratios B / A.

Usage (whole machine):
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=. \
  python docs/experiments/issue23/analysis_timing.py A B [--n 40] [--rounds 3]
    [--backend openvino] [--precision auto] [--images DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from configs.benchmark import DEFAULT_BENCH_IMAGES
from eval.benchmark import pick_images
from models.inference.ensemble_engine import load_engine
from models.inference.runtime import machine_info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--images", type=Path, default=DEFAULT_BENCH_IMAGES)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--backend", default="openvino")
    ap.add_argument("--precision", default="auto")
    a = ap.parse_args()
    engines = {name: load_engine(path, backend=a.backend, precision=a.precision)
               for name, path in (("A", a.a), ("B", a.b))}
    for name, e in engines.items():
        print(f"{name}: {e.bundle_id} backend {e.backend} precision {e.precision}")
    images = pick_images(a.images, a.n)

    def analyse(name: str, item) -> float:
        start = time.perf_counter()
        engines[name].analyze(*item).overlays()
        return (time.perf_counter() - start) * 1000.0

    for item in images[:a.warmup]:
        for name in engines:
            analyse(name, item)
    rounds = []
    for r in range(a.rounds):
        times = {name: [] for name in engines}
        for i, item in enumerate(images):
            order = list(engines) if (i + r) % 2 == 0 else list(engines)[::-1]
            for name in order:
                times[name].append(analyse(name, item))
        p50 = {name: statistics.median(t) for name, t in times.items()}
        ratio = statistics.median(b / a for a, b in zip(times["A"], times["B"]))
        rounds.append({"round": r + 1, "p50_ms": p50, "paired_ratio_median": ratio})
        print(f"round {r + 1}: A p50 {p50['A']:.1f} ms, B p50 {p50['B']:.1f} ms, B / A paired "
              f"median {ratio:.3f}")
    print(json.dumps({"machine": machine_info(), "images": str(a.images), "n": len(images),
                      "rounds": rounds}, indent=1, default=str))


if __name__ == "__main__":
    main()
