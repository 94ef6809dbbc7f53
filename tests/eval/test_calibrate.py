"""eval.calibrate: a decision rule fitted on predictions, and evaluation/prediction reading it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval import calibrate, evaluate, predict
from eval.metrics import auroc, expected_calibration_error
from models.bundle.calibration import apply_platt, nll
from models.bundle.io import load_bundle
from tests.eval.conftest import build_bundle

N_BOOT = 20
FAST = ["--n-boot", str(N_BOOT), "--no-progress", "--num-workers", "0", "--batch-size", "6",
        "--backend", "eager"]


def _eval(bundle: Path, data: Path, out: Path, *extra: str) -> tuple[dict, pd.DataFrame]:
    assert evaluate.main(["--bundle", str(bundle), "--data", str(data), "--out", str(out),
                          *FAST, *extra]) == 0
    return (json.loads((out / "metrics.json").read_text()),
            pd.read_csv(out / "predictions.csv"))


@pytest.fixture(scope="module")
def raw_run(ham_source, bundle64, tmp_path_factory) -> Path:
    """TTA predictions of the uncalibrated bundle (the fitting set)."""
    out = tmp_path_factory.mktemp("raw") / "eval"
    _eval(bundle64, ham_source, out, "--tta")
    return out


@pytest.fixture(scope="module")
def calibrated(raw_run, bundle64, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "bundle"
    assert calibrate.main(["--bundle", str(bundle64), "--predictions",
                           str(raw_run / "predictions.csv"), "--score", "tta_mean",
                           "--sensitivity-target", "0.75", "--fitted-on", "unit test",
                           "--out", str(out)]) == 0
    return out


def test_written_bundle_records_the_rule_and_its_thresholds(calibrated, raw_run, bundle64):
    new, old = load_bundle(calibrated), load_bundle(bundle64)
    assert new.bundle_id == old.bundle_id  # same weights
    rule = new.decision
    assert rule.score == "tta_mean" and rule.method == "platt"
    cal = rule.calibration
    assert cal["fitted_on"] == "unit test" and cal["n"] == 24 and cal["n_pos"] == 8
    preds = pd.read_csv(raw_run / "predictions.csv")
    y, raw = preds["label"].to_numpy(), preds["prob"].to_numpy()
    p = rule.calibrate(raw)
    np.testing.assert_allclose(p, apply_platt(raw, cal["slope"], cal["intercept"]))
    # Platt minimises the NLL; the identity map is one of its candidates.
    assert nll(y, p) <= nll(y, raw) + 1e-9
    assert cal["ece_before"] == pytest.approx(expected_calibration_error(y, raw))
    assert cal["ece_after"] == pytest.approx(expected_calibration_error(y, p))
    # The screening threshold reaches the target on the calibrated fitting scores.
    t = new.thresholds["sensitivity_target"]
    assert (p[y == 1] >= t).mean() >= 0.75
    assert new.operating_curve.n == 24
    assert new.operating_curve.at(t)["sensitivity"] == pytest.approx((p[y == 1] >= t).mean())


def test_evaluation_decides_on_the_calibrated_tta_mean(calibrated, raw_run, ham_source,
                                                       tmp_path):
    # No --tta: the bundle's rule turns it on.
    metrics, preds = _eval(calibrated, ham_source, tmp_path / "out")
    raw_metrics = json.loads((raw_run / "metrics.json").read_text())
    raw = pd.read_csv(raw_run / "predictions.csv")
    assert metrics["tta"] is True
    assert any("TTA turned on" in n for n in metrics["notes"])
    rule = load_bundle(calibrated).decision
    np.testing.assert_allclose(preds["prob"], rule.calibrate(raw["prob"]), atol=1e-9)
    np.testing.assert_allclose(preds["prob_uncalibrated"], raw["prob"], atol=1e-12)
    assert metrics["auroc"] == pytest.approx(raw_metrics["auroc"], abs=1e-12)  # same ranking
    assert metrics["auroc"] == pytest.approx(auroc(preds["label"], preds["prob"]))
    assert metrics["uncalibrated"]["ece"] == pytest.approx(raw_metrics["ece"])
    assert metrics["ece"] == pytest.approx(expected_calibration_error(preds["label"],
                                                                      preds["prob"]))
    assert metrics["bundles"][0]["decision_rule"]["score"] == "tta_mean"


def test_prediction_uses_the_rule(calibrated, raw_run, ham_source, tmp_path):
    out = tmp_path / "pred.csv"
    assert predict.main(["--bundle", str(calibrated), "--images", str(ham_source / "images"),
                         "--out", str(out), "--no-progress", "--num-workers", "0",
                         "--backend", "eager"]) == 0
    got = pd.read_csv(out).set_index("image_id")
    raw = pd.read_csv(raw_run / "predictions.csv").set_index("image_id")
    bundle = load_bundle(calibrated)
    # The folder has no metadata: every row is scored with "unknown" age/sex/site, so only
    # the rule's structure is compared: the TTA views were run and the threshold applied.
    assert "probability_no_tta" in got.columns
    decided = got["probability"] >= bundle.threshold
    assert (got["decision"] == np.where(decided, "above threshold", "below threshold")).all()
    assert len(got) == len(raw)


@pytest.mark.parametrize(("case", "fact"), [
    ("no_metrics", "no metrics.json"),
    ("no_tta", "without --tta"),
    ("other_bundle", "not by the bundle"),
    ("already_calibrated", "already calibrated"),
    ("same_folder", "new folder"),
    ("two_stage", "a two-stage bundle"),
])
def test_bad_inputs_say_why(case, fact, raw_run, bundle64, calibrated, make_bundle,
                            ham_source, tmp_path, capsys):
    bundle, preds, out = bundle64, raw_run / "predictions.csv", tmp_path / "new"
    if case == "no_metrics":
        shutil.copy(preds, tmp_path / "predictions.csv")
        preds = tmp_path / "predictions.csv"
    elif case == "no_tta":
        _eval(bundle64, ham_source, tmp_path / "plain")
        preds = tmp_path / "plain" / "predictions.csv"
    elif case == "other_bundle":
        bundle = make_bundle(seed=9)
    elif case == "already_calibrated":
        bundle = calibrated
    elif case == "two_stage":
        bundle = tmp_path / "two"
        shutil.copytree(bundle64, bundle)
        info = json.loads((bundle / "bundle.json").read_text())
        info.update(schema_version=3, second_stage={"folder": "second_stage"})
        (bundle / "bundle.json").write_text(json.dumps(info))
    else:
        out = bundle64
    assert calibrate.main(["--bundle", str(bundle), "--predictions", str(preds),
                           "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fact in err and len(err.strip().splitlines()) == 1


def test_a_failed_rewrite_leaves_the_previous_calibrated_bundle(calibrated, raw_run, bundle64,
                                                                tmp_path, monkeypatch):
    """Issue 26: writing over an existing calibrated bundle and failing after the weights (the
    disk fills while writing bundle.json) leaves the old one byte for byte, still loadable."""
    target = tmp_path / "bundle"
    shutil.copytree(calibrated, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real_write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == "bundle.json":
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    assert calibrate.main(["--bundle", str(bundle64), "--predictions",
                           str(raw_run / "predictions.csv"), "--score", "tta_mean",
                           "--sensitivity-target", "0.9", "--out", str(target)]) == 2
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no partial sibling
    load_bundle(target)


# --proxy: the rule of a bundle trained on every source, fitted on other bundles of its recipe.

def _training_predictions(raw_run: Path, run: Path, bundle: Path | None) -> Path:
    """A pl_train run folder: val_predictions.csv.gz (single view) and maybe its bundle."""
    run.mkdir(parents=True)
    raw = pd.read_csv(raw_run / "predictions.csv")
    out = run / "val_predictions.csv.gz"
    pd.DataFrame({"image_id": raw["image_id"], "target": raw["label"],
                  "group_id": raw["group_id"], "prob": raw["prob_no_tta"]}).to_csv(out, index=False)
    if bundle is not None:
        shutil.copytree(bundle, run / "bundle")
    return out


def _proxy(bundle: Path, preds: Path, out: Path, *extra: str) -> int:
    return calibrate.main(["--bundle", str(bundle), "--predictions", str(preds), "--proxy",
                           "--out", str(out), *extra])


LEFT_OUT = {"val_sources": ["BCN"]}  # a leave-source-out run's training-data summary


@pytest.fixture(scope="module")
def proxy_run(ham_source, tmp_path_factory) -> tuple[Path, Path]:
    """A leave-source-out bundle of bundle64's recipe and its TTA predictions."""
    root = tmp_path_factory.mktemp("proxy")
    bundle = build_bundle(root / "bundle", seed=5, training_data=LEFT_OUT)
    _eval(bundle, ham_source, root / "eval", "--tta")
    return bundle, root / "eval"


def test_proxy_fits_on_another_bundle_of_the_recipe(proxy_run, make_bundle, tmp_path):
    proxy, run = proxy_run
    final = make_bundle(seed=9)  # same recipe, other weights
    out = tmp_path / "cal"
    assert _proxy(final, run / "predictions.csv", out, "--fitted-on", "LOSO runs") == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["decision_fit"]["proxy"]["bundles"] == [load_bundle(proxy).bundle_id]
    new = load_bundle(out)
    assert new.bundle_id == load_bundle(final).bundle_id and new.decision.score == "tta_mean"
    preds = pd.read_csv(run / "predictions.csv")
    y, p = preds["label"].to_numpy(), new.decision.calibrate(preds["prob"].to_numpy())
    # the threshold is chosen on the proxies' calibrated scores
    assert (p[y == 1] >= new.thresholds["sensitivity_target"]).mean() >= 0.8


@pytest.mark.parametrize("recorded", [True, False])
def test_proxy_accepts_a_bundle_scored_on_sources_it_never_trained_on(recorded, ham_source,
                                                                      make_bundle, tmp_path):
    """A fold run of other sources (no --val-source) scored on HAM10000 is a proxy; outputs
    written before metrics.json recorded the scored sources are read again from the data."""
    proxy = make_bundle(seed=3, training_data={"n_per_source": {"BCN": 30, "MSK": 10}})
    _eval(proxy, ham_source, tmp_path / "eval", "--tta")
    if not recorded:
        metrics_path = tmp_path / "eval" / "metrics.json"
        metrics = json.loads(metrics_path.read_text())
        del metrics["dataset"]["sources"]
        metrics_path.write_text(json.dumps(metrics))
    out = tmp_path / "cal"
    assert _proxy(make_bundle(seed=9), tmp_path / "eval" / "predictions.csv", out,
                  "--fitted-on", "LOSO runs") == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["decision_fit"]["proxy"]["bundles"] == [load_bundle(proxy).bundle_id]
    assert info["decision"]["calibration"]["n"] == 24


def test_proxy_refuses_a_bundle_scored_on_a_source_it_trained_on(ham_source, make_bundle,
                                                                 tmp_path, capsys):
    proxy = make_bundle(seed=3, training_data={"n_per_source": {"BCN": 30, "HAM10000": 10}})
    _eval(proxy, ham_source, tmp_path / "eval", "--tta")
    capsys.readouterr()
    assert _proxy(make_bundle(seed=9), tmp_path / "eval" / "predictions.csv", tmp_path / "cal",
                  "--fitted-on", "LOSO runs") == 2
    err = capsys.readouterr().err
    assert "trained on ['HAM10000']" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cal").exists()


@pytest.mark.parametrize("with_bundle", [True, False])
def test_proxy_reads_leave_source_out_training_predictions(with_bundle, raw_run, make_bundle,
                                                           tmp_path):
    proxy = make_bundle(seed=3, training_data=LEFT_OUT) if with_bundle else None
    preds = _training_predictions(raw_run, tmp_path / "run", proxy)
    out = tmp_path / "cal"
    assert _proxy(make_bundle(seed=9), preds, out, "--score", "single",
                  "--fitted-on", "LOSO runs") == 0
    info = json.loads((out / "bundle.json").read_text())
    assert info["decision"]["score"] == "single"
    assert info["decision"]["calibration"]["n"] == 24
    expected = load_bundle(tmp_path / "run" / "bundle").bundle_id if with_bundle else str(preds)
    assert info["decision_fit"]["proxy"]["bundles"] == [expected]


@pytest.mark.parametrize(("case", "fact"), [
    ("no_fitted_on", "--proxy needs --fitted-on"),
    ("tta_of_training", "--score single"),
    ("other_recipe", "another network or preprocessing"),
    ("fold_run", "a fold run"),
    ("fold_run_eval", "a fold run"),
    ("other_recipe_eval", "another backbone or preprocessing"),
    ("not_predictions", "neither an eval.evaluate output"),
])
def test_proxy_refusals_say_why(case, fact, raw_run, make_bundle, tmp_path, capsys):
    args = ["--fitted-on", "LOSO runs", "--score", "single"]
    final = make_bundle(seed=9)
    if case == "no_fitted_on":
        preds, args = raw_run / "predictions.csv", []
    elif case == "tta_of_training":
        preds = _training_predictions(raw_run, tmp_path / "run", None)
        args = args[:2]
    elif case == "other_recipe":
        other = make_bundle(seed=3, size=48, training_data=LEFT_OUT)
        preds = _training_predictions(raw_run, tmp_path / "run", other)
    elif case == "fold_run":
        preds = _training_predictions(raw_run, tmp_path / "run", make_bundle(seed=3))
    elif case == "fold_run_eval":
        preds = raw_run / "predictions.csv"  # bundle64: a fold run
    elif case == "other_recipe_eval":
        preds, final = raw_run / "predictions.csv", make_bundle(seed=9, size=48)
    else:
        preds = tmp_path / "scores.csv"
        pd.read_csv(raw_run / "predictions.csv").to_csv(preds, index=False)
    assert _proxy(final, preds, tmp_path / "cal", *args) == 2
    err = capsys.readouterr().err
    assert fact in err and len(err.strip().splitlines()) == 1
