"""`python -m app`: serve a model bundle (Gradio UI + `/analyze` API + `/healthz`) with uvicorn.

Refuses to start, with a one-line reason and exit status 2, when no bundle is configured and
none is shipped, or when the bundle is not valid: it never serves random weights. SIGTERM and
SIGINT stop it cleanly (open connections get `shutdown_timeout_s`), and the private temp folder
holding uploads and rendered overlays is removed on the way out.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from configs.app import AppSettings
from configs.base import DEFAULT_BUNDLE_DIR, ENV_PREFIX
from configs.cli import LOG_FORMAT, Command
from configs.errors import one_line
from configs.process import runtime_summary

log = logging.getLogger("app")

SERVER_LOG_FORMAT = "%(asctime)s " + LOG_FORMAT


class _RedactAccessLog(logging.Filter):
    """Uvicorn access records without client address, query string or file names."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            path = str(path).split("?", 1)[0]
            if "file=" in path:  # Gradio serves uploads/outputs as /gradio_api/file=<path>
                path = path.split("file=", 1)[0] + "file=<redacted>"
            record.args = ("-", method, path, version, status)
        return True


def _configure_logging(level: str, access_log: bool) -> None:
    logging.getLogger().setLevel(level.upper())
    # Third-party loggers that would otherwise report request URLs at INFO.
    for name in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    access.addFilter(_RedactAccessLog())
    access.disabled = not access_log


def _exit_on_signal(signum: int, _frame: object) -> None:
    """Before the server runs (engine loading can take a while): exit through `finally`."""
    raise SystemExit(128 + signum)


def _ignore_replayed_signal(_signum: int, _frame: object) -> None:
    """After uvicorn's graceful shutdown it re-raises the signal it caught; we have stopped."""


def _bundle_problem(path: Path) -> str | None:
    """A cheap check before the engine loads, so a missing bundle fails at once."""
    if path.exists():
        return None
    if path.resolve() == DEFAULT_BUNDLE_DIR.resolve():
        return (f"no model bundle configured and none shipped at {path}: pass --bundle PATH or "
                f"set {ENV_PREFIX}BUNDLE (the server never runs without trained weights)")
    return f"model bundle {path} does not exist"


class StartError(ValueError):
    """The server cannot start with these settings; the message says why."""


def serve(settings: AppSettings) -> int:
    """Run the server until SIGTERM/SIGINT.

    Returns:
        The exit status: 0 after a clean shutdown, 1 when uvicorn could not start.

    Raises:
        StartError: no usable bundle (reported as ``cannot start: ...``, exit status 2).
    """
    _configure_logging(settings.log_level, settings.access_log)
    signal.signal(signal.SIGTERM, _exit_on_signal)

    problem = _bundle_problem(settings.bundle)
    if problem:
        raise StartError(problem)

    # Gradio reads these when it is imported / builds the app: set them first. The private
    # folder (mode 0700) holds uploads and rendered overlays only while they are needed.
    private_dir = Path(tempfile.mkdtemp(prefix="melanoma-app-", dir=settings.temp_dir))
    os.environ["GRADIO_TEMP_DIR"] = str(private_dir)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        return _serve(settings, private_dir)
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)


def _serve(settings: AppSettings, private_dir: Path) -> int:
    import uvicorn

    from models.bundle.ensemble import EnsembleError
    from models.bundle.io import BundleError
    from models.inference.ensemble_engine import EnsembleEngine, load_engine
    from models.second_stage.stack import bundle_stack, check_stack_for, load_stack
    from models.second_stage.trees import TreeError

    options = {"num_threads": settings.num_threads, "backend": settings.backend,
               "cache_dir": settings.engine_cache_dir, "precision": settings.precision}
    try:
        engine = load_engine(settings.bundle, cam_member=settings.cam_member, **options)
        stack = None
        if settings.second_stage is not None:
            if isinstance(engine, EnsembleEngine):
                raise TreeError("--second-stage serves a single bundle's second stage, not an ensemble")
            stack = load_stack(settings.second_stage)
            check_stack_for(stack, engine.bundle)
        elif not isinstance(engine, EnsembleEngine):
            stack = bundle_stack(engine.bundle)  # a two-stage bundle's trees
    except (BundleError, EnsembleError, TreeError) as err:
        raise StartError(one_line(err)) from None
    log.info("loaded bundle %s (backend %s, %s); %s", engine.bundle.bundle_id, engine.backend,
             engine.precision, runtime_summary(engine.num_threads))

    from app.server import create_app

    app = create_app(engine, max_concurrency=settings.max_concurrency,
                     max_queue=settings.max_queue, max_upload_mb=settings.max_upload_mb,
                     root_path=settings.root_path, output_ttl_s=settings.output_ttl_s,
                     upload_dir=private_dir, stack=stack)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                            access_log=settings.access_log,
                            timeout_graceful_shutdown=settings.shutdown_timeout_s,
                            server_header=False)
    server = uvicorn.Server(config)
    log.info("serving on http://%s:%d%s", settings.host, settings.port, settings.root_path)
    # uvicorn handles SIGTERM/SIGINT while it runs, then replays the signal to the previous
    # handlers: without these the replay would kill the process before its cleanup.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_replayed_signal)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        return 1
    log.info("stopped")
    return 0


def run() -> None:
    """Console entry: `main()`, then a fast exit once everything is cleaned up."""
    try:
        code = main()
    except SystemExit as stop:  # a signal during startup, or argparse's --help / usage error
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # The server has shut down and removed its files; tearing down the interpreter (torch,
    # ONNX Runtime, gradio modules) would add 3-8 s on a busy 2-core machine for nothing.
    os._exit(code)


COMMAND = Command(AppSettings, serve, bad_input=(StartError,), errors="log",
                  error_prefix="cannot start: ", log_format=SERVER_LOG_FORMAT)
main = COMMAND.main

if __name__ == "__main__":
    run()
