"""`.env.example` documents every setting of every entry point and every compose variable.

CI's Docker smoke test runs this same check first; keeping it in the default suite means a new
setting without its `.env.example` line fails in seconds, not after the slow tests.
"""

from __future__ import annotations

import importlib
import inspect
import re

from configs.base import ENV_PREFIX, REPO_ROOT, Settings


def _settings_classes() -> set[type[Settings]]:
    """Every Settings subclass in configs/ (developer benchmarks excepted: not the product)."""
    classes = set()
    for path in (REPO_ROOT / "configs").glob("*.py"):
        module = importlib.import_module(f"configs.{path.stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Settings) and cls is not Settings and "Benchmark" not in cls.__name__:
                classes.add(cls)
    return classes


def test_env_example_documents_every_setting_and_compose_variable():
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=",
                                (REPO_ROOT / ".env.example").read_text(), re.M))
    needed = {f"{ENV_PREFIX}{name.upper()}" for cls in _settings_classes()
              for name in cls.model_fields}
    compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)",
                             (REPO_ROOT / "docker-compose.yml").read_text()))
    assert len(needed) > 30, f"only {len(needed)} settings found: is configs/ importable?"
    assert sorted((needed | compose) - documented) == []
