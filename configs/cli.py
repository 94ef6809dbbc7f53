"""The one way every `python -m` command runs: settings -> action -> exit code.

Each command module declares a :class:`Command` (its settings class, what it does, which errors
are the user's and where it writes) and ends with ``sys.exit(COMMAND.main())``. The runner sets
up logging once, parses the settings (CLI flags > ``MELANOMA_*`` env vars > ``.env`` >
defaults), and turns the user's errors into one line and exit code 2: a bad flag, bad input,
or a place that cannot take the output (full disk, size limit, read-only folder). Anything
else is a bug and keeps its traceback.

The allocator is not the runner's job: a model-running command (`configs.process.ENTRY_POINTS`)
restarts on tcmalloc when its package is imported, before torch loads and before this runs.
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_settings import SettingsError

from configs.base import Settings
from configs.errors import one_line, settings_error_message, write_failure, write_failure_message

EXIT_OK = 0
EXIT_BAD_INPUT = 2
"""Exit code of a run stopped by a bad flag, bad input or an unwritable output: no traceback."""
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

log = logging.getLogger("configs.cli")


def configure_logging(level: int | str = logging.INFO, fmt: str = LOG_FORMAT) -> None:
    """The one log format of every command, on stderr (stdout is for tables and results)."""
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


def report_bad_input(message: object) -> int:
    """Write one ``error: ...`` line on stderr and return :data:`EXIT_BAD_INPUT`."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    return EXIT_BAD_INPUT


def failure_message(err: BaseException, out: object) -> str:
    """`err` as one line; a full disk, a size limit or a read-only place is worded as a failed
    write naming `out` (the command's output), anything else as itself."""
    reason = write_failure(err, out) if out is not None else None
    return write_failure_message(out, reason) if reason else one_line(err)


def report_failure(err: BaseException, out: object) -> int:
    """`report_bad_input` of :func:`failure_message`."""
    return report_bad_input(failure_message(err, out))


@dataclass(frozen=True)
class Command:
    """A `python -m` command: how its settings are read and what its errors look like.

    Attributes:
        settings: the pydantic-settings class its flags fill.
        action: what it does with the settings; returns a result for `show` (or, with no
            `show`, an int exit code or None for 0).
        bad_input: exception types that are the user's problem: reported on one line, exit 2.
        writes_to: the output place of a run (folder or file), so that a full disk or a
            read-only place is reported as a failed write naming it, also for errors outside
            `bad_input` (a library's failed save).
        show: prints the result (tables on stdout); returns an exit code or None for 0.
        errors: ``"line"`` writes ``error: <message>`` on stderr (the evaluation commands,
            for scripts); ``"log"`` logs it at ERROR (the training commands and the app).
        error_prefix: put before every error message (the app's ``cannot start: ``).
        log_level: the root log level (benchmarks keep their output to the measurements).
        log_format: the log line format (the server adds the time).
        with_invocation: also pass the command line as typed (``python -m eval.evaluate
            --bundle ...``) to `action`, for reports that say how they were made.
    """

    settings: type[Settings]
    action: Callable[[Any], Any]
    bad_input: tuple[type[BaseException], ...] = ()
    writes_to: Callable[[Any], Path | str | None] | None = None
    show: Callable[[Any, Any], int | None] | None = None
    errors: Literal["line", "log"] = "line"
    error_prefix: str = ""
    log_level: int = logging.INFO
    log_format: str = LOG_FORMAT
    with_invocation: bool = False

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run the command on `argv` (None = ``sys.argv[1:]``); the process exit code."""
        return run(self, argv)

    def fail(self, message: object) -> int:
        """Report one error line in this command's style; :data:`EXIT_BAD_INPUT`."""
        text = one_line(f"{self.error_prefix}{message}")
        if self.errors == "log":
            log.error("%s", text)
            return EXIT_BAD_INPUT
        return report_bad_input(text)


def run(command: Command, argv: Sequence[str] | None = None) -> int:
    """Settings -> action -> exit code (see the module docstring)."""
    configure_logging(command.log_level, command.log_format)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = command.settings.from_cli(args)
    except (ValidationError, SettingsError) as err:
        return command.fail(settings_error_message(err))
    out = command.writes_to(settings) if command.writes_to else None
    try:
        if command.with_invocation:
            prog = command.settings.model_config.get("cli_prog_name") or "python"
            result = command.action(settings, f"{prog} {shlex.join(args)}")
        else:
            result = command.action(settings)
    except command.bad_input as err:
        return command.fail(failure_message(err, out))
    except Exception as err:
        # A full disk, a size limit or a read-only output: one line, exit 2. Outputs are
        # written beside their target and swapped in (models/bundle/atomic.py), so nothing
        # half-written is left to trust and the same command can run again.
        if out is None or write_failure(err, out) is None:
            raise
        return command.fail(failure_message(err, out))
    if command.show is not None:
        code = command.show(settings, result)
        return EXIT_OK if code is None else code
    return result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK
