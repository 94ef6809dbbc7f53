"""EnsembleEngine: every member scores, one draws the heatmaps, the ensemble decides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.bundle.ensemble import EnsembleError, load_ensemble, save_ensemble
from models.bundle.io import load_bundle
from models.inference.engine import Engine, InputError
from models.inference.ensemble_engine import EnsembleEngine
from tests.models.conftest import make_tiny_bundle


def _ensemble(tmp_path: Path, sizes=(64, 64), combiner="mean", **kwargs):
    members = [load_bundle(make_tiny_bundle(tmp_path / f"m{i}", size=size, seed=i))
               for i, size in enumerate(sizes)]
    folder = save_ensemble(tmp_path / "ens", members, name="t", combiner=combiner,
                           thresholds={"sensitivity_target": 0.4}, **kwargs)
    return load_ensemble(folder), members


def test_members_score_and_one_draws_the_heatmaps(tmp_path: Path, lesion_jpeg) -> None:
    ensemble, members = _ensemble(tmp_path)
    engine = EnsembleEngine(ensemble, num_threads=1, backend="eager", cam_member=1)
    result = engine.analyze(lesion_jpeg, 50, "female", "head/neck")
    singles = [Engine(m, num_threads=1, backend="eager").analyze(
        lesion_jpeg, 50, "female", "head/neck") for m in members]
    assert result.probability == pytest.approx(np.mean([s.probability for s in singles]))
    views = np.mean([[v["probability"] for v in s.tta] for s in singles], axis=0)
    np.testing.assert_allclose([v["probability"] for v in result.tta], views)
    assert result.tta_mean == pytest.approx(views.mean())
    assert result.cam_layer_names == singles[1].cam_layer_names and len(result.cams) > 0
    np.testing.assert_array_equal(result.cams[-1].heatmap, singles[1].cams[-1].heatmap)
    assert (result.threshold, result.model) == (0.4, ensemble.ensemble_id)
    assert result.decision == ("above threshold" if result.probability >= 0.4
                               else "below threshold")
    assert engine.bundle.bundle_id == ensemble.ensemble_id
    assert engine.bundle.info["members"] == [m.bundle_id for m in members]
    again = engine.analyze(None, 50, "female", "head/neck", model_view=result.model_view)
    assert again.probability == pytest.approx(result.probability)


def test_reanalysis_needs_shared_preprocessing(tmp_path: Path, lesion_jpeg) -> None:
    ensemble, _ = _ensemble(tmp_path, sizes=(64, 48))
    engine = EnsembleEngine(ensemble, num_threads=1, backend="eager")
    result = engine.analyze(lesion_jpeg)
    with pytest.raises(InputError, match="upload the image again"):
        engine.analyze(None, model_view=result.model_view)


@pytest.mark.parametrize(("combiner", "cam_member", "fact"), [
    ("rank", 0, "ranks a set of images"), ("mean", 2, "does not exist")])
def test_unservable_ensembles_are_refused(tmp_path: Path, combiner: str, cam_member: int,
                                          fact: str) -> None:
    ensemble, _ = _ensemble(tmp_path, combiner=combiner)
    with pytest.raises(EnsembleError, match=fact):
        EnsembleEngine(ensemble, num_threads=1, backend="eager", cam_member=cam_member)


@pytest.mark.parametrize("pick", [1, "1", "m1-id"], ids=["index", "index-text", "bundle-id"])
def test_each_call_may_pick_the_heatmap_member(tmp_path: Path, lesion_jpeg, pick) -> None:
    """The server's default draws unless a call names another member (by index or id); the
    probability does not depend on which member draws."""
    ensemble, members = _ensemble(tmp_path)
    engine = EnsembleEngine(ensemble, num_threads=1, backend="eager")
    pick = members[1].bundle_id if pick == "m1-id" else pick
    default = engine.analyze(lesion_jpeg, 50, "female", "head/neck")
    picked = engine.analyze(lesion_jpeg, 50, "female", "head/neck", cam_member=pick)
    singles = [Engine(m, num_threads=1, backend="eager").analyze(
        lesion_jpeg, 50, "female", "head/neck") for m in members]
    np.testing.assert_array_equal(default.cams[-1].heatmap, singles[0].cams[-1].heatmap)
    np.testing.assert_array_equal(picked.cams[-1].heatmap, singles[1].cams[-1].heatmap)
    assert picked.probability == pytest.approx(default.probability)
    assert engine.member_index(None) == engine.member_index("") == 0


@pytest.mark.parametrize("pick", ["2", "nope", -1])
def test_an_unknown_heatmap_member_is_named(tmp_path: Path, lesion_jpeg, pick) -> None:
    ensemble, members = _ensemble(tmp_path)
    engine = EnsembleEngine(ensemble, num_threads=1, backend="eager")
    with pytest.raises(InputError, match=rf"heatmap member '{pick}' is not in this ensemble"
                                         rf".*0-1.*{members[1].bundle_id}"):
        engine.analyze(lesion_jpeg, cam_member=pick)


TEMPERATURE = {"method": "temperature", "temperature": 1.6}
PLATT = {"method": "platt", "slope": 1.7, "intercept": -0.4}


def _with_rule(folder: Path, calibration: dict | None) -> Path:
    """The bundle at `folder` deciding on its TTA mean through `calibration` (a copy's JSON
    edited as eval.calibrate writes it: the weights are untouched)."""
    info = json.loads((folder / "bundle.json").read_text())
    info["decision"] = {"score": "tta_mean", "calibration": calibration}
    (folder / "bundle.json").write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize(("rules", "calibration"), [
    ((TEMPERATURE, TEMPERATURE), "temperature"), ((TEMPERATURE, PLATT), "mixed"),
    ((None, None), None)], ids=["both-temperature", "mixed-maps", "uncalibrated-tta-mean"])
def test_calibrated_members_decide_on_what_evaluation_scores(tmp_path: Path, lesion_jpeg,
                                                             rules, calibration) -> None:
    """Members deciding on their calibrated TTA mean: the ensemble decides on the mean of
    those (not on the combined single view), which is eval.evaluate's ensemble score."""
    from eval.pipeline.inference import predict
    from models.bundle.ensemble import Combination

    members = [load_bundle(_with_rule(make_tiny_bundle(tmp_path / f"m{i}", seed=i), rule))
               for i, rule in enumerate(rules)]
    ensemble = load_ensemble(save_ensemble(tmp_path / "ens", members, name="t",
                                           thresholds={"sensitivity_target": 0.4}))
    engine = EnsembleEngine(ensemble, num_threads=1, backend="eager")
    result = engine.analyze(lesion_jpeg, 50, "female", "head/neck", tta=False, cam=False)
    singles = [Engine(m, num_threads=1, backend="eager").analyze(
        lesion_jpeg, 50, "female", "head/neck", cam=False) for m in members]
    expected = float(np.mean([s.decision_probability for s in singles]))
    assert result.decision_probability == pytest.approx(expected, abs=1e-6)
    assert expected != pytest.approx(result.probability, abs=1e-6)  # not the single view
    assert result.decision == ("above threshold" if expected >= 0.4 else "below threshold")
    assert (result.decision_score, result.calibration) == ("tta_mean", calibration)
    with_tta = engine.analyze(lesion_jpeg, 50, "female", "head/neck", cam=False)
    assert with_tta.tta_mean == pytest.approx(expected, abs=1e-6)
    df = pd.DataFrame({"image_path": [str(lesion_jpeg)], "age": [50.0], "sex": ["female"],
                       "site": ["head/neck"]})
    preds = predict(members, df, tta=True, num_workers=0, progress=False)
    evaluated = Combination("mean")([m.prob for m in preds.members])[0]
    assert result.decision_probability == pytest.approx(float(evaluated), abs=1e-5)


