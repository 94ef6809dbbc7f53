"""LightningDataModule: canonical table -> grouped folds -> fitted encoder -> DataLoaders.

For a diagnosis model the targets are class indices into `classes` (the canonical diagnoses
present in the training split, in canonical order: melanoma is index 0); rows whose diagnosis
is unknown cannot teach a class and are left out with a logged count.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from data.diagnoses import DIAGNOSES, MELANOMA, UNKNOWN_DIAGNOSIS
from data.encoding import MetadataEncoder
from data.folds import assign_folds, split
from data.images import Preprocessing
from data.multisource import DATASET_COLUMN, DatasetSpec, read_sources, source_split
from data.readers import DatasetError, verify_images
from training.components.augment import MetadataMasking
from training.components.sampling import sample_weights

log = logging.getLogger(__name__)


class MelanomaDataset(Dataset):
    """Rows of a canonical table as (image, metadata, target, row index).

    Args:
        df: canonical table.
        preprocessing: bundle preprocessing; used alone when `augment` is None.
        encoder: fitted metadata encoder.
        augment: training augmentation (PIL -> tensor), or None for validation.
        meta_augment: training metadata augmentation (encoded vector -> vector), or None.
        classes: a diagnosis model's classes: targets are then class indices (int64); empty
            for a melanoma model (float 0/1 targets).
    """

    def __init__(self, df: pd.DataFrame, preprocessing: Preprocessing, encoder: MetadataEncoder,
                 augment: Callable[[Any], torch.Tensor] | None = None,
                 meta_augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 classes: tuple[str, ...] = ()) -> None:
        self.paths = df["image_path"].tolist()
        self.meta = torch.from_numpy(encoder.transform(df))
        self.targets = (torch.tensor(class_indices(df, classes), dtype=torch.int64) if classes
                        else torch.tensor(df["target"].to_numpy(), dtype=torch.float32))
        self.pre, self.augment, self.meta_augment = preprocessing, augment, meta_augment

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        img = self.pre.load(self.paths[i])
        x = self.augment(img) if self.augment else torch.from_numpy(
            self.pre.normalize(self.pre.model_view(img)))
        meta = self.meta_augment(self.meta[i]) if self.meta_augment else self.meta[i]
        return x, meta, self.targets[i], i


def class_indices(df: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray:
    """Each row's diagnosis as an index into `classes` (every diagnosis must be one)."""
    lookup = {c: i for i, c in enumerate(classes)}
    return df["diagnosis"].map(lookup).to_numpy(dtype=np.int64)


