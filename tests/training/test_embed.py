"""training.embed: per-image probabilities and embeddings, out-of-fold flags, resuming."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.folds import assign_folds
from data.readers import read_dataset
from eval.pipeline.inference import predict
from models.bundle.io import load_bundle
from tests.eval.conftest import build_bundle
from training.embed import main

N_FOLDS, SEED = 3, 7
FAST = ["--no-progress", "--batch-size", "8"]


@pytest.fixture(scope="module")
def fold_bundles(ham_dataset, tmp_path_factory) -> list[Path]:
    """Two random-weight bundles recording folds 0 and 1 of the dataset (as training.cv)."""
    root = tmp_path_factory.mktemp("bundles")
    return [build_bundle(root / f"fold{k}", seed=k, size=48, name=f"f{k}", training_data={
        "fold": k, "n_folds": N_FOLDS, "seed": SEED, "n_images": 48}) for k in (0, 1)]


def _embed(tmp_path: Path, bundles: list[Path], data: Path, *extra: str) -> pd.DataFrame:
    out = tmp_path / "emb.parquet"
    args = [a for b in bundles for a in ("--bundle", str(b))]
    assert main([*args, "--data-dir", str(data), "--out", str(out), *FAST, *extra]) == 0
    return pd.read_parquet(out)


def test_columns_folds_and_out_of_fold_score(fold_bundles, ham_dataset, tmp_path):
    df = _embed(tmp_path, fold_bundles, ham_dataset)
    table = assign_folds(read_dataset(ham_dataset), n_folds=N_FOLDS, seed=SEED)
    assert df["image_id"].tolist() == table["image_id"].tolist()
    assert df["fold"].tolist() == table["fold"].tolist()
    for k in (0, 1):
        assert (df[f"m{k}_oof"] == (df["fold"] == k)).all()
        emb = df.filter(like=f"m{k}_emb_")
        assert emb.shape == (48, load_bundle(fold_bundles[k]).model.backbone.num_features)
        assert np.isfinite(emb.to_numpy()).all()
    # prob: the out-of-fold member's score; NaN where every member trained on the image.
    np.testing.assert_allclose(df.loc[df.fold == 0, "prob"], df.loc[df.fold == 0, "m0_prob"])
    np.testing.assert_allclose(df.loc[df.fold == 1, "prob"], df.loc[df.fold == 1, "m1_prob"])
    assert df.loc[df.fold == 2, "prob"].isna().all()
    # The probabilities are evaluation's (same preprocessing and metadata encoding).
    preds = predict([load_bundle(p) for p in fold_bundles], read_dataset(ham_dataset),
                    num_workers=0, progress=False)
    for k in (0, 1):
        np.testing.assert_allclose(df[f"m{k}_prob"], preds.members[k].prob, atol=1e-5)


def test_unseen_data_is_out_of_fold_everywhere(fold_bundles, ham_dataset, tmp_path):
    # A folder of runs is an ensemble (as for evaluation): both bundles, in order.
    df = _embed(tmp_path, [fold_bundles[0].parent], ham_dataset, "--unseen")
    assert df["m0_oof"].all() and df["m1_oof"].all()
    np.testing.assert_allclose(df["prob"], (df["m0_prob"] + df["m1_prob"]) / 2)


def test_a_rerun_resumes_from_finished_chunks(fold_bundles, ham_dataset, tmp_path):
    out = tmp_path / "emb.parquet"
    parts = tmp_path / "emb.parquet.parts"
    first = _embed(tmp_path, fold_bundles[:1], ham_dataset, "--chunk-size", "20")
    assert not parts.exists()  # cleaned up after the final file is written
    # A finished chunk left by an interrupted run is reused, not recomputed.
    parts.mkdir()
    marked = first.iloc[:20].copy()
    marked["m0_prob"] = -1.0
    marked.to_parquet(parts / "part-00000.parquet", index=False)
    out.unlink()
    again = _embed(tmp_path, fold_bundles[:1], ham_dataset, "--chunk-size", "20")
    assert (again["m0_prob"].iloc[:20] == -1.0).all()
    np.testing.assert_allclose(again["m0_prob"].iloc[20:], first["m0_prob"].iloc[20:])


@pytest.mark.parametrize(("training_data", "fact"), [
    ({"fold": 0, "n_folds": N_FOLDS, "seed": SEED, "n_images": 999}, "trained on 999 images"),
    ({}, "records no training fold"),
])
def test_data_that_is_not_the_training_data_is_refused(training_data, fact, ham_dataset,
                                                        tmp_path, capsys):
    bundle = build_bundle(tmp_path / "b", size=48, training_data=training_data)
    assert main(["--bundle", str(bundle), "--data-dir", str(ham_dataset),
                 "--out", str(tmp_path / "e.parquet"), *FAST]) == 2
    err = capsys.readouterr().err
    assert fact in err and "--unseen" in err and len(err.strip().splitlines()) == 1


def test_unreadable_image_names_the_file(fold_bundles, ham_dataset, tmp_path, capsys):
    data = Path(shutil.copytree(ham_dataset, tmp_path / "ham"))
    victim = sorted((data / "images").glob("*.jpg"))[5]
    victim.write_bytes(b"not a jpeg")
    assert main(["--bundle", str(fold_bundles[0]), "--data-dir", str(data), "--unseen",
                 "--out", str(tmp_path / "e.parquet"), *FAST]) == 2
    assert victim.name in capsys.readouterr().err


def test_image_statistics_are_measured_on_the_model_view(fold_bundles, ham_dataset, tmp_path):
    from models.second_stage.features import IMAGE_STAT_COLUMNS, image_stats

    df = _embed(tmp_path, fold_bundles[:1], ham_dataset, "--unseen")
    pre = load_bundle(fold_bundles[0]).preprocessing
    for i in (0, 7):
        view = pre.model_view(pre.load(df["image_path"].iloc[i]))
        expected = image_stats(view)
        for c in IMAGE_STAT_COLUMNS:
            assert df[c].iloc[i] == pytest.approx(expected[c], rel=1e-6, abs=1e-9), c


KILL_AT_SECOND_CHUNK = r"""
import os, signal, sys
import training.embed as embed

