"""A process of the two-process ScoreCollector test.

In its own module because spawned children import the target by name: importing the test
module instead would import lightning before `training` has applied the torchvision shim.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from training.components.module import ScoreCollector


def collect_on_rank(rank: int, world: int, port: int, out_dir: str) -> None:
    """Update this rank's shard of 5 rows, gather, and save what `compute` returns."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        scores = ScoreCollector()
        # DistributedSampler order: rank r gets rows r, r + world, ...; 5 rows over 2 ranks ->
        # rank 1 is padded with row 0 again.
        rows = [0, 2, 4] if rank == 0 else [1, 3, 0]
        scores.update(torch.tensor(rows, dtype=torch.float64) / 10, torch.tensor(rows) % 2,
                      torch.tensor(rows))
        np.savez(Path(out_dir) / f"rank{rank}.npz", **scores.compute())
    finally:
        dist.destroy_process_group()
