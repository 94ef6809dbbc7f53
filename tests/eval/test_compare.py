"""eval.compare: paired bootstrap of candidate-minus-baseline AUROC/pAUC on the same images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.compare import main, paired_comparison
from eval.metrics import auroc, bootstrap_ci, bootstrap_paired_difference
from eval.pipeline.errors import EvalError


@pytest.fixture
def predictions() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A weak baseline and a stronger candidate on 300 images in 100 three-image groups."""
    rng = np.random.default_rng(3)
    n = 300
    label = (rng.random(n) < 0.3).astype(int)
    noise = rng.normal(size=n)
    base = pd.DataFrame({"image_id": [f"I{i}" for i in range(n)], "label": label,
                         "prob": 1 / (1 + np.exp(-(0.6 * label + noise))),
                         "group_id": [f"L{i // 3}" for i in range(n)]})
    cand = base.copy()
    cand["prob"] = 1 / (1 + np.exp(-(2.5 * label + noise)))
    return base, cand


def test_identical_models_differ_by_exactly_zero(predictions) -> None:
    base, _ = predictions
    result = paired_comparison(base, base.copy(), n_boot=200)
    for m in result["metrics"].values():
        assert m["difference"] == 0.0 and m["ci"] == [0.0, 0.0]
    assert result["grouped"] and result["n"] == 300


def test_better_candidate_has_a_positive_interval(predictions) -> None:
    base, cand = predictions
    result = paired_comparison(base, cand, n_boot=300)
    m = result["metrics"]["auroc"]
    assert m["difference"] == pytest.approx(auroc(cand["label"], cand["prob"])
                                            - auroc(base["label"], base["prob"]))
    assert 0 < m["ci"][0] < m["difference"] < m["ci"][1]
    # Swapping the roles mirrors the difference.
    swapped = paired_comparison(cand, base, n_boot=300)["metrics"]["auroc"]
    assert swapped["difference"] == pytest.approx(-m["difference"])


def test_paired_interval_is_narrower_than_the_single_model_intervals(predictions) -> None:
    """Pairing removes the shared sampling noise: the point of comparing on the same resamples."""
    base, _ = predictions
    y = base["label"].to_numpy()
    a = base["prob"].to_numpy()
    b = np.clip(a + np.random.default_rng(0).normal(0, 0.02, len(a)), 0, 1)
    _, lo, hi = bootstrap_paired_difference(y, a, b, auroc, groups=base["group_id"], n_boot=300)
    _, lo_a, hi_a = bootstrap_ci(y, a, auroc, groups=base["group_id"], n_boot=300)
    assert (hi - lo) < 0.5 * (hi_a - lo_a)


def test_images_in_only_one_file_are_named(predictions) -> None:
    base, cand = predictions
    with pytest.raises(EvalError, match=r"1 image\(s\) are in only one file, e.g. 'I299' only "
                                        r"in the baseline"):
        paired_comparison(base, cand.iloc[:-1])


def test_label_disagreement_is_named(predictions) -> None:
    base, cand = predictions
    cand.loc[5, "label"] = 1 - cand.loc[5, "label"]
    with pytest.raises(EvalError, match="different labels.*'I5'"):
        paired_comparison(base, cand)


def test_cli_prints_the_table_and_refuses_bad_files(predictions, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    base, cand = predictions
    base.to_csv(tmp_path / "a.csv", index=False)
    cand.to_csv(tmp_path / "b.csv", index=False)
    assert main(["--baseline", str(tmp_path / "a.csv"), "--candidate", str(tmp_path / "b.csv"),
                 "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "auroc" in out and "pauc80" in out and "group-level" in out
    cand.drop(columns="prob").to_csv(tmp_path / "c.csv", index=False)
    assert main(["--baseline", str(tmp_path / "a.csv"), "--candidate", str(tmp_path / "c.csv")]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors and "c.csv" in errors[-1] and "prob" in errors[-1]
