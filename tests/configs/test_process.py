"""Entry points restart once on tcmalloc (unless told not to), serving commands let idle OpenMP
threads sleep, and both say what they run with."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from configs import process
from configs.base import REPO_ROOT


@pytest.mark.parametrize(("argv", "module"), [
    (["python", "-m", "eval.evaluate", "--data", "x"], "eval.evaluate"),
    (["python", "-u", "-m", "app", "--port", "1"], "app"),
    (["python", "-mtraining.pl_train"], "training.pl_train"),
    (["python", "-c", "print(1)"], None),
    (["python", "script.py", "-m", "app"], None),
    (["python", "-m", "pytest", "tests"], "pytest"),
])
def test_running_module(monkeypatch, argv: list[str], module: str | None) -> None:
    monkeypatch.setattr(sys, "orig_argv", argv)
    assert process.running_module() == module


class _Exec(Exception):
    """Raised instead of replacing the test process."""


def _capture_exec(monkeypatch) -> list:
    calls = []

    def fake_execve(path, argv, env):
        calls.append((path, argv, env))
        raise _Exec
    monkeypatch.setattr(os, "execve", fake_execve)
    return calls


@pytest.fixture
def plain_process(monkeypatch):
    """A process on system malloc with nothing preloaded and no earlier restart."""
    for name in ("LD_PRELOAD", process.ALLOCATOR_ENV, process.REEXEC_MARK):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(process, "loaded_allocator", lambda: "system")
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "eval.evaluate", "--fold", "0"])


def test_restarts_once_with_tcmalloc_preloaded(plain_process, monkeypatch) -> None:
    calls = _capture_exec(monkeypatch)
    monkeypatch.setattr(process, "find_tcmalloc", lambda: "/usr/lib/libtcmalloc_minimal.so.4")
    with pytest.raises(_Exec):
        process.ensure_fast_allocator()
    path, argv, env = calls[0]
    assert path == sys.executable and argv == [sys.executable, "-m", "eval.evaluate",
                                               "--fold", "0"]
    assert env["LD_PRELOAD"] == "/usr/lib/libtcmalloc_minimal.so.4"
    assert env[process.REEXEC_MARK] == "1"
    monkeypatch.setenv(process.REEXEC_MARK, "1")
    process.ensure_fast_allocator()  # the restarted process never restarts again
    assert len(calls) == 1


@pytest.mark.parametrize(("env", "value"), [("MELANOMA_ALLOCATOR", "system"),
                                            ("LD_PRELOAD", "/usr/lib/libjemalloc.so.2")])
def test_no_restart_when_turned_off_or_user_preloaded(plain_process, monkeypatch, env: str,
                                                      value: str) -> None:
    calls = _capture_exec(monkeypatch)
    monkeypatch.setattr(process, "find_tcmalloc", lambda: "/usr/lib/libtcmalloc_minimal.so.4")
    monkeypatch.setenv(env, value)
    process.ensure_fast_allocator()
    assert calls == []


def test_missing_tcmalloc_warns_with_the_install_line(plain_process, monkeypatch,
                                                     caplog) -> None:
    calls = _capture_exec(monkeypatch)
    monkeypatch.setattr(process, "find_tcmalloc", lambda: None)
    with caplog.at_level(logging.WARNING):
        process.ensure_fast_allocator()
    assert calls == []
    assert "apt-get install libtcmalloc-minimal4" in caplog.text


@pytest.mark.parametrize(("argv", "user", "env_backend", "expected"), [
    (["app"], None, None, "PASSIVE"),
    (["eval.evaluate", "--backend", "openvino"], None, None, "PASSIVE"),
    (["eval.predict"], None, None, "PASSIVE"),
    (["eval.benchmark", "--backend=auto"], None, None, "PASSIVE"),
    (["app"], "ACTIVE", None, "ACTIVE"),  # the user's choice stays
    (["app", "--backend", "eager"], None, None, None),  # torch runs the network: default kept
    (["eval.benchmark", "--backend=torchscript"], None, None, None),
    (["app"], None, "Eager", None),  # the backend from MELANOMA_BACKEND counts too
    (["training.pl_train"], None, None, None), (["eval.adapt"], None, None, None),  # torch works
    (["pytest"], None, None, None),
])
def test_serving_commands_let_idle_openmp_threads_sleep(monkeypatch, argv: list[str],
                                                       user: str | None,
                                                       env_backend: str | None,
                                                       expected: str | None) -> None:
    monkeypatch.setattr(process, "ensure_fast_allocator", lambda: None)
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", *argv])
    for name, value in ((process.BACKEND_ENV, env_backend), (process.OMP_WAIT_ENV, user)):
        monkeypatch.setenv(name, value or "")  # recorded, so restored afterwards
        if value is None:
            monkeypatch.delenv(name)
    process.reexec_if_entry_point()
    assert os.environ.get(process.OMP_WAIT_ENV) == expected


def test_evaluate_says_its_openmp_wait_policy() -> None:
    assert "OMP_WAIT_POLICY=PASSIVE)" in _run_evaluate()
    assert "OMP_WAIT_POLICY=ACTIVE)" in _run_evaluate(OMP_WAIT_POLICY="ACTIVE")


def _run_evaluate(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LD_PRELOAD", process.ALLOCATOR_ENV, process.REEXEC_MARK,
                          process.OMP_WAIT_ENV)}
    done = subprocess.run([sys.executable, "-m", "eval.evaluate", "--data", "/nonexistent"],
                          cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    return done.stderr


@pytest.mark.skipif(process.find_tcmalloc() is None, reason="tcmalloc is not installed here "
                    "(apt-get install libtcmalloc-minimal4)")
def test_evaluate_runs_on_tcmalloc_without_ld_preload_and_says_so() -> None:
    assert "runtime: allocator tcmalloc (libtcmalloc_minimal" in _run_evaluate()
    assert "runtime: allocator system" in _run_evaluate(MELANOMA_ALLOCATOR="system")
