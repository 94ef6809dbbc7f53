"""Leave-one-source-out summary: per-source table and the pooled out-of-source threshold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.metrics.ranking import auroc
from training.loso import main, read_run, summarise


def _run(root: Path, sources: list[str] | None, targets, probs) -> Path:
    (root / "bundle").mkdir(parents=True)
    data = {"val_sources": sources} if sources else {}
    (root / "bundle" / "bundle.json").write_text(json.dumps({"training_data": data}))
    n = len(targets)
    pd.DataFrame({"image_id": [f"{root.name}{i}" for i in range(n)],
                  "group_id": [f"{root.name}{i // 2}" for i in range(n)],
                  "target": targets, "prob": probs}).to_csv(root / "val_predictions.csv",
                                                            index=False)
    return root


A = ([1, 1, 0, 0, 0, 0], [0.9, 0.4, 0.5, 0.2, 0.1, 0.3])
B = ([1, 0, 1, 0, 0, 0, 1, 0], [0.8, 0.7, 0.6, 0.1, 0.2, 0.3, 0.35, 0.05])


def test_summary_by_hand(tmp_path):
    held = {"A": read_run(_run(tmp_path / "a", ["A"], *A))[1],
            "B+C": read_run(_run(tmp_path / "b", ["B", "C"], *B))[1]}
    out = summarise(held, sensitivity_target=0.8, n_boot=200)
    # Pooled positives' scores: 0.9 0.8 0.6 0.4 0.35; 4 of 5 = 0.8 needs t = 0.4.
    assert out["pooled_threshold"] == pytest.approx(0.4)
    a = out["sources"]["A"]
    assert a["auroc"] == pytest.approx(auroc(A[0], A[1]))
    assert a["at_pooled_threshold"]["sensitivity"] == pytest.approx(1.0)  # 0.9, 0.4 >= 0.4
    assert a["at_pooled_threshold"]["specificity"] == pytest.approx(0.75)  # 0.5 is called
    b = out["sources"]["B+C"]
    assert b["at_pooled_threshold"]["sensitivity"] == pytest.approx(2 / 3)
    assert b["at_pooled_threshold"]["specificity"] == pytest.approx(0.8)
    assert out["min_auroc"] == min(a["auroc"], b["auroc"])
    assert out["pooled"]["n"] == 14 and out["pooled"]["n_pos"] == 5


def test_cli_writes_summary_and_refuses_non_loso_runs(tmp_path):
    a = _run(tmp_path / "a", ["A"], *A)
    b = _run(tmp_path / "b", ["B"], *B)
    out = tmp_path / "loso.json"
    assert main(["--runs", str(a), "--runs", str(b), "--out", str(out), "--n-boot", "100"]) == 0
    summary = json.loads(out.read_text())
    assert set(summary["sources"]) == {"A", "B"}
    assert np.isfinite(summary["sources"]["B"]["auroc_ci"]).all()
    plain = _run(tmp_path / "c", None, *A)
    with pytest.raises(ValueError, match="not a leave-source-out run"):
        read_run(plain)
