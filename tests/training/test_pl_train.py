"""End-to-end: generated data -> pl_train -> bundle -> reload -> identical predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from configs.training import TrainSettings
from data.images import Preprocessing
from models.bundle.io import load_bundle, predict_arrays
from tests.training.conftest import N_LESIONS
from training.components.fit import (
    build_datamodule,
    build_module,
    checkpoint_callbacks,
    load_init_bundle,
)
from training.pl_train import main
from training.soup import make_soup

REPO = Path(__file__).resolve().parents[2]
TINY = ["--backbone", "tf_efficientnet_lite0", "--pretrained", "none", "--image-size", "64",
        "--batch-size", "8", "--num-workers", "0", "--n-folds", "3", "--epochs", "1",
        "--limit-train-batches", "3", "--meta-hidden", "16,8"]


def _train(data: Path, out: Path, name: str, *extra: str) -> Path:
    code = main(["--data-dir", str(data), "--output-dir", str(out), "--run-name", name,
                 *TINY, *extra])
    assert code == 0
    return out / name


@pytest.fixture(scope="module")
def ham_run(ham_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(ham_dataset, tmp_path_factory.mktemp("runs"), "ham")


@pytest.mark.parametrize("dataset", ["ham_dataset", "isic2020_dataset"])
def test_bundle_reproduces_validation_predictions(dataset: str, request: pytest.FixtureRequest,
                                                  tmp_path: Path) -> None:
    """The app/eval path (bundle preprocessing + encoder) gives training's val probabilities."""
    # The ISIC 2020 run also logs to W&B: with no API key it must run offline, not fail.
    extra = ("--wandb",) if dataset == "isic2020_dataset" else ()
    run = _train(request.getfixturevalue(dataset), tmp_path, "run", *extra)
    if extra:
        assert list((run / "wandb").glob("offline-run-*")), "W&B did not log offline"
    bundle = load_bundle(run / "bundle")
    preds = pd.read_csv(run / "val_predictions.csv", keep_default_na=False,
                        na_values={"age": [""]})
    assert len(preds) > 0 and preds["target"].isin([0, 1]).all()
    images = np.stack([bundle.preprocessing(p) for p in preds["image_path"]])
    meta = np.stack([bundle.encode_metadata(None if np.isnan(a) else a, s, t)
                     for a, s, t in zip(preds["age"], preds["sex"], preds["site"])])
    probs = predict_arrays(bundle, images, meta)
    np.testing.assert_allclose(probs, preds["prob"].to_numpy(), atol=1e-5)
    # Reloading again is deterministic.
    again = predict_arrays(load_bundle(run / "bundle"), images, meta)
    np.testing.assert_array_equal(probs, again)


def test_bundle_json_is_self_describing(ham_run: Path) -> None:
    info = json.loads((ham_run / "bundle" / "bundle.json").read_text())
    assert info["model"]["backbone"] == "tf_efficientnet_lite0"
    assert info["model"]["meta_dim"] == len(info["metadata_encoder"]["feature_names"])
    assert Preprocessing.from_dict(info["preprocessing"]).size == 64
    assert "unknown" in info["metadata_encoder"]["sites"]
    assert set(info["thresholds"]) == {"closest_to_corner", "sensitivity_target"}
    assert all(0.0 <= t <= 1.0 for t in info["thresholds"].values())
    val = info["metrics"]["validation"]
    assert 0.0 <= val["auroc"] <= 1.0 and 0.0 <= val["pauc80"] <= 0.2
    assert val["thresholds"]["sensitivity_target"]["sensitivity"] >= 0.9
    summary = info["training_data"]
    assert summary["group_kind"] == "lesion" and summary["n_images"] == 48
    assert summary["n_train"] + summary["n_val"] == 48
    assert "torch" in info["versions"] and "license" in info


def test_bundle_stores_the_validation_operating_curve(ham_run: Path) -> None:
    """The app's threshold control reads this curve: it must match the validation metrics."""
    bundle = load_bundle(ham_run / "bundle")
    val = bundle.info["metrics"]["validation"]
    preds = pd.read_csv(ham_run / "val_predictions.csv")
    curve = bundle.operating_curve
    assert (curve.n, curve.n_pos) == (len(preds), int(preds["target"].sum()))
    for name, t in bundle.thresholds.items():
        op = curve.at(t)
        assert op["sensitivity"] == pytest.approx(val["thresholds"][name]["sensitivity"],
                                                  abs=1e-6)
        assert op["specificity"] == pytest.approx(val["thresholds"][name]["specificity"],
                                                  abs=1e-6)
        assert op["flagged"] == pytest.approx((preds["prob"] >= t).mean(), abs=1e-6)


