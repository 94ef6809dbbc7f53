"""DataModule: metadata masking reaches training batches only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data.images import Preprocessing
from training.components.datamodule import MelanomaDataModule


def _module(ham_dataset: Path, prob: float) -> MelanomaDataModule:
    dm = MelanomaDataModule(ham_dataset, preprocessing=Preprocessing(size=32), augment=None,
                            meta_mask_prob=prob, batch_size=8, num_workers=0)
    dm.setup()
    return dm


def test_masking_applies_to_training_samples_only(ham_dataset: Path) -> None:
    dm = _module(ham_dataset, 1.0)
    blank = dm.encoder.missing_vector()
    for i in range(len(dm.train_set)):
        np.testing.assert_array_equal(dm.train_set[i][1].numpy(), blank)
    val_meta = np.stack([dm.val_set[i][1].numpy() for i in range(len(dm.val_set))])
    np.testing.assert_array_equal(val_meta, dm.encoder.transform(dm.val_df))
    assert not (val_meta == blank).all(axis=1).all()


def test_no_masking_keeps_training_metadata(ham_dataset: Path) -> None:
    dm = _module(ham_dataset, 0.0)
    train_meta = np.stack([dm.train_set[i][1].numpy() for i in range(len(dm.train_set))])
    np.testing.assert_array_equal(train_meta, dm.encoder.transform(dm.train_df))
