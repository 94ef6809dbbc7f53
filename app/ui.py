"""The Gradio Blocks UI (and the `/analyze` API) over the inference engine.

One event does the analysis for the browser and for API clients (`api_name="analyze"`): it
takes the upload out of Gradio's folder (read into memory, file deleted at once), runs
`Engine.analyze` (probability, 8-view TTA, multi-layer EigenCAM) and renders the results. The
heatmaps and the image the model saw stay in the session's `gr.State` (quantised to uint8,
with a time-to-live), so changing the overlay opacity or the layer re-renders the overlays
without re-running the model. Input validation is the engine's (one source of truth): the
event runs with `preprocess=False` so Gradio neither opens the upload itself nor rejects
values before the engine can say what is wrong with them.
"""

from __future__ import annotations

import csv
import html
import logging
import math
import secrets
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
import numpy as np
import pandas as pd

from app.uploads import UploadMissingError, UploadStore
from configs.errors import one_line
from models.engine import UNKNOWN, Analysis, Engine, InputError, overlay
from models.tta import VIEW_NAMES

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
ALL_LAYERS = "all layers"
DEFAULT_OPACITY = 0.45
STATE_TTL_S = 1800  # overlays can be re-rendered for 30 min after an analysis
NOTICE = ("**Research use only — not a diagnosis.** This tool estimates how likely a "
          "dermoscopy image shows a melanoma, for research and education. It is not a medical "
          "device, it can be wrong, and it must not be used to make or exclude a diagnosis or "
          "to decide on treatment. See a dermatologist about any lesion that worries you.")
PRIVACY = ("Uploaded images are read into memory and deleted from the server as soon as the "
           "analysis starts; nothing you enter is logged. To analyse an uploaded image again "
           "(e.g. with other metadata), upload it again.")
_DX_NAMES = {"mel": "melanoma", "nv": "melanocytic nevus", "bkl": "benign keratosis-like",
             "bcc": "basal cell carcinoma", "akiec": "actinic keratosis / intraepithelial "
             "carcinoma", "vasc": "vascular lesion", "df": "dermatofibroma"}



@dataclass(frozen=True)
class Example:
    """One example case: a HAM10000 image with its metadata in the canonical vocabulary."""

    path: Path
    age: float | None
    sex: str
    site: str
    label: str


def load_examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    """Read the example cases from `folder/metadata.csv`.

    The CSV keeps HAM10000's own columns (`localization` in HAM10000's spelling) and adds
    `site`, the canonical site it maps to (written with `data.sites`, checked by the tests), so
    the app reads canonical values and feeds the model exactly what training fed it. Blank
    sex or site means unknown.

    Args:
        folder: folder holding the images and `metadata.csv`.

    Returns:
        The examples whose image file exists, in file order (empty if there is no CSV).
    """
    table = folder / "metadata.csv"
    if not table.is_file():
        return []
    out = []
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path = folder / f"{row['image_id']}.jpg"
            if not path.is_file():
                continue
            age = float(row["age"]) if row.get("age", "").strip() else None
            sex = (row.get("sex") or "").strip() or UNKNOWN
            site = (row.get("site") or "").strip() or UNKNOWN
            dx = _DX_NAMES.get(row.get("dx", ""), row.get("dx", "?"))
            age_text = "age unknown" if age is None else f"{age:g} y"
            out.append(Example(path=path, age=age, sex=sex, site=site,
                               label=f"{dx} — {age_text}, {sex}, {site}"))
    return out


def _user_error(message: str, title: str = "Cannot analyse this input") -> gr.Error:
    # gr.Error renders its message as HTML: escape what may echo user input. Quotes stay
    # readable for API clients. print_exception=False: the message may echo entered values,
    # which must not reach the server's logs.
    return gr.Error(html.escape(one_line(message), quote=False), title=title, duration=None,
                    print_exception=False)


def _format_resolution(resolution: Any) -> str:
    if isinstance(resolution, (tuple, list)) and len(resolution) == 2:
        return f"{int(resolution[0])}x{int(resolution[1])}"
    return f"{int(resolution)}x{int(resolution)}"


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "n/a" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}f}"
    return "n/a" if value is None else str(value)