real, calls = embed.embed_chunk, []

def embed_chunk(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the first chunk is on disk; die while computing the second
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)

embed.embed_chunk = embed_chunk
sys.exit(embed.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_killed_mid_run_the_rerun_equals_an_uninterrupted_run(fold_bundles, ham_dataset,
                                                              tmp_path):
    """Issue 26: SIGKILL (a real process) while embedding the second chunk; the same command
    again gives the same file as a run that was never interrupted."""
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    args = [a for b in fold_bundles for a in ("--bundle", str(b))]
    args += ["--data-dir", str(ham_dataset), *FAST, "--chunk-size", "16"]

    def run(out: Path, *prefix: str) -> int:
        return subprocess.run([sys.executable, *prefix, *args, "--out", str(out)], cwd=repo,
                              capture_output=True, timeout=600, check=False).returncode

    clean, killed = tmp_path / "clean.parquet", tmp_path / "killed.parquet"
    assert run(clean, "-m", "training.embed") == 0
    assert run(killed, "-c", KILL_AT_SECOND_CHUNK) == -signal.SIGKILL
    assert not killed.exists() and len(list((tmp_path / "killed.parquet.parts").iterdir())) == 1
    assert run(killed, "-m", "training.embed") == 0
    a, b = pd.read_parquet(clean), pd.read_parquet(killed)
    assert list(b["image_id"]) == list(a["image_id"])
    pd.testing.assert_frame_equal(b, a, check_exact=False, atol=1e-6)
    assert not (tmp_path / "killed.parquet.parts").exists()
