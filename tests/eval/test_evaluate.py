"""End-to-end tests of `python -m eval.evaluate`: outputs, agreement with metrics, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from configs.base import DEFAULT_BUNDLE_DIR, REPO_ROOT
from configs.evaluation import EvalSettings
from data.folds import assign_folds
from data.readers import read_dataset
from data.sites import SITES
from eval import evaluate
from eval.evaluate import main
from eval.metrics import age_band, auroc, subgroup_table, summarize
from eval.writers.outputs import write_json_atomic
from models.bundle.ensemble import rank_average
from models.inference.tta import VIEW_NAMES

from .conftest import THRESHOLDS, read_rows, write_csv

N_BOOT = 40
# Eager is the reference path (and needs no graph export per test); the default fast backend is
# checked against it in test_default_backend_is_the_fast_one_and_agrees_with_eager.
FAST = ["--n-boot", str(N_BOOT), "--no-progress", "--num-workers", "0", "--batch-size", "6",
        "--backend", "eager"]
PLOTS = ("roc.png", "pr.png", "reliability.png", "confusion.png", "score_hist.png")
SUMMARY_KEYS = ("n", "n_pos", "n_neg", "auroc", "auroc_ci", "pauc80", "pauc80_ci",
                "average_precision", "brier", "ece")
OP_KEYS = ("threshold", "sensitivity", "specificity", "precision", "f1", "accuracy", "tp", "fp",
           "fn", "tn", "sensitivity_ci", "specificity_ci")


def _load(out: Path) -> tuple[dict, pd.DataFrame]:
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pd.read_csv(out / "predictions.csv", keep_default_na=False, na_values=[""])
    return metrics, preds


def _assert_summary_matches(reported: dict, y: np.ndarray, p: np.ndarray,
                            thresholds: dict[str, float], groups: np.ndarray | None) -> None:
    """Every reported number equals eval.metrics on the predictions.csv columns."""
    expected = summarize(y, p, thresholds, groups=groups, n_boot=N_BOOT, min_tpr=0.8)
    for key in SUMMARY_KEYS:
        assert reported[key] == pytest.approx(expected[key], abs=1e-9), key
    assert set(reported["thresholds"]) == set(expected["thresholds"])
    for name, entry in expected["thresholds"].items():
        for key in OP_KEYS:
            assert reported["thresholds"][name][key] == pytest.approx(entry[key], abs=1e-9), \
                (name, key)


# ---------------------------------------------------------------------------------- settings


def test_settings_take_several_bundle_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    s = EvalSettings.from_cli(["--bundle", "a", "--bundle", "b", "--data", "d", "--tta"])
    assert s.bundle == [Path("a"), Path("b")] and s.tta is True
    assert EvalSettings.from_cli(["--bundle", "a,b", "--data", "d"]).bundle == [Path("a"),
                                                                               Path("b")]
    default = EvalSettings.from_cli(["--data", "d"])
    assert default.bundle == [DEFAULT_BUNDLE_DIR]
    assert default.fold is None and default.metadata == "auto" and default.ensemble == "mean"
    # One env value serves the app (a path) and evaluation (a path or a comma list).
    monkeypatch.setenv("MELANOMA_BUNDLE", "x")
    assert EvalSettings.from_cli(["--data", "d"]).bundle == [Path("x")]
    monkeypatch.setenv("MELANOMA_BUNDLE", "x,y")
    assert EvalSettings.from_cli(["--data", "d"]).bundle == [Path("x"), Path("y")]


@pytest.mark.parametrize(("argv", "fact"), [
    (["--bundle", "b"], "--data: Field required"),
    (["--data", "d", "--fold", "3", "--n-folds", "3"], "fold 3 does not exist"),
    (["--data", "d", "--ensemble", "median"], "--ensemble"),
])
def test_bad_settings_give_one_line(argv, fact, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fact in err[0]


# ------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def ham_run(ham_source, bundle64, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ham_run") / "out"
    assert main(["--bundle", str(bundle64), "--data", str(ham_source), "--out", str(out),
                 "--tta", *FAST]) == 0
    return out


def test_ham_tta_run_writes_every_output(ham_run, bundle64):
    for name in ("metrics.json", "predictions.csv", "report.md", *PLOTS):
        assert (ham_run / name).stat().st_size > 0, name
    for name in PLOTS:
        with Image.open(ham_run / name) as img:
            assert img.format == "PNG" and min(img.size) > 100
    assert not list(ham_run.glob(".metrics.json*"))  # no temporary file left behind
    metrics, preds = _load(ham_run)
    bundle_info = json.loads((bundle64 / "bundle.json").read_text())
    assert [b["bundle_id"] for b in metrics["bundles"]] == [bundle_info["bundle_id"]]
    assert metrics["tta"] is True and metrics["n"] == 24 and metrics["n_pos"] == 8
    assert metrics["dataset"]["format"] == "ham10000"
    assert metrics["dataset"]["sources"] == {"HAM10000": 24}
    assert metrics["dataset"]["missing_metadata"]["age"] == 4
    assert metrics["speed"]["images_per_s"] > 0 and metrics["speed"]["forward_images"] == 8 * 24
    assert list(preds.columns[:4]) == ["image_id", "label", "prob", "prob_no_tta"]
    assert [f"prob_{v}" for v in VIEW_NAMES] == list(preds.columns[4:12])
    report = (ham_run / "report.md").read_text()
    for text in ("Without TTA", "TTA views", "antitranspose", bundle_info["bundle_id"],
                 "Subgroups", "![ROC", "images/s"):
        assert text in report, text


def test_default_backend_is_the_fast_one_and_agrees_with_eager(ham_run, ham_source, bundle64,
                                                               tmp_path):
    assert EvalSettings.model_fields["backend"].default == "auto"
    out = tmp_path / "default"
    plain = [a for a in FAST if a not in ("--backend", "eager")]  # no --backend: the default
    # fp32: the default runtime must equal eager; bf16 (auto where the CPU has it) is checked
    # on the shipped model and real images against its accuracy gate (test_backends.py).
    assert main(["--bundle", str(bundle64), "--data", str(ham_source), "--out", str(out),
                 "--tta", "--precision", "fp32", *plain]) == 0
    fast_metrics, fast_preds = _load(out)
    eager_metrics, eager_preds = _load(ham_run)
    assert fast_metrics["speed"]["backend"] in ("openvino", "onnxruntime", "torchscript")
    assert eager_metrics["speed"]["backend"] == "eager"
    cols = ["prob", "prob_no_tta", *[f"prob_{v}" for v in VIEW_NAMES]]
    np.testing.assert_allclose(fast_preds[cols].to_numpy(), eager_preds[cols].to_numpy(),
                               atol=1e-4)
    assert fast_metrics["auroc"] == pytest.approx(eager_metrics["auroc"], abs=1e-3)


def test_ham_tta_metrics_agree_with_eval_metrics(ham_run):
    metrics, preds = _load(ham_run)
    y = preds["label"].to_numpy()
    groups = preds["group_id"].astype(str).to_numpy()
    views = preds[[f"prob_{v}" for v in VIEW_NAMES]].to_numpy()
    np.testing.assert_allclose(preds["prob"], views.mean(axis=1), atol=1e-12)
    np.testing.assert_array_equal(preds["prob_no_tta"], preds["prob_identity"])
    assert metrics["grouped_bootstrap"] is True
    _assert_summary_matches(metrics, y, preds["prob"].to_numpy(), THRESHOLDS, groups)
    _assert_summary_matches(metrics["without_tta"], y, preds["prob_no_tta"].to_numpy(),
                            THRESHOLDS, groups)
    assert metrics["per_view_auroc"] == pytest.approx(
        {v: auroc(y, preds[f"prob_{v}"]) for v in VIEW_NAMES}, abs=1e-12)
    # TTA changes the score, so "with" and "without" are really different measurements.
    assert not np.allclose(preds["prob"], preds["prob_no_tta"])

    table = pd.DataFrame({"prob": preds["prob"], "label": y, "sex": preds["sex"],
                          "site": preds["site"], "age_band": age_band(preds["age"])})
    expected = subgroup_table(table, "prob", "label", ["sex", "site", "age_band"])
    got = {(r["column"], r["value"]): r for r in metrics["subgroups"]}
    assert set(got) == {(r["column"], r["value"]) for r in expected}
    for row in expected:
        mine = got[(row["column"], row["value"])]
        assert {k: v for k, v in mine.items() if k != "auroc"} == \
            {k: v for k, v in row.items() if k != "auroc"}
        assert (mine["auroc"] is None) == (row["auroc"] is None)
        if row["auroc"] is not None:
            assert mine["auroc"] == pytest.approx(row["auroc"], abs=1e-12)
    flagged = [r for r in metrics["subgroups"] if r["flag"]]
    assert flagged and all(r["auroc"] is None for r in flagged)  # tiny groups: shown, flagged


def test_isic2018_plain_run(isic2018_dataset, bundle64, tmp_path):
    out = tmp_path / "out"
    assert main(["--bundle", str(bundle64), "--data", str(isic2018_dataset), "--out", str(out),
                 *FAST]) == 0
    metrics, preds = _load(out)
    assert metrics["dataset"]["format"] == "isic2018" and metrics["tta"] is False
    assert metrics["n"] == 20 and metrics["n_pos"] == 5
    assert "without_tta" not in metrics and "per_view_auroc" not in metrics
    assert list(preds.columns) == ["image_id", "label", "prob", "age", "sex", "site", "group_id"]
    assert (preds["sex"] == "unknown").all() and (preds["site"] == "unknown").all()
    assert any("records no age, sex, site" in n for n in metrics["notes"])
    assert metrics["grouped_bootstrap"] is False  # ISIC 2018 has no patient/lesion ids
    _assert_summary_matches(metrics, preds["label"].to_numpy(), preds["prob"].to_numpy(),
                            THRESHOLDS, None)


def test_ensemble_from_a_folder_of_runs(ham_source, bundle_pair, tmp_path):
    out = tmp_path / "mean"
    assert main(["--bundle", str(bundle_pair), "--data", str(ham_source), "--out", str(out),
                 *FAST]) == 0
    metrics, preds = _load(out)
    assert metrics["ensemble"] == {"method": "mean", "n_members": 2}
    assert [b["image_size"] for b in metrics["bundles"]] == [64, 48]
    members = preds[["member0_prob", "member1_prob"]].to_numpy()
    np.testing.assert_allclose(preds["prob"], members.mean(axis=1), atol=1e-12)
    y = preds["label"].to_numpy()
    for i, member in enumerate(metrics["members"]):
        assert member["bundle_id"] == metrics["bundles"][i]["bundle_id"]
        assert member["auroc"] == pytest.approx(auroc(y, members[:, i]), abs=1e-12)
        assert member["thresholds"]["closest_to_corner"]["threshold"] == \
            metrics["bundles"][i]["thresholds"]["closest_to_corner"]
    # Mean ensemble: the members' thresholds are averaged (0.3/0.4 and 0.5/0.6).
    assert metrics["thresholds"]["sensitivity_target"]["threshold"] == pytest.approx(0.35)
    assert metrics["thresholds"]["closest_to_corner"]["threshold"] == pytest.approx(0.55)
    assert any("preprocess differently" in n for n in metrics["notes"])
    assert "preprocess differently" in (out / "report.md").read_text()

    out_rank = tmp_path / "rank"
    assert main(["--bundle", str(bundle_pair / "fold0" / "bundle"), "--bundle",
                 str(bundle_pair / "fold1" / "bundle"), "--ensemble", "rank", "--data",
                 str(ham_source), "--out", str(out_rank), *FAST]) == 0
    ranked, rpreds = _load(out_rank)
    np.testing.assert_allclose(rpreds["prob"], rank_average(members.T), atol=1e-12)
    assert ranked["brier"] is None and ranked["ece"] is None
    assert list(ranked["thresholds"]) == ["0.5"]
    assert not (out_rank / "reliability.png").exists()


def test_metadata_ignore_changes_scores(ham_source, bundle64, tmp_path, ham_run):
    out = tmp_path / "ignore"
    assert main(["--bundle", str(bundle64), "--data", str(ham_source), "--out", str(out),
                 "--metadata", "ignore", *FAST]) == 0
    metrics, preds = _load(out)
    _, with_meta = _load(ham_run)
    assert metrics["metadata"] == "ignore"
    assert any("'unknown'" in n for n in metrics["notes"])
    assert np.abs(preds["prob"] - with_meta["prob_no_tta"]).max() > 1e-4


def _fold_summary(ham_source: Path, fold: int, n_folds: int, seed: int) -> dict:
    df = assign_folds(read_dataset(ham_source), n_folds=n_folds, seed=seed)
    val = df[df["fold"] == fold]
    return {"fold": fold, "n_folds": n_folds, "seed": seed, "n_images": len(df),
            "n_val": len(val), "n_val_positive": int(val["target"].sum()), "source": "ham"}


def test_held_out_fold_only(ham_source, make_bundle, tmp_path, capsys):
    summary = _fold_summary(ham_source, fold=1, n_folds=3, seed=7)
    bundle = make_bundle(training_data=summary)
    out = tmp_path / "fold"
    assert main(["--bundle", str(bundle), "--data", str(ham_source), "--out", str(out),
                 "--fold", "1", "--n-folds", "3", "--seed", "7", *FAST]) == 0
    metrics, preds = _load(out)
    assert metrics["n"] == summary["n_val"] and metrics["n_pos"] == summary["n_val_positive"]
    assert metrics["dataset"]["fold"] == 1 and metrics["dataset"]["n_images_before_fold"] == 24
    expected_ids = set(assign_folds(read_dataset(ham_source), 3, 7).query("fold == 1")["image_id"])
    assert set(preds["image_id"]) == expected_ids
    capsys.readouterr()

    # Another fold (or another seed) would contain the bundle's training images: refused.
    assert main(["--bundle", str(bundle), "--data", str(ham_source), "--out", str(out),
                 "--fold", "0", "--n-folds", "3", "--seed", "7", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "validated on fold 1 of 3" in err[0]


def _multi_source_summary(ham_source: Path, **changes) -> dict:
    """A multi-source bundle's training data: the HAM dataset's own folds, plus another set."""
    one = _fold_summary(ham_source, fold=1, n_folds=3, seed=7)
    ham = {"path": str(ham_source), "format": "ham10000", "n_read": one["n_images"],
           "n_used": one["n_images"], "n_val": one["n_val"],
           "n_val_positive": one["n_val_positive"], **changes}
    other = {"path": "isic2019", "format": "isic2019", "n_read": 999, "n_used": 500,
             "n_val": 100, "n_val_positive": 20}
    return {**one, "n_images": 1499, "n_val": one["n_val"] + 100,
            "n_val_positive": one["n_val_positive"] + 20, "datasets": [ham, other]}


@pytest.mark.parametrize(("changes", "says"), [
    ({}, None),
    ({"n_val_positive": 0}, "melanomas in the fold"),
    ({"n_read": 7}, "none has the 24 images read here"),
])
def test_held_out_fold_of_a_multi_source_bundle(ham_source, make_bundle, tmp_path, capsys,
                                                changes, says):
    """Folds were assigned per dataset: the fold is checked against that dataset's figures."""
    bundle = make_bundle(training_data=_multi_source_summary(ham_source, **changes))
    code = main(["--bundle", str(bundle), "--data", str(ham_source), "--out",
                 str(tmp_path / "out"), "--fold", "1", "--n-folds", "3", "--seed", "7", *FAST])
    err = capsys.readouterr().err
    if says is None:
        assert code == 0
    else:
        assert code == 2 and says in err