def analysis_json(analysis: Analysis, bundle_id: str) -> dict[str, Any]:
    """The API's JSON result: the engine's own JSON summary (no image data).

    Args:
        analysis: the engine's result.
        bundle_id: id of the served bundle (fills `model` if the engine left it empty).

    Returns:
        A JSON-serialisable dict with at least probability, threshold, decision, tta
        ([{view, probability}]), tta_mean, tta_std, cam_layers and model.
    """
    out = analysis.to_json()
    out["model"] = out.get("model") or bundle_id
    return out


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
    if val:
        auroc = f"AUROC {_fmt(val.get('auroc'))}"
        if val.get("auroc_ci"):
            auroc += f" (95% CI {_fmt(val['auroc_ci'][0])}–{_fmt(val['auroc_ci'][1])})"
        min_tpr = val.get("min_tpr")
        pauc = f"pAUC above TPR {_fmt(min_tpr, 2)}: {_fmt(val.get('pauc80'))}"
        if isinstance(min_tpr, (int, float)):
            pauc += f" (max {_fmt(1 - min_tpr)})"
        count = (f" on {val['n']} images ({val.get('n_pos', '?')} melanomas)"
                 if "n" in val else "")
        lines.append(f"**Validation:** {auroc}; {pauc}{count}")
    else:
        lines.append("**Validation:** not recorded in the bundle")
    thr = ", ".join(f"{name} = {value:.3f}"
                    + (" (used for the decision)" if name == default_threshold else "")
                    for name, value in thresholds.items())
    lines.append(f"**Thresholds:** {thr}")
    if data:
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in data.items()
                 if k in ("format", "n_images", "n_positive", "n_groups", "group_kind",
                          "fold", "n_folds", "n_train", "n_val")]
        lines.append(f"**Training data:** {', '.join(parts) or 'see bundle.json'}")
    lines.append(f"**Licence:** {info.get('license', 'not recorded in the bundle')}")
    if info.get("intended_use"):
        lines.append(f"**Intended use:** {info['intended_use']}")
    return "\n\n".join(lines)


def _summary_markdown(result: dict[str, Any]) -> str:
    p, thr = result["probability"], result["threshold"]
    side = "at or above" if p >= thr else "below"
    return (f"### Probability of melanoma: {p:.3f}\n"
            f"**Decision:** {result['decision']} — the probability is {side} the decision "
            f"threshold **{thr:.3f}** (`{result['threshold_name']}`).\n\n"
            f"**Stability under test-time augmentation** (8 flips/rotations): mean "
            f"{result['tta_mean']:.3f} ± {result['tta_std']:.3f} (std), range "
            f"{result['tta_min']:.3f}–{result['tta_max']:.3f}. A wide range means the answer "
            f"depends on orientation: treat it with more caution.\n\n"
            f"*Research use only — not a diagnosis.*")


_TTA_COLUMNS = ("view", "probability", "vs threshold")


def _tta_frame(result: dict[str, Any]) -> pd.DataFrame:
    thr = result["threshold"]
    views = result["tta"]
    return pd.DataFrame(dict(zip(_TTA_COLUMNS, (
        [t["view"] for t in views],
        [round(t["probability"], 4) for t in views],
        ["above" if t["probability"] >= thr else "below" for t in views]), strict=True)))


def _pack_cams(analysis: Analysis) -> dict[str, Any]:
    """Session state for re-rendering: the model's view and uint8-quantised heatmaps."""
    return {
        "view": np.ascontiguousarray(analysis.model_view, dtype=np.uint8),
        "cams": [(c.name, _format_resolution(c.resolution),
                  np.rint(np.clip(c.heatmap, 0.0, 1.0) * 255.0).astype(np.uint8))
                 for c in analysis.cams],
    }


def render_overlays(state: dict[str, Any] | None, layer: str | None,
                    opacity: float) -> list[tuple[np.ndarray, str]]:
    """Gallery items `(overlay, "layer — HxW")` from the session state.

    Args:
        state: what `_pack_cams` stored, or None before any analysis.
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


def _clear_results() -> tuple:
    """Empty values for the result components (shown while a new analysis runs)."""
    return None, None, "", []


def _rerender_if_changed(state: dict[str, Any] | None, layer: str | None,
                         opacity: float) -> Any:
    """Re-render only when the UI's controls differ from what the analysis rendered."""
    if layer in (None, "", ALL_LAYERS) and opacity == DEFAULT_OPACITY:
        return gr.skip()
    return render_overlays(state, layer, opacity)


