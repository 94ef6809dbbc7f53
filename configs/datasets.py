"""Which datasets a command reads: folders/CSVs, formats, image folders, held-out sets.

Shared by training and by the second stage's embedding step, so both read the same images
the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from configs.base import CommaList, Settings
from data.readers import FORMATS, OnError

# The formats come from the reader registry, so a new format needs no edit here.
DataFormat = Literal[("auto", *FORMATS)]  # type: ignore[valid-type]


class DatasetSettings(Settings):
    """The dataset fields (lists take repeated flags or a comma list).

    The same words as every other command: `--data` is a labelled dataset (its folder or
    main CSV), `--images` its image folder, `--data-format` its format.
    """

    cli_renamed: ClassVar[dict[str, str]] = {"--data-dir": "--data", "--images-dir": "--images",
                                             "--exclude-data-dir": "--exclude-data"}

    # data
    data: CommaList[Path] = Field(
        [Path("datasets/ham10000")], description="dataset folder or CSV file; repeat the flag "
        "(or give a comma list) to train on several datasets at once: folds are assigned per "
        "dataset, an image in two datasets is kept once at the higher resolution")
    data_format: CommaList[DataFormat] = Field(
        ["auto"], description="dataset format (auto-detected): one for all datasets or one "
        "per --data")
    images: CommaList[Path] = Field(
        [], description="image folder, if not the format's default: one per --data")
    exclude_data: CommaList[Path] = Field(
        [], description="datasets held out of training and validation (their images, found by "
        "ISIC id, and those images' lesions are removed): keep an external test set external "
        "when a training dataset contains it (ISIC 2017 inside ISIC 2019). By id alone, a "
        "lesion re-published under another id stays: add --exclude-near-copies")
    exclude_near_copies: float | None = Field(
        None, gt=0, le=1, description="also hold out every image whose content matches a "
        "held-out image (--exclude-data, --test-data) at this fingerprint similarity or more, "
        "and its group (data.near_copies: grey 32x32 thumbnails over 8 flips/rotations). 0.98 "
        "is specific: with ISIC 2017 held out of HAM10000 + ISIC 2019 it finds 12 archive/MSK "
        "re-publications and nothing in HAM10000 or BCN; lower cuts also catch unrelated "
        "lesions (0.93: ~1,900 HAM10000/BCN images)")
    on_bad_row: OnError = Field(
        "fail", description="bad rows (unknown label, missing image...): fail, or skip them "
        "with a logged count")

    @model_validator(mode="after")
    def _check_datasets(self) -> DatasetSettings:
        if not self.data:
            raise ValueError("give at least one --data")
        if len(self.data_format) not in (1, len(self.data)):
            raise ValueError(f"{len(self.data_format)} --data-format values for "
                             f"{len(self.data)} --data: give one for all or one each")
        if self.images and len(self.images) != len(self.data):
            raise ValueError(f"{len(self.images)} --images values for "
                             f"{len(self.data)} --data: give one per dataset")
        # training's --test-data is held out too (the subclass has the field)
        if self.exclude_near_copies is not None and not (
                self.exclude_data or getattr(self, "test_data", None)):
            raise ValueError("--exclude-near-copies compares with held-out images: give "
                             "--exclude-data" + (" or --test-data" if "test_data"
                                                  in type(self).model_fields else ""))
        return self
