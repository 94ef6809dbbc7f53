"""What the app shows for one result: JSON, summary, operating point, TTA table, overlays.

Pure functions of the engine's result and the session state, so that moving the decision
threshold or the overlay controls re-renders without running the model again.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from models.bundle.decision import DECISION_KEY, DecisionRule
from models.bundle.operating import OperatingCurve
from models.inference.engine import ABOVE, BELOW, Analysis, overlay

ALL_LAYERS = "all layers"
DEFAULT_OPACITY = 0.45


def format_resolution(resolution: Any) -> str:
    if isinstance(resolution, (tuple, list)) and len(resolution) == 2:
        return f"{int(resolution[0])}x{int(resolution[1])}"
    return f"{int(resolution)}x{int(resolution)}"


def format_value(value: Any, digits: int = 3) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "n/a" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}f}"
    return "n/a" if value is None else str(value)


def analysis_json(analysis: Analysis, bundle_id: str) -> dict[str, Any]:
    """The API's JSON result: the engine's own summary (probability, threshold, decision, tta,
    tta_mean, tta_std, cam_layers, model), no image data; ``bundle_id`` fills an empty ``model``.
    """
    out = analysis.to_json()
    out["model"] = out.get("model") or bundle_id
    return out


def with_class_names(result: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The result with the bundle's readable class names (diagnosis models only)."""
    return {**result, "class_names": dict(names)} if result.get("classes") else result


def model_card_markdown(info: dict[str, Any], thresholds: dict[str, float],
                        default_threshold: str) -> str:
    """Markdown for the model info panel, from the bundle's own description."""
    model = info.get("model", {})
    prep = info.get("preprocessing", {})
    val = (info.get("metrics") or {}).get("validation") or {}
    data = info.get("training_data") or {}
    colour = prep.get("color_constancy")
    colour_text = f", colour constancy {colour}" if colour not in (None, "none") else ""
    lines = [
        (f"**Bundle:** `{info.get('bundle_id', '?')}` (name `{info.get('name', '?')}`, "
         f"created {info.get('created', '?')})"),
        (f"**Backbone:** `{model.get('backbone', '?')}`, input {prep.get('size', '?')} px, "
         f"metadata {'used' if model.get('meta_dim') else 'not used'}{colour_text}"),
    ]
    if info.get("classes"):
        lines.append(f"**Task:** diagnosis over {len(info['classes'])} classes "
                     f"({', '.join(info['classes'])}); melanoma probability = P("
                     f"{info.get('melanoma_class', info['classes'][0])})")
    if val:
        auroc = f"AUROC {format_value(val.get('auroc'))}"
        if val.get("auroc_ci"):
            low, high = val["auroc_ci"]
            auroc += f" (95% CI {format_value(low)}–{format_value(high)})"
        min_tpr = val.get("min_tpr")
        pauc = f"pAUC above TPR {format_value(min_tpr, 2)}: {format_value(val.get('pauc80'))}"
        if isinstance(min_tpr, (int, float)):
            pauc += f" (max {format_value(1 - min_tpr)})"
        count = (f" on {val['n']} images ({val.get('n_pos', '?')} melanomas)"
                 if "n" in val else "")
        lines.append(f"**Validation:** {auroc}; {pauc}{count}")
    else:
        lines.append("**Validation:** not recorded in the bundle")
    thr = ", ".join(f"{name} = {value:.3f}"
                    + (" (used for the decision)" if name == default_threshold else "")
                    for name, value in thresholds.items())
    lines.append(f"**Thresholds:** {thr}")
    if not info.get("members"):
        rule = DecisionRule.from_dict(info.get(DECISION_KEY))
        source = info.get("operating_curve_source")
        lines.append(f"**Decides on:** {rule.describe()}")
        if source:
            lines.append(f"**Thresholds from:** {source}")
    if info.get("members"):
        lines.append(f"**Ensemble:** {len(info['members'])} members combined by "
                     f"{info.get('combiner', 'mean')} ({', '.join(info['members'])}); heatmaps "
                     f"from `{info.get('cam_member', info['members'][0])}`")
    if data:
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in data.items()
                 if k in ("format", "n_images", "n_positive", "n_groups", "group_kind",
                          "fold", "n_folds", "n_train", "n_val")]
        lines.append(f"**Training data:** {', '.join(parts) or 'see bundle.json'}")
    lines.append(f"**Licence:** {info.get('license', 'not recorded in the bundle')}")
    if info.get("intended_use"):
        lines.append(f"**Intended use:** {info['intended_use']}")
    return "\n\n".join(lines)


