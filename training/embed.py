"""Image embeddings for the second stage: `python -m training.embed --bundle B --data D`.

Per image: id, group, label, metadata, source, the fold, and for each bundle (member ``m<i>``)
its probability, whether that probability is out-of-fold (the bundle never trained on the
image) and its pooled backbone features (``m<i>_emb_<j>``), from the bundle's own
preprocessing and metadata encoding; and the image's colour/shape statistics (``img_*``,
`models.second_stage.features`) measured on member 0's model view, as the app measures them.
``prob`` is the mean of the out-of-fold members'
probabilities (NaN where every member trained on the image): the only CNN score the trees may
use as a feature without leaking labels.

Folds are those the bundles were trained with (their recorded n_folds, seed and
stratification, assigned to the table exactly as `pl_train` assigns them), so the trees can
reuse them. With ``--unseen`` (an external set no bundle trained on) every probability is
out-of-fold and no fold is recorded (the trees assign their own). Finished chunks are kept in
``<out>.parts/``: a
rerun resumes there; the Parquet file is written at the end.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from configs.cli import Command
from configs.second_stage import EmbedSettings
from data.folds import FoldError, assign_folds
from data.multisource import DatasetSpec, dataset_specs, read_sources
from data.readers import DatasetError
from data.readers.isic2024 import read_tbp
from models.bundle.atomic import atomic_write_text
from models.bundle.ensemble import EnsembleError
from models.bundle.io import Bundle, BundleError
from models.bundle.loading import load_models
from models.inference.runtime import DeviceError, resolve_device
from models.second_stage.embedding import EmbeddingError, embed_rows
from models.second_stage.features import IMAGE_STAT_COLUMNS

log = logging.getLogger(__name__)

KEEP_COLUMNS = ("image_id", "image_path", "group_id", "group_kind", "target", "diagnosis",
                "age", "sex", "site", "source")


class EmbedError(ValueError):
    """Embedding cannot proceed as asked; the message says why."""


def fold_plan(bundles: list[Bundle], unseen: bool) -> dict[str, Any]:
    """The folds the bundles were trained with, checked to agree across members.

    Returns:
        {"n_folds", "seed", "stratify_by", "member_folds"} (member_folds: each member's
        validation fold, None with `unseen`).

    Raises:
        EmbedError: members without recorded folds (and not `unseen`), or disagreeing.
    """
    if unseen:  # no CNN folds to keep: the trees draw their own
        return {"n_folds": None, "seed": None, "stratify_by": None,
                "member_folds": [None] * len(bundles)}
    plans = set()
    for b in bundles:
        td = b.info.get("training_data") or {}
        if td.get("val_sources") or not {"fold", "n_folds", "seed"} <= set(td):
            raise EmbedError(f"bundle {b.bundle_id} records no training fold: pass --unseen "
                             "if none of these images trained it")
        plans.add((td["n_folds"], td["seed"], td.get("stratified_by", "target")))
    if len(plans) > 1:
        raise EmbedError(f"the bundles were trained on different fold plans {sorted(plans)}")
    n_folds, seed, stratify_by = plans.pop()
    return {"n_folds": n_folds, "seed": seed, "stratify_by": stratify_by,
            "member_folds": [int(b.info["training_data"]["fold"]) for b in bundles]}


def read_table(s: EmbedSettings, plan: dict[str, Any], bundles: list[Bundle]) -> pd.DataFrame:
    """The canonical table with folds assigned as in training (checked against its size)."""
    specs = dataset_specs(s.data, s.data_format, s.images)
    exclude = [DatasetSpec(p) for p in s.exclude_data]
    assign = None if s.unseen else functools.partial(
        assign_folds, n_folds=plan["n_folds"], seed=plan["seed"],
        stratify_by=plan["stratify_by"])
    df = read_sources(specs, on_error=s.on_bad_row, exclude=exclude,
                      near_copy_similarity=s.exclude_near_copies, assign=assign)
    df = with_tbp(df, specs)
    if not s.unseen:
        for b in bundles:
            n = (b.info.get("training_data") or {}).get("n_images")
            if n is not None and n != len(df):
                raise EmbedError(f"bundle {b.bundle_id} was trained on {n} images, this data "
                                 f"has {len(df)}: not its training data (pass --unseen for an "
                                 "external set)")
    return df


def with_tbp(df: pd.DataFrame, specs: list[DatasetSpec]) -> pd.DataFrame:
    """`df` plus the TBP measurements of its ISIC 2024 datasets (by image id), if any."""
    fmts = [d["format"] for d in df.attrs.get("datasets", [])]
    tables = [read_tbp(spec.path) for spec, fmt in zip(specs, fmts, strict=False)
              if fmt == "isic2024"]
    tables = [t for t in tables if len(t.columns) > 1]
    if not tables:
        return df
    tbp = pd.concat(tables, ignore_index=True).drop_duplicates("image_id")
    log.info("TBP measurements: %d columns", len(tbp.columns) - 1)
    return df.merge(tbp, on="image_id", how="left", validate="many_to_one")


def _member_columns(bundle: Bundle, i: int, rows: pd.DataFrame, batch_size: int,
                    num_workers: int, device: str = "cpu") -> dict[str, np.ndarray]:
    """One member's probability and embedding of every row (errors raise, naming the file)."""
    # Colour/shape statistics of exactly what member 0 saw.
    probs, emb, stats = embed_rows(bundle, rows, batch_size=batch_size,
                                   num_workers=num_workers, with_stats=i == 0,
                                   device=device)
    out = {f"m{i}_prob": probs}
    out.update({f"m{i}_emb_{j:04d}": emb[:, j] for j in range(emb.shape[1])})
    if stats is not None:
        out.update({c: stats[c].to_numpy() for c in IMAGE_STAT_COLUMNS})
    return out


