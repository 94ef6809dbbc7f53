"""training.components.resume: a named run killed mid-epoch (SIGKILL, real process) is continued by
the same
command from its last.ckpt; its logs keep every epoch and the bundle says it resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from training.components.resume import merge_metrics, resume_checkpoint

REPO = Path(__file__).resolve().parents[3]
TINY = ["--backbone", "tf_efficientnet_lite0", "--pretrained", "none", "--image-size", "64",
        "--batch-size", "8", "--num-workers", "0", "--n-folds", "3", "--epochs", "3",
        "--limit-train-batches", "3", "--meta-hidden", "16,8", "--early-stopping-patience", "0"]

# Dies in the middle of epoch 1 (epoch 0 is checkpointed), as a lost machine would.
KILL_MID_EPOCH = r"""
import os, signal, sys
import training.components.module as module
from training.pl_train import main

real = module.MelanomaModule.training_step

def training_step(self, batch, batch_idx):
    if self.current_epoch == 1 and batch_idx == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, batch, batch_idx)

module.MelanomaModule.training_step = training_step
sys.exit(main(sys.argv[1:]))
"""


def _run(*prefix: str, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *prefix, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_same_command(ham_dataset: Path, tmp_path: Path) -> None:
    args = ["--data-dir", str(ham_dataset), "--output-dir", str(tmp_path), "--run-name", "r",
            *TINY]
    run = tmp_path / "r"
    killed = _run("-c", KILL_MID_EPOCH, args=args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "bundle").exists()
    again = _run("-m", "training.pl_train", args=args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming r from" in again.stderr
    info = json.loads((run / "bundle" / "bundle.json").read_text())
    assert info["training"]["epochs_completed"] == 3
    assert [r["epochs_done"] for r in info["training"]["resumes"]] == [1]
    metrics = pd.read_csv(run / "metrics.csv")
    trained = metrics.loc[metrics["train/loss_epoch"].notna(), "epoch"].astype(int)
    assert sorted(trained) == [0, 1, 2]  # epoch 0 from the killed attempt, kept
    assert not list(run.glob("metrics.part*.csv"))
    preds = pd.read_csv(run / "val_predictions.csv")
    assert len(preds) == info["metrics"]["validation"]["n"]
    # A finished run is not resumed: the same command trains it again from the start.
    assert resume_checkpoint(run, None, named=True, auto=True) is None


def test_only_a_named_unfinished_run_resumes(tmp_path: Path) -> None:
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    torch.save({"epoch": 2, "state_dict": {}}, last)
    assert resume_checkpoint(tmp_path, None, named=True, auto=True) == last
    assert resume_checkpoint(tmp_path, None, named=False, auto=True) is None
    assert resume_checkpoint(tmp_path, None, named=True, auto=False) is None
    explicit = tmp_path / "other.ckpt"
    assert resume_checkpoint(tmp_path, explicit, named=False, auto=False) == explicit


def test_a_damaged_last_checkpoint_starts_the_run_over(tmp_path: Path) -> None:
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"PK\x03\x04 truncated")
    assert resume_checkpoint(tmp_path, None, named=True, auto=True) is None


def test_merged_metrics_keep_the_later_attempt_of_a_repeated_epoch(tmp_path: Path) -> None:
    pd.DataFrame({"epoch": [0, 1, 1], "step": [3, 6, 7], "v": [0.1, 0.2, 0.25]}).to_csv(
        tmp_path / "metrics.part000.csv", index=False)
    pd.DataFrame({"epoch": [1, 2], "step": [6, 9], "v": [0.3, 0.4]}).to_csv(
        tmp_path / "metrics.csv", index=False)
    merge_metrics(tmp_path)
    merged = pd.read_csv(tmp_path / "metrics.csv")
    assert list(merged["epoch"]) == [0, 1, 2] and list(merged["v"]) == [0.1, 0.3, 0.4]
    assert not list(tmp_path.glob("metrics.part*"))
