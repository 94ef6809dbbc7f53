"""The Gradio Blocks UI (and the `/analyze` API) over the inference engine: layout and wiring.

The handlers are `app.service.AnalysisService`; what a result looks like is `app.render`.
Input validation is the engine's (one source of truth): the analysis runs with
`preprocess=False` so Gradio neither opens the upload itself nor rejects values before the
engine can say what is wrong with them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.patient import PatientView
from app.render import (
    ALL_LAYERS,
    DEFAULT_OPACITY,
    TTA_COLUMNS,
    model_card_markdown,
    operating_point_markdown,
    render_overlays,
)
from app.report import ReportStore
from app.service import CUSTOM, DECIDED_CLASS, DEFAULT_PRESET, THRESHOLD_STEP, AnalysisService
from app.uploads import UploadStore
from models.inference.engine import EIGENCAM, GRADCAM, UNKNOWN, Engine
from models.second_stage.stack import Stack

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
STATE_TTL_S = 1800  # what the model saw, heatmaps and result stay 30 min in session memory
NOTICE = ("**Research use only — not a diagnosis.** This tool estimates how likely a "
          "dermoscopy image shows a melanoma, for research and education. It is not a medical "
          "device, it can be wrong, and it must not be used to make or exclude a diagnosis or "
          "to decide on treatment. See a dermatologist about any lesion that worries you.")
PRIVACY = ("Uploaded images are read into memory and deleted from the server as soon as the "
           "analysis starts; nothing you enter is logged or written to disk. The image the "
           "model saw stays in this browser session's memory for 30 minutes, so you can change "
           "age, sex or site and analyse again without a new upload.")
NO_RESULT = ('<div class="decision-card" data-decision="none">No result yet: upload a '
             "dermoscopy image or pick an example, then Analyze.</div>")
JSON_FIELDS = ("`decision_probability` is what the decision compares with `threshold` (the "
               "model's decision rule, e.g. the calibrated mean of the 8 views); "
               "`probability` is the model's plain output for the image as uploaded (one "
               "view, uncalibrated); `tta` lists each view's plain probability.")
_DX_NAMES = {"mel": "melanoma", "nv": "melanocytic nevus", "bkl": "benign keratosis-like",
             "bcc": "basal cell carcinoma", "akiec": "actinic keratosis / intraepithelial "
             "carcinoma", "vasc": "vascular lesion", "df": "dermatofibroma"}
# After the report is prepared, the browser follows its one-time link (a download).
_CLICK_REPORT_LINK = "() => { const a = document.querySelector('#report-link'); if (a) a.click(); }"


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


def _set_in_browser(components: Sequence[gr.Component], values: Sequence[Any]) -> str:
    """A `js=` step that sets `components` to `values` in the browser, without a round trip
    to the server: each value as the server would send it (the component's postprocessed
    form), fixed when the UI is built."""
    sent = []
    for component, value in zip(components, values, strict=True):
        out = component.postprocess(value)
        sent.append(out.model_dump() if hasattr(out, "model_dump") else out)
    return f"() => {json.dumps(sent)}"


def _rerender_if_changed(state: dict[str, Any] | None, layer: str | None,
                         opacity: float) -> Any:
    """Re-render only when the UI's controls differ from what the analysis rendered."""
    if layer in (None, "", ALL_LAYERS) and opacity == DEFAULT_OPACITY:
        return gr.skip()
    return render_overlays(state, layer, opacity)


def build_ui(engine: Engine, uploads: UploadStore,
             examples: Sequence[Example] | None = None,
             reports: ReportStore | None = None, stack: Stack | None = None) -> gr.Blocks:
    """Build the Blocks app.

    Args:
        engine: the loaded inference engine.
        uploads: the server's upload folder (uploads are taken out of it by the handler).
        examples: example cases (default: `load_examples()`).
        reports: where prepared PDF reports wait for their one download (in memory).
        stack: the second stage shown beside the CNN's result, or None.

    Returns:
        The (not yet queued or mounted) gr.Blocks.
    """
    bundle = engine.bundle
    service = AnalysisService(engine, uploads, reports, notice=NOTICE, stack=stack)
    examples = load_examples() if examples is None else list(examples)
    card = model_card_markdown(bundle.info, bundle.thresholds, bundle.default_threshold_name)

    with gr.Blocks(title="Melanoma risk (research use only)") as demo:
        gr.Markdown("# Melanoma risk from a dermoscopy image")
        gr.Markdown(NOTICE, elem_id="notice", elem_classes=["notice"])
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                inputs, button = _input_column(list(bundle.encoder.sexes),
                                               list(bundle.encoder.sites), examples)
                decision = _decision_controls(service)
            with gr.Column(scale=3, min_width=360):
                results = _result_column(list(bundle.info.get("cam_layers") or []),
                                         service.members, service.default_member,
                                         list(bundle.classes))
        session = gr.State(None, time_to_live=STATE_TTL_S)
        _patient_view(PatientView(engine, uploads, stack), list(bundle.encoder.sexes))
        with gr.Accordion("Model information", open=True):
            gr.Markdown(card, elem_id="model-card")
        _wire_events(service, button, inputs, decision, results, session)
    return demo


