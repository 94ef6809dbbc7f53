"""Score unlabelled images: `python -m eval.predict --images DIR_OR_CSV --out predictions.csv`.

Every image below a folder (or listed in a CSV, with optional age/sex/site) gets the bundle's
probability, optionally 8-view TTA, and the decision at the bundle's threshold; an ensemble
(repeat `--bundle`) gives each member's probability too. The same preprocessing, metadata
encoding and runtimes as evaluation and the app, so a score here equals the app's.

Large runs: rows are appended to `--out` every `--chunk-size` images, a rerun skips the ids
already there (resume), and `--shard i/n` splits the images across processes or machines.
Inputs that cannot be scored (unreadable or missing files, unusable metadata) are listed with
the reason in `<out>.errors.csv` and never stop the run.
"""

from __future__ import annotations

import logging
import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from configs.cli import Command
from configs.evaluation import PredictSettings
from configs.process import runtime_summary
from data.readers import DatasetError
from data.unlabelled import Skipped, read_unlabelled
from eval.pipeline.diagnosis import class_columns, class_probabilities, model_classes
from eval.pipeline.errors import EvalError
from eval.pipeline.inference import Predictions, make_forward, predict
from eval.pipeline.inputs import decision_rule, load_second_stage, tta_for
from models.bundle.ensemble import (
    Combination,
    CompatibilityError,
    EnsembleError,
    check_compatibility,
)
from models.bundle.io import Bundle, BundleError
from models.bundle.loading import load_models
from models.inference.engine import ABOVE, BELOW
from models.inference.runtime import DeviceError, resolve_device
from models.second_stage.embedding import EmbeddingError
from models.second_stage.trees import TreeError

log = logging.getLogger("eval.predict")

ERRORS_SUFFIX = ".errors.csv"
TAIL_BLOCK = 64 * 1024  # bytes read at a time when looking for the last complete row
BAD_INPUT_ERRORS = (DatasetError, BundleError, CompatibilityError, EnsembleError, EvalError,
                    TreeError, EmbeddingError, DeviceError)


def errors_path(out: Path) -> Path:
    """Where the inputs that were not scored are listed, next to `out`."""
    return out.with_name(out.stem + ERRORS_SUFFIX)


def in_shard(image_id: str, shard: tuple[int, int]) -> bool:
    """Whether an image belongs to shard (i, n): a stable hash of its id, so the shards of one
    input never overlap, together cover it, and do not move when files are added."""
    index, count = shard
    return zlib.crc32(image_id.encode("utf-8")) % count == index


