"""LightningDataModule: canonical table -> grouped folds -> fitted encoder -> DataLoaders."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from data.encoding import MetadataEncoder
from data.folds import assign_folds, split
from data.images import Preprocessing
from data.readers import read_dataset, verify_images
from training.augment import MetadataMasking

log = logging.getLogger(__name__)


class MelanomaDataset(Dataset):
    """Rows of a canonical table as (image, metadata, target, row index).

    Args:
        df: canonical table.
        preprocessing: bundle preprocessing; used alone when `augment` is None.
        encoder: fitted metadata encoder.
        augment: training augmentation (PIL -> tensor), or None for validation.
        meta_augment: training metadata augmentation (encoded vector -> vector), or None.
    """

    def __init__(self, df: pd.DataFrame, preprocessing: Preprocessing, encoder: MetadataEncoder,
                 augment: Callable[[Any], torch.Tensor] | None = None,
                 meta_augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.paths = df["image_path"].tolist()
        self.meta = torch.from_numpy(encoder.transform(df))
        self.targets = torch.tensor(df["target"].to_numpy(), dtype=torch.float32)
        self.pre, self.augment, self.meta_augment = preprocessing, augment, meta_augment

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        img = self.pre.load(self.paths[i])
        x = self.augment(img) if self.augment else torch.from_numpy(
            self.pre.normalize(self.pre.model_view(img)))
        meta = self.meta_augment(self.meta[i]) if self.meta_augment else self.meta[i]
        return x, meta, self.targets[i], i


def subsample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Group-preserving, class-stratified random subset of about `n` rows (quick runs)."""
    if n >= len(df):
        return df
    rng = np.random.default_rng(seed)
    keep: list[pd.DataFrame] = []
    for _, part in df.groupby("target"):
        groups = part["group_id"].unique()
        rng.shuffle(groups)
        want = max(1, round(n * len(part) / len(df)))
        counts = part.groupby("group_id").size().loc[groups].cumsum()
        chosen = counts.index[: int(np.searchsorted(counts.to_numpy(), want)) + 1]
        keep.append(part[part["group_id"].isin(chosen)])
    return pd.concat(keep).sort_index()


class MelanomaDataModule(L.LightningDataModule):
    """Reads one dataset, splits one grouped fold, fits the metadata encoder on train only.

    Args:
        data_dir: dataset folder or CSV.
        data_format: reader format or "auto".
        images_dir: image folder override.
        on_bad_row: "fail" or "skip".
        verify: open every image header first.
        fold, n_folds, seed: the grouped stratified split.
        preprocessing: bundle preprocessing.
        augment: training augmentation.
        meta_mask_prob: per-field probability of blanking metadata in training batches.
        batch_size, num_workers: loader settings.
        max_images: optional quick-run subset size.
        encoder: an already fitted encoder (a bundle's, when fine-tuning) used as is; by
            default a new one is fitted on the training split.
    """

    def __init__(self, data_dir: Path, *, data_format: str = "auto",
                 images_dir: Path | None = None, on_bad_row: str = "fail", verify: bool = False,
                 fold: int = 0, n_folds: int = 5, seed: int = 42,
                 preprocessing: Preprocessing, augment: Callable[[Any], torch.Tensor] | None,
                 meta_mask_prob: float = 0.0, batch_size: int = 32, num_workers: int = 2,
                 max_images: int | None = None,
                 encoder: MetadataEncoder | None = None) -> None:
        super().__init__()
        self.data_dir, self.data_format, self.images_dir = data_dir, data_format, images_dir
        self.on_bad_row, self.verify = on_bad_row, verify
        self.fold, self.n_folds, self.seed = fold, n_folds, seed
        self.preprocessing, self.augment = preprocessing, augment
        self.meta_mask_prob = meta_mask_prob
        self.batch_size, self.num_workers, self.max_images = batch_size, num_workers, max_images
        self._fit_encoder = encoder is None
        self.encoder = encoder if encoder is not None else MetadataEncoder()
        self.table: pd.DataFrame | None = None
        self.train_df: pd.DataFrame | None = None
        self.val_df: pd.DataFrame | None = None

    def prepare(self) -> None:
        """Read, validate and split the data (idempotent; also called by `setup`)."""
        if self.table is not None:
            return
        df = read_dataset(self.data_dir, fmt=self.data_format, images_dir=self.images_dir,
                          on_error=self.on_bad_row)
        if self.verify:
            df = verify_images(df, on_error=self.on_bad_row)
        if self.max_images:
            df = subsample(df, self.max_images, self.seed).reset_index(drop=True)
        df = assign_folds(df, n_folds=self.n_folds, seed=self.seed)
        self.table = df
        self.train_df, self.val_df = split(df, self.fold)
        if self._fit_encoder:
            self.encoder.fit(self.train_df)
        for name, part in (("train", self.train_df), ("val", self.val_df)):
            n_pos = int(part["target"].sum())
            log.info("%s split: %d images, %d positive, %d negative, %d groups", name, len(part),
                     n_pos, len(part) - n_pos, part["group_id"].nunique())

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets."""
        self.prepare()
        masking = (MetadataMasking(self.encoder, self.meta_mask_prob)
                   if self.meta_mask_prob > 0 else None)
        self.train_set = MelanomaDataset(self.train_df, self.preprocessing, self.encoder,
                                         self.augment, masking)
        self.val_set = MelanomaDataset(self.val_df, self.preprocessing, self.encoder, None)

    @property
    def class_counts(self) -> tuple[int, int]:
        """(n_pos, n_neg) of the training split."""
        self.prepare()
        n_pos = int(self.train_df["target"].sum())
        return n_pos, len(self.train_df) - n_pos

    def summary(self) -> dict[str, Any]:
        """Training-data summary for the bundle."""
        self.prepare()
        df = self.table
        return {
            "source": str(self.data_dir), "format": str(df["source"].iloc[0]),
            "n_images": len(df), "n_positive": int(df["target"].sum()),
            "n_groups": int(df["group_id"].nunique()), "group_kind": str(df["group_kind"].iloc[0]),
            "fold": self.fold, "n_folds": self.n_folds, "seed": self.seed,
            "n_train": len(self.train_df), "n_train_positive": int(self.train_df["target"].sum()),
            "n_val": len(self.val_df), "n_val_positive": int(self.val_df["target"].sum()),
        }

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, drop_last=shuffle and
                          len(dataset) > self.batch_size,
                          persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
