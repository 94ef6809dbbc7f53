"""FastAPI app factory: `/healthz` beside the Gradio UI and API mounted at `/`.

The server bounds its work (Gradio queue: `max_concurrency` analyses at once, `max_queue`
waiting, uploads up to `max_upload_mb`), keeps uploads out of its logs and off its disk (see
`app.uploads`), and sweeps its private temp folder while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tomllib
from collections.abc import AsyncIterator
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Response

from app.report import ReportStore
from app.service import REPORT_ROUTE
from app.ui import build_ui
from app.uploads import UploadCounter, UploadStore
from configs.base import REPO_ROOT
from models.inference.engine import Engine
from models.second_stage.stack import Stack

log = logging.getLogger(__name__)

DIST_NAME = "melanoma-detect"
API_DESCRIPTION = (
    "Research use only, not a diagnosis. These are the server's plain HTTP routes. The "
    "analysis itself (`/analyze`, `/patient`) is a Gradio API: its parameters and return "
    "values are listed at `/?view=api` (the \"Use via API\" link at the foot of the page), "
    "and it is called with `gradio_client` (`Client(url).predict(handle_file(path), age, "
    "sex, site, api_name=\"/analyze\")`) or over Gradio's HTTP queue protocol.")
SWEEP_INTERVAL_MAX_S = 60.0


def app_version() -> str:
    """The product version: installed package metadata, else pyproject.toml, else "unknown"."""
    try:
        return importlib_metadata.version(DIST_NAME)
    except importlib_metadata.PackageNotFoundError:
        pass
    try:
        with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def gradio_upload_dir() -> Path:
    """The folder Gradio writes uploads and outputs to (it reads only GRADIO_TEMP_DIR)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def health_record(engine: Engine, stack: Stack | None = None) -> dict[str, Any]:
    """What `/healthz` answers: status, the loaded model (and an ensemble's members)."""
    health = {"status": "ok", "model_loaded": True, "bundle_id": engine.bundle.bundle_id,
              "version": app_version(), "backend": engine.backend,
              "precision": engine.precision,
              "device": "cpu"}  # the app always runs on the CPU (GPUs serve the batch commands)
    if getattr(engine, "members", None):  # an ensemble: which bundles score
        health["members"] = list(engine.members)
    if stack is not None:
        health["second_stage"] = {"folder": str(stack.folder),
                                  "libraries": [m.name for m in stack.members]}
    return health


def create_app(engine: Engine, *, max_concurrency: int = 1, max_queue: int = 32,
               max_upload_mb: float = 20.0, root_path: str = "", output_ttl_s: float = 300.0,
               upload_dir: str | os.PathLike | None = None,
               stack: Stack | None = None) -> FastAPI:
    """Build the ASGI app serving one engine.

    Args:
        engine: the loaded inference engine.
        max_concurrency: analyses running at the same time.
        max_queue: requests allowed to wait in Gradio's queue (more are refused).
        max_upload_mb: largest accepted upload in MB (Gradio answers 413 above it).
        root_path: public URL prefix when behind a reverse proxy ("" for none).
        output_ttl_s: age after which rendered overlays and never-analysed uploads are swept.
        upload_dir: Gradio's upload folder; must equal GRADIO_TEMP_DIR when given (Gradio reads
            its folder only from that variable, so the entry point sets it before startup).
        stack: the second stage (trees) whose score is shown beside the CNN's, or None.

    Returns:
        The FastAPI app (run it with uvicorn).
    """
    current = gradio_upload_dir()
    if upload_dir is not None and Path(upload_dir).resolve() != current.resolve():
        raise ValueError(f"upload_dir {upload_dir} differs from GRADIO_TEMP_DIR ({current}); "
                         "set the environment variable before creating the app")
    uploads, reports = UploadStore(current), ReportStore()
    blocks = build_ui(engine, uploads, reports=reports, stack=stack)
    # Example images were copied into the upload folder while the UI was built.
    protected = uploads.protect_existing()
    log.debug("protected %d example file(s) in the upload folder", protected)
    blocks.queue(default_concurrency_limit=max_concurrency, max_size=max_queue)

    interval = min(SWEEP_INTERVAL_MAX_S, max(1.0, output_ttl_s / 4.0))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def sweep_forever() -> None:
            while True:
                await asyncio.sleep(interval)
                # On the event loop on purpose (see app/uploads.py).
                uploads.sweep(output_ttl_s)

        task = asyncio.create_task(sweep_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            removed = uploads.sweep(0)
            log.info("shutdown: removed %d temporary file(s)", removed)

    # /docs describes the REST routes (health, report); the analysis API is Gradio's, described
    # at /?view=api and called with gradio_client (see the README).
    fastapi_app = FastAPI(title="Melanoma risk (research use only)", lifespan=lifespan,
                          version=app_version(), description=API_DESCRIPTION,
                          docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    # Counts uploads per path, so that identical bytes from two users survive the first
    # analysis (app/uploads.py).
    fastapi_app.add_middleware(UploadCounter, store=uploads)
    # Registered before Gradio's catch-all mount at "/" so that they are matched first.
    _add_rest_routes(fastapi_app, health_record(engine, stack), reports)
    gr.mount_gradio_app(
        fastapi_app, blocks, path="/", show_error=True,
        max_file_size=int(max_upload_mb * 1024 * 1024), root_path=root_path or None,
        # Run history would keep inputs (medical images) in the browser's storage.
        run_history=False, footer_links=["api", "gradio"], ssr_mode=False,
        css=_CSS)
    return fastapi_app


def _add_rest_routes(fastapi_app: FastAPI, health: dict[str, Any],
                     reports: ReportStore) -> None:
    """`/healthz` (GET and HEAD: load balancers and `curl -I` probe with HEAD) and the
    one-time report route."""

    @fastapi_app.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> dict[str, Any]:
        """Liveness and identity: the engine is loaded at startup or the server never starts."""
        return health

    @fastapi_app.get(f"/{REPORT_ROUTE}/{{token}}")
    def report(token: str) -> Response:
        """A prepared PDF report, served once from memory (then it is gone)."""
        pdf = reports.pop(token)
        if pdf is None:
            return Response("report not found: it is served once and expires after "
                            f"{int(reports.ttl_s)} s; prepare it again", status_code=404,
                            media_type="text/plain")
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": 'attachment; filename="melanoma-report.pdf"',
            "Cache-Control": "no-store"})


_CSS = """
.notice { border-left: 6px solid #c0392b; background: #fdecea; padding: 0.6em 1em;
          border-radius: 6px; }
.notice p { color: #611a15; margin: 0; }
.small-print p { font-size: 0.85em; opacity: 0.85; }
"""
