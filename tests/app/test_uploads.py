"""Unit tests for app.uploads: uploads are read once and deleted, examples are protected, the
sweep removes old files and empty folders, and nothing outside the root is ever touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.uploads import UploadMissingError, UploadStore


def _write(path: Path, data: bytes = b"img", age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age_s:
        old = time.time() - age_s
        os.utime(path, (old, old))
    return path


def test_take_reads_then_deletes_the_file_and_its_folder(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    upload = _write(tmp_path / "abc123" / "patient.jpg", b"pixels")
    assert store.take(upload) == b"pixels"
    assert not upload.exists() and not upload.parent.exists()
    with pytest.raises(UploadMissingError):
        store.take(upload)  # each upload can be analysed once


def test_take_keeps_a_shared_folder(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    first = _write(tmp_path / "same-content" / "a.jpg")
    second = _write(tmp_path / "same-content" / "b.jpg")
    store.take(first)
    assert second.exists()
    store.take(second)
    assert not (tmp_path / "same-content").exists()


def test_protected_examples_are_never_deleted(tmp_path: Path) -> None:
    example = _write(tmp_path / "hash" / "example.jpg", b"example", age_s=3600)
    store = UploadStore(tmp_path)
    assert store.protect_existing() == 1
    assert store.take(example) == b"example"
    assert store.take(example) == b"example"  # still there
    assert store.sweep(0) == 0 and example.exists()


def test_paths_outside_the_root_are_refused_and_untouched(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = _write(tmp_path / "elsewhere" / "secret.jpg")
    store = UploadStore(root)
    with pytest.raises(PermissionError):
        store.take(outside)
    with pytest.raises(PermissionError):
        store.take(root / ".." / "elsewhere" / "secret.jpg")
    assert store.discard(outside) is False
    assert outside.exists()


def test_sweep_removes_old_files_and_empty_folders_only(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    old = _write(tmp_path / "h1" / "image.webp", age_s=600)
    new = _write(tmp_path / "h2" / "image.webp")
    (tmp_path / "empty").mkdir()
    assert store.sweep(300) == 1
    assert not old.exists() and not old.parent.exists()
    assert new.exists()
    assert not (tmp_path / "empty").exists()
    assert store.sweep(0) == 1 and not new.exists()
    assert tmp_path.exists()  # the root itself stays
