"""Settings of the studies built on training runs: cross-validation, leave-one-source-out, soups."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import CliPositionalArg

from configs.base import CommaList, Settings, settings_config
from configs.training import TrainSettings

LOSO_SUMMARY_FILE = "loso_summary.json"


class CVSettings(TrainSettings):
    """`pl_train`'s settings plus which folds to run.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m training.cv")

    folds: str = Field("all", description="folds to train: 'all' or a comma list (0,1,2)")

    @field_validator("folds")
    @classmethod
    def _check_folds(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if value == "all":
            return value
        if not all(p.strip().isdigit() for p in value.split(",")):
            raise ValueError(f"{value!r}: give 'all' or fold numbers like 0,1,2")
        n_folds = info.data.get("n_folds")  # validated first: declared in TrainSettings
        bad = sorted({int(p) for p in value.split(",") if n_folds and int(p) >= n_folds})
        if bad:
            raise ValueError(f"fold(s) {bad} do not exist with --n-folds {n_folds}")
        return value

    def fold_list(self) -> list[int]:
        """The requested folds, in order."""
        if self.folds == "all":
            return list(range(self.n_folds))
        return sorted({int(p) for p in self.folds.split(",")})


class LosoSettings(Settings):
    """Settings of the leave-one-source-out summary."""

    model_config = settings_config("python -m training.loso")

    runs: CommaList[Path] = Field(..., description="pl_train --val-source run folders")
    sensitivity_target: float = Field(0.8, gt=0, lt=1, description="sensitivity the pooled "
                                      "out-of-source threshold is chosen for")
    n_boot: int = Field(1000, ge=100, description="bootstrap resamples per interval")
    out: Path = Field(Path(LOSO_SUMMARY_FILE), description="summary JSON to write")


class SoupSettings(Settings):
    """Settings of `python -m training.soup CKPT CKPT [...] --out SOUP`."""

    model_config = settings_config("python -m training.soup")

    checkpoints: CliPositionalArg[list[Path]] = Field(
        description="Lightning checkpoints or bundle folders, fine-tuned from one start")
    out: Path = Field(..., description="soup checkpoint to write")
