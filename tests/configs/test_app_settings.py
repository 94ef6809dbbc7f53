"""configs.app.AppSettings: where the web app listens by default, and how to open it."""

from __future__ import annotations

import os

import pytest

from configs.app import AppSettings
from configs.base import ENV_PREFIX


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No MELANOMA_* variables from the outer environment, and no stray .env in cwd."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_app_listens_on_loopback_by_default() -> None:
    """Uploads are medical images: only this machine can reach a default server."""
    assert AppSettings.from_cli([]).host == "127.0.0.1"


@pytest.mark.parametrize(("argv", "env"), [(["--host", "0.0.0.0"], {}),
                                           ([], {"MELANOMA_HOST": "0.0.0.0"})],
                         ids=["flag", "env"])
def test_the_network_is_opened_explicitly(monkeypatch, argv, env) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert AppSettings.from_cli(argv).host == "0.0.0.0"
