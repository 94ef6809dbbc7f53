"""Issue 24, session 12: why the engine's 8-view forward (eval.benchmark's `forward` stage,
~29 ms on the Zen 4) is slower than the same OpenVINO request timed alone (static_shape.py,
~22 ms). Times, in one process on the shipped default (`auto`):

  analyze   the `forward` stage inside `Engine.analyze` (preprocessing, views, CAM around it)
  runner    the engine's runner called in a tight loop on the same prepared views
  runner+t  the same, with the torch work `analyze` does before the forward (the 8 dihedral
            views of the image) between the calls

Run it under each OpenMP wait policy to see whether torch's idle OpenMP threads, spinning after
the views are built, take the cores OpenVINO's threads need:

    for w in "" PASSIVE; do OMP_WAIT_POLICY=$w PYTHONPATH=. python \
        docs/experiments/issue24/forward_gap.py; done
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch

from configs.base import DEFAULT_BUNDLE_DIR, REPO_ROOT
from models.inference.engine import Engine
from models.inference.tta import dihedral_views

N = 40


def main() -> None:
    engine = Engine.from_path(DEFAULT_BUNDLE_DIR)
    image = sorted((REPO_ROOT / "app" / "examples").glob("*.jpg"))[0]  # a real HAM10000 image
    for _ in range(5):
        engine.analyze(image)
    analyze = [engine.analyze(image).timings_ms["forward"] for _ in range(N)]
    p = engine.prepare(image)
    single = torch.from_numpy(p.image[None])
    views = dihedral_views(single).numpy()
    meta = None if p.meta is None else np.repeat(p.meta[None], len(views), axis=0)
    runner = engine._runner  # noqa: SLF001 (a measurement of the engine's own runner)

    def loop(with_torch: bool) -> list[float]:
        out = []
        for _ in range(N):
            if with_torch:
                dihedral_views(torch.from_numpy(p.image[None])).numpy()
            t0 = time.perf_counter()
            runner(views, meta, with_activations=True)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    tight, with_t = loop(False), loop(True)
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} backend "
          f"{engine.backend} {engine.precision} torch threads {torch.get_num_threads()}: "
          f"forward p50 ms: analyze {statistics.median(analyze):.1f}, runner "
          f"{statistics.median(tight):.1f}, runner+torch views {statistics.median(with_t):.1f}")


if __name__ == "__main__":
    main()
