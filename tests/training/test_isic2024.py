"""Training through the ISIC 2024 HDF5 file equals training on the same JPEG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.data.test_isic2024 import _jpegs
from tests.helpers import write_isic2024
from tests.training.test_pl_train import TINY
from training.pl_train import main


def test_hdf5_and_jpeg_training_give_the_same_model(tmp_path: Path) -> None:
    root = write_isic2024(tmp_path / "isic2024", _jpegs(tmp_path, False))
    preds = {}
    for name, images in (("hdf5", []), ("jpeg", ["--images-dir",
                                                  str(root / "train-image" / "image")])):
        assert main(["--data-dir", str(root), "--output-dir", str(tmp_path / "runs"),
                     "--run-name", name, *TINY, "--n-folds", "2", *images]) == 0
        preds[name] = pd.read_csv(tmp_path / "runs" / name / "val_predictions.csv")
    assert preds["hdf5"]["image_id"].tolist() == preds["jpeg"]["image_id"].tolist()
    np.testing.assert_allclose(preds["hdf5"]["prob"], preds["jpeg"]["prob"], atol=1e-6)
