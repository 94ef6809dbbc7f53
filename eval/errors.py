"""Bad input in evaluation and prediction: the exception, and how the CLIs report it."""

from __future__ import annotations

import sys

from configs.errors import one_line, write_failure, write_failure_message

EXIT_BAD_INPUT = 2
"""Exit code of a run stopped by bad input (files, flags, data): no traceback."""


class EvalError(ValueError):
    """Evaluation cannot proceed as asked (e.g. bundle/dataset mismatch, unreadable image).

    The message is one line that names the problem (file, column, value, bundle).
    """


def report_bad_input(message: object) -> int:
    """Write one ``error: ...`` line on stderr and return :data:`EXIT_BAD_INPUT`.

    Args:
        message: the problem (an exception or text); whitespace runs become one space.

    Returns:
        The exit code for the CLI.
    """
    sys.stderr.write(f"error: {one_line(message)}\n")
    return EXIT_BAD_INPUT


def report_failure(err: BaseException, out: object) -> int:
    """`report_bad_input` for a command writing to `out`: a full disk, a size limit or a
    read-only place is worded as a failed write naming `out` (`configs.errors`), anything else
    as itself."""
    reason = write_failure(err, out)
    return report_bad_input(write_failure_message(out, reason) if reason else err)
