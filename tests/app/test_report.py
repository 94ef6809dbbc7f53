"""The PDF report (built in memory) and the one-time, in-memory report store."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.render import decide
from app.report import ReportStore, report_pdf
from models.bundle.operating import OperatingCurve
from models.inference.tta import VIEW_NAMES


def _session() -> dict:
    rng = np.random.default_rng(0)
    probs = rng.random(len(VIEW_NAMES))
    result = {"probability": float(probs[0]), "tta": [
        {"view": v, "probability": float(p)} for v, p in zip(VIEW_NAMES, probs, strict=True)],
        "tta_mean": float(probs.mean()), "tta_std": float(probs.std()),
        "tta_min": float(probs.min()), "tta_max": float(probs.max()),
        "metadata": {"age": None, "sex": "female", "site": "head/neck"},
        "model": "test-model", "backend": "eager"}
    curve = OperatingCurve.from_scores([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.7])
    return {"view": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            "cams": [("layer", "4x4", rng.integers(0, 256, (32, 32), dtype=np.uint8))],
            "result": decide(result, 0.5, "custom", curve)}, curve


def test_report_is_a_pdf_with_the_result() -> None:
    session, curve = _session()
    pdf = report_pdf(session, curve, "Research use only.")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 5_000


def test_store_hands_each_report_out_once() -> None:
    store = ReportStore()
    token = store.put(b"%PDF-1")
    assert len(token) >= 32 and len(store) == 1
    assert store.pop(token) == b"%PDF-1"
    assert store.pop(token) is None and len(store) == 0
    assert store.pop("guess") is None


def test_store_drops_expired_and_oldest_reports() -> None:
    store = ReportStore(ttl_s=0.05, max_items=2)
    first = store.put(b"1")
    time.sleep(0.1)
    assert store.pop(first) is None  # expired
    a, b, c = store.put(b"a"), store.put(b"b"), store.put(b"c")
    assert len(store) == 2 and store.pop(a) is None
    assert (store.pop(b), store.pop(c)) == (b"b", b"c")


@pytest.mark.parametrize("threshold", [0.0, 0.65, 1.0])
def test_decide_recomputes_the_decision_only(threshold: float) -> None:
    session, curve = _session()
    before = session["result"]
    after = decide(before, threshold, "custom", curve)
    assert after["decision"] == ("above threshold" if after["probability"] >= threshold
                                 else "below threshold")
    assert after["operating_point"]["threshold"] == threshold
    assert {k: v for k, v in after.items() if k not in (
        "threshold", "decision", "operating_point", "threshold_name")} == {
        k: v for k, v in before.items() if k not in (
            "threshold", "decision", "operating_point", "threshold_name")}


def test_a_diagnosis_report_lists_the_differential_most_probable_first() -> None:
    from app.report import result_lines

    session, curve = _session()
    result = {**session["result"], "classes": {"MEL": 0.1, "NV": 0.7, "BKL": 0.2},
              "class_names": {"MEL": "melanoma", "NV": "melanocytic naevus",
                              "BKL": "benign keratosis"}}
    lines = result_lines(result, curve)
    assert lines[1] == ("Differential: melanocytic naevus 0.70, benign keratosis 0.20, "
                        "melanoma 0.10")
    assert not any(line.startswith("Differential") for line in result_lines(
        session["result"], curve))
    pdf = report_pdf({**session, "result": result}, curve, "Research use only.")
    assert pdf.startswith(b"%PDF-")


@pytest.mark.parametrize("threshold", [0.3, 0.45, 0.6])
def test_the_decision_probability_decides_and_heads_every_panel(threshold: float) -> None:
    from app.render import label_confidences, summary_markdown
    from app.report import result_lines

    session, curve = _session()
    # A calibrated TTA-mean rule: the decided probability differs from the single view's.
    result = {**session["result"], "probability": 0.9, "decision_probability": 0.4,
              "decision_score": "tta_mean", "calibration": "platt"}
    after = decide(result, threshold, "custom", curve)
    assert after["decision"] == ("above threshold" if 0.4 >= threshold else "below threshold")
    summary = summary_markdown(after, curve)
    assert "### Probability of melanoma: 0.400" in summary
    assert "mean of the 8 flipped/rotated views, platt-calibrated" in summary
    assert label_confidences(after) == {"melanoma": 0.4, "not melanoma": pytest.approx(0.6)}
    assert result_lines(after, curve)[0] == ("Probability of melanoma: 0.400 (the mean of the "
                                             "8 flipped/rotated views, platt-calibrated)")


def test_results_without_a_rule_decide_on_the_single_view() -> None:
    from app.render import rule_text, summary_markdown

    session, curve = _session()
    result = session["result"]
    assert rule_text(result) == ("the image as uploaded (one view), the model's uncalibrated "
                                 "output")
    assert f"### Probability of melanoma: {result['probability']:.3f}" in summary_markdown(
        result, curve)


def test_second_stage_is_shown_with_what_it_could_not_use() -> None:
    from app.render import summary_markdown

    session, curve = _session()
    result = {**session["result"], "second_stage": {
        "score": 0.731, "cnn_probability": 0.4, "combiner": "percentile_mean",
        "libraries": ["lightgbm", "xgboost"], "patient_context": False}}
    text = summary_markdown(result, curve)
    assert "**Second stage** (lightgbm + xgboost trees" in text and "**0.731**" in text
    assert "mean percentile" in text and "no patient context" in text
    assert "Second stage" not in summary_markdown(session["result"], curve)


@pytest.mark.parametrize(("extra", "line"), [
    ({}, "Heatmaps: EigenCAM per layer (where the features are strongest, any class)"),
    ({"heatmap_method": "gradcam", "heatmap_class": "melanoma"},
     "Heatmaps: Grad-CAM per layer of the output 'melanoma' (what raises it)"),
    ({"heatmap_method": "gradcam", "heatmap_class": "BCC",
      "class_names": {"BCC": "basal cell carcinoma"}},
     "Heatmaps: Grad-CAM per layer of the output 'basal cell carcinoma' (what raises it)"),
], ids=["eigencam", "gradcam-melanoma", "gradcam-class"])
def test_the_report_says_which_heatmaps_it_shows(extra: dict, line: str) -> None:
    from app.report import result_lines

    session, curve = _session()
    assert line in result_lines({**session["result"], **extra}, curve)
