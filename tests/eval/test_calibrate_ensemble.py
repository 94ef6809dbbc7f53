"""eval.calibrate on an ensemble folder: calibrated members, thresholds re-chosen on the
ensemble's own unseen predictions, read back by evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval import calibrate, evaluate
from models.bundle.ensemble import load_ensemble, save_ensemble
from models.bundle.io import load_bundle
from tests.eval.conftest import build_bundle

FAST = ["--n-boot", "20", "--no-progress", "--num-workers", "0", "--batch-size", "6",
        "--backend", "eager"]
TARGET = 0.75


def _eval(out: Path, data: Path, *bundles: Path) -> tuple[dict, pd.DataFrame]:
    args = [a for b in bundles for a in ("--bundle", str(b))]
    assert evaluate.main([*args, "--data", str(data), "--out", str(out), "--tta", *FAST]) == 0
    return json.loads((out / "metrics.json").read_text()), pd.read_csv(out / "predictions.csv")


@pytest.fixture(scope="module")
def members(ham_source, bundle64, tmp_path_factory) -> list[Path]:
    """Two members, each calibrated (temperature, TTA mean) on its own predictions."""
    root = tmp_path_factory.mktemp("members")
    raws = [bundle64, build_bundle(root / "raw1", seed=1, size=64, name="m1")]
    out = []
    for i, raw in enumerate(raws):
        _eval(root / f"eval{i}", ham_source, raw)
        assert calibrate.main(["--bundle", str(raw), "--predictions",
                               str(root / f"eval{i}" / "predictions.csv"), "--score", "tta_mean",
                               "--method", "temperature", "--out", str(root / f"cal{i}")]) == 0
        out.append(root / f"cal{i}")
    return out


@pytest.fixture(scope="module")
def ensemble_run(members, ham_source, tmp_path_factory) -> tuple[Path, Path]:
    """The ensemble of the calibrated members (members' mean thresholds) and its TTA run."""
    root = tmp_path_factory.mktemp("ens")
    folder = save_ensemble(root / "ens", [load_bundle(m) for m in members], name="pair")
    _eval(root / "eval", ham_source, folder)
    return folder, root / "eval" / "predictions.csv"


def test_thresholds_are_chosen_on_the_ensembles_predictions(ensemble_run, ham_source,
                                                            tmp_path):
    folder, preds = ensemble_run
    out = tmp_path / "fitted"
    assert calibrate.main(["--bundle", str(folder), "--predictions", str(preds),
                           "--sensitivity-target", str(TARGET), "--fitted-on", "unit test",
                           "--out", str(out)]) == 0
    old, new = load_ensemble(folder), load_ensemble(out)
    assert [m.bundle_id for m in new.members] == [m.bundle_id for m in old.members]
    assert all(m.decision.method == "temperature" for m in new.members)
    table = pd.read_csv(preds)
    y, p = table["label"].to_numpy(), table["prob"].to_numpy()
    t = new.thresholds["sensitivity_target"]
    assert (p[y == 1] >= t).mean() >= TARGET
    assert not np.isclose(t, old.thresholds["sensitivity_target"])
    fit = new.info["decision_fit"]
    assert (fit["fitted_on"], fit["n"], fit["n_pos"]) == ("unit test", len(y), int(y.sum()))
    assert fit["members_decide_on"] == ["mean of the 8 TTA views, temperature-calibrated"]
    assert fit["previous_thresholds"] == old.thresholds
    assert "unit test" in new.info["thresholds_rule"]
    # Evaluation reads the new thresholds; the scores (and their ranking) are the same.
    metrics, again = _eval(tmp_path / "again", ham_source, out)
    np.testing.assert_allclose(again["prob"], p, atol=1e-9)
    assert metrics["thresholds"]["sensitivity_target"]["threshold"] == pytest.approx(t)
    assert metrics["ensemble"]["ensemble_id"] == new.ensemble_id


def test_members_given_one_by_one_count_as_the_ensemble(ensemble_run, members, ham_source,
                                                        tmp_path):
    folder, preds = ensemble_run
    _eval(tmp_path / "loose", ham_source, *members)
    assert calibrate.main(["--bundle", str(folder), "--predictions",
                           str(tmp_path / "loose" / "predictions.csv"), "--out",
                           str(tmp_path / "fitted")]) == 0
    fitted = load_ensemble(tmp_path / "fitted").thresholds
    assert calibrate.main(["--bundle", str(folder), "--predictions", str(preds), "--out",
                           str(tmp_path / "fitted2")]) == 0
    assert load_ensemble(tmp_path / "fitted2").thresholds == pytest.approx(fitted)


@pytest.mark.parametrize(("case", "fact"), [
    ("method", "calibrate each member"), ("score", "calibrate each member"),
    ("member_alone", "not by this ensemble's members"), ("same_folder", "new folder")])
def test_ensemble_refusals_say_why(case, fact, ensemble_run, members, ham_source, tmp_path,
                                   capsys):
    folder, preds = ensemble_run
    args, out = [], tmp_path / "new"
    if case == "method":
        args = ["--method", "platt"]
    elif case == "score":
        args = ["--score", "tta_mean"]
    elif case == "member_alone":
        _eval(tmp_path / "one", ham_source, members[0])
        preds = tmp_path / "one" / "predictions.csv"
    else:
        out = folder
    assert calibrate.main(["--bundle", str(folder), "--predictions", str(preds), *args,
                           "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fact in err and len(err.strip().splitlines()) == 1