def _patient_view(view: PatientView, sexes: list[str]) -> None:
    """Several lesion images of one person, scored and compared (the `/patient` API)."""
    with gr.Accordion("Patient view: compare several lesions of one person", open=False):
        files = gr.File(label="Lesion images of one person (2-20)", file_count="multiple",
                        file_types=["image"], elem_id="patient-files")
        with gr.Row():
            age = gr.Textbox(label="Age (years)", value="", placeholder="unknown", max_lines=1,
                             elem_id="patient-age")
            sex = gr.Dropdown(choices=sexes, value=UNKNOWN, label="Sex", elem_id="patient-sex")
        sites = gr.Textbox(label="Anatomic sites (optional)", value="", max_lines=1,
                           placeholder="one per image, in upload order, comma-separated; "
                           "e.g. back, chest, unknown", elem_id="patient-sites")
        button = gr.Button("Compare lesions", elem_id="patient-button")
        table = gr.HTML(elem_id="patient-table")
        result = gr.JSON(label="Patient view", visible=False)
    # Blank the previous table first (in the browser): an error must not stand under another
    # set's results.
    button.click(None, None, [result, table], js=_set_in_browser([result, table], (None, "")),
                 api_visibility="private", show_progress="hidden", queue=False).then(
        view.analyze, inputs=[files, age, sex, sites], outputs=[result, table],
        api_name="patient", preprocess=False, concurrency_id="analyze",
        show_progress_on=[table])


def _input_column(sexes: list[str], sites: list[str], examples: Sequence[Example]
                  ) -> tuple[list[gr.Component], gr.Button]:
    """Image, the examples, age, sex and site inputs and the Analyze button (inside the
    current column). The examples sit under the image so that a first-time user sees them
    without scrolling (1280x800)."""
    image = gr.Image(label="Dermoscopy image", type="filepath", image_mode=None,
                     sources=["upload", "clipboard"], height=240, elem_id="image-input")
    # A text field, not gr.Number: Gradio's number field shows and sends 0 when empty, which
    # would tell the model the patient is a newborn. Empty text means unknown; the engine
    # parses and range-checks what is typed.
    age = gr.Textbox(label="Age (years)", value="", placeholder="unknown", max_lines=1,
                     info="0–120; leave empty if unknown", elem_id="age-input")
    with gr.Row():
        sex = gr.Dropdown(choices=sexes, value=UNKNOWN, label="Sex", elem_id="sex-input")
        site = gr.Dropdown(choices=sites, value=UNKNOWN, label="Anatomic site",
                           elem_id="site-input")
    button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
    if examples:
        _examples(examples, [image, age, sex, site])
    gr.Markdown(PRIVACY, elem_classes=["small-print"])
    return [image, age, sex, site], button


@dataclass
class _Decision:
    """The operating-point controls: preset, threshold slider, what it does, API-only input."""

    preset: gr.Dropdown
    threshold: gr.Slider
    text: gr.Markdown
    target_sensitivity: gr.Textbox


def _decision_controls(service: AnalysisService) -> _Decision:
    """Choose the decision threshold directly or by a validation sensitivity target."""
    value = service.default_threshold[1]
    # One name per preset: the menu shows the name results and the API use.
    choices = [(p.label, p.key) for p in service.presets]
    choices.append((f"{CUSTOM}: the threshold set on the slider", CUSTOM))
    with gr.Accordion("Operating point (decision threshold)", open=True):
        preset = gr.Dropdown(choices=choices, value=DEFAULT_PRESET, label="Preset",
                             elem_id="threshold-preset")
        threshold = gr.Slider(0.0, 1.0, value=service.slider_value(value), step=THRESHOLD_STEP,
                              label="Decision threshold (melanoma if probability ≥ threshold)",
                              elem_id="threshold")
        text = gr.Markdown(operating_point_markdown(value, service.curve),
                           elem_id="operating-point")
    # API only: decide at the validation threshold reaching this sensitivity. Text, so that
    # an empty value means "not used" (a number field would send 0).
    target = gr.Textbox(value="", visible=False, label="target_sensitivity")
    return _Decision(preset, threshold, text, target)


