"""Images stored inside one HDF5 file (the ISIC 2024 layout: one dataset per image id holding
the JPEG bytes), addressed as ``<file.hdf5>::<image id>`` wherever a path is expected.

The bytes are read without extracting anything to disk. File handles are cached per process
(keyed by the process id too): an h5py handle opened before a DataLoader forks its workers is
not used in the children, each opens its own.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

SEPARATOR = "::"
HDF5_SUFFIXES = (".hdf5", ".h5")

_handles: dict[tuple[int, str], object] = {}
_lock = threading.Lock()


def is_reference(source: object) -> bool:
    """Whether `source` is a ``<file.hdf5>::<key>`` image reference."""
    if not isinstance(source, str) or SEPARATOR not in source:
        return False
    return source.rsplit(SEPARATOR, 1)[0].lower().endswith(HDF5_SUFFIXES)


def reference(path: str | os.PathLike[str], key: str) -> str:
    """The reference of image `key` inside the HDF5 file at `path`."""
    return f"{Path(path).resolve()}{SEPARATOR}{key}"


def split_reference(source: str) -> tuple[str, str]:
    """(file path, key) of a reference."""
    path, key = source.rsplit(SEPARATOR, 1)
    return path, key


def _file(path: str):
    import h5py

    cache_key = (os.getpid(), path)
    with _lock:
        handle = _handles.get(cache_key)
        if handle is None:
            handle = h5py.File(path, "r")
            _handles[cache_key] = handle
        return handle


def keys(path: str | os.PathLike[str]) -> set[str]:
    """The image ids stored in an HDF5 file.

    Raises:
        OSError: not a readable HDF5 file.
    """
    return set(_file(str(Path(path).resolve())).keys())


def read_bytes(source: str) -> bytes:
    """The stored bytes of one referenced image.

    Raises:
        FileNotFoundError: no such file, or no such image id in it.
        OSError: not a readable HDF5 file.
    """
    path, key = split_reference(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"HDF5 file not found ({path})")
    handle = _file(path)
    if key not in handle:
        raise FileNotFoundError(f"image {key!r} is not in {Path(path).name}")
    data = handle[key][()]
    return data.tobytes() if hasattr(data, "tobytes") else bytes(data)