def test_checkpoints_logs_and_resume(ham_run: Path, ham_dataset: Path) -> None:
    ckpts = sorted(p.name for p in (ham_run / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts
    assert all((ham_run / "checkpoints" / c).is_file() for c in ckpts)  # no "/" subfolders
    assert any(c.startswith("epoch00-auroc") for c in ckpts)
    metrics = pd.read_csv(ham_run / "metrics.csv")
    assert {"val/auroc", "val/pauc80", "train/loss_epoch"} <= set(metrics.columns)
    resumed = _train(ham_dataset, ham_run.parent, "resumed", "--epochs", "2",
                     "--resume-from", str(ham_run / "checkpoints" / "last.ckpt"))
    info = json.loads((resumed / "bundle" / "bundle.json").read_text())
    assert info["training"]["epochs_completed"] == 2
    # It resumed: only epoch 1 was trained in this run.
    log = pd.read_csv(resumed / "metrics.csv")
    trained_epochs = log.loc[log["train/loss_epoch"].notna(), "epoch"].astype(int)
    assert set(trained_epochs) == {1}
    assert any(p.name.startswith("epoch01-auroc") for p in (resumed / "checkpoints").iterdir())


def test_seeded_runs_repeat(ham_dataset: Path, tmp_path: Path) -> None:
    a = pd.read_csv(_train(ham_dataset, tmp_path, "a") / "val_predictions.csv")
    b = pd.read_csv(_train(ham_dataset, tmp_path, "b") / "val_predictions.csv")
    np.testing.assert_allclose(a["prob"], b["prob"], atol=1e-6)


def test_bad_dataset_gives_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "HAM10000_metadata.csv").write_text("lesion_id,image_id,dx\nL1,I1,mel\n")
    proc = subprocess.run([sys.executable, "-m", "training.pl_train", "--data-dir",
                           str(tmp_path), "--data-format", "ham10000", "--output-dir",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "HAM10000_metadata.csv" in errors[0]


def test_help_lists_settings() -> None:
    proc = subprocess.run([sys.executable, "-m", "training.pl_train", "--help"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0
    for flag in ("--backbone", "--image-size", "--focal-alpha", "--focal-gamma", "--loss",
                 "--fold", "--n-folds", "--precision", "--wandb", "--output-dir"):
        assert flag in proc.stdout


def test_export_checkpoint_reproduces_bundle(ham_run: Path, ham_dataset: Path) -> None:
    """--export-checkpoint rebuilds the same bundle from a checkpoint without training."""
    exported = _train(ham_dataset, ham_run.parent, "exported", "--export-checkpoint",
                      str(ham_run / "checkpoints" / "last.ckpt"))
    ours = json.loads((exported / "bundle" / "bundle.json").read_text())
    original = json.loads((ham_run / "bundle" / "bundle.json").read_text())
    assert ours["weights_sha256"] == original["weights_sha256"]
    assert ours["thresholds"] == original["thresholds"]
    assert ours["training"]["epochs_completed"] == 1
    assert not (exported / "checkpoints").exists() or not any((exported / "checkpoints").iterdir())


class _Declining(L.LightningModule):
    """Validation AUROC falls every epoch, so only epoch 0 is ever the best."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, _idx):
        return (self.w - batch[0]).pow(2).mean()

    def validation_step(self, batch, _idx):
        self.log("val/auroc", 0.9 - 0.1 * self.current_epoch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit_declining(callbacks: list, epochs: int = 3) -> None:
    data = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    trainer = L.Trainer(max_epochs=epochs, callbacks=callbacks, logger=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, accelerator="cpu")
    trainer.fit(_Declining(), train_dataloaders=data, val_dataloaders=data)


def test_last_checkpoint_is_current_after_a_plateau(tmp_path: Path) -> None:
    """last.ckpt must hold the final epoch even when the metric stopped improving."""
    best, latest = checkpoint_callbacks(tmp_path / "ckpt")
    _fit_declining([best, latest])
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 2
    assert Path(best.best_model_path).name.startswith("epoch00-auroc0.9000")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "epoch00-auroc0.9000.ckpt", "last.ckpt"]


def test_keep_all_checkpoints_saves_every_epoch(tmp_path: Path) -> None:
    best, latest = checkpoint_callbacks(tmp_path / "ckpt", keep=-1)
    _fit_declining([best, latest])
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "epoch00-auroc0.9000.ckpt", "epoch01-auroc0.8000.ckpt", "epoch02-auroc0.7000.ckpt",
        "last.ckpt"]


def test_init_bundle_starts_from_the_bundles_weights_and_encoder(ham_run: Path,
                                                                 ham_dataset: Path) -> None:
    bundle_dir = ham_run / "bundle"
    s = TrainSettings.from_cli(["--data-dir", str(ham_dataset), *TINY,
                                "--init-bundle", str(bundle_dir)])
    init = load_init_bundle(s)
    dm = build_datamodule(s, init)
    module = build_module(s, dm, init)
    reference = load_bundle(bundle_dir)
    assert dm.encoder.to_dict() == reference.encoder.to_dict()
    assert dm.encoder is not init.encoder  # the run cannot alter the loaded bundle's encoder
    ours = module.net.state_dict()
    theirs = reference.model.state_dict()
    assert ours.keys() == theirs.keys()
    for key, tensor in theirs.items():
        assert torch.equal(ours[key], tensor), key


def test_init_bundle_run_records_its_origin(ham_run: Path, ham_dataset: Path) -> None:
    original = json.loads((ham_run / "bundle" / "bundle.json").read_text())
    tuned = _train(ham_dataset, ham_run.parent, "tuned", "--init-bundle", str(ham_run / "bundle"))
    info = json.loads((tuned / "bundle" / "bundle.json").read_text())
    assert info["training"]["init_bundle_id"] == original["bundle_id"]
    assert info["metadata_encoder"] == original["metadata_encoder"]
    assert info["weights_sha256"] != original["weights_sha256"]  # it did train


@pytest.mark.parametrize(("flags", "named"), [
    (["--meta-hidden", "32"], "meta_hidden"),
    (["--no-use-metadata"], "meta"),
    (["--backbone", "mobilenetv3_small_050"], "backbone"),
])
def test_init_bundle_with_another_architecture_is_refused(ham_run: Path, ham_dataset: Path,
                                                          tmp_path: Path, flags: list[str],
                                                          named: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    code = main(["--data-dir", str(ham_dataset), "--output-dir", str(tmp_path), *TINY, *flags,
                 "--init-bundle", str(ham_run / "bundle")])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "--init-bundle" in errors[0] and named in errors[0]
    assert not list(tmp_path.iterdir())  # refused before any run folder was made


def test_init_bundle_that_is_not_a_bundle_is_refused(ham_dataset: Path, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    code = main(["--data-dir", str(ham_dataset), "--output-dir", str(tmp_path / "out"), *TINY,
                 "--init-bundle", str(tmp_path)])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and str(tmp_path) in errors[0]


def test_soup_export_records_its_ingredients(ham_run: Path, ham_dataset: Path) -> None:
    """A soup of a run with itself exports that run's weights, labelled as a soup."""
    last = ham_run / "checkpoints" / "last.ckpt"
    soup = make_soup([last, last], ham_run.parent / "soup.ckpt")
    exported = _train(ham_dataset, ham_run.parent, "souped", "--export-checkpoint", str(soup))
    ours = json.loads((exported / "bundle" / "bundle.json").read_text())
    original = json.loads((ham_run / "bundle" / "bundle.json").read_text())
    assert ours["weights_sha256"] == original["weights_sha256"]
    assert ours["training"]["soup_of"] == [str(last), str(last)]
    assert "soup_of" not in original["training"]


def test_soup_of_a_bundle_and_its_checkpoint(ham_run: Path, ham_dataset: Path) -> None:
    """A bundle counts as an ingredient: bundle + its own checkpoint give the same weights."""
    best = sorted((ham_run / "checkpoints").glob("epoch*.ckpt"))[-1]
    soup = make_soup([ham_run / "bundle", best], ham_run.parent / "wise.ckpt")
    exported = _train(ham_dataset, ham_run.parent, "wise", "--export-checkpoint", str(soup))
    ours = json.loads((exported / "bundle" / "bundle.json").read_text())
    original = json.loads((ham_run / "bundle" / "bundle.json").read_text())
    assert ours["weights_sha256"] == original["weights_sha256"]


def test_multi_source_leave_source_out(ham_dataset: Path, isic2020_dataset: Path,
                                       tmp_path: Path) -> None:
    """Two datasets, one held out as the validation source, source weights and downscaling."""
    run = _train(ham_dataset, tmp_path, "loso", "--data-dir", str(isic2020_dataset),
                 "--val-source", "isic2020", "--source-weights", "HAM10000=1",
                 "--aug-downscale-prob", "0.5", "--aug-downscale-min", "16")
    preds = pd.read_csv(run / "val_predictions.csv")
    assert set(preds["source"]) == {"isic2020"} and len(preds) == N_LESIONS * 2
    data = json.loads((run / "bundle" / "bundle.json").read_text())["training_data"]
    assert data["val_sources"] == ["isic2020"] and data["source_weights"] == {"HAM10000": 1.0}
    assert data["n_per_source"] == {"isic2020": N_LESIONS * 2, "HAM10000": N_LESIONS * 2}
    assert data["n_train"] == N_LESIONS * 2 and len(data["datasets"]) == 2


@pytest.mark.slow
def test_a_full_disk_stops_training_with_one_line(ham_dataset: Path, tmp_path: Path) -> None:
    """Issue 26: no file may grow past 1 MB (a checkpoint needs more): exit 2, one ERROR line
    naming --output-dir and why, no traceback, and no bundle or checkpoint to trust."""
    from tests.helpers import error_lines, file_size_limit

    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "training.pl_train", "--data-dir",
                           str(ham_dataset), "--output-dir", str(out), "--run-name", "full",
                           *TINY], capture_output=True, text=True, cwd=REPO, timeout=600,
                          check=False, preexec_fn=file_size_limit(1024 * 1024))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = error_lines(proc.stderr, "ERROR")
    assert len(errors) == 1 and f"cannot write to {out}: File too large" in errors[0], errors
    run = out / "full"
    assert not (run / "bundle").exists()
    assert not list(run.glob("checkpoints/*.ckpt"))


def test_a_transformer_at_another_size_fails_before_reading_data(tmp_path: Path,
                                                                 caplog) -> None:
    """Issue 27: a ViT at 64 px used to fail on its first forward pass; now one line names
    both sizes before anything is read (the data folder does not even exist)."""
    import logging

    with caplog.at_level(logging.ERROR):
        assert main(["--data-dir", str(tmp_path / "missing"), "--output-dir", str(tmp_path),
                     "--backbone", "vit_tiny_patch16_224", "--image-size", "64",
                     "--pretrained", "none"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "takes 224x224 images only" in errors[0]
    assert "--image-size is 64" in errors[0]


def test_a_test_set_is_scored_once_with_the_exported_weights(ham_dataset: Path,
                                                             isic2020_dataset: Path,
                                                             tmp_path: Path, capsys) -> None:
    """Issue 27: `--test-data` gives separate validation and test figures; the test figures
    are what eval.metrics makes of test_predictions.csv at the validation thresholds, and the
    probabilities are the bundle's own."""
    from eval.metrics import summarize

    run = _train(ham_dataset, tmp_path, "tested", "--test-data", str(isic2020_dataset))
    info = json.loads((run / "bundle" / "bundle.json").read_text())
    test = info["metrics"]["test"]
    preds = pd.read_csv(run / "test_predictions.csv", keep_default_na=False,
                        na_values={"age": [""]})
    assert test["n"] == len(preds) == N_LESIONS * 2  # every ISIC 2020 image, none trained on
    assert test["source"] == str(isic2020_dataset)
    assert preds["image_id"].str.startswith("ISIC_9").all()
    expected = summarize(preds["target"].to_numpy(), preds["prob"].to_numpy(),
                         info["thresholds"], groups=preds["group_id"].to_numpy())
    for key in ("auroc", "pauc80", "brier", "ece"):
        assert test[key] == pytest.approx(expected[key], abs=1e-9), key
    for name in info["thresholds"]:
        assert test["thresholds"][name]["threshold"] == info["thresholds"][name]
    assert info["metrics"]["validation"]["n"] != test["n"]
    assert info["training_data"]["test"] == {"source": str(isic2020_dataset),
                                             "n": len(preds),
                                             "n_positive": int(preds["target"].sum())}
    bundle = load_bundle(run / "bundle")
    images = np.stack([bundle.preprocessing(p) for p in preds["image_path"]])
    meta = np.stack([bundle.encode_metadata(None if np.isnan(a) else a, s, t)
                     for a, s, t in zip(preds["age"], preds["sex"], preds["site"], strict=True)])
    np.testing.assert_allclose(predict_arrays(bundle, images, meta), preds["prob"], atol=1e-5)
    assert "test: " in capsys.readouterr().out


def test_test_images_never_train(ham_dataset: Path, tmp_path: Path) -> None:
    """A test set inside the training data is taken out of it (images and their lesions)."""
    code = main(["--data", str(ham_dataset), "--output-dir", str(tmp_path), "--run-name", "x",
                 "--test-data", str(ham_dataset), *TINY])
    assert code == 2  # nothing left to train on: one error line, not a leak
