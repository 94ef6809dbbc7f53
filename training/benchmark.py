"""Training throughput benchmark: the full pipeline against the model's raw step rate.

`python -m training.benchmark [train flags]` measures, in one process and with the same model,
batch size, image size and memory format:
  1. the raw step rate: forward + backward + AdamW on synthetic tensors already in memory;
  2. the pipeline rate: `pl_train`'s own DataModule + LightningModule + Trainer on real images,
     over the same number of steps (validation excluded).
It prints both with their ratio (target: >= 0.8, i.e. data loading and Lightning are not the
bottleneck). Takes the same flags as `python -m training.pl_train`.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time

import lightning as L
import torch

from configs.cli import Command
from configs.process import runtime_summary
from configs.training import TrainSettings
from training.components.fit import TRAINING_ERRORS, build_datamodule, build_module

log = logging.getLogger("training.benchmark")
WARMUP_STEPS = 3
MEASURED_STEPS = 20


class _StepTimer(L.Callback):
    """Wall time of each training batch, including the wait for its data."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last: float | None = None
        self.batch_size = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batch_size = batch[0].shape[0]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now


def raw_step_rate(module: L.LightningModule, batch_size: int, size: int, meta_dim: int,
                  steps: int) -> float:
    """Images/s of forward+backward+AdamW on in-memory tensors (median step time)."""
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    image = torch.randn(batch_size, 3, size, size)
    meta = torch.randn(batch_size, max(meta_dim, 1))
    target = (torch.rand(batch_size) < 0.2).float()
    times = []
    for step in range(WARMUP_STEPS + steps):
        start = time.perf_counter()
        loss = module.criterion(module(image, meta), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= WARMUP_STEPS:
            times.append(time.perf_counter() - start)
    return batch_size / statistics.median(times)


def measure(s: TrainSettings) -> None:
    """Run both measurements and print them."""
    L.seed_everything(s.seed, workers=True)
    if s.num_threads:
        torch.set_num_threads(s.num_threads)
    dm = build_datamodule(s)
    module = build_module(s, dm)
    raw = raw_step_rate(module, s.batch_size, s.image_size, dm.encoder.dim, MEASURED_STEPS)
    timer = _StepTimer()
    trainer = L.Trainer(max_epochs=1, accelerator=s.accelerator, devices=1, precision=s.precision,
                        limit_train_batches=WARMUP_STEPS + MEASURED_STEPS + 1,
                        limit_val_batches=0, callbacks=[timer], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(build_module(s, dm), datamodule=dm)
    pipeline = timer.batch_size / statistics.median(timer.times[WARMUP_STEPS:])
    print(f"backbone={s.backbone} image_size={s.image_size} batch_size={s.batch_size} "
          f"num_workers={s.num_workers} threads={torch.get_num_threads()} "
          f"channels_last={s.channels_last}")
    print(f"runtime: {runtime_summary(torch.get_num_threads())}")
    print(f"raw step rate (synthetic tensors, median of {MEASURED_STEPS}): {raw:.1f} img/s")
    print(f"pipeline rate (real images, Lightning, median of "
          f"{len(timer.times) - WARMUP_STEPS}): {pipeline:.1f} img/s")
    print(f"ratio pipeline/raw: {pipeline / raw:.2f}")


COMMAND = Command(TrainSettings, measure, bad_input=TRAINING_ERRORS, errors="log",
                  log_level=logging.WARNING)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
