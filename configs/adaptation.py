"""Typed configuration of `python -m eval.adapt` (AdaBN: BatchNorm statistics of a clinic)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from configs.base import Settings, settings_config

DEFAULT_MAX_IMAGES = 4000


class AdaptSettings(Settings):
    """Re-estimate a bundle's BatchNorm statistics on unlabelled images; write a new bundle.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m eval.adapt")

    bundle: Path = Field(description="the bundle folder to adapt (not an ensemble or a "
                         "two-stage bundle)")
    images: Path = Field(description="the clinic's images, unlabelled: a folder, a CSV "
                         "listing images, or an HDF5 file (as eval.predict reads them)")
    out: Path = Field(description="folder of the new bundle (only the BatchNorm statistics "
                      "differ; swapped in whole)")
    max_images: int = Field(DEFAULT_MAX_IMAGES, ge=16, description="at most this many images "
                            "(a seeded random sample) estimate the statistics")
    batch_size: int = Field(64, ge=2, description="images per forward pass (each batch's "
                            "statistics count equally)")
    seed: int = Field(0, description="seed of the image sample")
