"""The dependency rules of docs/design.md, checked on every module's imports (lazy ones included).

Arrows point from importer to imported. Each product package may import only the packages
listed for it; `training` may use evaluation's metrics but nothing else of `eval`. A new
import that breaks a rule fails here, naming the file, the line and the imported module.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from configs.base import REPO_ROOT

PACKAGES = ("app", "configs", "data", "eval", "models", "training")

# package -> first-party modules it may import (a name allows the name and its submodules).
ALLOWED: dict[str, tuple[str, ...]] = {
    "data": ("data",),
    "configs": ("configs", "data"),  # vocabularies (dataset formats) come from data/
    "models": ("models", "data", "configs"),
    "eval": ("eval", "data", "models", "configs"),
    "training": ("training", "data", "models", "configs", "eval.metrics"),
    "app": ("app", "models", "configs"),
}


def _first_party_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of one of our packages in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from eval import metrics` imports eval.metrics: count each imported name too.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in PACKAGES]
    return found


def _allowed(importer: str, module: str) -> bool:
    return any(module == ok or module.startswith(ok + ".") for ok in ALLOWED[importer]) or (
        # `from eval.metrics import X` names X inside an allowed module.
        any(module.rsplit(".", 1)[0] == ok or module.rsplit(".", 1)[0].startswith(ok + ".")
            for ok in ALLOWED[importer]))


def test_every_product_package_has_a_rule() -> None:
    on_disk = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk == set(PACKAGES) == set(ALLOWED)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_follow_the_design(package: str) -> None:
    broken = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for line, module in _first_party_imports(path)
        if not _allowed(package, module)
    ]
    assert broken == [], f"{package}/ may import only {ALLOWED[package]}"


@pytest.mark.parametrize(("source", "expected"), [
    ("from data.readers import read_dataset\n", ["data.readers.read_dataset"]),
    ("import eval.writers.plots as p\n", ["eval.writers.plots"]),
    ("def f():\n    from training import module\n", ["training.module"]),
    ("from . import sibling\nimport numpy\n", []),
])
def test_the_import_scanner_sees_lazy_and_aliased_imports(tmp_path: Path, source: str,
                                                          expected: list[str]) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [m for _, m in _first_party_imports(path)] == expected


@pytest.mark.parametrize(("importer", "module", "ok"), [
    ("training", "eval.metrics.ranking.auroc", True),
    ("training", "eval.metrics.auroc", True),
    ("training", "eval.evaluate.run", False),
    ("training", "eval", False),
    ("app", "data.sites.UNKNOWN", False),
    ("app", "models.inference.engine.Engine", True),
    ("models", "training.components.module", False),
    ("data", "configs.training", False),
])
def test_the_rules_allow_and_refuse_as_written(importer: str, module: str, ok: bool) -> None:
    assert _allowed(importer, module) is ok


def test_the_torchvision_shim_is_applied_in_one_place() -> None:
    calls = [f"{p.relative_to(REPO_ROOT)}" for package in PACKAGES
             for p in (REPO_ROOT / package).rglob("*.py")
             if re.search(r"^\s*ensure_torchvision_importable\(\)", p.read_text(), re.M)]
    assert calls == ["models/__init__.py"]


@pytest.mark.parametrize("package", ["training", "eval", "app"])
def test_each_package_imports_before_torchvision_users(package: str) -> None:
    """Importing a package first makes lightning and timm importable (the shim ran)."""
    code = f"import {package}, lightning, timm, torchmetrics; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# Rooms: sub-packages of models/, eval/ and training/ (docs/design.md, "Rooms inside the
# packages"). room -> the rooms of the same package it may import; the package's top-level
# modules (its commands, and `models/_compat.py`) are outside every room.
ROOMS: dict[str, tuple[str, ...]] = {
    "models.nn": ("models.nn",),
    "models.bundle": ("models.nn", "models.bundle"),
    "models.explain": ("models.explain",),
    "models.inference": ("models.nn", "models.bundle", "models.explain", "models.inference"),
    "models.second_stage": ("models.nn", "models.bundle", "models.second_stage"),
    "eval.metrics": ("eval.metrics",),
    "eval.pipeline": ("eval.metrics", "eval.pipeline"),
    "eval.writers": ("eval.metrics", "eval.pipeline", "eval.writers"),
    "training.components": ("training.components",),
}
COMMAND_PACKAGES = ("eval", "training")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


def _room_of(module: str) -> str | None:
    return next((room for room in ROOMS if module == room or module.startswith(room + ".")),
                None)


def test_every_sub_package_is_a_room() -> None:
    on_disk = {_module_name(p.parent / "__init__.py") for package in ("models", "eval", "training")
               for p in (REPO_ROOT / package).glob("*/__init__.py")}
    assert on_disk == set(ROOMS)


@pytest.mark.parametrize("room", ROOMS)
def test_rooms_import_only_their_allowed_rooms(room: str) -> None:
    package = room.split(".")[0]
    broken = []
    for path in sorted((REPO_ROOT / Path(*room.split("."))).rglob("*.py")):
        for line, module in _first_party_imports(path):
            if module.split(".")[0] != package or module == package:
                continue  # other packages: the package rules above
            target = _room_of(module) or _room_of(module.rsplit(".", 1)[0])
            if target not in ROOMS[room] and module.split(".")[1] != "_compat":
                broken.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module}")
    assert broken == [], f"{room} may import only {ROOMS[room]} of its package"


@pytest.mark.parametrize("package", COMMAND_PACKAGES)
def test_commands_do_not_import_each_other(package: str) -> None:
    """What two commands share lives in a room (or in configs/, like the runner)."""
    commands = {_module_name(p) for p in (REPO_ROOT / package).glob("*.py")} - {package}
    broken = [f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
              for path in sorted((REPO_ROOT / package).rglob("*.py"))
              for line, module in _first_party_imports(path)
              if any(module == c or module.startswith(c + ".") for c in commands)
              and _module_name(path) not in (module, module.rsplit(".", 1)[0])]
    assert broken == []


@pytest.mark.parametrize("room", ROOMS)
def test_the_readme_layout_table_names_every_room(room: str) -> None:
    package, sub = room.split(".")
    readme = (REPO_ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{package}/` |"))
    assert f"`{sub}/`" in row, f"README's layout row for {package}/ does not name {sub}/"
