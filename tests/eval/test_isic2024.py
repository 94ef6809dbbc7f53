"""Evaluation through the ISIC 2024 HDF5 file scores exactly what the JPEG files give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eval.evaluate import main
from tests.data.test_isic2024 import _jpegs
from tests.helpers import write_isic2024

from .test_evaluate import FAST


def test_hdf5_and_jpeg_files_give_the_same_predictions(bundle64: Path, tmp_path: Path) -> None:
    root = write_isic2024(tmp_path / "isic2024", _jpegs(tmp_path, False))
    outs = {}
    # Two decoding workers: each opens the HDF5 file itself (handles are per process).
    for name, images, workers in (("hdf5", None, "2"),
                                  ("jpeg", root / "train-image" / "image", "0")):
        out = tmp_path / name
        args = [a for a in FAST if a not in ("--num-workers", "0")]
        assert main(["--bundle", str(bundle64), "--data", str(root), "--out", str(out),
                     *(["--images", str(images)] if images else []), *args,
                     "--num-workers", workers]) == 0
        outs[name] = pd.read_csv(out / "predictions.csv")
    assert len(outs["hdf5"]) == 12
    np.testing.assert_array_equal(outs["hdf5"]["prob"], outs["jpeg"]["prob"])
