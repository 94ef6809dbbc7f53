"""Several datasets into one table: sources, duplicates, held-out sets, per-dataset folds."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from data import sources
from data.folds import assign_folds
from data.multisource import (
    DATASET_COLUMN,
    DatasetSpec,
    dataset_specs,
    read_sources,
    source_split,
)
from data.readers import DatasetError, read_dataset
from tests.data.conftest import HAM10000_DIR, ISIC2017_DIR, ISIC2019_DIR, write_csv

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]


def write_isic2019(root: Path, rows: list[tuple[str, str, str, int]]) -> Path:
    """An ISIC 2019 layout: rows of (image, lesion_id, diagnosis, image side in px)."""
    gt, meta = [], []
    for image, lesion, dx, side in rows:
        gt.append({"image": image, **{c: "1.0" if c == dx else "0.0" for c in CLASSES}})
        meta.append({"image": image, "lesion_id": lesion, "age_approx": "50", "sex": "male",
                     "anatom_site_general": "anterior torso"})
        folder = root / "ISIC_2019_Training_Input"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (side, side), (120, 80, 60)).save(folder / f"{image}.jpg")
    write_csv(root / "ISIC_2019_Training_GroundTruth.csv", gt, ["image", *CLASSES])
    write_csv(root / "ISIC_2019_Training_Metadata.csv", meta,
              ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"])
    return root


@pytest.mark.parametrize(("lesion_id", "source"), [
    ("BCN_0000001", sources.BCN), ("HAM_0000118", sources.HAM10000), ("MSK4_0011", sources.MSK),
    ("", sources.ISIC_ARCHIVE), (None, sources.ISIC_ARCHIVE), (float("nan"), sources.ISIC_ARCHIVE),
    ("IL_123", sources.ISIC_ARCHIVE),
])
def test_source_from_lesion_id(lesion_id, source):
    assert sources.source_from_lesion_id(lesion_id) == source


@pytest.mark.parametrize(("image_id", "key"), [
    ("ISIC_0000017_downsampled", "ISIC_0000017"), ("ISIC_0000017", "ISIC_0000017"),
    (" ISIC_1 ", "ISIC_1"),
])
def test_canonical_image_key(image_id, key):
    assert sources.canonical_image_key(image_id) == key


def test_duplicates_keep_the_larger_copy_and_excluded_sets_leave(tmp_path):
    a = write_isic2019(tmp_path / "a", [("ISIC_1", "BCN_1", "MEL", 40), ("ISIC_2", "BCN_2", "NV", 40),
                                        ("ISIC_3", "", "NV", 40)])
    # ISIC_1 again, larger; ISIC_2 again, smaller (a's copy stays); ISIC_4 new, same lesion as
    # the excluded ISIC_5 (so it leaves with it).
    b = write_isic2019(tmp_path / "b", [("ISIC_1_downsampled", "BCN_1", "MEL", 64),
                                        ("ISIC_2", "BCN_2", "NV", 33),
                                        ("ISIC_4", "MSK4_9", "NV", 40),
                                        ("ISIC_5", "MSK4_9", "MEL", 40)])
    held = write_isic2019(tmp_path / "held", [("ISIC_5", "", "MEL", 40)])
    df = read_sources(dataset_specs([a, b]), exclude=dataset_specs([held]))
    got = set(zip(df["image_id"], df[DATASET_COLUMN], strict=True))
    assert got == {("ISIC_1_downsampled", 1), ("ISIC_2", 0), ("ISIC_3", 0)}
    assert df.index.tolist() == [0, 1, 2]
    assert df.attrs["datasets"][1]["n_read"] == 4 and df.attrs["datasets"][1]["n_used"] == 1
    assert dict(df["source"].value_counts()) == {"BCN": 2, "ISIC_archive": 1}


def test_tie_keeps_the_first_dataset(tmp_path):
    a = write_isic2019(tmp_path / "a", [("ISIC_1", "BCN_1", "MEL", 40), ("ISIC_2", "", "NV", 40)])
    b = write_isic2019(tmp_path / "b", [("ISIC_1", "BCN_1", "MEL", 40)])
    df = read_sources(dataset_specs([b, a]))
    assert df.loc[df["image_id"] == "ISIC_1", DATASET_COLUMN].tolist() == [0]


def test_group_spanning_datasets_gets_one_fold(tmp_path):
    rows_a = [(f"ISIC_a{i}", f"BCN_{i}", "MEL" if i % 2 else "NV", 40) for i in range(10)]
    rows_b = [(f"ISIC_b{i}", f"BCN_{i}", "NV" if i % 2 else "MEL", 40) for i in range(10)]
    a = write_isic2019(tmp_path / "a", rows_a)
    b = write_isic2019(tmp_path / "b", rows_b)
    assign = functools.partial(assign_folds, n_folds=2, seed=3)
    df = read_sources(dataset_specs([a, b]), assign=assign)
    assert (df.groupby("group_id")["fold"].nunique() == 1).all()
    alone = assign(read_dataset(a))  # the first dataset keeps the folds it has alone
    assert df[df[DATASET_COLUMN] == 0]["fold"].tolist() == alone["fold"].tolist()


def test_source_split_holds_sources_out_and_names_unknown_ones(tmp_path):
    a = write_isic2019(tmp_path / "a", [("ISIC_1", "BCN_1", "MEL", 40), ("ISIC_2", "MSK4_1", "NV", 40),
                                        ("ISIC_3", "", "NV", 40), ("ISIC_4", "BCN_2", "NV", 40)])
    df = read_sources([DatasetSpec(a)])
    train, val = source_split(df, [sources.MSK, sources.ISIC_ARCHIVE])
    assert sorted(val["image_id"]) == ["ISIC_2", "ISIC_3"]
    assert sorted(train["image_id"]) == ["ISIC_1", "ISIC_4"]
    with pytest.raises(DatasetError, match=r"'Vienna'.*present: \['BCN', 'ISIC_archive', 'MSK'\]"):
        source_split(df, ["Vienna"])
    with pytest.raises(DatasetError, match="leaves no training images"):
        source_split(df, ["BCN", "MSK", "ISIC_archive"])


@pytest.mark.parametrize(("formats", "dirs", "message"), [
    (["auto", "auto", "auto"], [], "3 data formats for 2 datasets"),
    (["auto"], [Path("x")], "1 image folders for 2 datasets"),
])
def test_dataset_specs_refuse_mismatched_lists(formats, dirs, message):
    with pytest.raises(DatasetError, match=message):
        dataset_specs([Path("a"), Path("b")], formats, dirs)


def test_real_multi_source_table():
    for folder in (HAM10000_DIR, ISIC2017_DIR, ISIC2019_DIR):
        if not folder.is_dir():
            pytest.skip(f"real data not present: {folder}")
    assign = functools.partial(assign_folds, n_folds=5, seed=42)
    df = read_sources(dataset_specs([HAM10000_DIR, ISIC2019_DIR]),
                      exclude=dataset_specs([ISIC2017_DIR]), assign=assign)
    counts = df["source"].value_counts()
    # HAM10000 images are kept at 200x150 from ham10000/, not the 84 px ISIC 2019 copies.
    assert counts[sources.HAM10000] == 10015 and (df.loc[df["source"] == "HAM10000",
                                                         DATASET_COLUMN] == 0).all()
    assert counts[sources.BCN] == 12381
    isic2017 = set(read_dataset(ISIC2017_DIR)["image_id"])
    keys = set(df["image_id"].map(sources.canonical_image_key))
    assert not keys & isic2017
    assert (df.groupby("group_id")["fold"].nunique() == 1).all()
    ham_alone = assign(read_dataset(HAM10000_DIR))
    ham = df[df[DATASET_COLUMN] == 0]
    pd.testing.assert_series_equal(ham["fold"].reset_index(drop=True),
                                   ham_alone["fold"].reset_index(drop=True))