def decided_probability(result: dict[str, Any]) -> float:
    """The probability the decision compares with the threshold (older results: `probability`)."""
    value = result.get("decision_probability")
    return float(result["probability"] if value is None else value)


def rule_text(result: dict[str, Any]) -> str:
    """What the decision probability is, in words (the bundle's decision rule)."""
    score = ("the mean of the 8 flipped/rotated views" if result.get("decision_score") ==
             "tta_mean" else "the image as uploaded (one view)")
    method = result.get("calibration")
    return (f"{score}, {method}-calibrated" if method
            else f"{score}, the model's uncalibrated output")


def decide(result: dict[str, Any], threshold: float, name: str,
           curve: OperatingCurve | None) -> dict[str, Any]:
    """A copy of an analysis JSON decided at ``threshold`` (named ``name``).

    Replaces ``threshold``, ``threshold_name``, ``decision`` and ``operating_point``: the
    sensitivity, specificity and share flagged on the validation set (with its n and n_pos), or
    None without a curve.
    """
    out = dict(result)
    out["threshold"], out["threshold_name"] = float(threshold), name
    out["decision"] = ABOVE if decided_probability(out) >= threshold else BELOW
    out["operating_point"] = (None if curve is None else
                              {**curve.at(threshold), "n": curve.n, "n_pos": curve.n_pos})
    return out


def operating_point_markdown(threshold: float, curve: OperatingCurve | None) -> str:
    """One line on what deciding at `threshold` did on the validation set."""
    if curve is None:
        return (f"Threshold **{threshold:.3f}**. This model stores no validation curve, so its "
                "sensitivity and specificity at other thresholds are unknown.")
    op = curve.at(threshold)
    return (f"At threshold **{threshold:.3f}** the validation set ({curve.n} images, "
            f"{curve.n_pos} melanomas) gave sensitivity **{op['sensitivity']:.2f}**, "
            f"specificity **{op['specificity']:.2f}**, and flagged "
            f"**{op['flagged']:.0%}** of all lesions.")


def _metadata_text(metadata: dict[str, Any]) -> str:
    age = metadata.get("age")
    return (f"age {'unknown' if age is None else format(age, 'g')}, sex {metadata.get('sex')}, "
            f"site {metadata.get('site')}")


def summary_markdown(result: dict[str, Any], curve: OperatingCurve | None = None) -> str:
    """The result panel: probability, decision, operating point, TTA stability, comparison."""
    p, thr = decided_probability(result), result["threshold"]
    side = "at or above" if p >= thr else "below"
    decision = (f"**Decision:** {result['decision']} — the probability is {side} the decision "
                f"threshold **{thr:.3f}** (`{result['threshold_name']}`).")
    lines = [f"### Probability of melanoma: {p:.3f}", decision, "",
             f"The probability is {rule_text(result)} (the model's decision rule).", "",
             operating_point_markdown(thr, curve), ""]
    previous = result.get("previous")
    if previous:
        delta = p - previous["probability"]
        lines += [(f"**Same image, other metadata:** before {previous['probability']:.3f} "
                   f"({_metadata_text(previous['metadata'])}), now {p:.3f} "
                   f"({_metadata_text(result['metadata'])}): change **{delta:+.3f}**."), ""]
    stability = (f"**Stability under test-time augmentation** (8 flips/rotations): mean "
                 f"{result['tta_mean']:.3f} ± {result['tta_std']:.3f} (std), range "
                 f"{result['tta_min']:.3f}–{result['tta_max']:.3f}. A wide range means the "
                 "answer depends on orientation: treat it with more caution.")
    lines += [stability, ""]
    if result.get("second_stage"):
        lines += second_stage_markdown(result["second_stage"]) + [""]
    if result.get("classes"):
        lines += differential_markdown(result) + [""]
    lines += ["*Research use only — not a diagnosis.*"]
    return "\n".join(lines)