def present_classes(df: pd.DataFrame) -> tuple[str, ...]:
    """The canonical diagnoses present in a table, in canonical order.

    Raises:
        DatasetError: fewer than two classes, or no melanoma (a diagnosis model's melanoma
            probability is P(MEL)).
    """
    present = set(df["diagnosis"])
    classes = tuple(c for c in DIAGNOSES if c in present)
    if MELANOMA not in classes or len(classes) < 2:
        raise DatasetError(f"a diagnosis model needs melanoma and at least one other class in "
                           f"its training split; it has {list(classes) or 'none'}")
    return classes


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
    """Reads the datasets, splits one grouped fold, fits the metadata encoder on train only.

    Args:
        data: a dataset folder or CSV, or several datasets (`data.multisource`: folds are
            assigned per dataset, duplicates kept once at the higher resolution).
        data_format: reader format or "auto" (when `data` is a single path).
        images_dir: image folder override (when `data` is a single path).
        exclude: datasets whose images (and their groups) are left out of training and
            validation, e.g. an external test set also contained in a training dataset.
        near_copy_similarity: also leave out images whose content matches an excluded image
            at this similarity or more (`data.near_copies`); None = by id only.
        val_sources: leave these sources out: validate on them, train on the others (the
            folds are then not used).
        source_weights: each source's share of the training draws (see
            `training.components.sampling.sample_weights`); empty = proportional to its size.
        on_bad_row: "fail" or "skip".
        verify: open every image header first.
        fold, n_folds, seed: the grouped stratified split; seed also seeds the sampling.
        fold_seed: seed of the split and of the --max-images subset (None = seed).
        preprocessing: bundle preprocessing.
        augment: training augmentation.
        meta_mask_prob: per-field probability of blanking metadata in training batches.
        batch_size, num_workers: loader settings.
        max_images: optional quick-run subset size.
        encoder: an already fitted encoder (a bundle's, when fine-tuning) used as is; by
            default a new one is fitted on the training split.
        task: "melanoma" or "diagnosis" (class-index targets, see the module docstring).
        stratify_by: the column folds are stratified by ("target" or "diagnosis").
        sampler: "weighted" draws training rows so every class (melanoma/other for the
            melanoma task) comes equally often; "none" shuffles.
        test: a labelled test set, scored once after training (`trainer.test`); its images
            and their groups are kept out of training and validation.
    """

    def __init__(self, data: Path | Sequence[DatasetSpec], *, data_format: str = "auto",
                 images_dir: Path | None = None, exclude: Sequence[DatasetSpec] = (),
                 near_copy_similarity: float | None = None,
                 val_sources: Sequence[str] = (),
                 source_weights: Mapping[str, float] | None = None,
                 on_bad_row: str = "fail", verify: bool = False,
                 fold: int = 0, n_folds: int = 5, seed: int = 42,
                 fold_seed: int | None = None,
                 preprocessing: Preprocessing, augment: Callable[[Any], torch.Tensor] | None,
                 meta_mask_prob: float = 0.0, batch_size: int = 32, num_workers: int = 2,
                 max_images: int | None = None,
                 encoder: MetadataEncoder | None = None, task: str = "melanoma",
                 stratify_by: str = "target", sampler: str = "none",
                 test: DatasetSpec | None = None) -> None:
        super().__init__()
        self.task, self.stratify_by, self.sampler = task, stratify_by, sampler
        self.classes: tuple[str, ...] = ()
        self.datasets = (list(data) if isinstance(data, Sequence) and not isinstance(data, str)
                         else [DatasetSpec(Path(data), data_format, images_dir)])
        self.exclude, self.val_sources = list(exclude), list(val_sources)
        self.near_copy_similarity = near_copy_similarity
        self.test = test
        if test is not None:
            self.exclude.append(test)
        self.source_weights = dict(source_weights or {})
        self.on_bad_row, self.verify = on_bad_row, verify
        self.fold, self.n_folds, self.seed = fold, n_folds, seed
        self.fold_seed = seed if fold_seed is None else fold_seed
        self.preprocessing, self.augment = preprocessing, augment
        self.meta_mask_prob = meta_mask_prob
        self.batch_size, self.num_workers, self.max_images = batch_size, num_workers, max_images
        self._fit_encoder = encoder is None
        self.encoder = encoder if encoder is not None else MetadataEncoder()
        self.table: pd.DataFrame | None = None
        self.train_df: pd.DataFrame | None = None
        self.val_df: pd.DataFrame | None = None
        self.test_df: pd.DataFrame | None = None

    def prepare(self) -> None:
        """Read, validate and split the data (idempotent; also called by `setup`)."""
        if self.table is not None:
            return
        df = read_sources(self.datasets, on_error=self.on_bad_row, exclude=self.exclude,
                          near_copy_similarity=self.near_copy_similarity,
                          assign=functools.partial(self._per_dataset, folds=not self.val_sources))
        self.table = df
        self.train_df, self.val_df = (source_split(df, self.val_sources) if self.val_sources
                                      else split(df, self.fold))
        if self.task == "diagnosis":
            self.classes = present_classes(self.train_df)
            unseen = ~self.val_df["diagnosis"].isin(self.classes)
            if unseen.any():
                log.warning("validation split: %d images of classes absent from training "
                            "(%s) left out", int(unseen.sum()),
                            sorted(self.val_df.loc[unseen, "diagnosis"].unique()))
                self.val_df = self.val_df[~unseen].reset_index(drop=True)
            log.info("diagnosis classes: %s", dict(zip(self.classes, self.diagnosis_counts,
                                                       strict=True)))
        if self.test is not None:
            self.test_df = self._test_table()
        if self._fit_encoder:
            self.encoder.fit(self.train_df)
        parts = [("train", self.train_df), ("val", self.val_df)]
        for name, part in parts + ([("test", self.test_df)] if self.test is not None else []):
            n_pos = int(part["target"].sum())
            log.info("%s split: %d images, %d positive, %d negative, %d groups", name, len(part),
                     n_pos, len(part) - n_pos, part["group_id"].nunique())

    def _test_table(self) -> pd.DataFrame:
        """The test set's rows; for a diagnosis model, only those of its classes."""
        df = read_sources([self.test], on_error=self.on_bad_row)
        if self.task == "diagnosis":
            unseen = ~df["diagnosis"].isin(self.classes)
            if unseen.any():
                log.warning("test set: %d images with no diagnosis among the model's classes "
                            "left out of the test pass", int(unseen.sum()))
                df = df[~unseen].reset_index(drop=True)
        if df.empty:
            raise DatasetError(f"--test-data {self.test.path}: no image to test on")
        return df

    def _per_dataset(self, df: pd.DataFrame, folds: bool) -> pd.DataFrame:
        """One dataset's table, checked, filtered, maybe subsampled, with its own folds."""
        if self.verify:
            df = verify_images(df, on_error=self.on_bad_row)
        if self.task == "diagnosis":
            df = self._known_diagnoses(df)
        if self.max_images:
            df = subsample(df, self.max_images, self.fold_seed).reset_index(drop=True)
        if not folds:
            return df
        return assign_folds(df, n_folds=self.n_folds, seed=self.fold_seed,
                            stratify_by=self.stratify_by)

    @staticmethod
    def _known_diagnoses(df: pd.DataFrame) -> pd.DataFrame:
        unknown = df["diagnosis"] == UNKNOWN_DIAGNOSIS
        if unknown.any():
            log.warning("%d of %d images have no known diagnosis: left out of diagnosis "
                        "training", int(unknown.sum()), len(df))
        return df[~unknown].reset_index(drop=True)

    @property
    def diagnosis_counts(self) -> list[int]:
        """Training images per class of `classes` (diagnosis task)."""
        self.prepare()
        counts = self.train_df["diagnosis"].value_counts()
        return [int(counts.get(c, 0)) for c in self.classes]

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets."""
        self.prepare()
        masking = (MetadataMasking(self.encoder, self.meta_mask_prob)
                   if self.meta_mask_prob > 0 else None)
        self.train_set = MelanomaDataset(self.train_df, self.preprocessing, self.encoder,
                                         self.augment, masking, classes=self.classes)
        self.val_set = MelanomaDataset(self.val_df, self.preprocessing, self.encoder, None,
                                       classes=self.classes)
        self.test_set = (MelanomaDataset(self.test_df, self.preprocessing, self.encoder, None,
                                         classes=self.classes)
                         if self.test_df is not None else None)

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
            "source": ", ".join(str(d.path) for d in self.datasets),
            "format": str(df.attrs.get("format", df["source"].iloc[0])),
            "datasets": self._dataset_summaries(),
            "n_per_source": {k: int(v) for k, v in df["source"].value_counts().items()},
            **({"excluded": [str(d.path) for d in self.exclude]} if self.exclude else {}),
            **({"excluded_near_copies": df.attrs["near_copies"]}
               if "near_copies" in df.attrs else {}),
            **({"test": {"source": str(self.test.path), "n": len(self.test_df),
                         "n_positive": int(self.test_df["target"].sum())}}
               if self.test_df is not None else {}),
            **({"val_sources": self.val_sources} if self.val_sources else {}),
            **({"source_weights": self.source_weights} if self.source_weights else {}),
            "n_images": len(df), "n_positive": int(df["target"].sum()),
            "n_groups": int(df["group_id"].nunique()), "group_kind": str(df["group_kind"].iloc[0]),
            # "seed" is the fold plan's seed (read back by eval --fold and training.embed)
            "fold": self.fold, "n_folds": self.n_folds, "seed": self.fold_seed,
            **({"training_seed": self.seed} if self.seed != self.fold_seed else {}),
            "n_train": len(self.train_df), "n_train_positive": int(self.train_df["target"].sum()),
            "n_val": len(self.val_df), "n_val_positive": int(self.val_df["target"].sum()),
            "task": self.task, "stratified_by": self.stratify_by,
            **({"classes": list(self.classes),
                "n_train_per_class": dict(zip(self.classes, self.diagnosis_counts, strict=True))}
               if self.classes else {}),
        }

    def _dataset_summaries(self) -> list[dict[str, Any]]:
        """Each input dataset's path, format, counts, and its share of the validation split."""
        out = []
        for i, info in enumerate(self.table.attrs.get("datasets", [])):
            val = self.val_df[self.val_df[DATASET_COLUMN] == i]
            out.append({**info, "n_val": len(val), "n_val_positive": int(val["target"].sum())})
        return out

    def _loader(self, dataset: Dataset, shuffle: bool,
                sampler: WeightedRandomSampler | None = None) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size,
                          shuffle=shuffle and sampler is None, sampler=sampler,
                          num_workers=self.num_workers, drop_last=shuffle and
                          len(dataset) > self.batch_size,
                          persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def balanced_sampler(self) -> WeightedRandomSampler:
        """Draws (with replacement, one epoch's worth) by
        `training.components.sampling.sample_weights`.

        With `sampler="weighted"` every class comes equally often in expectation (the
        diagnoses for a diagnosis model, melanoma/other for a melanoma model); with
        `source_weights` each source gets its share of the draws.
        """
        labels = self.train_set.targets.long().numpy()
        weights = sample_weights(labels, self.train_df["source"].to_numpy(),
                                 balance_classes=self.sampler == "weighted",
                                 source_weights=self.source_weights)
        return WeightedRandomSampler(torch.from_numpy(weights), num_samples=len(labels),
                                     replacement=True,
                                     generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        # Under DDP Lightning wraps a custom sampler (DistributedSamplerWrapper): each process
        # takes its share of the weighted draws.
        sampler = (self.balanced_sampler()
                   if self.sampler == "weighted" or self.source_weights else None)
        return self._loader(self.train_set, shuffle=True, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if self.test_set is None:
            raise DatasetError("no test set: give --test-data")
        return self._loader(self.test_set, shuffle=False)
