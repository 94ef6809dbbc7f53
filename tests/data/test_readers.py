"""Tests for data.readers: every format -> the canonical table, and every validation error."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import sources
from data.diagnoses import DIAGNOSES, MELANOMA, UNKNOWN_DIAGNOSIS
from data.readers import (
    CANONICAL_COLUMNS,
    FORMATS,
    DatasetError,
    detect_format,
    read_dataset,
    verify_images,
)
from data.sites import SEXES, SITES

from .conftest import (
    IMAGE_IDS,
    ISIC2019_DIR,
    TARGETS,
    Built,
    read_csv_rows,
    write_csv,
    write_jpeg,
)

BuildFn = Callable[[str], Built]

# The collection each fixture's rows come from (others name their format); ISIC 2019 rows are
# named from their lesion id (BCN_, HAM_, none: archive).
EXPECTED_SOURCE = {"ham10000": [sources.HAM10000] * 6, "isic2017": [sources.ISIC2017] * 6,
                   "isic2019": ["BCN", "BCN", "ISIC_archive", "HAM10000", "ISIC_archive", "BCN"]}


# --- Every format reads into the same canonical table -------------------------------------


def test_formats_cover_all_builders(built: Built) -> None:
    assert built.fmt in FORMATS


def test_detect_format(built: Built) -> None:
    if not built.auto:
        # Its header is a generic CSV's; what stops a misread is the generic reader's refusal.
        assert detect_format(built.root) == detect_format(built.csv_path) == "csv"
        with pytest.raises(DatasetError, match=f"name the format {built.fmt!r}"):
            read_dataset(built.root)
        return
    assert detect_format(built.root) == built.fmt
    assert detect_format(built.csv_path) == built.fmt


def test_reads_canonical_table(built: Built) -> None:
    df = read_dataset(built.root, fmt=built.read_fmt)
    assert tuple(df.columns) == CANONICAL_COLUMNS
    assert df.index.tolist() == list(range(len(df)))
    assert df["image_id"].tolist() == built.expected.get("image_id", IMAGE_IDS)
    assert df["target"].dtype == np.int64 and df["target"].tolist() == TARGETS
    assert df["age"].dtype == np.float64
    np.testing.assert_array_equal(df["age"].to_numpy(), np.array(built.expected["age"]))
    for column in ("sex", "site", "group_id", "group_kind", "diagnosis"):
        assert df[column].tolist() == built.expected[column], column
    for column in ("image_id", "image_path", "sex", "site", "group_id", "group_kind",
                   "diagnosis", "source"):
        assert pd.api.types.is_string_dtype(df[column]), column
    assert df["source"].tolist() == EXPECTED_SOURCE.get(built.fmt, [built.fmt] * len(df))
    assert set(df["sex"]) <= set(SEXES) and set(df["site"]) <= set(SITES)
    for path in df["image_path"]:
        assert os.path.isabs(path) and os.path.isfile(path)
    assert df.attrs["format"] == built.fmt and df.attrs["skipped"] == {}


def test_explicit_format_and_csv_path_give_the_same_table(built: Built) -> None:
    expected = read_dataset(built.root, fmt=built.read_fmt)
    pd.testing.assert_frame_equal(read_dataset(built.root, fmt=built.fmt), expected)
    pd.testing.assert_frame_equal(read_dataset(built.csv_path, fmt=built.read_fmt), expected)


def test_unknowns_stay_unknown(built: Built) -> None:
    # Sample 3 has no recorded sex and site (and sample 2 no age) in every format: they must
    # stay unknown, never become 0, "female" or the first category.
    df = read_dataset(built.root, fmt=built.read_fmt)
    if built.fmt != "isic2018":  # 2018 has no metadata at all
        assert math.isnan(df.loc[1, "age"])
        assert df.loc[0, "age"] == 45.0
    assert df.loc[2, "sex"] == "unknown"
    assert df.loc[2, "site"] == "unknown"
    assert df["age"].isna().sum() == sum(math.isnan(a) for a in built.expected["age"])


def test_images_dir_override(build: BuildFn, tmp_path: Path) -> None:
    built = build("ham10000")
    elsewhere = tmp_path / "elsewhere"
    built.image_dir.rename(elsewhere)
    with pytest.raises(DatasetError, match="no image folder found"):
        read_dataset(built.root)
    df = read_dataset(built.root, images_dir=elsewhere)
    assert all(Path(p).parent == elsewhere.resolve() for p in df["image_path"])
    with pytest.raises(DatasetError, match="images_dir is not a folder"):
        read_dataset(built.root, images_dir=tmp_path / "nope")


def test_ham10000_split_image_folders(build: BuildFn) -> None:
    # The original release splits the images over HAM10000_images_part_1 and _part_2.
    built = build("ham10000")
    part1, part2 = built.root / "HAM10000_images_part_1", built.root / "HAM10000_images_part_2"
    part1.mkdir()
    part2.mkdir()
    for n, image_id in enumerate(IMAGE_IDS):
        built.image_file(image_id).rename((part1 if n < 3 else part2) / f"{image_id}.jpg")
    built.image_dir.rmdir()
    df = read_dataset(built.root)
    assert [Path(p).parent.name for p in df["image_path"]] == ["HAM10000_images_part_1"] * 3 + [
        "HAM10000_images_part_2"] * 3


def test_isic2019_downsampled_name_found_without_suffix(build: BuildFn) -> None:
    built = build("isic2019")
    on_disk = built.image_dir / f"{IMAGE_IDS[2]}_downsampled.jpg"
    on_disk.rename(built.image_dir / f"{IMAGE_IDS[2]}.jpg")
    df = read_dataset(built.root)
    assert df.loc[2, "image_id"] == f"{IMAGE_IDS[2]}_downsampled"
    assert Path(df.loc[2, "image_path"]).name == f"{IMAGE_IDS[2]}.jpg"


def test_isic2019_without_metadata_file_is_all_unknown(build: BuildFn) -> None:
    built = build("isic2019")
    (built.root / "ISIC_2019_Training_Metadata.csv").unlink()
    df = read_dataset(built.root)
    assert df["age"].isna().all() and (df["sex"] == "unknown").all()
    assert (df["site"] == "unknown").all() and (df["group_kind"] == "image").all()


def test_isic2017_validation_split_file_names(tmp_path: Path) -> None:
    root = tmp_path / "val"
    write_csv(root / "ISIC-2017_Validation_Part3_GroundTruth.csv",
              [dict(image_id="ISIC_1", melanoma="1.0", seborrheic_keratosis="0.0")],
              ["image_id", "melanoma", "seborrheic_keratosis"])
    write_jpeg(root / "ISIC-2017_Validation_Data" / "ISIC_1.jpg")
    df = read_dataset(root)
    assert df["target"].tolist() == [1] and df["source"].tolist() == ["ISIC2017"]
    assert df.attrs["format"] == "isic2017"


def test_generic_csv_with_image_ids_and_images_folder(tmp_path: Path) -> None:
    write_csv(tmp_path / "labels.csv",
              [dict(image_id="a", target="1", dx="mel", lesion_id="L1"),
               dict(image_id="b.jpg", target="0", dx="nv", lesion_id="L1")],
              ["image_id", "target", "dx", "lesion_id"])
    write_jpeg(tmp_path / "images" / "a.jpeg")
    write_jpeg(tmp_path / "images" / "b.jpg")
    df = read_dataset(tmp_path / "labels.csv")
    assert df["image_id"].tolist() == ["a", "b"]
    assert df["diagnosis"].tolist() == ["MEL", "NV"]
    assert df["group_id"].tolist() == ["L1", "L1"] and set(df["group_kind"]) == {"lesion"}
    assert df["age"].isna().all() and set(df["sex"]) == {"unknown"}


# --- Format detection errors ----------------------------------------------------------------


def test_detect_format_unrecognised_lists_what_it_looked_for(tmp_path: Path) -> None:
    write_csv(tmp_path / "notes.csv", [dict(a="1")], ["a", "b"])
    with pytest.raises(DatasetError) as info:
        detect_format(tmp_path)
    message = str(info.value)
    for needle in ("HAM10000_metadata.csv", "ISIC-2017_*_Part3_GroundTruth.csv",
                   "ISIC_2019_Training_GroundTruth.csv", "train.csv", "image_path", "notes.csv"):
        assert needle in message
    assert "\n" not in message


def test_detect_format_missing_path_and_ambiguity(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        detect_format(tmp_path / "absent")
    for name in ("one.csv", "two.csv"):
        write_csv(tmp_path / name, [dict(image="x", label="1")], ["image", "label"])
    with pytest.raises(DatasetError, match="several dataset files.*one.csv.*two.csv"):
        detect_format(tmp_path)


def test_unknown_format_name_and_on_error(build: BuildFn) -> None:
    built = build("ham10000")
    with pytest.raises(DatasetError, match="unknown dataset format 'isic1999'"):
        read_dataset(built.root, fmt="isic1999")
    with pytest.raises(ValueError, match="on_error"):
        read_dataset(built.root, on_error="ignore")  # type: ignore[arg-type]


# --- Validation errors: one line, naming file, line and column ------------------------------


def _error(built: Built, **kwargs: object) -> str:
    kwargs.setdefault("fmt", built.read_fmt)
    with pytest.raises(DatasetError) as info:
        read_dataset(built.root, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_missing_required_column(built: Built) -> None:
    rows, columns = _rows(built)
    write_csv(built.csv_path, rows, [c for c in columns if c != built.label_column])
    message = _error(built, fmt=built.fmt)
    assert built.csv_path.name in message and "missing required column" in message
    assert built.label_column in message and "present:" in message


def _rows(built: Built) -> tuple[list[dict[str, str]], list[str]]:
    return read_csv_rows(built.csv_path)


@pytest.mark.parametrize(
    ("fmt", "column", "value"),
    [("ham10000", "dx", "melanomaa"), ("isic2017", "melanoma", "2.0"), ("isic2018", "MEL", "yes"),
     ("isic2019", "MEL", "0.5"), ("isic2020", "target", "malignant"), ("csv", "label", "maybe"),
     ("ham10000", "dx", ""), ("isic2019_labels", "label", "8"),
     ("isic2019_labels", "label", "")],
)
def test_unknown_label_value(build: BuildFn, fmt: str, column: str, value: str) -> None:
    built = build(fmt)
    assert built.rewrite is not None

    def edit(rows: list[dict[str, str]]) -> None:
        rows[2][column] = value  # data row 3 = line 4 of the CSV

    built.rewrite(edit)
    message = _error(built)
    assert built.csv_path.name in message and "line 4" in message
    assert repr(column) in message and repr(value) in message
    assert "1 problem(s) in 1 of 6 rows" in message and "invalid label" in message


def test_one_hot_with_two_classes_set(build: BuildFn) -> None:
    built = build("isic2019")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[0].update(NV="1.0"))
    message = _error(built)
    assert "line 2" in message and "exactly one class" in message and "found 2" in message


def test_isic2020_benign_malignant_must_agree_with_target(build: BuildFn) -> None:
    built = build("isic2020")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[1].update(benign_malignant="malignant"))
    message = _error(built)
    assert "line 3" in message and "'benign_malignant'" in message and "contradicts" in message


def test_missing_image_file(built: Built) -> None:
    image_id = IMAGE_IDS[4]
    built.image_file(image_id).unlink()
    message = _error(built)
    assert built.csv_path.name in message and "line 6" in message
    assert repr(built.image_column) in message and image_id in message
    assert "not found" in message and "missing image: 1" in message


def test_empty_dataset(built: Built) -> None:
    _, columns = _rows(built)
    write_csv(built.csv_path, [], columns)
    message = _error(built, fmt=built.fmt)
    assert built.csv_path.name in message and "empty dataset" in message


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "HAM10000_metadata.csv").write_text("")
    with pytest.raises(DatasetError, match="HAM10000_metadata.csv: file is empty"):
        read_dataset(tmp_path, fmt="ham10000")


@pytest.mark.parametrize(("value", "reason"), [("150", "outside 0..120"), ("-5", "outside"),
                                               ("forty", "is not a number"), ("inf", "outside")])
def test_invalid_age(build: BuildFn, value: str, reason: str) -> None:
    built = build("ham10000")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[3].update(age=value))
    message = _error(built)
    assert "HAM10000_metadata.csv line 5, column 'age'" in message
    assert repr(value) in message and reason in message


def test_problem_in_metadata_file_names_that_file(build: BuildFn) -> None:
    built = build("isic2017")
    meta = built.root / "ISIC-2017_Training_Data_metadata.csv"
    text = meta.read_text().replace("ISIC_0000004,30,female", "ISIC_0000004,300,female")
    meta.write_text(text)
    message = _error(built)
    assert "ISIC-2017_Training_Data_metadata.csv line 5, column 'age_approximate'" in message


def test_invalid_sex(build: BuildFn) -> None:
    built = build("isic2020")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[0].update(sex="X"))
    message = _error(built)
    assert "train.csv line 2, column 'sex'" in message and "'X'" in message


def test_unmapped_site_names_value_file_and_column(build: BuildFn) -> None:
    built = build("ham10000")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[1].update(localization="elbow"))
    message = _error(built)
    assert "HAM10000_metadata.csv line 3, column 'localization'" in message
    assert "'elbow'" in message and "unmapped site" in message


def test_duplicate_image_id(build: BuildFn) -> None:
    built = build("ham10000")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[4].update(image_id=IMAGE_IDS[0]))
    message = _error(built)
    assert "line 6, column 'image_id'" in message and "duplicate image id" in message


def test_line_numbers_count_blank_lines(build: BuildFn) -> None:
    built = build("ham10000")
    lines = built.csv_path.read_text().splitlines()
    lines.insert(2, "")  # a blank line after the first data row: pandas skips it
    lines[4] = lines[4].replace(",nv,", ",zz,")  # sample 3, now on line 5
    built.csv_path.write_text("\n".join(lines) + "\n")
    message = _error(built)
    assert "line 5, column 'dx'" in message and "'zz'" in message


def test_fail_mode_reports_first_problems_and_total(build: BuildFn) -> None:
    built = build("ham10000")
    assert built.rewrite is not None

    def edit(rows: list[dict[str, str]]) -> None:
        for row in rows[:5]:
            row["age"] = "999"

    built.rewrite(edit)
    message = _error(built)
    assert message.startswith(str(built.csv_path))
    assert "5 problem(s) in 5 of 6 rows" in message and "invalid age: 5" in message
    assert "line 2" in message and "line 4" in message and "line 5" not in message
    assert "... and 2 more" in message and "on_error='skip'" in message


# --- Skip mode ------------------------------------------------------------------------------


def test_skip_mode_drops_bad_rows_and_counts_reasons(
    build: BuildFn, caplog: pytest.LogCaptureFixture
) -> None:
    built = build("ham10000")
    assert built.rewrite is not None

    def edit(rows: list[dict[str, str]]) -> None:
        rows[0]["dx"] = "??"
        rows[2]["age"] = "old"
        rows[2]["localization"] = "elbow"  # same row, second reason
        rows[3]["sex"] = "x"

    built.rewrite(edit)
    built.image_file(IMAGE_IDS[5]).unlink()
    with caplog.at_level(logging.WARNING, logger="data.readers"):
        df = read_dataset(built.root, on_error="skip")
    # Never substituted: exactly the good rows, in file order.
    assert df["image_id"].tolist() == [IMAGE_IDS[1], IMAGE_IDS[4]]
    assert df.index.tolist() == [0, 1]
    assert df.attrs["skipped"] == {"invalid label": 1, "invalid age": 1, "unmapped site": 1,
                                   "invalid sex": 1, "missing image": 1}
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 4 of 6 rows" in logged and "missing image: 1" in logged


def test_skip_mode_with_every_row_bad_is_an_error(build: BuildFn) -> None:
    built = build("csv")
    for path in built.image_dir.iterdir():
        path.unlink()
    message = _error(built, on_error="skip")
    assert "no rows left after skipping 6 invalid row(s)" in message


def test_structural_errors_raise_even_in_skip_mode(build: BuildFn) -> None:
    built = build("isic2020")
    rows, columns = _rows(built)
    write_csv(built.csv_path, rows, [c for c in columns if c != "patient_id"])
    message = _error(built, fmt="isic2020", on_error="skip")
    assert "missing required column(s) ['patient_id']" in message


# --- Diagnoses: canonical, consistent with the target -------------------------------------


def test_target_is_melanoma_diagnosis_in_every_format(built: Built) -> None:
    df = read_dataset(built.root, fmt=built.read_fmt)
    assert set(df["diagnosis"]) <= {*DIAGNOSES, UNKNOWN_DIAGNOSIS}
    assert (df["target"] == (df["diagnosis"] == MELANOMA).astype(int)).all()
    # Known in every format's samples: both melanomas, and a benign lesion.
    assert df["diagnosis"].tolist()[:2] == ["MEL", "NV"] and df["target"].tolist()[:2] == [1, 0]


@pytest.mark.parametrize(("fmt", "column", "value", "row", "line"), [
    ("csv", "diagnosis", "lesion", 1, 3), ("isic2020", "diagnosis", "melanoma in situ", 4, 6)])
def test_unmapped_diagnosis_fails_naming_file_line_column_value(
    build: BuildFn, fmt: str, column: str, value: str, row: int, line: int
) -> None:
    built = build(fmt)
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[row].update({column: value}))
    message = _error(built)
    assert f"{built.csv_path.name} line {line}, column {column!r}: unmapped diagnosis " \
        f"{value!r}" in message
    assert "1 problem(s) in 1 of 6 rows (unmapped diagnosis: 1)" in message
    df = read_dataset(built.root, on_error="skip")
    assert df.attrs["skipped"] == {"unmapped diagnosis": 1}
    assert IMAGE_IDS[row] not in df["image_id"].tolist() and len(df) == 5


@pytest.mark.parametrize(("fmt", "edit", "column", "line", "says"), [
    ("csv", dict(label="0", diagnosis="mel"), "diagnosis", 3, "'MEL' contradicts target 0"),
    ("csv", dict(diagnosis="melanoma"), "diagnosis", 3, "'MEL' contradicts target 0"),
    ("csv", dict(label="1", diagnosis="nevus"), "diagnosis", 3, "'NV' contradicts target 1"),
    ("isic2020", dict(diagnosis="melanoma"), "diagnosis", 3, "'MEL' contradicts target 0"),
    ("isic2020", dict(diagnosis="nevus", target="1", benign_malignant="malignant"),
     "diagnosis", 3, "'NV' contradicts target 1"),
])
def test_diagnosis_contradicting_the_target_is_an_invalid_label(
    build: BuildFn, fmt: str, edit: dict[str, str], column: str, line: int, says: str
) -> None:
    built = build(fmt)
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[1].update(edit))
    message = _error(built)
    assert f"{built.csv_path.name} line {line}, column {column!r}: diagnosis {says}" in message
    assert "(invalid label: 1)" in message
    df = read_dataset(built.root, on_error="skip")
    assert df.attrs["skipped"] == {"invalid label": 1} and IMAGE_IDS[1] not in set(df["image_id"])


def test_bad_target_is_reported_once_not_as_a_contradiction(build: BuildFn) -> None:
    built = build("isic2020")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[0].update(target="yes"))  # a melanoma row
    message = _error(built)
    assert "1 problem(s) in 1 of 6 rows" in message and "contradicts" not in message


def test_isic2020_without_diagnosis_column(build: BuildFn) -> None:
    built = build("isic2020")
    rows, columns = read_csv_rows(built.csv_path)
    write_csv(built.csv_path, rows, [c for c in columns if c != "diagnosis"])
    df = read_dataset(built.root)
    assert df["diagnosis"].tolist() == ["MEL", "unknown", "unknown", "MEL", "unknown", "unknown"]


def test_ham10000_missing_dx_is_an_invalid_label_not_a_benign_row(build: BuildFn) -> None:
    built = build("ham10000")
    assert built.rewrite is not None
    built.rewrite(lambda rows: rows[0].update(dx="unknown"))  # a melanoma
    df = read_dataset(built.root, on_error="skip")
    assert df.attrs["skipped"] == {"invalid label": 1}
    assert df["image_id"].tolist() == IMAGE_IDS[1:]


# --- Integer class labels: read as ISIC 2019 or refused, never misread ---------------------

# One image per ISIC 2019 class, in class-index order, plus a second melanoma.
CLASS_LABELS = ["0", "1", "2", "3", "4", "5", "6", "7", "0"]


def _class_label_csv(root: Path, labels: list[str], column: str = "label") -> Path:
    rows = [{"image": f"ISIC_{n:07d}", column: lab} for n, lab in enumerate(labels)]
    for row in rows:
        write_jpeg(root / "images" / f"{row['image']}.jpg")
    return write_csv(root / "labels.csv", rows, ["image", column])


@pytest.mark.parametrize("on_error", ["fail", "skip"])
@pytest.mark.parametrize("fmt", ["auto", "csv"])
def test_generic_reader_refuses_integer_class_labels(
    tmp_path: Path, on_error: str, fmt: str
) -> None:
    # The bug: read as a melanoma flag, class 0 (MEL) came out as target 0, class 1 (NV) as
    # melanoma, and "skip" silently dropped classes 2..7. It must be refused in both modes.
    path = _class_label_csv(tmp_path, CLASS_LABELS)
    message = _error(Built("csv", tmp_path, path, tmp_path / "images", "image", "label"),
                     fmt=fmt, on_error=on_error)
    assert message.startswith(f"{path}: column 'label' holds integer values other than 0/1: "
                              "2 (1 row), 3 (1 row), 4 (1 row), 5 (1 row), 6 (1 row), "
                              "7 (1 row);")
    assert "0=MEL, 1=NV, 2=BCC, 3=AK, 4=BKL, 5=DF, 6=VASC, 7=SCC" in message
    assert "name the format 'isic2019_labels'" in message and "nothing was read" in message


@pytest.mark.parametrize(("values", "listed"), [
    (["1", "0", "-1"], "-1 (1 row)"), (["1", "2.0", "2", "0"], "2 (2 rows)"),
    (["yes", "no", "3"], "3 (1 row)"),
])
def test_any_integer_beyond_0_1_refuses_the_file(
    tmp_path: Path, values: list[str], listed: str
) -> None:
    path = _class_label_csv(tmp_path, values, column="target")
    with pytest.raises(DatasetError, match=f"column 'target' holds integer values other than "
                                           rf"0/1: {re.escape(listed)};"):
        read_dataset(path, on_error="skip")


def test_non_integer_label_stays_a_row_problem(tmp_path: Path) -> None:
    path = _class_label_csv(tmp_path, ["1", "0", "0.5"])
    df = read_dataset(path, on_error="skip")
    assert df["target"].tolist() == [1, 0] and df.attrs["skipped"] == {"invalid label": 1}


def test_integer_class_labels_read_in_isic2019_order(tmp_path: Path) -> None:
    path = _class_label_csv(tmp_path, CLASS_LABELS)
    df = read_dataset(path, fmt="isic2019_labels", on_error="fail")
    assert df["diagnosis"].tolist() == [*DIAGNOSES, "MEL"]
    assert df["target"].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert df["image_id"].tolist() == [f"ISIC_{n:07d}" for n in range(9)]
    assert df.attrs["format"] == "isic2019_labels" and set(df["group_kind"]) == {"image"}


def test_integer_class_labels_out_of_range_are_invalid_rows(tmp_path: Path) -> None:
    path = _class_label_csv(tmp_path, ["0", "8", "1", "mel"])
    with pytest.raises(DatasetError) as info:
        read_dataset(path, fmt="isic2019_labels")
    message = str(info.value)
    assert "labels.csv line 3, column 'label': unmapped diagnosis '8' for format " \
        "'isic2019_labels'" in message and "line 5" in message
    assert "2 problem(s) in 2 of 4 rows (invalid label: 2)" in message
    df = read_dataset(path, fmt="isic2019_labels", on_error="skip")
    assert df["diagnosis"].tolist() == ["MEL", "NV"] and df["target"].tolist() == [1, 0]
    assert df.attrs["skipped"] == {"invalid label": 2}


# --- verify_images ------------------------------------------------------------------------


def test_verify_images(build: BuildFn, caplog: pytest.LogCaptureFixture) -> None:
    built = build("isic2017")
    df = read_dataset(built.root)
    assert verify_images(df) is df
    built.image_file(IMAGE_IDS[1]).write_bytes(b"this is not a jpeg")
    with pytest.raises(DatasetError) as info:
        verify_images(df)
    message = str(info.value)
    assert "1 of 6 images unreadable" in message and IMAGE_IDS[1] in message
    assert "\n" not in message
    with caplog.at_level(logging.WARNING, logger="data.readers"):
        kept = verify_images(df, on_error="skip")
    assert kept["image_id"].tolist() == [i for i in IMAGE_IDS if i != IMAGE_IDS[1]]
    assert "skipped 1 of 6 rows" in caplog.text


# --- Real data (skips when ../shared/data is absent) ----------------------------------------


@pytest.mark.realdata
def test_real_ham10000(ham10000_df: pd.DataFrame) -> None:
    df = ham10000_df
    assert len(df) == 10015
    assert int(df["target"].sum()) == 1113
    assert df["group_id"].nunique() == 7470 and set(df["group_kind"]) == {"lesion"}
    assert set(df["site"]) <= set(SITES) and (df["site"] == "unknown").sum() == 234
    assert (df["sex"] == "unknown").sum() == 57
    assert df["age"].isna().sum() == 57 and (df["age"] == 0).sum() == 39
    assert df["diagnosis"].value_counts().to_dict() == {
        "NV": 6705, "MEL": 1113, "BKL": 1099, "BCC": 514, "AK": 327, "VASC": 142, "DF": 115}
    assert (df["target"] == (df["diagnosis"] == "MEL")).all()
    # Header check on a sample only: all 10k would make the default suite slow.
    verify_images(df.sample(n=200, random_state=0))


@pytest.mark.realdata
def test_real_isic2017(isic2017_df: pd.DataFrame) -> None:
    df = isic2017_df
    assert len(df) == 2000 and int(df["target"].sum()) == 374
    assert set(df["site"]) == {"unknown"}
    assert df["age"].isna().sum() == 256 and (df["sex"] == "unknown").sum() == 229
    assert df["diagnosis"].value_counts().to_dict() == {"NV": 1372, "MEL": 374, "BKL": 254}
    assert (df["target"] == (df["diagnosis"] == "MEL")).all()
    assert df["group_id"].nunique() == 2000
    verify_images(df.sample(n=100, random_state=0))


@pytest.mark.realdata
def test_real_isic2019(isic2019_df: pd.DataFrame) -> None:
    df = isic2019_df
    assert len(df) == 25290 and df.attrs["format"] == "isic2019"
    assert df["diagnosis"].value_counts().to_dict() == {
        "NV": 12875, "MEL": 4513, "BCC": 3323, "BKL": 2624, "AK": 835, "SCC": 628,
        "VASC": 253, "DF": 239}
    assert int(df["target"].sum()) == 4513
    assert (df["target"] == (df["diagnosis"] == "MEL")).all()
    verify_images(df.sample(n=100, random_state=0))


@pytest.mark.realdata
def test_real_isic2019_as_class_indices_matches_the_one_hot_file(
    isic2019_df: pd.DataFrame, tmp_path: Path
) -> None:
    # The class-index file public code derives from the official one-hot file (argmax over
    # MEL..SCC) must read back to the very same diagnoses.
    one_hot = pd.read_csv(ISIC2019_DIR / "ISIC_2019_Training_GroundTruth.csv")
    labels = one_hot[list(DIAGNOSES)].to_numpy().argmax(axis=1)
    pd.DataFrame({"image": one_hot["image"], "label": labels}).to_csv(
        tmp_path / "train_labels.csv", index=False)
    df = read_dataset(tmp_path / "train_labels.csv", fmt="isic2019_labels",
                      images_dir=ISIC2019_DIR / "ISIC_2019_Training_Input")
    assert df["image_id"].tolist() == isic2019_df["image_id"].tolist()
    assert df["diagnosis"].tolist() == isic2019_df["diagnosis"].tolist()
    assert df["target"].tolist() == isic2019_df["target"].tolist()
