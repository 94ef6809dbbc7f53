"""MelanomaModule: validation scores cover every row once, in one process or several."""

from __future__ import annotations

import socket
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from configs.training import TrainSettings
from eval.metrics.ranking import auroc
from training.components.fit import build_datamodule, build_module
from training.components.module import ScoreCollector

from .ddp_worker import collect_on_rank

TINY = ["--backbone", "tf_efficientnet_lite0", "--pretrained", "none", "--image-size", "32",
        "--batch-size", "5", "--num-workers", "0", "--n-folds", "3", "--meta-hidden", "8"]


def test_score_collector_keeps_each_row_once_in_row_order() -> None:
    scores = ScoreCollector()
    # Batches out of order, row 3 repeated (a distributed sampler pads its last shard so).
    scores.update(torch.tensor([0.3, 0.1]), torch.tensor([1, 0]), torch.tensor([3, 1]))
    scores.update(torch.tensor([0.2, 0.3]), torch.tensor([0, 1]), torch.tensor([2, 3]))
    scores.update(torch.tensor([0.9]), torch.tensor([1]), torch.tensor([0]))
    out = scores.compute()
    np.testing.assert_array_equal(out["index"], [0, 1, 2, 3])
    np.testing.assert_allclose(out["prob"], [0.9, 0.1, 0.2, 0.3], rtol=1e-7)
    np.testing.assert_array_equal(out["target"], [1, 0, 0, 1])
    assert out["prob"].dtype == np.float64 and out["index"].dtype == np.int64
    scores.reset()
    assert scores.compute() == {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_score_collector_gathers_every_process_shard(tmp_path: Path) -> None:
    """Each process sees all rows (not only its shard), so AUROC is over the whole split."""
    mp.spawn(collect_on_rank, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        out = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_array_equal(out["index"], [0, 1, 2, 3, 4])
        np.testing.assert_allclose(out["prob"], [0.0, 0.1, 0.2, 0.3, 0.4])
        np.testing.assert_array_equal(out["target"], [0, 1, 0, 1, 0])


def _tiny_module(ham_dataset: Path):
    s = TrainSettings.from_cli(["--data-dir", str(ham_dataset), *TINY])
    dm = build_datamodule(s)
    return dm, build_module(s, dm)


def test_logged_validation_auroc_is_over_every_validation_row(ham_dataset: Path) -> None:
    dm, module = _tiny_module(ham_dataset)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    logged = trainer.validate(module, datamodule=dm, verbose=False)[0]
    val = module.last_val
    np.testing.assert_array_equal(val["index"], np.arange(len(dm.val_df)))
    np.testing.assert_array_equal(val["target"], dm.val_df["target"].to_numpy())
    assert logged["val/auroc"] == pytest.approx(auroc(val["target"], val["prob"]), abs=1e-6)
    # One name per metric: no slash-free copies.
    assert not any("_" in name.split("/")[0] for name in logged), sorted(logged)
    # The shared model_step gives test the same numbers under its own prefix.
    tested = trainer.test(module, dataloaders=dm.val_dataloader(), verbose=False)[0]
    assert tested["test/auroc"] == pytest.approx(logged["val/auroc"], abs=1e-6)
    assert tested["test/loss"] == pytest.approx(logged["val/loss"], rel=1e-5)


@pytest.mark.slow
def test_two_process_validation_matches_one_process(ham_dataset: Path) -> None:
    """Under DDP (2 forked CPU processes, gloo) the logged AUROC is the whole split's, not a
    shard's."""
    dm, module = _tiny_module(ham_dataset)
    single = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                       enable_model_summary=False)
    expected = single.validate(module, datamodule=dm, verbose=False)[0]["val/auroc"]
    ddp = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_fork", logger=False,
                    enable_progress_bar=False, enable_model_summary=False)
    got = ddp.validate(module, datamodule=dm, verbose=False)[0]["val/auroc"]
    assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_ddp_training_logs_the_auroc_of_the_whole_validation_set(ham_dataset: Path,
                                                                  tmp_path: Path) -> None:
    """`pl_train --devices 2 --strategy ddp` on CPU: one run folder, one bundle, and the logged
    validation AUROC is that of every validation image's prediction (not one process's half)."""
    import subprocess
    import sys

    import pandas as pd

    from configs.base import REPO_ROOT

    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "training.pl_train", "--data-dir", str(ham_dataset),
           "--output-dir", str(out), *TINY, "--epochs", "2", "--accelerator", "cpu",
           "--devices", "2", "--strategy", "ddp", "--num-threads", "1"]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list(out.iterdir())
    assert len(runs) == 1, runs  # both processes wrote to one run folder
    run = runs[0]
    preds = pd.read_csv(run / "val_predictions.csv")
    metrics = pd.read_csv(run / "metrics.csv")
    final = metrics["val/auroc"].dropna().iloc[-1]  # the export's validation pass
    assert len(preds) == preds["image_id"].nunique() > 0
    assert final == pytest.approx(auroc(preds["target"], preds["prob"]), abs=1e-6)
    assert (run / "bundle" / "bundle.json").is_file()
    # Every validation image of the fold was scored once.
    s = TrainSettings.from_cli(["--data-dir", str(ham_dataset), *TINY])
    assert len(preds) == len(build_datamodule(s).val_df)
