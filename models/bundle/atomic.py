"""Atomic folder writes: a bundle folder is either the previous one or the new one, never half.

Bundles (and ensembles, two-stage and calibrated bundles) are written into a hidden temporary
folder beside the target, flushed to disk, and then swapped in with one rename. A process
killed at any moment leaves the previous folder byte for byte (and at worst a hidden
`.<name>.partial-<pid>-<random>` folder that nothing reads; the next write to the same target
removes it). On Linux the swap is `renameat2(RENAME_EXCHANGE)`, a single atomic step even when
the target exists; elsewhere (or on file systems without it) the old folder is first renamed to
`.<name>.previous-...` and the new one renamed into place, so a kill between the two renames
leaves the previous bundle intact under that name.

Files in the old folder that the new write does not produce (a README beside a bundle, ensemble
members kept inside their ensemble's folder) are carried over as hard links (copies where links
are impossible), so swapping never loses them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PARTIAL_TAG = ".partial-"
PREVIOUS_TAG = ".previous-"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Build a folder's new content in a temporary folder, then swap it in atomically.

    Usage::

        with atomic_folder(out) as tmp:
            (tmp / "bundle.json").write_text(...)

    Args:
        target: the folder to create or replace (its parent is created if needed).

    Yields:
        The empty temporary folder to write into (a sibling of `target`).

    Raises:
        Whatever the body raises (the temporary folder is removed and `target` is untouched),
        or OSError from the swap.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and (os.path.ismount(target) or not os.access(target.parent, os.W_OK)):
        # Nothing can be swapped in for a mount point (a container volume) or beside it in a
        # read-only parent: write in place, as the only way left.
        log.warning("%s: a mount point or in a read-only folder; writing in place, "
                    "not atomically", target)
        yield target
        return
    _remove_stale_partials(target)
    tmp = target.with_name(f".{target.name}{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        yield tmp
        if target.is_dir():
            _carry_over(target, tmp)
        _fsync_tree(tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, target: Path) -> None:
    """Make `tmp` the new `target` (and delete the old one, if any)."""
    if not target.exists():
        os.rename(tmp, target)
        _fsync_dir(target.parent)
        return
    if _exchange(tmp, target):  # tmp now holds the old folder
        _fsync_dir(target.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    previous = target.with_name(f".{target.name}{PREVIOUS_TAG}{secrets.token_hex(4)}")
    os.rename(target, previous)
    os.rename(tmp, target)
    _fsync_dir(target.parent)
    shutil.rmtree(previous, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _carry_over(old: Path, new: Path) -> None:
    """Hard-link (or copy) into `new` every entry of `old` that `new` does not have."""
    for entry in old.iterdir():
        dest = new / entry.name
        if dest.exists() or dest.is_symlink():
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), dest)
        elif entry.is_dir():
            shutil.copytree(entry, dest, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, dest)


def _link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` (so that the swap never exposes data still
    in flight to the disk after a power loss; a killed process needs no flush)."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _remove_stale_partials(target: Path) -> None:
    """Delete what killed writes to `target` left behind (their process is gone); a previous
    folder whose replacement never arrived is put back first."""
    previous = sorted(target.parent.glob(f".{target.name}{PREVIOUS_TAG}*"))
    if previous and not target.exists():
        log.warning("restoring %s from %s (an interrupted write)", target, previous[0])
        os.rename(previous.pop(0), target)
    leftovers = previous + [p for p in target.parent.glob(f".{target.name}{PARTIAL_TAG}*")
                            if not _writer_alive(p.name)]
    for leftover in leftovers:
        log.info("removing %s (left by an interrupted write)", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _writer_alive(name: str) -> bool:
    """True if the pid recorded in a partial folder's name is a running process."""
    try:
        pid = int(name.rsplit(PARTIAL_TAG, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write one file so that readers see the old content or the new, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))