def second_stage_markdown(second: dict[str, Any]) -> list[str]:
    """The second stage's score, with what it could and could not use."""
    kind = ("probability" if second.get("combiner") == "single"
            else "mean percentile among its cross-validated scores")
    weights = {n: w for n, w in (second.get("weights") or {}).items() if w > 0}
    if weights and second.get("combiner") != "single":
        kind = "weighted mean percentile: " + ", ".join(
            f"{n} {w:.2f}" for n, w in sorted(weights.items(), key=lambda kv: -kv[1]))
    return [(f"**Second stage** ({' + '.join(second['libraries'])} trees on the CNN score, "
             f"metadata, image colour/shape statistics and the image embedding): "
             f"**{second['score']:.3f}** ({kind}). Image-level features only: a single image has "
             "no patient context, so the trees see it as a patient's only lesion. Not used for "
             "the decision above.")]


def differential_markdown(result: dict[str, Any]) -> list[str]:
    """A diagnosis model's differential: every class, most probable first."""
    names = result.get("class_names") or {}
    mean = result.get("classes_tta_mean") or {}
    ordered = sorted(result["classes"].items(), key=lambda kv: -kv[1])
    lines = [("**Differential** (the model's class probabilities; the decision above uses the "
              "melanoma probability only):"), "",
             "| class | probability | mean over the 8 TTA views |", "|---|---|---|"]
    lines += [f"| {names.get(c, c)} ({c}) | {p:.3f} | {format_value(mean.get(c))} |"
              for c, p in ordered]
    return lines


def decision_html(result: dict[str, Any]) -> str:
    """The result's first line: the decision, then the probability it was made on.

    It leads with the decision, not with the larger of "melanoma" and "not melanoma": a
    probability of 0.44 may well be above the threshold.
    """
    p, thr = decided_probability(result), float(result["threshold"])
    side = "above" if result["decision"] == ABOVE else "below"
    colour = SIDE_COLOURS[side]
    headline = ("Above the decision threshold: melanoma suspected" if side == "above" else
                "Below the decision threshold")
    name = html.escape(str(result.get("threshold_name", "")))
    return (f'<div class="decision-card" data-decision="{side}" style="border-left:6px solid '
            f'{colour};padding:0.4em 0.9em">'
            f'<div class="decision-headline" style="font-size:1.35em;font-weight:700;'
            f'color:{colour}">{headline}</div>'
            f'<div class="decision-detail">melanoma probability <b>{p:.3f}</b> vs threshold '
            f"<b>{thr:.3f}</b> (<code>{name}</code>): {html.escape(rule_text(result))}. "
            "<i>Research use only, not a diagnosis.</i></div></div>")


def label_confidences(result: dict[str, Any]) -> dict[str, float]:
    """The probability panel: melanoma vs not, or a diagnosis model's whole differential."""
    if result.get("classes"):
        names = result.get("class_names") or {}
        return {names.get(c, c): p for c, p in result["classes"].items()}
    p = decided_probability(result)
    return {"melanoma": p, "not melanoma": 1.0 - p}


TTA_COLUMNS = ("view", "probability", "vs threshold")
SIDE_COLOURS = {"above": "#c0392b", "below": "#2e86c1"}  # the TTA plot's bars, by side
_PLOT = {"width": 420, "height": 250, "left": 40, "right": 12, "top": 30, "bottom": 78}


