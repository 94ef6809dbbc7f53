"""Fixtures for the settings tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from configs.base import ENV_PREFIX


@pytest.fixture()
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No MELANOMA_* variables from the outer environment, and no stray .env in cwd (cwd is
    a fresh temporary folder, returned)."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
