"""Property-based fuzzing (hypothesis) of the CSVs the eval commands read: prediction files
(`eval.compare`) and the metadata CSV of `eval.predict`. Random bytes, odd encodings, separators,
quoted newlines, duplicate headers, huge fields: a result or one clear error line (exit 2),
never a traceback."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.readers import DatasetError
from data.unlabelled import read_unlabelled
from eval.compare import main as compare_main
from tests.fuzzing import csv_texts

FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

GOOD = b"image_id,label,prob,group_id\nA,1,0.9,g1\nB,0,0.2,g2\nC,1,0.7,g3\nD,0,0.4,g4\n"
PREDICTION_FILES = st.one_of(
    csv_texts(), st.binary(max_size=1500),
    st.builds(lambda extra: GOOD + extra, st.binary(max_size=200)),  # a damaged tail
    st.sampled_from([GOOD.replace(b",prob", b",prob,prob"),  # duplicate header
                     GOOD.replace(b"0.9", b"high"), GOOD.replace(b"B,0", b"A,0"),
                     b"\xef\xbb\xbf" + GOOD, GOOD.replace(b",", b";"),
                     GOOD.decode().encode("utf-16")]))


@FUZZ
@given(candidate=PREDICTION_FILES)
def test_compare_gives_a_result_or_one_error_line(candidate: bytes, caplog) -> None:
    caplog.clear()
    with tempfile.TemporaryDirectory() as tmp, caplog.at_level(logging.ERROR):
        base, cand = Path(tmp) / "baseline.csv", Path(tmp) / "candidate.csv"
        base.write_bytes(GOOD)
        cand.write_bytes(candidate)
        code = compare_main(["--baseline", str(base), "--candidate", str(cand),
                             "--n-boot", "50"])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code in (0, 2), errors
    if code == 2:  # eval.compare reports through logging: one ERROR line
        assert len(errors) == 1 and "\n" not in errors[0], errors


@FUZZ
@given(content=st.one_of(csv_texts(), st.binary(max_size=1500)))
def test_the_predict_metadata_csv_joins_or_gives_a_clear_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for name in ("ISIC_0000000", "45"):
            (images / f"{name}.jpg").write_bytes(b"\xff\xd8\xff")  # never decoded here
        meta = Path(tmp) / "meta.csv"
        meta.write_bytes(content)
        try:
            table, skipped = read_unlabelled(images, meta)
        except DatasetError as err:
            assert "\n" not in str(err) and str(err)
            return
    # Every image is either joined to its row (or to unknown metadata) or listed as skipped.
    assert sorted([*table["image_id"], *(s.image_id for s in skipped)]) == ["45", "ISIC_0000000"]
    assert set(table["sex"]) <= {"male", "female", "unknown"}
