"""models.inference.runtime: the DataLoader workers' start method beside fork-unsafe runtimes."""

from __future__ import annotations

import sys
import types

import pytest

from models.inference import runtime


@pytest.mark.parametrize(("loaded", "workers", "expected"), [
    (False, 2, None),
    (True, 2, runtime.SAFE_START_METHOD),
    (True, 0, None),  # no worker, no fork
])
def test_workers_fork_unless_openvino_is_loaded(monkeypatch, loaded, workers, expected):
    monkeypatch.delitem(sys.modules, "openvino", raising=False)
    if loaded:
        monkeypatch.setitem(sys.modules, "openvino", types.ModuleType("openvino"))
    assert runtime.worker_start_method(workers) == expected