def drop_torn_tail(path: Path) -> int:
    """Cut a row that a killed run left half-written at the end of `path` (every complete
    row ends with a newline). Returns the number of bytes dropped."""
    if not path.is_file():
        return 0
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        keep = size
        while keep > 0:  # back to the last newline, one block at a time
            start = max(0, keep - TAIL_BLOCK)
            fh.seek(start)
            block = fh.read(keep - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            keep = start
        fh.truncate(keep)
    log.warning("%s: dropped a half-written last row (%d bytes) left by an interrupted run",
                path, size - keep)
    return size - keep


def done_ids(out: Path) -> set[str]:
    """Ids already written to `out` or to its errors file (a rerun skips them); a row that a
    killed run left half-written is dropped first, so that its image is scored again."""
    done: set[str] = set()
    for path in (out, errors_path(out)):
        drop_torn_tail(path)
        if path.is_file() and path.stat().st_size:
            done |= set(pd.read_csv(path, usecols=["image_id"], dtype=str)["image_id"])
    return done


def prediction_rows(rows: pd.DataFrame, preds: Predictions, bundles: list[Bundle],
                    combination: Combination, threshold: float | None) -> pd.DataFrame:
    """The output rows of one scored chunk: id, path, metadata, probability, decision (and a
    diagnosis model's `prob_class_<CLASS>` columns)."""
    kept = rows[preds.keep].reset_index(drop=True)
    out = kept[["image_id", "image_path", "age", "sex", "site"]].copy()
    out["probability"] = combination([m.prob for m in preds.members])
    if preds.tta:
        out["probability_no_tta"] = combination([m.plain for m in preds.members])
    if threshold is not None:
        out["threshold"] = threshold
        out["decision"] = np.where(out["probability"] >= threshold, ABOVE, BELOW)
    if len(bundles) > 1:
        for b, m in zip(bundles, preds.members, strict=True):
            out[f"probability_{b.bundle_id}"] = m.prob
    for name, values in class_columns(class_probabilities(preds), model_classes(bundles)).items():
        out[name] = values  # a diagnosis model's differential (mean over views and members)
    return out


def _append(frame: pd.DataFrame, path: Path) -> None:
    if frame.empty:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    empty = not path.is_file() or path.stat().st_size == 0
    frame.to_csv(path, mode="a", header=empty, index=False)


def _skipped_frame(skipped: list[Skipped]) -> pd.DataFrame:
    return pd.DataFrame([(s.image_id, s.where, s.reason) for s in skipped],
                        columns=["image_id", "where", "reason"])


def run(s: PredictSettings) -> dict[str, int]:
    """Score the images as the settings say, appending to `s.out`.

    Returns:
        Counts: ``scored`` (this run), ``skipped`` (this run), ``pending`` (before it).

    Raises:
        One of BAD_INPUT_ERRORS for bad input (message names the problem).
    """
    if s.num_threads:
        torch.set_num_threads(s.num_threads)
    log.info("runtime: %s", runtime_summary(torch.get_num_threads()))
    bundles, ensemble = load_models(s.bundle)
    table, skipped = read_unlabelled(s.images, s.metadata_csv)
    check_compatibility(bundles, table)
    combination, thresholds, _, default = decision_rule(bundles, ensemble, s.ensemble)
    threshold = thresholds.get(default)
    s = s.model_copy(update={"tta": tta_for(bundles, s.tta)[0]})
    stack = load_second_stage(s.second_stage, bundles)
    done = done_ids(s.out)
    mine = table["image_id"].map(lambda i: in_shard(i, s.shard_index) and i not in done)
    todo = table[mine.astype(bool)].reset_index(drop=True)
    skipped = [x for x in skipped if in_shard(x.image_id, s.shard_index)
               and x.image_id not in done]
    if done:
        log.info("resuming: %d images of %s already done", len(done), s.out)
    _append(_skipped_frame(skipped), errors_path(s.out))
    log.info("%d images to score (%d not scorable, listed in %s)", len(todo), len(skipped),
             errors_path(s.out).name)
    scored = 0
    # Built once: an engine runner costs a graph export, far more than one chunk's scoring.
    device = resolve_device(s.device)
    forwards = ([make_forward(b, s.backend, device, s.amp, s.precision, s.batch_size, s.tta)
                 for b in bundles] if len(todo) else None)
    for start in range(0, len(todo), s.chunk_size):
        rows = todo.iloc[start:start + s.chunk_size].reset_index(drop=True)
        try:
            preds = predict(bundles, rows, tta=s.tta, batch_size=s.batch_size,
                            num_workers=s.num_workers, on_bad_row="skip",
                            progress=s.progress, backend=s.backend, forwards=forwards,
                            device=device, prefetch_batches=s.prefetch)
        except EvalError as err:  # every image of the chunk unreadable
            preds = None
            failed = [Skipped(i, p, str(err)) for i, p in zip(rows["image_id"],
                                                               rows["image_path"], strict=True)]
        else:
            failed = [Skipped(rows["image_id"].iloc[i], rows["image_path"].iloc[i], reason)
                      for i, reason in zip(np.flatnonzero(~preds.keep), preds.failures,
                                           strict=True)]
        if preds is not None:
            out = prediction_rows(rows, preds, bundles, combination, threshold)
            if stack is not None and len(out):
                out["probability_second_stage"] = stack.score_table(
                    bundles[0], rows[preds.keep].reset_index(drop=True),
                    batch_size=s.batch_size, num_workers=s.num_workers)
            _append(out, s.out)
            scored += len(out)
        _append(_skipped_frame(failed), errors_path(s.out))
        skipped += failed
    return {"scored": scored, "skipped": len(skipped), "pending": len(todo)}


def show(s: PredictSettings, counts: dict[str, int]) -> None:
    """What was scored and where the rest is explained."""
    print(f"scored {counts['scored']} images -> {s.out}; not scored: "
          f"{counts['skipped']} (see {errors_path(s.out)})")


# OSError: e.g. an unreadable input, or --out not writable (worded as a failed write).
COMMAND = Command(PredictSettings, run, bad_input=(*BAD_INPUT_ERRORS, OSError),
                  writes_to=lambda s: s.out, show=show)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