@dataclass
class _Results:
    """The output components of one analysis."""

    decision: gr.HTML
    label: gr.Label
    summary: gr.Markdown
    member: gr.Dropdown
    method: gr.Radio
    heatmap_class: gr.Dropdown
    layer: gr.Radio
    opacity: gr.Slider
    gallery: gr.Gallery
    tta_plot: gr.HTML
    tta_table: gr.Dataframe
    report_button: gr.Button
    report_link: gr.HTML
    result_json: gr.JSON


def _result_column(layer_names: list[str], members: list[str], default_member: str,
                   classes: Sequence[str] = ()) -> _Results:
    """Probability, summary, heatmaps with their controls, TTA plot and table, report, JSON.

    `members`: an ensemble's member ids (empty for one bundle): each user picks the member
    whose heatmaps are drawn, so only one member's heatmaps are computed per analysis.
    `classes`: a diagnosis model's classes (its probability panel shows the whole
    differential, and a Grad-CAM may explain any of them).
    """
    n_classes = len(classes)
    # The decision first (a 0.4 can be "above threshold"). A melanoma model's two-bar
    # label would lead with the larger of melanoma / not melanoma, so only a diagnosis
    # model shows it (its differential); it stays an /analyze output either way.
    decision = gr.HTML(NO_RESULT, min_height=60, container=True, padding=True,
                       elem_id="decision")
    label = gr.Label(label="Differential diagnosis: class probabilities (the melanoma "
                     "decision uses the threshold)", num_top_classes=n_classes or 2,
                     show_heading=False, visible=bool(n_classes), elem_id="probability")
    summary = gr.Markdown(elem_id="summary")
    # Hidden for a single bundle (it stays an /analyze input, empty = the default).
    member = gr.Dropdown(choices=[(f"{i + 1}. {m}", m) for i, m in enumerate(members)]
                         or [default_member], value=default_member, visible=bool(members),
                         label="Heatmaps from ensemble member (changing it analyses again)",
                         elem_id="heatmap-member")
    # EigenCAM: where the features are strongest, per layer, whatever the class. Grad-CAM:
    # what drives one output (a diagnosis model's chosen or decided class, or a melanoma
    # model's melanoma output). Changing either analyses again.
    with gr.Row():
        method = gr.Radio(choices=[("EigenCAM (any class)", EIGENCAM),
                                   ("Grad-CAM (one output)", GRADCAM)], value=EIGENCAM,
                          label="Heatmap method", elem_id="heatmap-method")
        heatmap_class = gr.Dropdown(
            choices=[(f"{DECIDED_CLASS} (highest probability)", DECIDED_CLASS),
                     *[(c, c) for c in classes]],
            value=DECIDED_CLASS, visible=bool(n_classes), label="Grad-CAM explains class",
            elem_id="heatmap-class")
    with gr.Row():
        layer = gr.Radio(choices=[ALL_LAYERS, *layer_names], value=ALL_LAYERS,
                         label="Layer (early = fine detail, late = semantics)",
                         elem_id="layer-choice")
        opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05,
                            label="Heatmap opacity", elem_id="opacity")
    # JPEG: a third of WebP's encoding time (PNG: 10x) for the same overlays on screen.
    gallery = gr.Gallery(label="Where the network looked, per layer", columns=3,
                         format="jpeg",
                         height="auto", object_fit="contain", elem_id="heatmaps",
                         interactive=False)
    # An SVG drawn by app.render.tta_svg: all 8 bars whatever their side, and the threshold.
    tta_plot = gr.HTML(label="Probability per TTA view", show_label=True, container=True,
                       padding=True, elem_id="tta-plot")
    tta_table = gr.Dataframe(headers=list(TTA_COLUMNS), label="TTA views",
                             interactive=False, wrap=True, elem_id="tta-table")
    with gr.Row():
        report_button = gr.Button("Download report (PDF)", elem_id="report-button")
        report_link = gr.HTML(elem_id="report")
    with gr.Accordion("Result as JSON (what the API returns)", open=False):
        gr.Markdown(JSON_FIELDS, elem_classes=["small-print"])
        result_json = gr.JSON(label="Result", elem_id="result-json")
    return _Results(decision, label, summary, member, method, heatmap_class, layer, opacity,
                    gallery, tta_plot, tta_table, report_button, report_link, result_json)


