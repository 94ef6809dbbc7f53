"""Typed configuration of the inference-engine benchmark (`python -m eval.benchmark`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from configs.base import DEFAULT_BUNDLE_DIR, REPO_ROOT, Settings, settings_config
from configs.choices import Backend, Precision

DEFAULT_BENCH_IMAGES = REPO_ROOT.parent / "shared" / "data" / "ham10000" / "images"


class BenchmarkSettings(Settings):
    """Settings for timing the naive pipeline against the engine on real images.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m eval.benchmark")
    # pydantic-settings spells the one-letter field `-n`; the documented `--n` is the same.
    cli_aliases: ClassVar[dict[str, str]] = {"--n": "-n"}

    bundle: Path = Field(DEFAULT_BUNDLE_DIR, description="model bundle to time")
    random_bundle: bool = Field(False, description="TIMING ONLY: ignore --bundle and time a "
                                "random-init bundle (never used to serve or score anything)")
    random_backbone: str = Field("efficientnet_b0", description="backbone of --random-bundle")
    random_size: int = Field(224, ge=32, le=1024, description="input size of --random-bundle")
    images: Path = Field(DEFAULT_BENCH_IMAGES, description="folder of real images (JPEG/PNG); "
                         "metadata is taken from the dataset table in its parent when present")
    n: int = Field(20, ge=1, description="images timed (each by both pipelines, interleaved)")
    predict_repeats: int = Field(3, ge=1, description="single predictions timed per image")
    warmup: int = Field(2, ge=0, description="untimed warm-up analyses per pipeline")
    num_threads: int | None = Field(None, ge=1, description="torch/ONNX Runtime threads "
                                    "(default: all cores)")
    backend: Backend = Field("auto", description="engine backend")
    precision: Precision = Field("auto", description="OpenVINO's inference precision (auto: "
                                 "bf16 where the CPU computes it natively and it agrees)")
    server_url: str | None = Field(None, description="also time the /analyze endpoint of a "
                                   "running app through gradio_client (e.g. "
                                   "http://127.0.0.1:7860/)")
    server_calls: int = Field(20, ge=1, description="timed /analyze calls with --server-url")
    client_floor: bool = Field(False, description="with --server-url: also time gradio_client "
                               "against a trivial in-process Gradio app (no model): the "
                               "protocol's own floor, with and without a file upload")
    browser: bool = Field(False, description="with --server-url: also time click-to-result in "
                          "a real browser (Playwright + chromium): Analyze pressed on the first "
                          "example case to the result and every heatmap on screen")
    browser_reps: int = Field(20, ge=1, description="timed clicks with --browser")
    chromium_path: Path | None = Field(None, description="chromium executable for --browser "
                                       "(default: $CHROMIUM_PATH or chromium on PATH)")
    json_out: Path | None = Field(None, description="also write the results as JSON here")

    @model_validator(mode="after")
    def _check_paths(self) -> BenchmarkSettings:
        if not self.images.is_dir():
            raise ValueError(f"--images {self.images}: no such folder")
        if self.browser and not self.server_url:
            raise ValueError("--browser times a running app: give its --server-url too")
        return self