@pytest.mark.parametrize(("sizes", "decodes"), [((64, 64), 1), ((64, 48), 2)],
                         ids=["shared-preprocessing", "own-preprocessing"])
def test_members_that_preprocess_alike_decode_the_image_once(tmp_path: Path, lesion_jpeg,
                                                             monkeypatch, sizes, decodes) -> None:
    ensemble, members = _ensemble(tmp_path, sizes=sizes)
    engine = EnsembleEngine(ensemble, num_threads=1, backend="eager")
    loads = []
    for member in engine.engines:
        real = member._load
        monkeypatch.setattr(member, "_load", lambda image, real=real: loads.append(1) or
                            real(image))
    result = engine.analyze(lesion_jpeg, 50, "female", "head/neck")
    assert len(loads) == decodes
    singles = [Engine(m, num_threads=1, backend="eager").analyze(
        lesion_jpeg, 50, "female", "head/neck", cam=False) for m in members]
    assert result.probability == pytest.approx(np.mean([s.probability for s in singles]),
                                               abs=1e-7)


def test_load_engine_serves_a_bundle_or_an_ensemble_folder(tmp_path: Path) -> None:
    from models.inference.ensemble_engine import load_engine

    ensemble, members = _ensemble(tmp_path)
    served = load_engine(ensemble.path, num_threads=1, backend="eager", cam_member=1)
    assert isinstance(served, EnsembleEngine) and served.cam_member == 1
    assert served.bundle_id == ensemble.ensemble_id
    single = load_engine(members[0].path, num_threads=1, backend="eager")
    assert isinstance(single, Engine) and single.bundle_id == members[0].bundle_id