def embed_chunk(bundles: list[Bundle], rows: pd.DataFrame, plan: dict[str, Any],
                batch_size: int, num_workers: int, device: str = "cpu") -> pd.DataFrame:
    """Every member's columns for one chunk of rows, plus the out-of-fold `prob`."""
    keep = [*KEEP_COLUMNS, "fold", *[c for c in rows.columns
                                      if c.startswith("tbp_lv_") or c == "clin_size_long_diam_mm"]]
    out = rows[[c for c in keep if c in rows.columns]].reset_index(drop=True)
    columns: dict[str, np.ndarray] = {}
    oof_probs = []
    for i, (b, fold) in enumerate(zip(bundles, plan["member_folds"], strict=True)):
        columns.update(_member_columns(b, i, rows, batch_size, num_workers, device))
        oof = (np.ones(len(rows), bool) if fold is None
               else rows["fold"].to_numpy() == fold)
        columns[f"m{i}_oof"] = oof
        oof_probs.append(np.where(oof, columns[f"m{i}_prob"], np.nan))
    stacked = np.vstack(oof_probs)
    known = ~np.isnan(stacked)
    total = np.where(known, stacked, 0.0).sum(axis=0)
    count = known.sum(axis=0)
    prob = np.divide(total, count, out=np.full(len(rows), np.nan), where=count > 0)
    return pd.concat([out, pd.DataFrame({"prob": prob, **columns})], axis=1)


def run(s: EmbedSettings) -> Path:
    """Embed every row (resuming finished chunks) and write the Parquet file.

    Raises:
        EmbedError, BundleError, DatasetError, FoldError: bad input (message says why).
    """
    device = resolve_device(s.device)
    bundles, _ = load_models(s.bundle)  # bundles, folders of runs, or an ensemble folder
    for b in bundles:
        b.model.to(device).eval()
    plan = fold_plan(bundles, s.unseen)
    df = read_table(s, plan, bundles)
    parts = s.out.with_name(s.out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(df), s.chunk_size)
    with Progress(disable=not s.progress) as bar:
        task = bar.add_task("embedding", total=len(df))
        for k, start in enumerate(starts):
            part = parts / f"part-{k:05d}.parquet"
            rows = df.iloc[start:start + s.chunk_size].reset_index(drop=True)
            if not part.exists():
                chunk = embed_chunk(bundles, rows, plan, s.batch_size, s.num_workers, device)
                tmp = part.with_suffix(".tmp")
                chunk.to_parquet(tmp, index=False)
                tmp.replace(part)  # a chunk is either whole or absent
            bar.update(task, advance=len(rows))
    table = pd.concat([pd.read_parquet(parts / f"part-{k:05d}.parquet")
                       for k in range(len(starts))], ignore_index=True)
    meta = {"bundles": [b.bundle_id for b in bundles], "unseen": s.unseen,
            **{k: v for k, v in plan.items() if k != "member_folds"},
            "member_folds": plan["member_folds"],
            "embedding_dims": [int(b.model.backbone.num_features) for b in bundles]}
    table.attrs["embed"] = meta
    # The sidecar first, then the table by rename: a reader never finds a half-written file,
    # and a run killed before the rename still has its parts to finish from.
    atomic_write_text(s.out.with_name(s.out.name + ".json"), json.dumps(meta, indent=2) + "\n")
    tmp = s.out.with_name(s.out.name + ".tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(s.out)
    for part in parts.iterdir():
        part.unlink()
    parts.rmdir()
    log.info("wrote %s: %d images, %d out-of-fold", s.out, len(table),
             int(table["prob"].notna().sum()))
    return s.out


COMMAND = Command(EmbedSettings, run, bad_input=(EmbedError, EmbeddingError, BundleError,
                                                  EnsembleError, DatasetError, FoldError,
                                                  DeviceError, OSError),
                  writes_to=lambda s: s.out)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
