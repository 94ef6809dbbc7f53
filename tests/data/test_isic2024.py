"""ISIC 2024 layout: metadata CSV + images read straight from the HDF5 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.hdf5_images import is_reference, reference
from data.images import ImageError, load_image
from data.readers import DatasetError, read_dataset
from tests.helpers import write_image, write_isic2024

SHARED_HAM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ham10000"
N = 12


def _jpegs(tmp: Path, real: bool) -> list[tuple[str, Path, int]]:
    if real:
        if not (SHARED_HAM / "images").is_dir():
            pytest.skip(f"real HAM10000 images not found at {SHARED_HAM}")
        files = sorted((SHARED_HAM / "images").glob("*.jpg"))[:N]
        return [(f"ISIC_{9000000 + i}", f, int(i % 4 == 0)) for i, f in enumerate(files)]
    rng = np.random.default_rng(0)
    out = []
    for i in range(N):
        path = tmp / "src" / f"{i}.jpg"
        write_image(path, rng, i % 4 == 0)
        out.append((f"ISIC_{9000000 + i}", path, int(i % 4 == 0)))
    return out


@pytest.fixture(params=[False, pytest.param(True, marks=pytest.mark.realdata)],
                ids=["generated", "ham10000"])
def layout(request, tmp_path: Path) -> tuple[Path, list[tuple[str, Path, int]]]:
    jpegs = _jpegs(tmp_path, request.param)
    return write_isic2024(tmp_path / "isic2024", jpegs), jpegs


def test_reads_the_hdf5_like_the_jpeg_folder(layout) -> None:
    root, jpegs = layout
    from_hdf5 = read_dataset(root)  # auto-detected, the HDF5 file found beside the CSV
    from_files = read_dataset(root, fmt="isic2024", images_dir=root / "train-image" / "image")
    assert from_hdf5["source"].eq("isic2024").all() and len(from_hdf5) == N
    assert all(is_reference(p) for p in from_hdf5["image_path"])
    columns = [c for c in from_hdf5.columns if c != "image_path"]
    assert from_hdf5[columns].equals(from_files[columns])
    assert from_hdf5["target"].tolist() == [t for _, _, t in jpegs]
    assert (from_hdf5["group_kind"] == "patient").all()
    assert from_hdf5["group_id"].nunique() == N // 3
    assert set(from_hdf5.loc[from_hdf5["target"] == 1, "diagnosis"]) == {"MEL"}
    for ref, path in zip(from_hdf5["image_path"], from_files["image_path"], strict=True):
        np.testing.assert_array_equal(np.asarray(load_image(ref)), np.asarray(load_image(path)))


def test_images_may_name_the_hdf5_file(layout) -> None:
    root, _ = layout
    table = read_dataset(root / "train-metadata.csv", fmt="isic2024",
                         images_dir=root / "train-image.hdf5")
    assert table["image_path"].iloc[0] == reference(root / "train-image.hdf5", "ISIC_9000000")


def test_an_id_missing_from_the_hdf5_is_named(tmp_path: Path) -> None:
    root = write_isic2024(tmp_path / "d", _jpegs(tmp_path, False), drop_from_hdf5=2)
    with pytest.raises(DatasetError, match=r"image 'ISIC_9000011' is not in train-image\.hdf5"):
        read_dataset(root)
    assert len(read_dataset(root, on_error="skip")) == N - 2


def test_a_bad_reference_is_an_image_error(tmp_path: Path) -> None:
    root = write_isic2024(tmp_path / "d", _jpegs(tmp_path, False))
    with pytest.raises(ImageError, match="ISIC_404: image 'ISIC_404' is not in"):
        load_image(reference(root / "train-image.hdf5", "ISIC_404"))
    not_hdf5 = tmp_path / "fake.hdf5"
    not_hdf5.write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        read_dataset(root, fmt="isic2024", images_dir=not_hdf5)
