"""eval.evaluate --stack: the second stage scored on labelled data, as training.stack scores it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval import evaluate
from eval.metrics import auroc
from models.second_stage.stack import load_stack
from training import embed, stack

FAST = ["--n-boot", "20", "--no-progress", "--num-workers", "0", "--batch-size", "6",
        "--backend", "eager"]


@pytest.fixture(scope="module")
def trained(ham_source: Path, bundle64: Path, tmp_path_factory) -> tuple[Path, Path]:
    """(embeddings, stack folder) of bundle64 on the HAM10000-layout fixture."""
    root = tmp_path_factory.mktemp("second")
    emb = root / "emb.parquet"
    # The batch size of FAST's evaluation: oneDNN picks kernels by batch shape, and on an
    # AVX-512 CPU (Zen 4) batches of 32 and 6 differed by 1e-5 after the trees.
    assert embed.main(["--bundle", str(bundle64), "--data-dir", str(ham_source), "--unseen",
                       "--out", str(emb), "--no-progress", "--batch-size", "6"]) == 0
    out = root / "stack"
    assert stack.main(["--embeddings", str(emb), "--out", str(out), "--n-folds", "3",
                       "--embedding-dims", "2", "--n-estimators", "40",
                       "--early-stopping-rounds", "10", "--no-progress"]) == 0
    return emb, out


def test_evaluate_scores_the_second_stage(trained, ham_source, bundle64, tmp_path):
    emb_path, stack_dir = trained
    out = tmp_path / "eval"
    assert evaluate.main(["--bundle", str(bundle64), "--data", str(ham_source), "--out",
                          str(out), "--stack", str(stack_dir), *FAST]) == 0
    preds = pd.read_csv(out / "predictions.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    # The same numbers as the saved trees applied to training.embed's rows.
    emb = pd.read_parquet(emb_path).set_index("image_id").loc[preds["image_id"]]
    base = stack.stack_features(emb.reset_index(), with_image_stats=True)
    expected = load_stack(stack_dir).predict(base, emb.filter(like="m0_emb_").to_numpy())
    np.testing.assert_allclose(preds["prob_second_stage"], expected, atol=1e-5)
    assert metrics["second_stage"]["auroc"] == pytest.approx(
        auroc(preds["label"], preds["prob_second_stage"]))
    assert metrics["second_stage"]["n"] == len(preds)


@pytest.mark.parametrize(("case", "fact"), [
    ("two_bundles", "one --bundle"),
    ("other_bundle", "trained on embeddings of"),
])
def test_stack_misuse_is_refused(case, fact, trained, ham_source, bundle64, make_bundle,
                                 tmp_path, capsys):
    bundles = ([str(bundle64), str(make_bundle(seed=4))] if case == "two_bundles"
               else [str(make_bundle(seed=5))])
    args = [a for b in bundles for a in ("--bundle", b)]
    assert evaluate.main([*args, "--data", str(ham_source), "--out", str(tmp_path / "o"),
                          "--stack", str(trained[1]), *FAST]) == 2
    err = capsys.readouterr().err
    assert fact in err and len(err.strip().splitlines()) == 1


def test_prediction_scores_the_second_stage(trained, ham_source, bundle64, tmp_path):
    from data.readers import read_dataset
    from eval import predict

    emb_path, stack_dir = trained
    table = read_dataset(ham_source)
    listing = tmp_path / "list.csv"
    table[["image_path", "age", "sex", "site"]].to_csv(listing, index=False)
    out = tmp_path / "pred.csv"
    assert predict.main(["--bundle", str(bundle64), "--images", str(listing), "--out", str(out),
                         "--stack", str(stack_dir), "--no-progress", "--num-workers", "0",
                         "--backend", "eager", "--chunk-size", "10"]) == 0
    got = pd.read_csv(out).set_index("image_path")
    emb = pd.read_parquet(emb_path).set_index("image_path").loc[got.index]
    base = stack.stack_features(emb.reset_index(), with_image_stats=True)
    expected = load_stack(stack_dir).predict(base, emb.filter(like="m0_emb_").to_numpy())
    # Chunked prediction: the trees see each image alone, so the result must not depend on
    # which other images share its chunk.
    np.testing.assert_allclose(got["probability_second_stage"], expected, atol=1e-5)


def test_a_two_stage_bundle_brings_its_trees(trained, ham_source, bundle64, tmp_path):
    from models.second_stage.stack import write_two_stage

    two = write_two_stage(bundle64, trained[1], tmp_path / "two-stage")
    for name, extra in (("with", ["--bundle", str(bundle64), "--stack", str(trained[1])]),
                        ("inside", ["--bundle", str(two)])):
        assert evaluate.main([*extra, "--data", str(ham_source), "--out",
                              str(tmp_path / name), *FAST]) == 0
    a, b = (pd.read_csv(tmp_path / n / "predictions.csv") for n in ("with", "inside"))
    np.testing.assert_allclose(a["prob_second_stage"], b["prob_second_stage"])
    np.testing.assert_allclose(a["prob"], b["prob"])  # the same CNN