class AnalysisService:
    """The analysis event handler: upload in, rendered results out, errors made readable."""

    def __init__(self, engine: Engine, uploads: UploadStore) -> None:
        """Bind the handler to an engine and the server's upload folder."""
        self.engine = engine
        self.uploads = uploads
        self.bundle_id = engine.bundle.bundle_id

    def _image_bytes(self, image: Any) -> bytes:
        if image is None:
            raise _user_error("no image: upload a dermoscopy image (JPEG or PNG) first")
        path = image.get("path") if isinstance(image, dict) else image
        if not isinstance(path, (str, Path)) or not path:
            raise _user_error("no image: upload a dermoscopy image (JPEG or PNG) first")
        try:
            return self.uploads.take(path)
        except UploadMissingError:
            raise _user_error("the uploaded image is no longer on the server: uploads are "
                              "deleted after each analysis. Please upload it again.") from None
        except PermissionError as err:
            raise _user_error(str(err)) from None

    def _run_engine(self, data: bytes, age: Any, sex: Any, site: Any) -> Analysis:
        # The engine is thread-safe (it serialises the model call itself).
        return self.engine.analyze(data, age, sex, site, tta=True, cam=True)

    async def analyze(self, image: Any, age: Any, sex: Any, site: Any,
                      progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 (gradio API)
        """Analyse one case (the `/analyze` endpoint).

        Args:
            image: Gradio's file payload for the upload (dict with "path"), or a path.
            age: years, or None/"" for unknown.
            sex: male, female or unknown.
            site: a site of the bundle's vocabulary, or unknown.
            progress: Gradio's progress tracker.

        Returns:
            (result JSON, label, summary, TTA table, TTA plot, gallery, layer choices, state).
        """
        started = time.perf_counter()
        progress(0.05, desc="Reading the image")
        # On the event loop, not in a worker thread: see app/uploads.py on why deletions
        # run there.
        data = self._image_bytes(image)
        progress(0.2, desc="Running the model: probability, 8-view TTA, layer heatmaps")
        try:
            analysis = await anyio.to_thread.run_sync(self._run_engine, data, age, sex, site)
        except InputError as err:
            raise _user_error(str(err)) from None
        except Exception as err:  # noqa: BLE001 (turned into a readable error, logged safely)
            raise self._internal_error(err) from None
        finally:
            del data
        progress(0.9, desc="Rendering heatmap overlays")
        result = analysis_json(analysis, self.bundle_id)
        state = _pack_cams(analysis)
        layers = [ALL_LAYERS] + [name for name, _, _ in state["cams"]]
        gallery = render_overlays(state, ALL_LAYERS, DEFAULT_OPACITY)
        p = result["probability"]
        label = {"melanoma": p, "not melanoma": 1.0 - p}
        log.info("analysis done in %.0f ms", (time.perf_counter() - started) * 1000.0)
        return (result, label, _summary_markdown(result), _tta_frame(result), _tta_frame(result),
                gallery, gr.update(choices=layers, value=ALL_LAYERS), state)

    @staticmethod
    def _internal_error(err: Exception) -> gr.Error:
        ref = secrets.token_hex(4)
        # Type and code locations only: exception messages may quote file names or values.
        frames = "".join(traceback.format_list(traceback.extract_tb(err.__traceback__)))
        log.error("analysis failed (ref %s): %s\n%s", ref, type(err).__name__, frames)
        return gr.Error(f"Internal error while analysing the image (reference {ref}). The "
                        "server is still running; please try again or report the reference.",
                        title="Analysis failed", duration=None, print_exception=False)


def build_ui(engine: Engine, uploads: UploadStore,
             examples: Sequence[Example] | None = None) -> gr.Blocks:
    """Build the Blocks app.

    Args:
        engine: the loaded inference engine.
        uploads: the server's upload folder (uploads are taken out of it by the handler).
        examples: example cases (default: `load_examples()`).

    Returns:
        The (not yet queued or mounted) gr.Blocks.
    """
    bundle = engine.bundle
    service = AnalysisService(engine, uploads)
    examples = load_examples() if examples is None else list(examples)
    card = model_card_markdown(bundle.info, bundle.thresholds, bundle.default_threshold_name)

    with gr.Blocks(title="Melanoma risk (research use only)") as demo:
        gr.Markdown("# Melanoma risk from a dermoscopy image")
        gr.Markdown(NOTICE, elem_id="notice", elem_classes=["notice"])
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                inputs, button = _input_column(list(bundle.encoder.sexes),
                                               list(bundle.encoder.sites))
            with gr.Column(scale=3, min_width=360):
                results = _result_column(list(bundle.info.get("cam_layers") or []))
        cams = gr.State(None, time_to_live=STATE_TTL_S)
        if examples:
            _examples(examples, inputs)
        with gr.Accordion("Model information", open=True):
            gr.Markdown(card, elem_id="model-card")
        _wire_events(service, button, inputs, results, cams)
    return demo


def _input_column(sexes: list[str], sites: list[str]) -> tuple[list[gr.Component], gr.Button]:
    """Image, age, sex and site inputs and the Analyze button (inside the current column)."""
    image = gr.Image(label="Dermoscopy image", type="filepath", image_mode=None,
                     sources=["upload", "clipboard"], height=300, elem_id="image-input")
    # A placeholder keeps an empty field empty (without one Gradio shows 0, which would
    # silently send age 0 instead of "unknown").
    age = gr.Number(label="Age (years)", value=None, precision=None, placeholder="unknown",
                    info="0–120; leave empty if unknown", elem_id="age-input")
    with gr.Row():
        sex = gr.Dropdown(choices=sexes, value=UNKNOWN, label="Sex", elem_id="sex-input")
        site = gr.Dropdown(choices=sites, value=UNKNOWN, label="Anatomic site",
                           elem_id="site-input")
    button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
    gr.Markdown(PRIVACY, elem_classes=["small-print"])
    return [image, age, sex, site], button


@dataclass
class _Results:
    """The output components of one analysis."""

    label: gr.Label
    summary: gr.Markdown
    layer: gr.Radio
    opacity: gr.Slider
    gallery: gr.Gallery
    tta_plot: gr.BarPlot
    tta_table: gr.Dataframe
    result_json: gr.JSON


def _result_column(layer_names: list[str]) -> _Results:
    """Probability, summary, heatmaps with their controls, TTA plot and table, JSON."""
    # No "top class" heading: it would follow 50%, while the decision follows the bundle's
    # threshold (a 0.4 can be "above threshold").
    label = gr.Label(label="Melanoma probability (the decision uses the threshold below, not "
                     "50%)", num_top_classes=2, show_heading=False, elem_id="probability")
    summary = gr.Markdown(elem_id="summary")
    with gr.Row():
        layer = gr.Radio(choices=[ALL_LAYERS, *layer_names], value=ALL_LAYERS,
                         label="Layer (early = fine detail, late = semantics)",
                         elem_id="layer-choice")
        opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05,
                            label="Heatmap opacity", elem_id="opacity")
    gallery = gr.Gallery(label="Where the network looked: EigenCAM per layer", columns=3,
                         height="auto", object_fit="contain", elem_id="heatmaps",
                         interactive=False)
    with gr.Row():
        tta_plot = gr.BarPlot(x="view", y="probability", color="vs threshold",
                              color_map={"above": "#c0392b", "below": "#2e86c1"},
                              y_lim=[0.0, 1.0], sort=list(VIEW_NAMES), x_label_angle=-40,
                              label="Probability per TTA view", height=240, elem_id="tta-plot")
        tta_table = gr.Dataframe(headers=list(_TTA_COLUMNS), label="TTA views",
                                 interactive=False, elem_id="tta-table")
    with gr.Accordion("Result as JSON (what the API returns)", open=False):
        result_json = gr.JSON(label="Result", elem_id="result-json")
    return _Results(label, summary, layer, opacity, gallery, tta_plot, tta_table, result_json)


