"""Continuing a cut-off run: which checkpoint to resume, and keeping its earlier epochs' logs.

A run started with `--run-name NAME` that was killed (or lost its machine) before writing its
bundle is continued by the same command: it resumes from the run folder's own `last.ckpt`
(saved at the end of every epoch). Lightning's CSV logger deletes `metrics.csv` when it starts
in a non-empty folder, so the earlier rows are set aside first and merged back after training;
`resumes.json` records every resume, and the bundle's `training.resumes` repeats it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from models.bundle.atomic import atomic_write_text
from models.bundle.io import META_FILE

log = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.ckpt"
METRICS_FILE = "metrics.csv"
RESUMES_FILE = "resumes.json"
PART_GLOB = "metrics.part*.csv"


def resume_checkpoint(run_dir: Path, explicit: Path | None, named: bool,
                      auto: bool) -> Path | None:
    """The checkpoint to continue from, or None for a fresh start.

    Args:
        run_dir: the run folder.
        explicit: `--resume-from`, which always wins.
        named: whether the folder name came from `--run-name` (a timestamped name is new each
            time, so there is nothing of "the same command" to continue).
        auto: `--auto-resume`.
    """
    if explicit is not None:
        return explicit
    last = run_dir / "checkpoints" / LAST_CHECKPOINT
    if not (named and auto and last.is_file()):
        return None
    if (run_dir / "bundle" / META_FILE).is_file():
        return None  # a finished run: the same command trains it again from the start
    try:
        checkpoint_epoch(last)
    except Exception as err:  # noqa: BLE001 (any damage means: do not continue from it)
        log.warning("%s cannot be read (%s): starting %s over", last, type(err).__name__,
                    run_dir.name)
        return None
    log.warning("resuming %s from %s: this --run-name stopped before writing its bundle "
                "(--no-auto-resume starts over)", run_dir.name, last)
    return last


def checkpoint_epoch(path: Path) -> int:
    """The epochs a checkpoint had completed (our own file: tensors and plain values only)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return int(ckpt.get("epoch", -1)) + 1


def prepare(run_dir: Path, checkpoint: Path) -> None:
    """Before the logger starts: set the earlier `metrics.csv` aside and record the resume."""
    current = run_dir / METRICS_FILE
    if current.is_file():
        part = run_dir / f"metrics.part{len(list(run_dir.glob(PART_GLOB))):03d}.csv"
        current.rename(part)
    entry = {"checkpoint": str(checkpoint), "epochs_done": checkpoint_epoch(checkpoint),
             "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    history = resumes(run_dir) + [entry]
    atomic_write_text(run_dir / RESUMES_FILE, json.dumps(history, indent=2) + "\n")


def start_fresh(run_dir: Path) -> None:
    """A run that starts from scratch (in a folder that may hold an older run): forget the
    older run's resumes and set-aside logs, so the new bundle does not claim them."""
    (run_dir / RESUMES_FILE).unlink(missing_ok=True)
    for part in run_dir.glob(PART_GLOB):
        part.unlink()


def resumes(run_dir: Path) -> list[dict[str, Any]]:
    """Every resume of this run folder so far (empty for a run that never resumed)."""
    path = run_dir / RESUMES_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def merge_metrics(run_dir: Path) -> None:
    """After training: one `metrics.csv` of every epoch, in order. Rows of an earlier attempt
    for epochs that a later one trained again are dropped (the later ones count)."""
    parts = sorted(run_dir.glob(PART_GLOB))
    if not parts:
        return
    current = run_dir / METRICS_FILE
    frames = [pd.read_csv(p) for p in parts]
    if current.is_file():
        frames.append(pd.read_csv(current))
    kept = []
    for i, frame in enumerate(frames):
        later = [f["epoch"].min() for f in frames[i + 1:] if len(f) and "epoch" in f]
        cut = min(later) if later else None
        kept.append(frame if cut is None or "epoch" not in frame else frame[frame["epoch"] < cut])
    merged = pd.concat(kept, ignore_index=True)
    atomic_write_text(current, merged.to_csv(index=False))
    for part in parts:
        part.unlink()
