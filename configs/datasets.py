"""Which datasets a command reads: folders/CSVs, formats, image folders, held-out sets.

Shared by training and by the second stage's embedding step, so both read the same images
the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from configs.base import Settings
from data.readers import FORMATS, OnError

# The formats come from the reader registry, so a new format needs no edit here.
DataFormat = Literal[("auto", *FORMATS)]  # type: ignore[valid-type]


class DatasetSettings(Settings):
    """The dataset fields (lists take repeated flags or a comma list)."""

    # data
    data_dir: Annotated[list[Path], NoDecode] = Field(
        [Path("datasets/ham10000")], description="dataset folder or CSV file; repeat the flag "
        "(or give a comma list) to train on several datasets at once: folds are assigned per "
        "dataset, an image in two datasets is kept once at the higher resolution")
    data_format: Annotated[list[DataFormat], NoDecode] = Field(
        ["auto"], description="dataset format (auto-detected): one for all datasets or one "
        "per --data-dir")
    images_dir: Annotated[list[Path], NoDecode] = Field(
        [], description="image folder, if not the format's default: one per --data-dir")
    exclude_data_dir: Annotated[list[Path], NoDecode] = Field(
        [], description="datasets held out of training and validation (their images, found by "
        "ISIC id, and those images' lesions are removed): keep an external test set external "
        "when a training dataset contains it (ISIC 2017 inside ISIC 2019)")
    on_bad_row: OnError = Field(
        "fail", description="bad rows (unknown label, missing image...): fail, or skip them "
        "with a logged count")

    @field_validator("data_dir", "data_format", "images_dir", "exclude_data_dir", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            return [p.strip() for p in str(value).split(",") if p.strip()]
        return value

    @model_validator(mode="after")
    def _check_datasets(self) -> DatasetSettings:
        if not self.data_dir:
            raise ValueError("give at least one --data-dir")
        if len(self.data_format) not in (1, len(self.data_dir)):
            raise ValueError(f"{len(self.data_format)} --data-format values for "
                             f"{len(self.data_dir)} --data-dir: give one for all or one each")
        if self.images_dir and len(self.images_dir) != len(self.data_dir):
            raise ValueError(f"{len(self.images_dir)} --images-dir values for "
                             f"{len(self.data_dir)} --data-dir: give one per dataset")
        return self