def _examples(examples: Sequence[Example], inputs: list[gr.Component]) -> None:
    """The clickable example cases and their attribution."""
    gr.Examples(
        examples=[[str(e.path), e.age, e.sex, e.site] for e in examples],
        inputs=inputs, example_labels=[e.label for e in examples],
        label="Examples from HAM10000 (CC BY-NC 4.0): click one, then Analyze",
        cache_examples=False, api_visibility="private")
    gr.Markdown("Example images: HAM10000 dataset, Tschandl P., Rosendahl C., Kittler "
                "H., *Sci. Data* 5, 180161 (2018), doi:10.1038/sdata.2018.161, licensed "
                "[CC BY-NC 4.0](https://creativecommons.org/licenses/by-nc/4.0/). "
                "The shipped model may have been trained on them.",
                elem_classes=["small-print"])


def _wire_events(service: AnalysisService, button: gr.Button, inputs: list[gr.Component],
                 r: _Results, cams: gr.State) -> None:
    """Analyze (UI and the `/analyze` API) and the overlay re-rendering controls."""
    outputs = [r.result_json, r.label, r.summary, r.tta_table, r.tta_plot, r.gallery, r.layer,
               cams]
    # Blank the previous result first (no queue: instant), so that an error for new input is
    # never shown next to the previous case's probability. API clients call /analyze
    # directly and skip this step.
    cleared = button.click(_clear_results, None, [r.result_json, r.label, r.summary, r.gallery],
                           queue=False, api_visibility="private", show_progress="hidden")
    analysis = cleared.then(service.analyze, inputs=inputs, outputs=outputs,
                            api_name="analyze", preprocess=False, show_progress="full",
                            concurrency_id="analyze")
    # The API renders overlays at the default opacity; the UI then applies its slider.
    analysis.success(_rerender_if_changed, inputs=[cams, r.layer, r.opacity],
                     outputs=r.gallery, api_visibility="private", show_progress="hidden",
                     queue=False)
    # .input: user actions only (the analysis itself updates the layer choices).
    for event in (r.layer.input, r.opacity.input):
        event(render_overlays, inputs=[cams, r.layer, r.opacity], outputs=r.gallery,
              api_visibility="private", show_progress="hidden", queue=False,
              trigger_mode="always_last")
