"""The app's event handlers: analyse, move the threshold, prepare the report.

One analysis serves the browser and API clients (`/analyze`). It takes the upload out of
Gradio's folder (read into memory, file deleted at once) and runs `Engine.analyze`. The
session's state (`gr.State`, in memory, with a time-to-live) keeps what the model saw, the
uint8 heatmaps and the result, so that moving the decision threshold, the overlay controls,
re-running with other metadata, or the report never need the upload or the model again.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
import numpy as np

from app.render import (
    ALL_LAYERS,
    DEFAULT_OPACITY,
    analysis_json,
    decide,
    decided_probability,
    decision_html,
    label_confidences,
    operating_point_markdown,
    pack_cams,
    render_overlays,
    summary_markdown,
    tta_frame,
    tta_svg,
    with_class_names,
)
from app.report import ReportStore, report_pdf
from app.uploads import UploadMissingError, UploadStore
from configs.errors import one_line
from models.bundle.operating import OperatingPointError, choose_threshold
from models.inference.engine import EIGENCAM, Analysis, Engine, InputError
from models.second_stage.stack import Stack, score_view

DECIDED_CLASS = "decided class"  # the heatmap-class menu's default entry
log = logging.getLogger(__name__)

THRESHOLD_STEP = 0.001  # the UI slider's step; a value this close to a preset is that preset
THRESHOLD_DECIMALS = 3  # what the slider shows (its step)
SENSITIVITY_PRESETS = (0.80, 0.85, 0.90, 0.95, 0.98)  # validation sensitivities offered
DEFAULT_PRESET, CUSTOM = "default", "custom"  # preset keys: the bundle's default; any other
REPORT_ROUTE = "report"  # GET <root>/report/<token> serves a prepared report once
NOTHING_TO_REPORT = "Nothing to report: analyse an image first."


@dataclass(frozen=True)
class Preset:
    """A named operating point: its key (the preset menu's value), its name (what results and
    the API call it: the bundle's threshold name or ``sensitivity_<target>``), its exact
    threshold, and the menu's text."""

    key: str
    name: str
    value: float
    label: str


def user_error(message: str, title: str = "Cannot analyse this input") -> gr.Error:
    """A readable error for the person (the server keeps running).

    gr.Error renders its message as HTML: what may echo user input is escaped; quotes stay
    readable for API clients. print_exception=False: the message may echo entered values,
    which must not reach the server's logs.
    """
    return gr.Error(html.escape(one_line(message), quote=False), title=title, duration=None,
                    print_exception=False)


class AnalysisService:
    """The event handlers, bound to one engine, the upload folder and the report store."""

    def __init__(self, engine: Engine, uploads: UploadStore,
                 reports: ReportStore | None = None, notice: str = "",
                 stack: Stack | None = None) -> None:
        """Bind the handlers.

        Args:
            engine: the loaded inference engine.
            uploads: the server's upload folder (uploads are taken out of it).
            reports: where prepared reports wait to be downloaded (in memory).
            notice: the research-use notice printed on reports.
            stack: the second stage (gradient-boosted trees) shown beside the CNN, or None.
        """
        self.engine = engine
        self.stack = stack
        self.uploads = uploads
        self.reports = reports if reports is not None else ReportStore()
        self.notice = notice
        bundle = engine.bundle
        self.bundle_id = bundle.bundle_id
        self.curve = bundle.operating_curve
        self.class_names = bundle.class_names  # {} for a melanoma model
        self.default_threshold = (bundle.default_threshold_name, bundle.threshold)
        self.presets = self._presets()
        # An ensemble's members, in order; a single bundle draws its own heatmaps.
        self.members: list[str] = list(getattr(engine, "members", None) or [])
        self.default_member = (self.members[engine.cam_member] if self.members
                               else self.bundle_id)

    # -- inputs ------------------------------------------------------------------------------

    def _image(self, image: Any, session: dict[str, Any] | None
               ) -> tuple[bytes | None, np.ndarray | None, str]:
        """(file bytes, or the session's model view for the same image; its source path)."""
        path = image.get("path") if isinstance(image, dict) else image
        if not isinstance(path, (str, Path)) or not path:
            raise user_error("no image: upload a dermoscopy image (JPEG or PNG) first")
        try:
            return self.uploads.take(path), None, str(path)
        except UploadMissingError:
            # Uploads are deleted once read: the same image again (e.g. with other metadata)
            # is re-analysed from what the model saw, kept in this session's memory.
            if session and session.get("source") == str(path):
                return None, session["view"], str(path)
            raise user_error("the uploaded image is no longer on the server: uploads are "
                             "deleted after each analysis and kept in memory for "
                             "30 minutes only. Please upload it again.") from None
        except PermissionError as err:
            raise user_error(str(err)) from None

    def _presets(self) -> list[Preset]:
        """The bundle's default and, with a validation curve, the sensitivity presets."""
        name, value = self.default_threshold
        out = [Preset(DEFAULT_PRESET, name, value, f"{name} ({value:.3f}): the model's default")]
        if self.curve is not None:
            for s in SENSITIVITY_PRESETS:
                t, n = choose_threshold(name, value, self.curve, target_sensitivity=s)
                out.append(Preset(f"{s:.2f}", n, t,
                                  f"{n} ({t:.3f}): sensitivity ≥ {s:.2f} on validation"))
        return out

    def threshold(self, threshold: Any = None, target_sensitivity: Any = None,
                  preset: Any = None) -> tuple[float, str]:
        """The decision threshold asked for and its name (see
        `models.bundle.operating.choose_threshold`). A threshold within half a slider step of a
        preset's is that preset, exactly and by its name (`preset`, the menu's value, settles
        ties between presets at the same threshold); any other is ``custom``."""
        name, value = self.default_threshold
        try:
            t, chosen = choose_threshold(name, value, self.curve, threshold=threshold,
                                         target_sensitivity=target_sensitivity,
                                         tolerance=THRESHOLD_STEP / 2)
        except OperatingPointError as err:
            raise user_error(str(err)) from None
        if chosen != CUSTOM:
            return t, chosen
        close = [p for p in self.presets if abs(p.value - t) <= THRESHOLD_STEP / 2]
        match = next((p for p in close if p.key == preset), close[0] if close else None)
        return (match.value, match.name) if match else (t, chosen)

    def preset_key(self, name: str) -> str:
        """The preset menu's value for a threshold name (``custom`` for any other)."""
        return next((p.key for p in self.presets if p.name == name), CUSTOM)

    @staticmethod
    def slider_value(threshold: float) -> float:
        """What the threshold slider shows: the threshold at the slider's precision."""
        return round(float(threshold), THRESHOLD_DECIMALS)

    def heatmap_member(self, member: Any) -> str:
        """The bundle id of the member that draws this call's heatmaps (see `analyze`)."""
        text = "" if member is None else str(member).strip()
        if not self.members:
            if text in ("", "0", self.bundle_id):
                return self.bundle_id
            raise user_error(f"heatmap_member {text!r}: this model is a single bundle, not an "
                             "ensemble; leave heatmap_member empty")
        try:
            return self.members[self.engine.member_index(text or None)]
        except InputError as err:
            raise user_error(str(err)) from None

    # -- events ------------------------------------------------------------------------------

    def _run_engine(self, data: bytes | None, view: np.ndarray | None, age: Any, sex: Any,
                    site: Any, member: str, method: str = EIGENCAM,
                    heatmap_class: str | None = None) -> Analysis:
        # The engine is thread-safe (it serialises the model call itself).
        extra = {"cam_member": member} if self.members else {}
        return self.engine.analyze(data, age, sex, site, tta=True, cam=True, model_view=view,
                                   heatmap=method, heatmap_class=heatmap_class, **extra)

    def heatmap_request(self, method: Any, heatmap_class: Any) -> tuple[str, str | None]:
        """The heatmap method and class asked for (None/"" = EigenCAM; class None/"" or
        DECIDED_CLASS = the decided class), checked before any work."""
        wanted = None if heatmap_class in (None, "", DECIDED_CLASS) else heatmap_class
        engine = self.engine.engines[0] if self.members else self.engine
        try:
            return engine.heatmap_target(method or EIGENCAM, wanted)
        except InputError as err:
            raise user_error(str(err)) from None

    def _second_stage(self, analysis: Analysis) -> dict[str, Any] | None:
        """The trees' score of the analysed image (None without a stack)."""
        if self.stack is None:
            return None
        return score_view(self.stack, self.engine.bundle, analysis.model_view,
                          analysis.metadata)

    async def analyze(self, image: Any, age: Any, sex: Any, site: Any, threshold: Any = None,
                      target_sensitivity: Any = None, heatmap_member: Any = None,
                      heatmap_method: Any = None, heatmap_class: Any = None,
                      session: dict[str, Any] | None = None,
                      progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 (gradio API)
        """Analyse one case (the `/analyze` endpoint).

        Args:
            image: Gradio's file payload for the upload (dict with "path"), or a path.
            age: years (a number or numeric text), or None/"" for unknown.
            sex: male, female or unknown.
            site: a site of the bundle's vocabulary, or unknown.
            threshold: decision threshold in [0, 1]; None/"" = the bundle's.
            target_sensitivity: decide at the validation threshold reaching this sensitivity
                (overrides `threshold`); None/"" = not used.
            heatmap_member: for an ensemble, the member (bundle id or index) whose
                heatmaps are drawn; None/"" = the server's default (the first member).
            heatmap_method: "eigencam" (per layer, class-agnostic; None/"" = this) or
                "gradcam" (what drives one output).
            heatmap_class: what a Grad-CAM explains: a diagnosis model's class (None/"" = the
                decided class); a melanoma model explains its melanoma output.
            session: this browser session's state (hidden from the API).
            progress: Gradio's progress tracker.

        Returns:
            (result JSON, decision panel (HTML), label, summary, TTA table, TTA plot (SVG),
            gallery, layer choices, session state, threshold slider value). In the JSON,
            `decision_probability` is what the decision compares with the threshold (the
            bundle's decision rule, e.g. the calibrated mean of the 8 views); `probability` is
            the model's plain output for the image as uploaded (one view, uncalibrated).
        """
        self.forget_result_in_place(session)
        return await self._analyze(image, age, sex, site, threshold, target_sensitivity,
                                   heatmap_member, heatmap_method, heatmap_class, session,
                                   progress)

    async def _analyze(self, image: Any, age: Any, sex: Any, site: Any, threshold: Any,
                       target_sensitivity: Any, heatmap_member: Any, heatmap_method: Any,
                       heatmap_class: Any, session: dict[str, Any] | None,
                       progress: gr.Progress) -> tuple:
        """`analyze` without taking the shown result out of the session first."""
        started = time.perf_counter()
        progress(0.05, desc="Reading the image")
        # On the event loop, not in a worker thread: see app/uploads.py on why deletions
        # run there. First, so that an upload is never left on disk by a rejected request.
        data, view, source = self._image(image, session)
        t, name = self.threshold(threshold, target_sensitivity)
        member = self.heatmap_member(heatmap_member)
        method, explained = self.heatmap_request(heatmap_method, heatmap_class)
        progress(0.2, desc="Running the model: probability, 8-view TTA, layer heatmaps")
        try:
            analysis = await anyio.to_thread.run_sync(self._run_engine, data, view, age, sex,
                                                      site, member, method, explained)
            second = await anyio.to_thread.run_sync(self._second_stage, analysis)
        except InputError as err:
            raise user_error(str(err)) from None
        except Exception as err:  # noqa: BLE001 (turned into a readable error, logged safely)
            raise self._internal_error(err) from None
        finally:
            del data
        result = decide(with_class_names(analysis_json(analysis, self.bundle_id),
                                         self.class_names), t, name, self.curve)
        result["heatmap_member"] = member
        if second is not None:
            result["second_stage"] = second
        before = (session or {}).get("result") or (session or {}).get("previous_result")
        if before and session.get("source") == source:
            result["previous"] = {"probability": decided_probability(before),
                                  "metadata": before["metadata"]}
        state = {**pack_cams(analysis), "source": source, "result": result}
        layers = [ALL_LAYERS] + [layer for layer, _, _ in state["cams"]]
        gallery = render_overlays(state, ALL_LAYERS, DEFAULT_OPACITY)
        label = label_confidences(result)
        log.info("analysis done in %.0f ms", (time.perf_counter() - started) * 1000.0)
        return (result, decision_html(result), label, summary_markdown(result, self.curve),
                tta_frame(result), tta_svg(result), gallery,
                gr.update(choices=layers, value=ALL_LAYERS), state, self.slider_value(t))

    async def change_member(self, image: Any, age: Any, sex: Any, site: Any, threshold: Any,
                            target_sensitivity: Any, heatmap_member: Any, heatmap_method: Any,
                            heatmap_class: Any, session: dict[str, Any] | None,
                            progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """Another heatmap member, method or class picked: analyse the shown case again
        (nothing before the first analysis: the pick then applies to the next one)."""
        if not session:
            return tuple(gr.skip() for _ in range(10))
        return await self._analyze(image, age, sex, site, threshold, target_sensitivity,
                                   heatmap_member, heatmap_method, heatmap_class, session,
                                   progress)

    def redecide(self, session: dict[str, Any] | None, threshold: Any,
                 preset: Any = None) -> tuple:
        """Decide the session's last result at another threshold (no model run).

        Returns:
            (operating-point text, result JSON, decision panel, label, summary, TTA table,
            TTA plot, session, preset menu value: the preset this threshold is, or custom).
        """
        t, name = self.threshold(threshold, None, preset)
        text = operating_point_markdown(t, self.curve)
        key = self.preset_key(name)
        if not session or not session.get("result"):
            skip = gr.skip()
            return text, skip, skip, skip, skip, skip, skip, skip, key
        result = decide(session["result"], t, name, self.curve)
        session = {**session, "result": result}
        return (text, result, decision_html(result), label_confidences(result),
                summary_markdown(result, self.curve), tta_frame(result), tta_svg(result),
                session, key)

    def preset_threshold(self, preset: Any) -> float | Any:
        """The slider value for a preset (the custom entry leaves the slider as it is)."""
        chosen = next((p for p in self.presets if p.key == preset), None)
        return gr.skip() if chosen is None else self.slider_value(chosen.value)

    @staticmethod
    def forget_result(session: dict[str, Any] | None) -> dict[str, Any] | None:
        """The session as a new analysis starts: the shown result is gone (a failed analysis
        must leave nothing that the report, the threshold or the overlays would show), while
        the model's view of the image stays for re-analysis with other metadata."""
        if not session:
            return session
        kept = {k: session[k] for k in ("view", "source") if k in session}
        last = session.get("result") or session.get("previous_result")
        return {**kept, **({"previous_result": last} if last else {})}

    @classmethod
    def forget_result_in_place(cls, session: dict[str, Any] | None) -> None:
        """`forget_result` on the session object itself: Gradio hands a handler the stored
        state, so this holds even when the analysis then fails (and returns nothing)."""
        if session:
            kept = cls.forget_result(session)
            session.clear()
            session.update(kept or {})

    def check_upload(self, image: Any) -> None:
        """Warn as soon as an upload cannot be analysed (not an image, corrupt, too small or
        too large), instead of at Analyze. Reads the file in place; keeps nothing."""
        path = image.get("path") if isinstance(image, dict) else image
        if not isinstance(path, (str, Path)) or not path or not self.uploads.contains(path):
            return
        try:
            self.engine.check_image(str(path))  # the message names the file
        except InputError as err:
            gr.Warning(html.escape(f"{one_line(str(err))}. Analyze will refuse it: "
                                   "upload a JPEG or PNG dermoscopy image.", quote=False),
                       duration=None, title="This file cannot be analysed")
        except Exception as err:  # noqa: BLE001 (a check only: Analyze reports the real error)
            log.warning("upload check failed: %s", type(err).__name__)

    def report(self, session: dict[str, Any] | None, opacity: Any) -> str:
        """Prepare the PDF report of the last analysis; returns the HTML link that fetches it.

        The PDF is built in memory and held (in memory) until the browser fetches it once.
        """
        if not session or not session.get("result"):
            return f'<p id="report-empty" class="report-empty">{NOTHING_TO_REPORT}</p>'
        alpha = DEFAULT_OPACITY if opacity is None else float(opacity)
        pdf = report_pdf(session, self.curve, self.notice, alpha)
        token = self.reports.put(pdf)
        name = f"melanoma-report-{time.strftime('%Y%m%d-%H%M%S')}.pdf"
        return (f'<a id="report-link" href="{REPORT_ROUTE}/{token}" download="{name}">'
                f"Save the report ({len(pdf) // 1024} KB PDF)</a>")

    @staticmethod
    def _internal_error(err: Exception) -> gr.Error:
        ref = secrets.token_hex(4)
        # Type and code locations only: exception messages may quote file names or values.
        frames = "".join(traceback.format_list(traceback.extract_tb(err.__traceback__)))
        log.error("analysis failed (ref %s): %s\n%s", ref, type(err).__name__, frames)
        return gr.Error(f"Internal error while analysing the image (reference {ref}). The "
                        "server is still running; please try again or report the reference.",
                        title="Analysis failed", duration=None, print_exception=False)