def tta_svg(result: dict[str, Any]) -> str:
    """The TTA plot: each view's probability as a bar, coloured by its side of the threshold,
    with the threshold drawn as a dashed line and a legend (an inline SVG).

    Drawn here rather than by a plotting component: every bar is always drawn and filled
    whichever sides are present, and the threshold line moves with the threshold.
    """
    thr, views = float(result["threshold"]), result["tta"]
    w, h, left, right, top, bottom = (_PLOT[k] for k in ("width", "height", "left", "right",
                                                         "top", "bottom"))
    inner_w, inner_h = w - left - right, h - top - bottom

    def y(p: float) -> float:
        return top + inner_h * (1.0 - min(max(p, 0.0), 1.0))

    slot = inner_w / max(1, len(views))
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
              f'class="tta-svg" style="width:100%;max-width:{w}px;height:auto" '
              f'aria-label="Probability per TTA view, threshold {thr:.3f}">')]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#ddd" stroke-width="1"/><text x="{left - 4}" y="{y(tick) + 3:.1f}" '
                     f'font-size="10" text-anchor="end" fill="#555">{tick:g}</text>')
    for i, view in enumerate(views):
        p = float(view["probability"])
        side = "above" if p >= thr else "below"
        x = left + i * slot + slot * 0.15
        name = html.escape(str(view["view"]))
        parts.append(
            f'<rect class="tta-bar" data-view="{name}" data-side="{side}" '
            f'data-probability="{p:.4f}" x="{x:.1f}" y="{y(p):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{top + inner_h - y(p):.1f}" fill="{SIDE_COLOURS[side]}">'
            f"<title>{name}: {p:.3f} ({side} threshold)</title></rect>")
        cx = x + slot * 0.35
        parts.append(f'<text x="{cx:.1f}" y="{top + inner_h + 10}" font-size="10" fill="#333" '
                     f'text-anchor="end" transform="rotate(-40 {cx:.1f} {top + inner_h + 10})">'
                     f"{name}</text>")
    parts.append(f'<line class="tta-threshold" data-threshold="{thr:.4f}" x1="{left}" '
                 f'x2="{w - right}" y1="{y(thr):.1f}" y2="{y(thr):.1f}" stroke="#222" '
                 f'stroke-width="1.5" stroke-dasharray="5 3"/>'
                 f'<text x="{w - right}" y="{y(thr) - 3:.1f}" font-size="10" text-anchor="end" '
                 f'fill="#222">threshold {thr:.3f}</text>')
    for k, (side, words) in enumerate((("above", "at or above threshold"),
                                       ("below", "below threshold"))):
        lx = left + k * 150
        parts.append(f'<rect class="tta-legend" data-side="{side}" x="{lx}" y="8" width="12" '
                     f'height="12" fill="{SIDE_COLOURS[side]}"/><text x="{lx + 16}" y="18" '
                     f'font-size="11" fill="#333">{words}</text>')
    parts.append("</svg>")
    return "".join(parts)


def tta_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The TTA table: each view's probability and its side of the current threshold."""
    thr = result["threshold"]
    views = result["tta"]
    return pd.DataFrame(dict(zip(TTA_COLUMNS, (
        [t["view"] for t in views],
        [round(t["probability"], 4) for t in views],
        ["above" if t["probability"] >= thr else "below" for t in views]), strict=True)))


def pack_cams(analysis: Analysis) -> dict[str, Any]:
    """Session state for re-rendering: the model's view and uint8-quantised heatmaps."""
    return {
        "view": np.ascontiguousarray(analysis.model_view, dtype=np.uint8),
        "cams": [(c.name, format_resolution(c.resolution),
                  np.rint(np.clip(c.heatmap, 0.0, 1.0) * 255.0).astype(np.uint8))
                 for c in analysis.cams],
    }


def render_overlays(state: dict[str, Any] | None, layer: str | None,
                    opacity: float) -> list[tuple[np.ndarray, str]]:
    """Gallery items `(overlay, "layer — HxW")` from the session state.

    Args:
        state: the session state (`pack_cams` and more), or None before any analysis.
        layer: a layer name, or ALL_LAYERS / None for every layer.
        opacity: heatmap opacity in [0, 1].

    Returns:
        The gallery items, early layers first.
    """
    if not state:
        return []
    alpha = float(min(max(opacity if opacity is not None else DEFAULT_OPACITY, 0.0), 1.0))
    items = []
    for name, resolution, heat in state["cams"]:
        if layer not in (None, "", ALL_LAYERS) and name != layer:
            continue
        items.append((overlay(state["view"], heat.astype(np.float32) / 255.0, alpha),
                      f"{name} — {resolution}"))
    return items
