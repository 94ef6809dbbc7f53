"""How entry points word a configuration or input problem: one readable line, flags named.

Every CLI (`python -m app`, `eval.evaluate`, `eval.compare`, `training.pl_train`) reports a bad
setting or bad input as a single line without a traceback; these helpers are that wording.
"""

from __future__ import annotations

from pydantic import ValidationError


def one_line(text: object) -> str:
    """``text`` as one line: every run of whitespace (newlines included) becomes one space.

    Args:
        text: a message or an exception.

    Returns:
        The single-line string.
    """
    return " ".join(str(text).split())


def settings_error_message(err: Exception) -> str:
    """A settings failure as one line naming each bad field by its CLI flag.

    Args:
        err: a pydantic ``ValidationError`` (one entry per bad field) or any settings error.

    Returns:
        ``"invalid settings: --flag: reason; ..."``, on one line.
    """
    if isinstance(err, ValidationError):
        parts = []
        for e in err.errors():
            flag = "--" + "-".join(str(p) for p in e["loc"]).replace("_", "-") if e["loc"] else ""
            parts.append(f"{flag}: {e['msg']}" if flag else e["msg"])
        return one_line("invalid settings: " + "; ".join(parts))
    return one_line(f"invalid settings: {err}")
