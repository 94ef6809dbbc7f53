"""Fixtures for the data tests: tiny generated datasets in every supported layout.

Every builder writes the same six logical samples (two melanomas, one missing age, one
unknown sex, one missing site) in its format's own files and spellings, so tests can be
parametrised over formats and compared against one expected canonical table.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from data.readers import read_dataset

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HAM10000_DIR = SHARED_DATA / "ham10000"
ISIC2017_DIR = SHARED_DATA / "isic2017_train"
ISIC2019_DIR = SHARED_DATA / "isic2019_84px"

IMAGE_SIZE = (8, 6)  # tiny: the readers only check files exist, verify_images reads headers
NAN = math.nan

# The six logical samples every format encodes. Ages/sexes/sites are the canonical values.
IMAGE_IDS = [f"ISIC_000000{i}" for i in range(1, 7)]
TARGETS = [1, 0, 0, 1, 0, 0]
AGES = [45.0, NAN, 60.0, 30.0, 70.0, 0.0]
SEXES = ["male", "female", "unknown", "female", "male", "male"]


@dataclass
class Built:
    """A generated dataset and what reading it must give."""

    fmt: str
    root: Path  # what to pass to read_dataset
    csv_path: Path  # the main CSV (errors name it)
    image_dir: Path
    image_column: str
    label_column: str
    expected: dict[str, list] = field(default_factory=dict)
    rewrite: Callable[[Callable[[list[dict[str, str]]], None]], None] | None = None
    auto: bool = True  # False: never auto-detected, read only when named

    @property
    def read_fmt(self) -> str:
        """The ``fmt`` that reads this dataset: ``"auto"``, or the name where it must be."""
        return "auto" if self.auto else self.fmt

    def image_file(self, image_id: str) -> Path:
        """The file on disk for an image id."""
        return next(p for p in self.image_dir.iterdir()
                    if p.stem in (image_id, f"{image_id}_downsampled"))


def write_jpeg(path: Path, shade: int = 128) -> Path:
    """Write a tiny solid-colour JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", IMAGE_SIZE, (shade, 64, 32)).save(path, format="JPEG")
    return path


