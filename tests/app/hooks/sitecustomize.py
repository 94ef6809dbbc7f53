"""Test hook for live-server tests: put this folder on a server's PYTHONPATH to hold its work.

While the file named by ``TEST_HOLD_FILE`` exists, the server's patient-view scoring waits
(up to ``HOLD_LIMIT_S``), so a test can keep the analysis slot busy for exactly as long as it
needs, whatever the machine's speed. The patch is applied when ``app.patient`` is first
imported, so the server starts as it always does (its allocator re-exec included).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HOLD_LIMIT_S = 300.0
TARGET = "app.patient"


def _hold(module: ModuleType) -> None:
    """Wrap PatientView._score so it waits while the hold file exists."""
    hold_file = Path(os.environ["TEST_HOLD_FILE"])
    score = module.PatientView._score

    def held(self: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + HOLD_LIMIT_S
        while hold_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return score(self, *args, **kwargs)

    module.PatientView._score = held


class _Finder(importlib.abc.MetaPathFinder):
    """Finds app.patient with the normal finders and patches it once it has executed."""

    def find_spec(self, name: str, path: Any, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader, exec_module = spec.loader, spec.loader.exec_module

        def exec_and_hold(module: ModuleType) -> None:
            exec_module(module)
            _hold(module)

        loader.exec_module = exec_and_hold  # type: ignore[method-assign]
        return spec


if "TEST_HOLD_FILE" in os.environ:
    sys.meta_path.insert(0, _Finder())
