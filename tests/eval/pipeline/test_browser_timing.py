"""The browser benchmark's parts that need no browser: request kinds, the example label, chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.pipeline.browser_timing import _kind, find_chromium, first_example_label


@pytest.mark.parametrize(("url", "kind"), [
    ("http://127.0.0.1:7860/gradio_api/queue/join?", "queue_join"),
    ("http://127.0.0.1:7860/gradio_api/queue/data?session_hash=abc", "event_stream"),
    ("http://127.0.0.1:7860/gradio_api/file=/tmp/gradio/x/overlay.webp", "file"),
    ("http://127.0.0.1:7860/gradio_api/run/predict", "direct_call"),
    ("http://127.0.0.1:7860/assets/index.js", "other"),
])
def test_request_kinds(url: str, kind: str) -> None:
    assert _kind(url) == kind


def test_first_example_label_comes_from_the_dataset_component() -> None:
    config = {"components": [
        {"type": "image", "props": {}},
        {"type": "dataset", "props": {"sample_labels": ["melanoma — 60 y", "nevus — 40 y"]}},
    ]}
    assert first_example_label(config) == "melanoma — 60 y"


def test_no_example_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no example cases"):
        first_example_label({"components": [{"type": "dataset", "props": {}}]})


def test_missing_chromium_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y chromium"):
        find_chromium(tmp_path / "no-such-chromium")
