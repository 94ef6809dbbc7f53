"""Typed web-app configuration (`python -m app`); every tunable of the server lives here."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from configs.base import DEFAULT_BUNDLE_DIR, Settings, settings_config
from configs.choices import Backend, Precision


class AppSettings(Settings):
    """Settings for serving a model bundle through the Gradio UI and the `/analyze` API.

    Each field is also the env var MELANOMA_<FIELD> and the CLI flag --<field-with-dashes>.
    """

    model_config = settings_config("python -m app")
    cli_renamed: ClassVar[dict[str, str]] = {"--stack": "--second-stage"}

    bundle: Path = Field(DEFAULT_BUNDLE_DIR, description="model bundle folder to serve (the "
                         "server refuses to start without a valid one)")
    second_stage: Path | None = Field(None, description="a training.stack folder trained on this "
                               "bundle's embeddings: also show the second stage's score "
                               "(image-level features: one image has no patient context)")
    # Loopback by default: uploads are medical images. 0.0.0.0 serves the network (the
    # container sets it inside; compose publishes on the host's loopback).
    host: str = Field("127.0.0.1", description="interface to listen on (127.0.0.1: this "
                      "machine only; 0.0.0.0: every interface, put TLS and authentication "
                      "in front)")
    port: int = Field(7860, ge=1, le=65535, description="TCP port")
    root_path: str = Field("", description="public URL prefix when served behind a reverse "
                           "proxy under a sub-path (e.g. /melanoma)")
    num_threads: int | None = Field(None, ge=1, description="torch intra-op threads "
                                    "(default: the engine's choice)")
    backend: Backend = Field(
        "auto", description="inference backend: auto = OpenVINO (when installed and its logits "
        "agree with eager), else ONNX Runtime, else TorchScript, else eager PyTorch")
    precision: Precision = Field(
        "auto", description="OpenVINO's inference precision: auto = bf16 where the CPU "
        "computes it natively (avx512_bf16 or AMX) and the logits agree with fp32, else fp32")
    cam_member: int = Field(0, ge=0, description="for an ensemble --bundle: the member whose "
                            "heatmaps are shown (every member scores)")
    engine_cache_dir: Path | None = Field(None, description="folder to cache the exported "
                                          "ONNX graph in (faster restarts); none = export "
                                          "at every start")
    max_concurrency: int = Field(1, ge=1, le=64, description="analyses run at the same time "
                                 "(1 is fastest per request on a 2-core CPU)")
    max_queue: int = Field(32, ge=1, description="requests allowed to wait; more are refused "
                           "with a 'queue full' error")
    max_upload_mb: float = Field(20.0, gt=0, le=1024, description="largest accepted upload, "
                                 "in MB")
    temp_dir: Path | None = Field(None, description="parent folder for the server's private "
                                  "upload/output folder (default: the system temp folder); "
                                  "the private folder is removed on shutdown")
    output_ttl_s: int = Field(300, ge=10, description="seconds that rendered overlays and "
                              "never-analysed uploads may stay on disk before they are swept")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info",
                                                                    description="log level")
    access_log: bool = Field(False, description="uvicorn access log (paths redacted: no file "
                             "names, no query strings)")
    shutdown_timeout_s: float = Field(3.0, gt=0, le=60, description="grace period for open "
                                      "connections on SIGTERM/SIGINT")

    @field_validator("root_path")
    @classmethod
    def _strip_root_path(cls, value: str) -> str:
        value = value.strip()
        return value.rstrip("/") if value not in ("", "/") else ""
