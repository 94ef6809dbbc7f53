"""Unit tests for app.service: what a new analysis takes out of the browser session."""

from __future__ import annotations

from typing import Any

import pytest

from app.service import AnalysisService

SESSION = {"view": "pixels", "source": "sha", "result": {"probability": 0.4},
           "cams": ["layer"]}


@pytest.mark.parametrize(("session", "expected"), [
    (None, None),
    ({}, {}),
    (SESSION, {"view": "pixels", "source": "sha", "previous_result": {"probability": 0.4}}),
    ({"view": "pixels", "previous_result": {"probability": 0.1}},
     {"view": "pixels", "previous_result": {"probability": 0.1}}),
])
def test_a_new_analysis_forgets_the_shown_result_in_the_session_object(
        session: dict[str, Any] | None, expected: dict[str, Any] | None) -> None:
    """In place: Gradio hands the handler its stored state, so a failed analysis (which
    returns nothing) still leaves no old result for the report or the threshold."""
    held = None if session is None else dict(session)
    AnalysisService.forget_result_in_place(held)
    assert held == expected
    assert AnalysisService.forget_result(session) == (expected or session)
