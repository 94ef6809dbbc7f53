"""README claims that a new user acts on: the two-command quick start and where the API lives."""

from __future__ import annotations

import re

from configs.base import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_two_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "the quick start has no bash block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()
                if line.strip()]
    assert commands == ["make serve", "make test"]


def test_analyze_is_not_listed_as_a_rest_route() -> None:
    """/analyze and /patient are Gradio endpoints (GET/POST /analyze are 404)."""
    layout = next(line for line in README.splitlines() if line.startswith("| `app/` |"))
    rest = re.search(r"REST routes ([^;]*?), described at `/docs`", layout)
    assert rest and "/analyze" not in rest.group(1) and "/healthz" in rest.group(1)


def test_built_features_are_not_called_unbuilt() -> None:
    assert not re.search(r"patient view[^.]*is not built yet", README, re.IGNORECASE)
