"""Tests for models.bundle.atomic and the bundle writers on it: a write that fails or is killed
(SIGKILL,
real processes) at any step leaves the previous folder byte for byte; the next write cleans up.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from models.bundle import atomic
from models.bundle.atomic import PARTIAL_TAG, PREVIOUS_TAG, atomic_folder, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[3]


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.*"))


def _old_folder(tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "bundle.json").write_text('{"old": true}\n')
    (target / "model.safetensors").write_bytes(b"old weights")
    return target


def test_a_new_folder_appears_whole(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "bundle"
    with atomic_folder(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        (tmp / "a.txt").write_text("a")
    assert snapshot(target) == {"a.txt": hashlib.sha256(b"a").hexdigest()}
    assert leftovers(target) == []


def test_replacing_swaps_the_content_and_keeps_other_files(tmp_path: Path) -> None:
    target = _old_folder(tmp_path)
    (target / "README.md").write_text("notes kept beside the bundle")
    (target / "members").mkdir()
    (target / "members" / "m0.json").write_text("member")
    with atomic_folder(target) as tmp:
        (tmp / "bundle.json").write_text('{"new": true}\n')
        (tmp / "model.safetensors").write_bytes(b"new weights")
    assert (target / "bundle.json").read_text() == '{"new": true}\n'
    assert (target / "model.safetensors").read_bytes() == b"new weights"
    assert (target / "README.md").read_text() == "notes kept beside the bundle"
    assert (target / "members" / "m0.json").read_text() == "member"
    assert leftovers(target) == []


def test_a_failing_write_leaves_the_previous_folder(tmp_path: Path) -> None:
    target = _old_folder(tmp_path)
    before = snapshot(target)
    with pytest.raises(OSError, match="disk full"), atomic_folder(target) as tmp:
        (tmp / "model.safetensors").write_bytes(b"half of the new weig")
        raise OSError(28, "disk full")
    assert snapshot(target) == before
    assert leftovers(target) == []


def test_without_an_atomic_exchange_the_fallback_swaps_too(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = _old_folder(tmp_path)
    with atomic_folder(target) as tmp:
        (tmp / "bundle.json").write_text("new")
    assert snapshot(target) == {"bundle.json": hashlib.sha256(b"new").hexdigest(),
                                "model.safetensors": hashlib.sha256(b"old weights").hexdigest()}
    assert leftovers(target) == []


def test_the_next_write_removes_dead_partials_and_restores_a_stranded_previous(
        tmp_path: Path) -> None:
    target = _old_folder(tmp_path)
    before = snapshot(target)
    dead = target.with_name(f".bundle{PARTIAL_TAG}999999999-abcd")  # no such pid
    dead.mkdir()
    (dead / "model.safetensors").write_bytes(b"half")
    target.rename(target.with_name(f".bundle{PREVIOUS_TAG}abcd"))  # killed between renames
    with atomic_folder(target) as tmp:
        assert snapshot(target) == before  # put back before anything else happens
        (tmp / "extra.txt").write_text("x")
    assert snapshot(target) == {**before, "extra.txt": hashlib.sha256(b"x").hexdigest()}
    assert leftovers(target) == []


def test_partials_of_a_live_writer_are_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    live = target.with_name(f".bundle{PARTIAL_TAG}{os.getppid()}-abcd")
    live.mkdir()
    with atomic_folder(target):
        pass
    assert live.exists()


def test_atomic_write_text_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text("old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert list(tmp_path.iterdir()) == [path]


# -- SIGKILL at each step of a real export, in a real process ----------------------------------

KILLER = r"""
import os, signal, sys
from pathlib import Path
import models.bundle.atomic as atomic
import models.bundle.io as bundle

target, point, writer = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)

def after(owner, name):
    real = getattr(owner, name)
    def wrapped(*a, **k):
        result = real(*a, **k)
        die()
        return result
    setattr(owner, name, wrapped)

if point == "after-weights":
    after(bundle, "save_file")
elif point == "before-swap":            # every file written, nothing swapped
    setattr(atomic, "_fsync_tree", die)
elif point == "after-swap":             # swapped in, the old folder not yet deleted
    after(atomic, "_exchange")
elif point == "between-renames":        # the fallback without an atomic exchange
    atomic._exchange = lambda a, b: False
    real_rename = os.rename
    def rename(src, dst):
        real_rename(src, dst)
        if atomic.PREVIOUS_TAG in str(dst):
            die()
    atomic.os.rename = rename
elif point != "none":
    raise SystemExit(f"unknown kill point {point}")

from tests.app.conftest import build_tiny_bundle
if writer == "bundle":
    build_tiny_bundle(target, seed=1)
else:
    from models.bundle.io import load_bundle
    from models.bundle.ensemble import save_ensemble
    members = [load_bundle(target.parent / "m0"), load_bundle(target.parent / "m1")]
    save_ensemble(target, members, name="new", combiner="weighted")
"""


def _export(target: Path, point: str, writer: str) -> int:
    proc = subprocess.run([sys.executable, "-c", KILLER, str(target), point, writer],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    if point == "none":
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize(("point", "new_expected"), [
    ("after-weights", False), ("before-swap", False), ("after-swap", True),
    ("between-renames", None)])
def test_a_killed_bundle_export_leaves_a_loadable_bundle(tmp_path: Path, point: str,
                                                         new_expected: bool | None) -> None:
    """Overwriting a working bundle (as a new default would) and killed at each step: the
    folder holds the old bundle byte for byte, or the complete new one; never a mixture."""
    from models.bundle.io import load_bundle
    from tests.app.conftest import build_tiny_bundle

    target = build_tiny_bundle(tmp_path / "default", seed=0)
    old = snapshot(target)
    assert _export(target, point, "bundle") == -signal.SIGKILL
    if new_expected is None:  # killed between the two renames: the old one waits aside
        stranded = leftovers(target)
        assert not target.exists()
        assert [snapshot(p) for p in stranded if PREVIOUS_TAG in p.name] == [old]
    elif new_expected:
        assert snapshot(target)["model.safetensors"] != old["model.safetensors"]
        load_bundle(target)  # verifies the new weights against the new bundle.json
    else:
        assert snapshot(target) == old
        load_bundle(target)
    # The same command again finishes the job and leaves nothing behind.
    _export(target, "none", "bundle")
    assert load_bundle(target).bundle_id.startswith("apptest-")
    assert snapshot(target) != old and leftovers(target) == []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before-swap", "after-swap"])
def test_a_killed_ensemble_export_leaves_the_previous_manifest(tmp_path: Path,
                                                                point: str) -> None:
    from models.bundle.ensemble import load_ensemble, save_ensemble
    from models.bundle.io import load_bundle
    from tests.app.conftest import build_tiny_bundle

    members = [load_bundle(build_tiny_bundle(tmp_path / f"m{i}", seed=i)) for i in range(2)]
    target = save_ensemble(tmp_path / "ens", members, name="old", combiner="mean")
    old = snapshot(target)
    assert _export(target, point, "ensemble") == -signal.SIGKILL
    combiner = load_ensemble(target).combiner
    assert combiner == ("weighted" if point == "after-swap" else "mean")
    if point == "before-swap":
        assert snapshot(target) == old
    _export(target, "none", "ensemble")
    assert load_ensemble(target).combiner == "weighted" and leftovers(target) == []