def write_csv(path: Path, rows: Sequence[dict[str, str]], columns: Sequence[str]) -> Path:
    """Write rows as a CSV with exactly ``columns`` (missing keys -> blank)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def read_csv_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Rows and columns of a CSV as plain strings."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader), list(reader.fieldnames or [])


def _rewriter(path: Path) -> Callable[[Callable[[list[dict[str, str]]], None]], None]:
    """A helper tests use to edit a generated CSV in place: ``rewrite(lambda rows: ...)``."""

    def rewrite(edit: Callable[[list[dict[str, str]]], None]) -> None:
        rows, columns = read_csv_rows(path)
        edit(rows)
        write_csv(path, rows, columns)

    return rewrite


def _images(folder: Path, names: Sequence[str], ext: str = ".jpg") -> None:
    for i, name in enumerate(names):
        write_jpeg(folder / f"{name}{ext}", shade=40 * i)


def build_ham10000(root: Path) -> Built:
    rows = [
        dict(lesion_id="HAM_0000001", image_id=IMAGE_IDS[0], dx="mel", age="45.0", sex="male",
             localization="back"),
        dict(lesion_id="HAM_0000001", image_id=IMAGE_IDS[1], dx="nv", age="", sex="female",
             localization="trunk"),
        dict(lesion_id="HAM_0000002", image_id=IMAGE_IDS[2], dx="nv", age="60.0", sex="unknown",
             localization="unknown"),
        dict(lesion_id="HAM_0000003", image_id=IMAGE_IDS[3], dx="mel", age="30.0", sex="female",
             localization="face"),
        dict(lesion_id="HAM_0000004", image_id=IMAGE_IDS[4], dx="bkl", age="70.0", sex="male",
             localization="acral"),
        dict(lesion_id="HAM_0000005", image_id=IMAGE_IDS[5], dx="bcc", age="0.0", sex="male",
             localization="foot"),
    ]
    csv_path = write_csv(root / "HAM10000_metadata.csv", rows,
                         ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
    _images(root / "images", IMAGE_IDS)
    return Built(
        "ham10000", root, csv_path, root / "images", "image_id", "dx",
        expected=dict(
            age=AGES, sex=SEXES,
            site=["posterior torso", "torso", "unknown", "head/neck", "palms/soles",
                  "lower extremity"],
            group_id=["HAM_0000001", "HAM_0000001", "HAM_0000002", "HAM_0000003", "HAM_0000004",
                      "HAM_0000005"],
            group_kind=["lesion"] * 6,
            diagnosis=["MEL", "NV", "NV", "MEL", "BKL", "BCC"],
        ),
        rewrite=_rewriter(csv_path),
    )


def build_isic2017(root: Path) -> Built:
    gt = [dict(image_id=i, melanoma=f"{t:.1f}", seborrheic_keratosis="0.0")
          for i, t in zip(IMAGE_IDS, TARGETS, strict=True)]
    gt[4]["seborrheic_keratosis"] = "1.0"
    csv_path = write_csv(root / "ISIC-2017_Training_Part3_GroundTruth.csv", gt,
                         ["image_id", "melanoma", "seborrheic_keratosis"])
    ages = ["45", "unknown", "60", "30", "70", "0"]
    meta = [dict(image_id=i, age_approximate=a, sex=s)
            for i, a, s in zip(IMAGE_IDS, ages, SEXES, strict=True)]
    write_csv(root / "ISIC-2017_Training_Data_metadata.csv", meta,
              ["image_id", "age_approximate", "sex"])
    image_dir = root / "ISIC-2017_Training_Data"
    _images(image_dir, IMAGE_IDS)
    # The official folder also holds superpixel PNGs; they must not be taken for images.
    write_jpeg(image_dir / f"{IMAGE_IDS[0]}_superpixels.png")
    return Built(
        "isic2017", root, csv_path, image_dir, "image_id", "melanoma",
        expected=dict(
            age=AGES, sex=SEXES, site=["unknown"] * 6, group_id=IMAGE_IDS,
            group_kind=["image"] * 6,
            diagnosis=["MEL", "NV", "NV", "MEL", "BKL", "NV"],
        ),
        rewrite=_rewriter(csv_path),
    )


def _one_hot(classes: Sequence[str], diagnoses: Sequence[str]) -> list[dict[str, str]]:
    return [{"image": i, **{c: "1.0" if c == d else "0.0" for c in classes}}
            for i, d in zip(IMAGE_IDS, diagnoses, strict=True)]


def build_isic2018(root: Path) -> Built:
    classes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    diagnoses = ["MEL", "NV", "NV", "MEL", "BKL", "AKIEC"]
    # Official layout: the ground truth sits in its own folder next to the image folder.
    csv_path = write_csv(
        root / "ISIC2018_Task3_Training_GroundTruth" / "ISIC2018_Task3_Training_GroundTruth.csv",
        _one_hot(classes, diagnoses), ["image", *classes])
    image_dir = root / "ISIC2018_Task3_Training_Input"
    _images(image_dir, IMAGE_IDS)
    return Built(
        "isic2018", root, csv_path, image_dir, "image", "MEL",
        expected=dict(
            age=[NAN] * 6, sex=["unknown"] * 6, site=["unknown"] * 6, group_id=IMAGE_IDS,
            group_kind=["image"] * 6, diagnosis=["MEL", "NV", "NV", "MEL", "BKL", "AK"],
        ),
        rewrite=_rewriter(csv_path),
    )


def build_isic2019(root: Path) -> Built:
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
    diagnoses = ["MEL", "NV", "UNK", "MEL", "BKL", "SCC"]
    ids = list(IMAGE_IDS)
    ids[2] = f"{IMAGE_IDS[2]}_downsampled"
    gt = _one_hot(classes, diagnoses)
    for row, image in zip(gt, ids, strict=True):
        row["image"] = image
    csv_path = write_csv(root / "ISIC_2019_Training_GroundTruth.csv", gt, ["image", *classes])
    sites = ["anterior torso", "posterior torso", "", "head/neck", "palms/soles", "oral/genital"]
    ages = ["45", "", "60", "30", "70", "0"]
    sexes = ["male", "female", "", "female", "male", "male"]
    lesions = ["BCN_0000001", "BCN_0000001", "", "HAM_0000003", "", "BCN_0000004"]
    meta = [dict(image=i, age_approx=a, anatom_site_general=s, lesion_id=les, sex=x)
            for i, a, s, les, x in zip(ids, ages, sites, lesions, sexes, strict=True)]
    write_csv(root / "ISIC_2019_Training_Metadata.csv", meta,
              ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"])
    image_dir = root / "ISIC_2019_Training_Input"
    _images(image_dir, ids)
    return Built(
        "isic2019", root, csv_path, image_dir, "image", "MEL",
        expected=dict(
            age=AGES, sex=SEXES,
            site=["anterior torso", "posterior torso", "unknown", "head/neck", "palms/soles",
                  "oral/genital"],
            image_id=ids,
            group_id=["BCN_0000001", "BCN_0000001", ids[2], "HAM_0000003", ids[4], "BCN_0000004"],
            group_kind=["lesion", "lesion", "image", "lesion", "image", "lesion"],
            diagnosis=["MEL", "NV", "unknown", "MEL", "BKL", "SCC"],
        ),
        rewrite=_rewriter(csv_path),
    )


def build_isic2020(root: Path) -> Built:
    sites = ["torso", "torso", "", "head/neck", "upper extremity", "lower extremity"]
    ages = ["45.0", "", "60.0", "30.0", "70.0", "0.0"]
    sexes = ["male", "female", "", "female", "male", "male"]
    patients = ["IP_001", "IP_001", "IP_002", "IP_003", "IP_003", "IP_004"]
    diagnoses = ["melanoma", "nevus", "unknown", "melanoma", "seborrheic keratosis",
                 "lentigo NOS"]
    rows = [
        dict(image_name=i, patient_id=p, sex=x, age_approx=a, anatom_site_general_challenge=s,
             diagnosis=d, benign_malignant="malignant" if t else "benign", target=str(t))
        for i, p, x, a, s, d, t in zip(IMAGE_IDS, patients, sexes, ages, sites, diagnoses,
                                       TARGETS, strict=True)
    ]
    csv_path = write_csv(root / "train.csv", rows,
                         ["image_name", "patient_id", "sex", "age_approx",
                          "anatom_site_general_challenge", "diagnosis", "benign_malignant",
                          "target"])
    # Kaggle layout: train/ holds DICOMs, jpeg/train/ the JPEGs we read; a generic
    # sample_submission.csv next to train.csv must not confuse format detection.
    (root / "train").mkdir()
    (root / "train" / f"{IMAGE_IDS[0]}.dcm").write_bytes(b"DICM")
    write_csv(root / "sample_submission.csv", [dict(image_name="ISIC_9", target="0")],
              ["image_name", "target"])
    image_dir = root / "jpeg" / "train"
    _images(image_dir, IMAGE_IDS)
    return Built(
        "isic2020", root, csv_path, image_dir, "image_name", "target",
        expected=dict(
            age=AGES, sex=SEXES,
            site=["torso", "torso", "unknown", "head/neck", "upper extremity", "lower extremity"],
            group_id=patients, group_kind=["patient"] * 6,
            diagnosis=["MEL", "NV", "unknown", "MEL", "BKL", "BKL"],
        ),
        rewrite=_rewriter(csv_path),
    )


def build_csv(root: Path) -> Built:
    labels = ["melanoma", "0", "False", "1", "no", "0.0"]
    # Blank for a melanoma: MEL all the same (the label says melanoma).
    diagnoses = ["", "Nevus", "", "melanoma", "Seborrheic_Keratosis", "akiec"]
    sites = [" Posterior_Torso ", "Head / Neck", "", "hand", "palms/soles", "leg"]
    sexes = ["M", "female", "unk", "F", "male", "male"]
    ages = ["45", "", "60", "30", "70", "0"]
    paths = [f"imgs/{i}.png" if n % 2 else f"imgs/{i}" for n, i in enumerate(IMAGE_IDS)]
    rows = [
        dict(image_path=p, label=lab, age=a, sex=x, site=s, patient_id=pid, diagnosis=d)
        for p, lab, a, x, s, pid, d in zip(paths, labels, ages, sexes, sites,
                                           ["P1", "P1", "", "P3", "P4", "P5"], diagnoses,
                                           strict=True)
    ]
    csv_path = write_csv(root / "my_dataset.csv", rows,
                         ["image_path", "label", "age", "sex", "site", "patient_id",
                          "diagnosis"])
    image_dir = root / "imgs"
    for n, image_id in enumerate(IMAGE_IDS):
        write_jpeg(image_dir / (f"{image_id}.png" if n % 2 else f"{image_id}.jpg"))
    return Built(
        "csv", root, csv_path, image_dir, "image_path", "label",
        expected=dict(
            age=AGES, sex=SEXES,
            site=["posterior torso", "head/neck", "unknown", "upper extremity", "palms/soles",
                  "lower extremity"],
            group_id=["P1", "P1", IMAGE_IDS[2], "P3", "P4", "P5"],
            group_kind=["patient", "patient", "image", "patient", "patient", "patient"],
            diagnosis=["MEL", "NV", "unknown", "MEL", "BKL", "AK"],
        ),
        rewrite=_rewriter(csv_path),
    )


def build_isic2019_labels(root: Path) -> Built:
    # Class indices in ISIC 2019 order: MEL, NV, NV, MEL, BKL ("4.0": a float writer), SCC.
    labels = ["0", "1", "1", "0", "4.0", "7"]
    names = list(IMAGE_IDS)
    names[1] = f"{IMAGE_IDS[1]}.jpg"  # a name with its extension: the id drops it
    sites = ["anterior torso", "posterior torso", "", "head/neck", "palms/soles", "oral/genital"]
    ages = ["45", "", "60", "30", "70", "0"]
    sexes = ["male", "female", "", "female", "male", "male"]
    lesions = ["BCN_0000001", "BCN_0000001", "", "HAM_0000003", "", "BCN_0000004"]
    rows = [dict(image_id=i, label=lab, age_approx=a, anatom_site_general=s, lesion_id=les,
                 sex=x)
            for i, lab, a, s, les, x in zip(names, labels, ages, sites, lesions, sexes,
                                            strict=True)]
    csv_path = write_csv(root / "train_labels.csv", rows,
                         ["image_id", "label", "age_approx", "anatom_site_general", "lesion_id",
                          "sex"])
    image_dir = root / "ISIC_2019_Training_Input"
    _images(image_dir, IMAGE_IDS)
    return Built(
        "isic2019_labels", root, csv_path, image_dir, "image_id", "label",
        expected=dict(
            age=AGES, sex=SEXES,
            site=["anterior torso", "posterior torso", "unknown", "head/neck", "palms/soles",
                  "oral/genital"],
            group_id=["BCN_0000001", "BCN_0000001", IMAGE_IDS[2], "HAM_0000003", IMAGE_IDS[4],
                      "BCN_0000004"],
            group_kind=["lesion", "lesion", "image", "lesion", "image", "lesion"],
            diagnosis=["MEL", "NV", "NV", "MEL", "BKL", "SCC"],
        ),
        rewrite=_rewriter(csv_path),
        auto=False,
    )


def build_isic2024(root: Path) -> Built:
    """ISIC 2024 with its images as JPEG files (the HDF5 file: tests/data/test_isic2024.py)."""
    sites = ["posterior torso", "anterior torso", "", "head/neck", "upper extremity",
             "lower extremity"]
    ages = ["45", "", "60", "30", "70", "0"]
    sexes = ["male", "female", "", "female", "male", "male"]
    patients = ["IP_001", "IP_001", "IP_002", "IP_003", "IP_003", "IP_004"]
    iddx = ["Melanoma Invasive", "Nevus", "", "Melanoma in situ", "Seborrheic keratosis",
            "Dermatofibroma"]
    rows = [dict(isic_id=i, patient_id=p, target=str(t), age_approx=a, sex=x,
                 anatom_site_general=s, iddx_3=d, tbp_lv_H="51.2", attribution="test")
            for i, p, t, a, x, s, d in zip(IMAGE_IDS, patients, TARGETS, ages, sexes, sites,
                                           iddx, strict=True)]
    csv_path = write_csv(root / "train-metadata.csv", rows, list(rows[0]))
    image_dir = root / "train-image" / "image"
    _images(image_dir, IMAGE_IDS)
    return Built(
        "isic2024", root, csv_path, image_dir, "isic_id", "target",
        expected=dict(
            age=AGES, sex=SEXES,
            site=["posterior torso", "anterior torso", "unknown", "head/neck",
                  "upper extremity", "lower extremity"],
            group_id=patients, group_kind=["patient"] * 6,
            diagnosis=["MEL", "NV", "unknown", "MEL", "BKL", "DF"],
        ),
        rewrite=_rewriter(csv_path),
    )


BUILDERS: dict[str, Callable[[Path], Built]] = {
    "ham10000": build_ham10000,
    "isic2017": build_isic2017,
    "isic2018": build_isic2018,
    "isic2019": build_isic2019,
    "isic2019_labels": build_isic2019_labels,
    "isic2020": build_isic2020,
    "isic2024": build_isic2024,
    "csv": build_csv,
}


@pytest.fixture(params=sorted(BUILDERS))
def built(request: pytest.FixtureRequest, tmp_path: Path) -> Built:
    """Each supported format in turn, as a tiny generated dataset."""
    return BUILDERS[request.param](tmp_path / request.param)


@pytest.fixture
def build(tmp_path: Path) -> Callable[[str], Built]:
    """Factory: ``build("ham10000")`` writes that format's tiny dataset under tmp_path."""
    return lambda fmt: BUILDERS[fmt](tmp_path / fmt)


def _require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} does not exist (see shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def ham10000_df() -> pd.DataFrame:
    """The real HAM10000 table (read once per session); skips when the data is absent."""
    return read_dataset(_require(HAM10000_DIR))


@pytest.fixture(scope="session")
def isic2017_df() -> pd.DataFrame:
    """The real ISIC 2017 training table (read once per session); skips when absent."""
    return read_dataset(_require(ISIC2017_DIR))


@pytest.fixture(scope="session")
def isic2019_df() -> pd.DataFrame:
    """The real ISIC 2019 training table (84 px copy, read once per session); skips when
    absent."""
    return read_dataset(_require(ISIC2019_DIR))


@pytest.fixture(scope="session")
def real_image_paths() -> list[Path]:
    """A few real dermoscopy JPEGs (HAM10000 600x450, ISIC 2017 256x256, ISIC 2019 84 px);
    skips when the data is absent."""
    paths = [sorted((_require(d) / sub).glob("*.jpg"))[:2]
             for d, sub in ((HAM10000_DIR, "images"), (ISIC2017_DIR, "ISIC-2017_Training_Data"),
                            (ISIC2019_DIR, "ISIC_2019_Training_Input"))]
    return [p for group in paths for p in group]