def _examples(examples: Sequence[Example], inputs: list[gr.Component]) -> None:
    """The clickable example cases and their attribution."""
    gr.Examples(
        examples=[[str(e.path), "" if e.age is None else f"{e.age:g}", e.sex, e.site]
                  for e in examples],
        inputs=inputs, example_labels=[e.label for e in examples],
        label="Examples from HAM10000 (CC BY-NC 4.0): click one, then Analyze",
        cache_examples=False, api_visibility="private")
    gr.Markdown("Example images: HAM10000 dataset, Tschandl P., Rosendahl C., Kittler "
                "H., *Sci. Data* 5, 180161 (2018), doi:10.1038/sdata.2018.161, licensed "
                "[CC BY-NC 4.0](https://creativecommons.org/licenses/by-nc/4.0/). "
                "The shipped model may have been trained on them.",
                elem_classes=["small-print"])


def _wire_events(service: AnalysisService, button: gr.Button, inputs: list[gr.Component],
                 d: _Decision, r: _Results, session: gr.State) -> None:
    """Analyze (UI and `/analyze` API), threshold, overlay and report controls."""
    private = {"api_visibility": "private", "show_progress": "hidden", "queue": False}
    outputs = [r.result_json, r.decision, r.label, r.summary, r.tta_table, r.tta_plot,
               r.gallery, r.layer, session, d.threshold]
    # Progress and an error show on the decision panel only (one error, not one per output).
    shown_on = {"show_progress": "full", "show_progress_on": [r.decision]}
    # Say at once when an upload cannot be analysed (not at Analyze). Queued: warnings reach
    # the page through the queue's event stream.
    inputs[0].upload(service.check_upload, inputs=inputs[0], outputs=None, preprocess=False,
                     api_visibility="private", show_progress="hidden",
                     concurrency_limit=None)
    # Blank the previous result first, in the browser (no server round trip), so that an error
    # for new input is never shown next to the previous case's result. The analysis itself
    # takes the old result out of the session before it runs (`AnalysisService.analyze`), so
    # a failed one leaves nothing its report would print. API clients call /analyze directly.
    shown = [r.result_json, r.decision, r.label, r.summary, r.tta_table, r.tta_plot, r.gallery,
             r.report_link]
    cleared = button.click(None, None, shown, js=_set_in_browser(
        shown, (None, NO_RESULT, None, "", None, "", [], "")), **private)
    analyze_inputs = [*inputs, d.threshold, d.target_sensitivity, r.member, r.method,
                      r.heatmap_class, session]
    analysis = cleared.then(service.analyze, inputs=analyze_inputs, outputs=outputs,
                            api_name="analyze", preprocess=False, concurrency_id="analyze",
                            **shown_on)
    # The API renders overlays at the default opacity; the UI then applies its slider.
    analysis.success(_rerender_if_changed, inputs=[session, r.layer, r.opacity],
                     outputs=r.gallery, **private)
    # Another member's heatmaps need its EigenCAM: the same analysis again, from the image
    # kept in this session when the upload is gone (members sharing preprocessing).
    for picked in (r.member.input, r.method.input, r.heatmap_class.input):
        picked(service.change_member, inputs=analyze_inputs, outputs=outputs,
               preprocess=False, concurrency_id="analyze", api_visibility="private",
               **shown_on).success(
            _rerender_if_changed, inputs=[session, r.layer, r.opacity], outputs=r.gallery,
            **private)
    # .input: user actions only (the analysis itself updates the layer choices).
    for event in (r.layer.input, r.opacity.input):
        event(render_overlays, inputs=[session, r.layer, r.opacity], outputs=r.gallery,
              trigger_mode="always_last", **private)
    # The preset menu follows the slider (a preset's threshold, or custom) and vice versa.
    redecided = [d.text, r.result_json, r.decision, r.label, r.summary, r.tta_table,
                 r.tta_plot, session, d.preset]
    decide_inputs = [session, d.threshold, d.preset]
    d.threshold.input(service.redecide, inputs=decide_inputs, outputs=redecided,
                      trigger_mode="always_last", **private)
    d.preset.input(service.preset_threshold, inputs=d.preset, outputs=d.threshold,
                   **private).then(service.redecide, inputs=decide_inputs,
                                   outputs=redecided, **private)
    r.report_button.click(service.report, inputs=[session, r.opacity], outputs=r.report_link,
                          **private).success(None, js=_CLICK_REPORT_LINK, **private)
