"""`python -m eval.predict`: unlabelled folders and CSVs, bad files listed, resume, shards."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.predict import errors_path, in_shard, main
from models.bundle.io import load_bundle
from models.inference.engine import Engine

from .conftest import write_csv

FAST = ["--no-progress", "--num-workers", "0", "--batch-size", "4", "--backend", "eager"]


@pytest.fixture()
def folder(ham_source: Path, tmp_path: Path) -> Path:
    """8 images (2 in a sub-folder), a PNG and a broken file, no labels."""
    root = tmp_path / "unlabelled"
    images = sorted((ham_source / "images").glob("*.jpg"))[:8]
    for i, path in enumerate(images):
        target = root / ("sub" if i < 2 else "") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    from PIL import Image
    Image.open(images[0]).convert("RGBA").save(root / "alpha.PNG")
    (root / "broken.jpg").write_text("not an image")
    (root / "notes.txt").write_text("ignored: not an image suffix")
    return root


def _read(out: Path) -> pd.DataFrame:
    return pd.read_csv(out, dtype={"image_id": str}, keep_default_na=False,
                       na_values={"age": [""]})


def test_folder_is_scored_and_the_broken_file_listed(folder: Path, bundle64: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    assert main(["--bundle", str(bundle64), "--images", str(folder), "--out", str(out),
                 *FAST]) == 0
    preds = _read(out)
    assert len(preds) == 9 and preds["image_id"].is_unique
    assert {"sub/" + p.stem for p in (folder / "sub").iterdir()} <= set(preds["image_id"])
    assert "alpha" in set(preds["image_id"])
    errors = pd.read_csv(errors_path(out))
    assert list(errors["image_id"]) == ["broken"]
    assert "not a recognised image file" in errors["reason"].iloc[0]
    bundle = load_bundle(bundle64)
    t = bundle.threshold
    assert (preds["threshold"] == t).all()
    assert (preds["decision"] == np.where(preds["probability"] >= t, "above threshold",
                                          "below threshold")).all()
    # The app's engine gives the same probability for the same image and (unknown) metadata.
    engine = Engine(bundle, num_threads=1, backend="eager")
    for _, row in preds.head(3).iterrows():
        assert row["probability"] == pytest.approx(engine.predict(row["image_path"]),
                                                   abs=1e-5)


@pytest.mark.parametrize("flag", [["--metadata-csv", "{}"], ["--metadata", "{}"],
                                  ["--metadata={}"]], ids=["metadata-csv", "metadata", "equals"])
def test_metadata_csv_is_used_and_bad_rows_are_listed(folder: Path, bundle64: Path,
                                                     tmp_path: Path, flag: list[str]) -> None:
    first, second = sorted(p.stem for p in folder.glob("ISIC_*.jpg"))[:2]
    meta = tmp_path / "meta.csv"
    write_csv(meta, [{"image_id": first, "age": "61", "sex": "F", "site": "back"},
                     {"image_id": second, "age": "300", "sex": "male", "site": ""}])
    out = tmp_path / "pred.csv"
    assert main(["--bundle", str(bundle64), "--images", str(folder),
                 *[f.format(meta) for f in flag], "--out", str(out), *FAST]) == 0
    preds = _read(out).set_index("image_id")
    assert (preds.loc[first, "age"], preds.loc[first, "sex"], preds.loc[first, "site"]) == (
        61.0, "female", "posterior torso")
    assert second not in preds.index
    reasons = pd.read_csv(errors_path(out)).set_index("image_id")["reason"]
    assert "age: 300 is out of range" in reasons[second] and "line 3" in reasons[second]


def test_csv_input_with_metadata_columns(ham_source: Path, bundle64: Path,
                                         tmp_path: Path) -> None:
    rows = [{"image": f"images/ISIC_000{i}0.jpg", "age": 40 + i, "sex": "male",
             "anatom_site_general": "torso"} for i in range(3)]
    rows.append({"image": "images/missing.jpg", "age": "", "sex": "", "anatom_site_general": ""})
    csv = ham_source / f"list-{tmp_path.name}.csv"
    write_csv(csv, rows)
    out = tmp_path / "pred.csv"
    try:
        assert main(["--bundle", str(bundle64), "--images", str(csv), "--out", str(out),
                     *FAST]) == 0
    finally:
        csv.unlink()
    preds = _read(out)
    assert list(preds["age"]) == [40.0, 41.0, 42.0] and set(preds["site"]) == {"torso"}
    assert "not found" in pd.read_csv(errors_path(out))["reason"].iloc[0]


def test_rerun_resumes_and_tta_and_ensembles_add_columns(folder: Path, bundle_pair: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    argv = ["--bundle", str(bundle_pair), "--images", str(folder), "--out", str(out), "--tta",
            "--chunk-size", "3", *FAST]
    assert main(argv) == 0
    first = _read(out)
    assert "probability_no_tta" in first.columns
    members = [c for c in first.columns if c.startswith("probability_b")]
    assert sorted(m.split("-")[0] for m in members) == ["probability_b48", "probability_b64"]
    np.testing.assert_allclose(first["probability"], first[members].mean(axis=1), atol=1e-12)
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:4]))  # interrupted
    assert main(argv) == 0
    resumed = _read(out)
    assert len(resumed) == len(first) and resumed["image_id"].is_unique
    pd.testing.assert_frame_equal(resumed.sort_values("image_id").reset_index(drop=True),
                                  first.sort_values("image_id").reset_index(drop=True))


@pytest.mark.parametrize("keep_lines", [0, 4], ids=["torn-header", "torn-row"])
def test_a_half_written_last_row_is_scored_again(folder: Path, bundle64: Path, tmp_path: Path,
                                                 keep_lines: int) -> None:
    """A run killed while appending leaves part of a row (or of the header): the rerun drops
    it and scores that image again: no duplicate, no gap, no garbage."""
    out = tmp_path / "pred.csv"
    argv = ["--bundle", str(bundle64), "--images", str(folder), "--out", str(out),
            "--chunk-size", "3", *FAST]
    assert main(argv) == 0
    first = _read(out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:keep_lines]) + lines[keep_lines][:25])  # no final newline
    assert main(argv) == 0
    resumed = _read(out)
    assert len(resumed) == len(first) and resumed["image_id"].is_unique
    pd.testing.assert_frame_equal(resumed.sort_values("image_id").reset_index(drop=True),
                                  first.sort_values("image_id").reset_index(drop=True))


KILL_MID_APPEND = r"""
import os, signal, sys
import eval.predict as predict

