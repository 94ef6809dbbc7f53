"""Scoring settings' machine-dependent defaults (configs/evaluation.py)."""

from __future__ import annotations

import pytest

import configs.evaluation as evaluation
from configs.evaluation import EvalSettings, PredictSettings, default_num_workers


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 0), (3, 2), (16, 2)])
def test_default_num_workers_follows_the_cpus_this_process_may_use(
        monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int) -> None:
    monkeypatch.setattr(evaluation.os, "sched_getaffinity", lambda _pid: set(range(cpus)),
                        raising=False)
    assert default_num_workers() == workers
    assert EvalSettings(data="x").num_workers == workers
    assert PredictSettings(images="x").num_workers == workers


def test_an_explicit_num_workers_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert EvalSettings(data="x", num_workers=3).num_workers == 3
    monkeypatch.setenv("MELANOMA_NUM_WORKERS", "1")
    assert EvalSettings(data="x").num_workers == 1
