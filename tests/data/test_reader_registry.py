"""Tests for data.readers.registry: the one list of formats everything else derives from."""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import data.readers as readers
from configs.datasets import DataFormat
from data.readers import registry
from data.readers.registry import REGISTRY, Entry

from .conftest import BUILDERS, Built, write_csv

BuildFn = Callable[[str], Built]


def test_formats_are_the_registry_keys_in_order() -> None:
    assert readers.FORMATS == tuple(REGISTRY) == registry.FORMATS
    assert all(entry.spec.name == name for name, entry in REGISTRY.items())
    assert set(BUILDERS) == set(REGISTRY)  # every registered format has a test dataset


def test_config_choices_come_from_the_registry() -> None:
    assert typing.get_args(DataFormat) == ("auto", *readers.FORMATS)


def test_public_readers_are_the_registered_ones() -> None:
    public = {
        "ham10000": readers.read_ham10000, "isic2017": readers.read_isic2017,
        "isic2018": readers.read_isic2018, "isic2019": readers.read_isic2019,
        "isic2019_labels": readers.read_isic2019_labels, "isic2020": readers.read_isic2020,
        "isic2024": readers.read_isic2024, "csv": readers.read_generic_csv,
    }
    assert {name: entry.read for name, entry in REGISTRY.items()} == public


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("fmt", ["explicit", "auto"])
def test_read_dataset_dispatches_through_the_registry(
    build: BuildFn, monkeypatch: pytest.MonkeyPatch, name: str, fmt: str
) -> None:
    built = build(name)
    calls: list[tuple[Path, dict[str, object]]] = []

    def fake_reader(path: Path, **kwargs: object) -> pd.DataFrame:
        calls.append((path, kwargs))
        return pd.DataFrame()

    monkeypatch.setitem(REGISTRY, name, Entry(REGISTRY[name].spec, fake_reader))
    if fmt == "auto" and not built.auto:
        # Never auto-detected: "auto" reads it as a generic CSV, which refuses it.
        with pytest.raises(readers.DatasetError, match="holds integer values other than 0/1"):
            readers.read_dataset(built.root, on_error="skip")
        assert calls == []
        return
    readers.read_dataset(built.root, fmt=name if fmt == "explicit" else "auto",
                         on_error="skip")
    assert calls == [(built.csv_path, {"images_dir": None, "on_error": "skip"})]


def test_only_isic2019_labels_is_read_only_when_named() -> None:
    assert [name for name, entry in REGISTRY.items() if not entry.spec.auto] == [
        "isic2019_labels"]
    assert typing.get_args(DataFormat).count("isic2019_labels") == 1  # still a CLI choice


@pytest.mark.parametrize("values", [["0", "1"], ["0", "1", "4"]])
def test_auto_detection_never_picks_the_class_index_format(
    tmp_path: Path, values: list[str]
) -> None:
    # The header of a class-index file is a generic CSV's; only values could tell them apart,
    # and not even they can tell the class order. Detection says "csv" (a 0/1 label column
    # is a melanoma flag by the generic contract), never isic2019_labels.
    rows = [dict(image=f"ISIC_{n}", label=v) for n, v in enumerate(values)]
    write_csv(tmp_path / "labels.csv", rows, ["image", "label"])
    assert readers.detect_format(tmp_path) == "csv"
    assert readers.detect_format(tmp_path / "labels.csv") == "csv"
    assert registry.locate_dataset(tmp_path, "isic2019_labels") == (
        "isic2019_labels", tmp_path / "labels.csv")


def test_isic2019_wins_over_isic2018_when_both_column_sets_match(tmp_path: Path) -> None:
    columns = ["image", "MEL", "NV", "BCC", "AK", "AKIEC", "BKL", "DF", "VASC", "SCC"]
    write_csv(tmp_path / "ground_truth.csv", [dict(image="ISIC_1", MEL="1")], columns)
    assert readers.detect_format(tmp_path) == "isic2019"
    assert readers.detect_format(tmp_path / "ground_truth.csv") == "isic2019"


def test_specific_format_beats_generic_csv_in_one_header(tmp_path: Path) -> None:
    # An ISIC 2020 header also has a generic image column and label column.
    columns = ["image_name", "patient_id", "target", "anatom_site_general_challenge"]
    write_csv(tmp_path / "labels.csv", [dict(image_name="ISIC_1", target="1")], columns)
    assert readers.detect_format(tmp_path / "labels.csv") == "isic2020"