def test_fold_of_a_leave_source_out_bundle_is_refused(ham_source, make_bundle, tmp_path, capsys):
    summary = {**_fold_summary(ham_source, fold=1, n_folds=3, seed=7), "val_sources": ["BCN"]}
    bundle = make_bundle(training_data=summary)
    assert main(["--bundle", str(bundle), "--data", str(ham_source), "--out",
                 str(tmp_path / "out"), "--fold", "1", "--n-folds", "3", "--seed", "7",
                 *FAST]) == 2
    assert "held-out sources ['BCN']" in capsys.readouterr().err


# ------------------------------------------------------------------------------- bad input


def _drop_image(ds: Path, **_) -> tuple[list[str], list[str]]:
    (ds / "images" / "ISIC_00031.jpg").unlink()
    return [], ["ISIC_00031", "not found"]


def _unreadable_image(ds: Path, **_) -> tuple[list[str], list[str]]:
    (ds / "images" / "ISIC_00050.jpg").write_bytes(b"GIF89a but not really")
    return [], ["ISIC_00050.jpg", "not a recognised image"]


def _bad_label(ds: Path, **_) -> tuple[list[str], list[str]]:
    csv_path = ds / "HAM10000_metadata.csv"
    rows = read_rows(csv_path)
    rows[4]["dx"] = "melanomaa"
    write_csv(csv_path, rows)
    return [], ["'dx'", "melanomaa", "line 6"]


