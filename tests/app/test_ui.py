"""Unit tests for app.ui helpers: examples, overlay re-rendering, the model card, result JSON."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from app.render import (
    ALL_LAYERS,
    analysis_json,
    model_card_markdown,
    render_overlays,
)
from app.render import pack_cams as _pack_cams
from app.ui import EXAMPLES_DIR, load_examples
from data.sites import SEXES, SITES, normalize_sex, to_canonical_site
from models.inference.engine import Analysis, CamLayer, overlay
from models.inference.tta import VIEW_NAMES


def _analysis(size: int = 16) -> Analysis:
    rng = np.random.default_rng(0)
    cams = [CamLayer(f"layer{i}", (2 ** (4 - i), 2 ** (4 - i)),
                     rng.random((size, size)).astype(np.float32)) for i in range(5)]
    probs = np.linspace(0.2, 0.6, 8)
    return Analysis(
        probability=0.2, threshold=0.3, threshold_name="sensitivity_target",
        decision="below threshold",
        tta=[{"view": v, "probability": float(p)} for v, p in zip(VIEW_NAMES, probs)],
        tta_mean=float(probs.mean()), tta_std=float(probs.std()), tta_min=0.2, tta_max=0.6,
        cams=cams, model_view=rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        metadata={"age": None, "sex": "unknown", "site": "unknown"}, timings_ms={"total": 1.0},
        model="")


def test_examples_are_real_images_with_canonical_metadata() -> None:
    examples = load_examples()
    with open(EXAMPLES_DIR / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(examples) == len(rows) >= 3
    assert {r["dx"] for r in rows} >= {"mel", "nv", "bkl"}
    for example, row in zip(examples, rows, strict=True):
        assert example.path.name == f"{row['image_id']}.jpg" and example.path.is_file()
        assert example.age == float(row["age"])
        assert example.sex in SEXES and example.site in SITES
    # HAM10000 spellings are mapped through data.sites, not copied: the CSV's canonical `site`
    # column is exactly what the one vocabulary makes of HAM10000's own `localization`.
    assert [e.site for e in examples] == ["anterior torso", "upper extremity",
                                          "lower extremity", "head/neck"]
    assert [e.site for e in examples] == [to_canonical_site(r["localization"], "ham10000")
                                          for r in rows]
    assert [e.sex for e in examples] == [normalize_sex(r["sex"]) for r in rows]
    # Every example is attributed, with its own diagnosis, age and sex, under the licence.
    attribution = (EXAMPLES_DIR / "ATTRIBUTION.md").read_text()
    assert "**Licence:** Creative Commons Attribution-NonCommercial 4.0" in attribution
    assert "doi:[10.1038/sdata.2018.161]" in attribution
    table = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
             for line in attribution.splitlines() if line.startswith("| ISIC_")}
    assert sorted(table) == sorted(r["image_id"] for r in rows)
    for row in rows:
        dx, _confirmed, age, sex, localization = table[row["image_id"]]
        assert f"({row['dx']})" in dx and float(age) == float(row["age"]) and sex == row["sex"]
        assert localization == row["localization"]


def test_render_overlays_matches_the_engine_overlay_and_filters_layers() -> None:
    analysis = _analysis()
    state = _pack_cams(analysis)
    items = render_overlays(state, ALL_LAYERS, 0.6)
    assert [caption for _, caption in items] == [
        f"layer{i} — {2 ** (4 - i)}x{2 ** (4 - i)}" for i in range(5)]
    # Same colours as models.inference.engine.overlay on the (uint8-quantised) heatmap.
    heat = np.rint(analysis.cams[2].heatmap * 255) / 255
    np.testing.assert_array_equal(items[2][0], overlay(analysis.model_view, heat, 0.6))
    only = render_overlays(state, "layer3", 0.0)
    assert len(only) == 1 and only[0][1].startswith("layer3 — ")
    np.testing.assert_array_equal(only[0][0], analysis.model_view)  # opacity 0 = the image
    assert render_overlays(None, ALL_LAYERS, 0.5) == []


def test_analysis_json_has_the_promised_keys() -> None:
    result = analysis_json(_analysis(), "bundle-123")
    for key in ("probability", "threshold", "decision", "tta", "tta_mean", "tta_std",
                "cam_layers", "model"):
        assert key in result
    assert result["model"] == "bundle-123"
    assert result["cam_layers"] == [f"layer{i}" for i in range(5)]
    assert [t["view"] for t in result["tta"]] == list(VIEW_NAMES)


@pytest.mark.parametrize("metrics", [{}, {"validation": {"auroc": 0.812, "auroc_ci": [0.7, 0.9],
                                                         "pauc80": 0.123, "min_tpr": 0.8,
                                                         "n": 100, "n_pos": 11}}])
def test_model_card_shows_the_bundle_description(metrics: dict) -> None:
    info = {"bundle_id": "b-1", "name": "b", "model": {"backbone": "tf_efficientnet_lite0",
                                                      "meta_dim": 15},
            "preprocessing": {"size": 224, "color_constancy": "shades_of_gray"},
            "metrics": metrics, "training_data": {"format": "ham10000", "n_images": 8000},
            "license": "CC BY-NC 4.0"}
    card = model_card_markdown(info, {"sensitivity_target": 0.25, "closest_to_corner": 0.4},
                               "sensitivity_target")
    assert "tf_efficientnet_lite0" in card and "224 px" in card and "shades_of_gray" in card
    assert "sensitivity_target = 0.250 (used for the decision)" in card
    assert "closest_to_corner = 0.400" in card
    assert "CC BY-NC 4.0" in card and "n images 8000" in card
    if metrics:
        assert "AUROC 0.812 (95% CI 0.700–0.900)" in card and "pAUC above TPR 0.80: 0.123" in card
    else:
        assert "not recorded" in card


def test_blanking_in_the_browser_sends_what_the_server_would() -> None:
    """The Analyze click blanks the old result in the browser: each value as the server's
    postprocessing would send it (a table keeps its headers, a gallery is an empty list)."""
    import json

    import gradio as gr

    from app.ui import NO_RESULT, _set_in_browser

    with gr.Blocks():
        shown = [gr.JSON(), gr.HTML(), gr.Dataframe(headers=["view", "probability"]),
                 gr.Gallery(format="jpeg"), gr.Markdown()]
    js = _set_in_browser(shown, (None, NO_RESULT, None, [], ""))
    assert js.startswith("() => ")
    assert json.loads(js.removeprefix("() => ")) == [
        None, NO_RESULT, {"headers": ["view", "probability"], "data": [], "metadata": None},
        [], ""]
    with pytest.raises(ValueError):
        _set_in_browser(shown, (None,))
