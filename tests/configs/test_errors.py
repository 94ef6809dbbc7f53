"""Every CLI reports a bad flag as one line naming the flag, with exit code 2 (no traceback)."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from configs.errors import one_line, settings_error_message
from configs.training import TrainSettings


def test_one_line_collapses_every_whitespace_run() -> None:
    assert one_line("a\n  b\t\tc \r\n") == "a b c"
    assert one_line(ValueError("x\ny")) == "x y"


def test_settings_error_names_each_bad_flag() -> None:
    with pytest.raises(ValidationError) as caught:
        TrainSettings.from_cli(["--epochs", "0", "--batch-size", "x"])
    message = settings_error_message(caught.value)
    assert message.startswith("invalid settings: ")
    assert "--epochs: Input should be greater than or equal to 1" in message
    assert "--batch-size: " in message and "\n" not in message


def _train_main(argv: list[str]) -> int:
    from training.pl_train import main
    return main(argv)


def _compare_main(argv: list[str]) -> int:
    from eval.compare import main
    return main(argv)


@pytest.mark.parametrize(("entry", "argv", "flag"), [
    (_train_main, ["--epochs", "-1"], "--epochs"),
    (_compare_main, ["--baseline", "a.csv", "--candidate", "b.csv", "--n-boot", "0"],
     "--n-boot"),
])
def test_cli_bad_flag_is_one_line_and_exit_2(entry, argv, flag, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        assert entry(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("invalid settings: ")
    assert flag in errors[0] and "\n" not in errors[0]
