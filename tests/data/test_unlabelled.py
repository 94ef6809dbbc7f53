"""Unlabelled inputs: folder search, CSV lists, metadata joined and validated per row."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from data.readers import DatasetError
from data.unlabelled import read_unlabelled
from tests.helpers import write_csv


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folder_finds_images_recursively_with_unique_ids(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.PNG", "c.tiff", "d.bmp", "sub/a.jpeg", "notes.txt"):
        _touch(tmp_path / "imgs" / name)
    table, skipped = read_unlabelled(tmp_path / "imgs")
    assert list(table["image_id"]) == ["a", "b", "c", "d", "sub/a"] and skipped == []
    assert table["age"].isna().all() and set(table["sex"]) == set(table["site"]) == {"unknown"}
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in table["image_path"])


def test_metadata_csv_joins_by_id_or_file_name(tmp_path: Path) -> None:
    for name in ("a.jpg", "sub/b.jpg", "c.jpg"):
        _touch(tmp_path / "imgs" / name)
    write_csv(tmp_path / "meta.csv", [
        {"image_id": "a", "age": "70", "sex": "m", "localization": "face"},
        {"image_id": "b.jpg", "age": "", "sex": "", "localization": "acral"},
        {"image_id": "c", "age": "old", "sex": "", "localization": ""}])
    table, skipped = read_unlabelled(tmp_path / "imgs", tmp_path / "meta.csv")
    rows = table.set_index("image_id")
    assert (rows.loc["a", "age"], rows.loc["a", "sex"], rows.loc["a", "site"]) == (
        70.0, "male", "head/neck")
    assert math.isnan(rows.loc["sub/b", "age"]) and rows.loc["sub/b", "site"] == "palms/soles"
    assert [s.image_id for s in skipped] == ["c"]
    assert "line 4" in skipped[0].reason and "'old' is not a number" in skipped[0].reason


def test_csv_list_resolves_paths_and_lists_missing_files(tmp_path: Path) -> None:
    _touch(tmp_path / "images" / "x.jpg")
    _touch(tmp_path / "y.png")
    write_csv(tmp_path / "list.csv", [{"image_path": "images/x.jpg", "sex": "female"},
                                      {"image_path": "y", "sex": ""},
                                      {"image_path": "z.jpg", "sex": "female"},
                                      {"image_path": "images/x.jpg", "sex": "robot"},
                                      {"image_path": "", "sex": ""}])
    table, skipped = read_unlabelled(tmp_path / "list.csv")
    assert list(table["sex"]) == ["female", "unknown"]
    assert [Path(p).name for p in table["image_path"]] == ["x.jpg", "y.png"]
    reasons = [s.reason for s in skipped]
    assert "'z.jpg' not found" in reasons[0] and "column 'sex'" in reasons[1]
    # A blank image cell is listed by its line, not a crash.
    assert skipped[2].image_id == "line 6" and "'' not found" in reasons[2]


@pytest.mark.parametrize(("make", "fact"), [
    (lambda root: root / "missing", "does not exist"),
    (lambda root: (root / "empty").mkdir() or root / "empty", "no images found"),
    (lambda root: write_csv(root / "l.csv", [{"name": "x"}]) or root / "l.csv",
     "no image column"),
])
def test_unusable_inputs_raise_with_the_reason(tmp_path: Path, make, fact: str) -> None:
    with pytest.raises(DatasetError, match=fact):
        read_unlabelled(make(tmp_path))


def test_an_hdf5_file_lists_its_images_and_a_bad_one_is_named(tmp_path: Path) -> None:
    from data.hdf5_images import is_reference
    from tests.data.test_isic2024 import _jpegs
    from tests.helpers import write_isic2024

    root = write_isic2024(tmp_path / "d", _jpegs(tmp_path, False))
    table, skipped = read_unlabelled(root / "train-image.hdf5", root / "train-metadata.csv")
    assert skipped == [] and len(table) == 12
    assert all(is_reference(p) for p in table["image_path"])
    assert table["sex"].tolist()[:3] == ["male", "female", "unknown"]
    fake = tmp_path / "fake.hdf5"
    fake.write_bytes(b"nope")
    with pytest.raises(DatasetError, match="fake.hdf5: not a readable HDF5 file"):
        read_unlabelled(fake)