out = sys.argv[sys.argv.index("--out") + 1]
real, calls = predict._append, []

def append(frame, path):
    if str(path) == out:
        calls.append(1)
        if len(calls) == 2:  # the second chunk: half of it reaches the disk, then death
            text = frame.to_csv(header=False, index=False)
            with open(path, "a") as fh:
                fh.write(text[: len(text) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
    real(frame, path)

predict._append = append
sys.exit(predict.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_killed_mid_chunk_the_rerun_equals_an_uninterrupted_run(folder: Path, bundle64: Path,
                                                                 tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    args = ["--bundle", str(bundle64), "--images", str(folder), "--chunk-size", "3", *FAST]
    clean, killed = tmp_path / "clean.csv", tmp_path / "killed.csv"
    repo = Path(__file__).resolve().parents[2]

    def run(out: Path, *prefix: str) -> int:
        return subprocess.run([sys.executable, *prefix, "--out", str(out), *args], cwd=repo,
                              capture_output=True, timeout=600, check=False).returncode

    assert run(clean, "-m", "eval.predict") == 0
    assert run(killed, "-c", KILL_MID_APPEND) == -signal.SIGKILL
    assert not killed.read_bytes().endswith(b"\n")  # the kill tore a row
    assert run(killed, "-m", "eval.predict") == 0
    a, b = _read(clean), _read(killed)
    assert list(b["image_id"]) == list(a["image_id"])  # same rows, same order, no duplicates
    pd.testing.assert_frame_equal(b, a, check_exact=False, atol=1e-6)
    assert errors_path(killed).read_text() == errors_path(clean).read_text()


def test_shards_partition_the_images(folder: Path, bundle64: Path, tmp_path: Path) -> None:
    ids = []
    for i in range(3):
        out = tmp_path / f"shard{i}.csv"
        assert main(["--bundle", str(bundle64), "--images", str(folder), "--out", str(out),
                     "--shard", f"{i}/3", *FAST]) == 0
        shard = _read(out)["image_id"].tolist() if out.is_file() else []
        assert all(in_shard(x, (i, 3)) for x in shard)
        ids += shard
    assert len(ids) == len(set(ids)) == 9


@pytest.mark.parametrize(("argv", "fact"), [
    (["--images", "/does/not/exist"], "does not exist"),
    (["--images", "{folder}", "--shard", "3/3"], "need 0 <= i < n"),
    (["--images", "{folder}", "--shard", "one"], "--shard"),
])
def test_bad_input_is_one_line_and_exit_2(argv, fact, folder, bundle64, tmp_path,
                                          capsys) -> None:
    argv = [a.replace("{folder}", str(folder)) for a in argv]
    assert main(["--bundle", str(bundle64), "--out", str(tmp_path / "p.csv"), *argv,
                 *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and fact in err[-1]


def test_a_full_disk_stops_with_one_line_and_the_rerun_completes(folder: Path, bundle64: Path,
                                                                tmp_path: Path) -> None:
    """Issue 26: the disk fills half-way through the output (RLIMIT_FSIZE): exit 2 and one
    line naming the file; the same command later (with space) gives the uninterrupted output."""
    import subprocess
    import sys

    from tests.helpers import error_lines, file_size_limit

    repo = Path(__file__).resolve().parents[2]
    args = ["--bundle", str(bundle64), "--images", str(folder), "--chunk-size", "3", *FAST]
    clean, full = tmp_path / "clean.csv", tmp_path / "full.csv"

    def run(out: Path, limit: int | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "eval.predict", "--out", str(out), *args],
                              cwd=repo, capture_output=True, text=True, timeout=600,
                              check=False, preexec_fn=file_size_limit(limit) if limit else None)

    assert run(clean).returncode == 0
    proc = run(full, limit=clean.stat().st_size // 2)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"cannot write to {full}: File too large" in errors[0]
    assert run(full).returncode == 0
    a, b = _read(clean), _read(full)
    assert list(b["image_id"]) == list(a["image_id"])
    pd.testing.assert_frame_equal(b, a, check_exact=False, atol=1e-6)
