"""configs.app.AppSettings: where the web app listens by default, and how to open it."""

from __future__ import annotations

import pytest

from configs.app import AppSettings

pytestmark = pytest.mark.usefixtures("isolated")  # tests/configs/conftest.py


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
