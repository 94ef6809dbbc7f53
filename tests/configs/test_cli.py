"""The one command runner (configs/cli.py): every `python -m` command uses it, and it turns
the user's errors into one line and exit code 2."""

from __future__ import annotations

import ast
import errno
import logging
import re
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field

from configs.base import REPO_ROOT, Settings, rename_flags, settings_config
from configs.cli import EXIT_BAD_INPUT, Command
from configs.process import ENTRY_POINTS


def _commands() -> list[str]:
    """Every module of ours that runs as `python -m`: it has a `__main__` block."""
    found = []
    for package in ("app", "configs", "data", "eval", "models", "training"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if re.search(r'^if __name__ == "__main__":', path.read_text(), re.MULTILINE):
                module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
                found.append(module.removesuffix(".__main__"))
    return found

COMMANDS = _commands()


def test_the_commands_are_the_documented_ones() -> None:
    assert sorted(COMMANDS) == sorted([
        "app", "eval.adapt", "eval.benchmark", "eval.calibrate", "eval.compare", "eval.evaluate",
        "eval.predict", "training.benchmark", "training.cv", "training.embed", "training.loso",
        "training.pl_train", "training.soup", "training.stack"])
    assert set(ENTRY_POINTS) <= set(COMMANDS)


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_uses_the_runner(module: str) -> None:
    """`COMMAND = Command(...)`, `main = COMMAND.main`, and none of what the runner does."""
    path = REPO_ROOT / Path(*module.split("."))
    path = path / "__main__.py" if path.is_dir() else path.with_suffix(".py")
    source = path.read_text()
    tree = ast.parse(source)
    assigned = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert "COMMAND" in assigned and isinstance(assigned["COMMAND"], ast.Call)
    assert ast.unparse(assigned["COMMAND"].func) == "Command"
    assert ast.unparse(assigned["main"]) == "COMMAND.main"
    for own_job in ("logging.basicConfig", "ensure_fast_allocator", "import argparse",
                    "settings_error_message", ".from_cli("):
        assert own_job not in source, f"{module} does {own_job} itself"


class _Tiny(Settings):
    model_config = settings_config("python -m tiny")

    count: int = Field(1, ge=1, description="how many")
    out: Path = Field(Path("out"), description="where")


class _UserError(ValueError):
    pass


def _command(action, **options) -> Command:
    return Command(_Tiny, action, bad_input=(_UserError,), writes_to=lambda s: s.out, **options)


@pytest.mark.parametrize("style", ["line", "log"])
def test_a_bad_flag_is_one_line_naming_it(style: str, capsys, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        code = _command(lambda s: None, errors=style).main(["--count", "0"])
    assert code == EXIT_BAD_INPUT
    lines = (capsys.readouterr().err.splitlines() if style == "line"
             else [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR])
    assert len(lines) == 1 and "--count: Input should be greater than or equal to 1" in lines[0]
    assert lines[0].startswith("error: invalid settings" if style == "line"
                               else "invalid settings")


def test_bad_input_is_one_line_with_the_prefix(capsys) -> None:
    def action(s):
        raise _UserError(f"row 3 of\n{s.out}: age -4")

    code = _command(action, error_prefix="cannot start: ").main(["--out", "x.csv"])
    assert code == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "error: cannot start: row 3 of x.csv: age -4\n"


def test_a_full_disk_anywhere_is_worded_as_a_failed_write(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"

    def action(s):  # a library's error type, not one of bad_input
        raise RuntimeError("save failed") from OSError(errno.ENOSPC, "No space left on device",
                                                      str(out / "a.bin"))

    assert _command(action).main(["--out", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write to {out}: No space left on device")
    assert len(err.splitlines()) == 1


def test_a_bug_keeps_its_traceback() -> None:
    def action(s):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        _command(action).main([])


@pytest.mark.parametrize(("result", "show", "code"), [
    (None, None, 0), (3, None, 3), ({"a": 1}, None, 0), (True, None, 0),
    ({"a": 1}, lambda s, r: None, 0), ({"a": 1}, lambda s, r: 1, 1)])
def test_exit_codes(result, show, code) -> None:
    assert _command(lambda s: result, show=show).main([]) == code


def test_show_gets_the_settings_and_the_result(capsys) -> None:
    command = _command(lambda s: s.count * 10, show=lambda s, r: print(f"{s.count} -> {r}"))
    assert command.main(["--count", "4"]) == 0
    assert capsys.readouterr().out == "4 -> 40\n"


def test_the_invocation_is_passed_as_typed() -> None:
    seen = []
    command = _command(lambda s, line: seen.append(line), with_invocation=True)
    assert command.main(["--out", "a b", "--count", "2"]) == 0
    assert seen == ["python -m tiny --out 'a b' --count 2"]


def test_flag_aliases() -> None:
    assert rename_flags(["--n", "5", "--n=6", "--name", "--out"], {"--n": "-n"}) == [
        "-n", "5", "-n=6", "--name", "--out"]


class _Renamed(_Tiny):
    cli_aliases: ClassVar[dict[str, str]] = {"--number": "--count"}
    cli_renamed: ClassVar[dict[str, str]] = {"--where": "--out"}


def test_aliases_are_silent_and_renamed_flags_warn(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        s = _Renamed.from_cli(["--number", "3", "--where=x"])
    assert (s.count, s.out) == (3, Path("x"))
    assert [r.getMessage() for r in caplog.records] == [
        "--where is now --out (the old spelling still works, for now)"]
