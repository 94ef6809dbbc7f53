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


def _uploaded(store: UploadStore, *paths: Path) -> None:
    """What the upload middleware does for one upload request returning `paths`."""
    store.upload_finished(store.upload_started(), [str(p) for p in paths])


def test_identical_uploads_survive_until_the_last_is_taken(tmp_path: Path) -> None:
    """Two users upload the same bytes: one content-addressed file, two analyses."""
    store = UploadStore(tmp_path)
    shared = _write(tmp_path / "samehash" / "example.jpg", b"pixels")
    _uploaded(store, shared)
    _uploaded(store, shared)
    assert store.references(shared) == 2
    assert store.take(shared) == b"pixels"
    assert shared.exists() and store.references(shared) == 1
    assert store.take(shared) == b"pixels"
    assert not shared.exists() and not shared.parent.exists()
    with pytest.raises(UploadMissingError):
        store.take(shared)


def test_deletion_waits_for_an_upload_in_flight(tmp_path: Path) -> None:
    """A second upload of the same bytes may already have renamed its file onto the path when
    the first is taken: the deletion waits for that upload's answer."""
    store = UploadStore(tmp_path)
    shared = _write(tmp_path / "samehash" / "example.jpg", b"pixels")
    _uploaded(store, shared)
    arriving = store.upload_started()  # the same bytes, not yet answered
    assert store.take(shared) == b"pixels"
    assert shared.exists()  # held for the upload in flight
    store.upload_finished(arriving, [str(shared)])
    assert shared.exists() and store.references(shared) == 1
    assert store.take(shared) == b"pixels"
    assert not shared.exists()


@pytest.mark.parametrize("returned", [[], ["other"]], ids=["failed-upload", "other-file"])
def test_a_held_deletion_runs_once_the_uploads_in_flight_return_other_files(
        tmp_path: Path, returned: list[str]) -> None:
    store = UploadStore(tmp_path)
    taken = _write(tmp_path / "h1" / "a.jpg")
    other = _write(tmp_path / "h2" / "b.jpg")
    _uploaded(store, taken)
    first, second = store.upload_started(), store.upload_started()
    store.take(taken)
    assert taken.exists()
    store.upload_finished(first, [str(other) for _ in returned])
    assert taken.exists()  # still waiting for the second
    store.upload_finished(second, [])
    assert not taken.exists() and other.exists()


def test_uploads_starting_after_a_take_do_not_hold_it_up(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    taken = _write(tmp_path / "h1" / "a.jpg")
    _uploaded(store, taken)
    before = store.upload_started()
    store.take(taken)
    after = store.upload_started()
    store.upload_finished(before, [])
    assert not taken.exists()
    store.upload_finished(after, [])


def test_discard_gives_up_one_upload(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    shared = _write(tmp_path / "samehash" / "a.jpg")
    _uploaded(store, shared)
    _uploaded(store, shared)
    assert store.discard(shared) is False and shared.exists()
    assert store.discard(shared) is True and not shared.exists()


def test_sweep_forgets_the_counts_of_what_it_deletes(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    old = _write(tmp_path / "h1" / "a.jpg", age_s=600)
    _uploaded(store, old)
    assert store.sweep(300) == 1 and store.references(old) == 0


def test_paths_outside_the_root_are_not_counted(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "root")
    _uploaded(store, tmp_path / "elsewhere.jpg")
    assert store.references(tmp_path / "elsewhere.jpg") == 0
