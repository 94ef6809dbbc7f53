"""Size limits that keep the product readable: modules up to 500 lines, functions up to 80.

A function may be longer only with a reason in a comment on the line above its `def` that
starts with ``# long:`` (e.g. a declarative layout that reads best in one piece).
"""

from __future__ import annotations

import ast

import pytest

from configs.base import REPO_ROOT

PACKAGES = ("app", "configs", "data", "eval", "models", "training")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
REASON_MARK = "# long:"


def _modules() -> list:
    return sorted(p for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_module_and_function_sizes(path) -> None:
    source = path.read_text()
    lines = source.splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{len(lines)} lines: split the module by concern"
    too_long = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            reason = lines[first - 2].strip().startswith(REASON_MARK) if first > 1 else False
            if length > MAX_FUNCTION_LINES and not reason:
                too_long.append(f"{node.name} ({length} lines, line {node.lineno})")
    assert too_long == [], f"functions over {MAX_FUNCTION_LINES} lines without a '# long:' reason"