def _empty(ds: Path, **_) -> tuple[list[str], list[str]]:
    csv_path = ds / "HAM10000_metadata.csv"
    csv_path.write_text(csv_path.read_text().splitlines()[0] + "\n")
    return [], ["empty"]


def _one_class(ds: Path, **_) -> tuple[list[str], list[str]]:
    csv_path = ds / "HAM10000_metadata.csv"
    rows = [r for r in read_rows(csv_path) if r["dx"] != "mel"]
    write_csv(csv_path, rows)
    return [], ["0 melanomas", "both classes"]


def _not_a_bundle(ds: Path, tmp_path: Path, **_) -> tuple[list[str], list[str]]:
    folder = tmp_path / "notabundle"
    folder.mkdir()
    (folder / "weights.pt").write_bytes(b"\x80\x04junk")
    return ["--bundle", str(folder)], ["notabundle", "not a model bundle"]


def _site_mismatch(ds: Path, make_bundle: Callable[..., Path], **_) -> tuple[list[str], list[str]]:
    bundle = make_bundle(sites=tuple(s for s in SITES if s != "head/neck"))
    return ["--bundle", str(bundle)], ["mismatch", "'head/neck'", "vocabulary"]


def _corrupt_weights(ds: Path, tmp_path: Path, bundle64: Path, **_) -> tuple[list[str], list[str]]:
    broken = Path(shutil.copytree(bundle64, tmp_path / "broken"))
    with open(broken / "model.safetensors", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00" * 16)
    return ["--bundle", str(broken)], ["SHA-256 does not match"]


BAD_INPUTS = {"missing image": _drop_image, "unreadable image": _unreadable_image,
              "bad label": _bad_label, "empty dataset": _empty, "one class": _one_class,
              "not a bundle": _not_a_bundle, "site mismatch": _site_mismatch,
              "corrupt weights": _corrupt_weights}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_exit_2(case, ham_dataset, bundle64, make_bundle,
                                            tmp_path, capsys):
    extra, facts = BAD_INPUTS[case](ham_dataset, tmp_path=tmp_path, bundle64=bundle64,
                                    make_bundle=make_bundle)
    out = tmp_path / "out"
    argv = ["--bundle", str(bundle64), "--data", str(ham_dataset), "--out", str(out), *FAST]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fact in facts:
        assert fact in lines[0], (fact, lines[0])
    assert "Traceback" not in err
    assert not (out / "metrics.json").exists()


def test_cli_process_exit_code_and_single_line(ham_dataset, bundle64, tmp_path):
    (ham_dataset / "images" / "ISIC_00101.jpg").unlink()
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELANOMA_")}
    proc = subprocess.run([sys.executable, "-m", "eval.evaluate", "--bundle", str(bundle64),
                           "--data", str(ham_dataset), "--out", str(out), *FAST],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "ISIC_00101" in errors[0]
    assert proc.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not (out / "metrics.json").exists()


def test_a_failure_after_predictions_leaves_the_previous_results(ham_source, bundle64,
                                                                 tmp_path, monkeypatch, capsys):
    """Issue 26: the output folder is swapped in whole, so a run that fails half-way (here:
    the disk fills while writing the report) leaves the previous results byte for byte and
    none of its own files."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text('{"earlier": true}')  # an earlier, complete run
    (out / "predictions.csv").write_text("image_id,prob\nI1,0.5\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evaluate, "write_report", disk_full)
    assert main(["--bundle", str(bundle64), "--data", str(ham_source), "--out", str(out),
                 *FAST]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(out) in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial folder left


def test_write_json_atomic_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"auroc": 0.8})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"auroc": float("nan")})
    assert json.loads(path.read_text()) == {"auroc": 0.8}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _evaluate_process(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELANOMA_")}
    return subprocess.run([sys.executable, "-m", "eval.evaluate", *argv], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False,
                          **kwargs)


def test_a_full_disk_gives_one_line_naming_the_folder_and_no_output(ham_dataset, bundle64,
                                                                    tmp_path):
    """Issue 26: no file may grow past 16 kB (the report's plots need more): exit 2, one
    line naming --out and why, and nothing left behind that a later run would read."""
    import matplotlib.font_manager  # noqa: F401 (its cache exists before the limit applies)

    from tests.helpers import error_lines, file_size_limit

    results = tmp_path / "results"
    results.mkdir()
    out = results / "out"
    proc = _evaluate_process(["--bundle", str(bundle64), "--data", str(ham_dataset), "--out",
                              str(out), *FAST], preexec_fn=file_size_limit(16 * 1024))
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"cannot write to {out}: File too large" in errors[0]
    assert list(results.iterdir()) == []  # neither the folder nor a partial sibling


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders; "
                    ".ci/docker_smoke.sh checks a read-only volume in the container instead")
def test_a_read_only_output_folder_gives_one_line(ham_dataset, bundle64, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["--bundle", str(bundle64), "--data", str(ham_dataset), "--out",
                     str(locked / "out"), *FAST]) == 2
    finally:
        locked.chmod(0o755)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"cannot write to {locked / 'out'}: Permission denied" in lines[0]
    assert list(locked.iterdir()) == []
