"""How entry points word a configuration or input problem: one readable line, flags named.

Every CLI (`python -m app`, `eval.evaluate`, `eval.compare`, `training.pl_train`) reports a bad
setting or bad input as a single line without a traceback; these helpers are that wording.
"""

from __future__ import annotations

import errno
import os

from pydantic import ValidationError

#: errno values that mean "this place cannot take the output" rather than a bug.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                          errno.EDQUOT})
#: How libraries that do not raise OSError (torch.save, safetensors) word the same failures.
WRITE_PHRASES = ("No space left on device", "File too large", "Read-only file system",
                 "Permission denied", "Disk quota exceeded", "file write failed")


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


def write_failure(err: BaseException, place: str | os.PathLike | None = None) -> str | None:
    """Why a write failed, if `err` (or an exception it came from) is a full disk, a file size
    limit, a read-only place or a missing permission; None for anything else (a bug).

    Args:
        err: the exception a command stopped with.
        place: the command's output folder or file: an OSError naming a file elsewhere (an
            input it could not read) is not a write failure.

    Returns:
        The reason (e.g. "No space left on device"), or None.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in WRITE_ERRNOS:
            if place is not None and current.filename and not _inside(current.filename, place):
                return None
            return os.strerror(current.errno)
        text = str(current)
        for phrase in WRITE_PHRASES:
            if phrase.lower() in text.lower():
                return "the disk is full or a file size limit was hit" if (
                    phrase == "file write failed") else phrase
        current = current.__cause__ or current.__context__
    return None


def _inside(path: str | os.PathLike, place: str | os.PathLike) -> bool:
    """Whether `path` is `place`, lies under it, or beside it (temporary siblings)."""
    path, place = os.path.abspath(path), os.path.abspath(place)
    return (path == place or path.startswith(place.rstrip(os.sep) + os.sep)
            or os.path.dirname(path) == os.path.dirname(place))


def write_failure_message(place: object, reason: str) -> str:
    """The one line a command prints when its output cannot be written."""
    return one_line(f"cannot write to {place}: {reason}. Nothing half-written is kept as "
                    "finished output; free some space or choose a writable place, then run "
                    "the same command again")
