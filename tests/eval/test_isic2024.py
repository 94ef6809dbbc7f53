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


def test_predict_scores_every_image_of_an_hdf5_file(bundle64: Path, tmp_path: Path) -> None:
    """`eval.predict --images train-image.hdf5 --metadata train-metadata.csv`: every stored
    image, ISIC 2024's metadata joined by isic_id, the same probabilities as the JPEG files."""
    from eval.predict import main as predict_main
    from tests.eval.test_predict import FAST as PREDICT_FAST

    root = write_isic2024(tmp_path / "isic2024", _jpegs(tmp_path, False))
    out = {}
    for name, images in (("hdf5", root / "train-image.hdf5"),
                         ("jpeg", root / "train-image" / "image")):
        out[name] = tmp_path / f"{name}.csv"
        assert predict_main(["--bundle", str(bundle64), "--images", str(images), "--metadata",
                             str(root / "train-metadata.csv"), "--out", str(out[name]),
                             *PREDICT_FAST]) == 0
    hdf5, jpeg = (pd.read_csv(out[k]).set_index("image_id").sort_index() for k in out)
    assert hdf5.index.tolist() == [f"ISIC_{9000000 + i}" for i in range(12)]
    np.testing.assert_array_equal(hdf5["probability"], jpeg["probability"])
    metadata = pd.read_csv(root / "train-metadata.csv").set_index("isic_id").sort_index()
    np.testing.assert_array_equal(hdf5["age"], metadata["age_approx"])
