"""Every CLI reports a bad flag as one line naming the flag, with exit code 2 (no traceback)."""

from __future__ import annotations

import errno
import logging

import pytest
from pydantic import ValidationError

from configs.errors import (
    one_line,
    settings_error_message,
    write_failure,
    write_failure_message,
)
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


@pytest.mark.parametrize(("err", "reason"), [
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (OSError(errno.EFBIG, "File too large"), "File too large"),
    (OSError(errno.EROFS, "Read-only file system", "/out/x"), "Read-only file system"),
    (RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed "
                  "writing file data/0: file write failed"),
     "the disk is full or a file size limit was hit"),
    (ValueError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                "message: \"No space left on device\" })"), "No space left on device"),
], ids=["enospc", "efbig", "erofs", "torch-save", "safetensors"])
def test_write_failures_are_recognised(err: BaseException, reason: str) -> None:
    assert write_failure(err) == reason
    try:  # also when wrapped by a library
        raise RuntimeError("checkpoint saving failed") from err
    except RuntimeError as wrapped:
        assert write_failure(wrapped) == reason


@pytest.mark.parametrize("err", [
    ValueError("a bug"), OSError(errno.ENOENT, "No such file or directory", "/out/x"),
    OSError(errno.EACCES, "Permission denied", "/data/images/a.jpg"),  # an input, not --out
], ids=["bug", "missing-file", "unreadable-input"])
def test_other_errors_are_not_write_failures(err: BaseException) -> None:
    assert write_failure(err, "/out") is None


def test_the_write_failure_line_names_the_place() -> None:
    line = write_failure_message("/out/run", "No space left on device")
    assert line.startswith("cannot write to /out/run: No space left on device.")
    assert "\n" not in line and "same command again" in line
