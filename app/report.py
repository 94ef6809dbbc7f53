"""The downloadable report of one analysis: a one-page PDF built in memory, served once.

matplotlib lays the page out (a figure with a grid of axes: the image, the result text, the
TTA table, the heatmaps) and writes the PDF to memory. `ReportStore` keeps it in memory until
the browser fetches it once (or a short time-to-live passes): a report never touches the disk.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from typing import Any

from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from app.render import (
    decided_probability,
    operating_point_markdown,
    render_overlays,
    rule_text,
    tta_frame,
)
from models.bundle.operating import OperatingCurve

PAGE_INCHES = (8.27, 11.69)  # A4 portrait
REPORT_TTL_S = 120.0  # a report not fetched within this time is dropped
MAX_REPORTS = 64  # bound on reports held in memory at once


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "")


def report_pdf(session: dict[str, Any], curve: OperatingCurve | None, notice: str,
               opacity: float = 0.45) -> bytes:
    """The PDF of the session's latest analysis at its current threshold.

    Args:
        session: the app's session state (model view, heatmaps, result JSON).
        curve: the bundle's validation curve (for the operating-point line), or None.
        notice: the research-use notice printed on the page.
        opacity: heatmap opacity of the overlays.

    Returns:
        The PDF file's bytes.
    """
    result = session["result"]
    fig = Figure(figsize=PAGE_INCHES)
    grid = fig.add_gridspec(4, 3, height_ratios=[1.1, 0.9, 1.0, 0.35], hspace=0.35,
                            wspace=0.15, left=0.06, right=0.94, top=0.93, bottom=0.04)
    fig.suptitle("Melanoma risk analysis — research use only, not a diagnosis",
                 fontsize=13, fontweight="bold")
    image_ax = fig.add_subplot(grid[0, 0])
    image_ax.imshow(session["view"])
    image_ax.set_title("Image the model saw", fontsize=9)
    image_ax.axis("off")
    _result_text(fig.add_subplot(grid[0, 1:]), result, curve)
    _tta_table(fig.add_subplot(grid[1, :]), result)
    overlays = render_overlays(session, None, opacity)
    heat_grid = grid[2, :].subgridspec(1, max(1, len(overlays)), wspace=0.05)
    for k, (picture, caption) in enumerate(overlays):
        ax = fig.add_subplot(heat_grid[0, k])
        ax.imshow(picture)
        ax.set_title(caption, fontsize=7)
        ax.axis("off")
    notice_ax = fig.add_subplot(grid[3, :])
    notice_ax.axis("off")
    notice_ax.text(0, 1, _plain(notice), fontsize=8, va="top", wrap=True)
    buffer = io.BytesIO()
    FigureCanvasPdf(fig).print_pdf(buffer, metadata={"Title": "Melanoma risk analysis",
                                                     "Creator": "melanoma-detect"})
    return buffer.getvalue()


def _result_text(ax: Any, result: dict[str, Any], curve: OperatingCurve | None) -> None:
    ax.axis("off")
    ax.text(0, 1, "\n".join(result_lines(result, curve)), fontsize=9, va="top", wrap=True,
            linespacing=1.6)


def result_lines(result: dict[str, Any], curve: OperatingCurve | None) -> list[str]:
    """The report's result text, line by line (a diagnosis model adds its differential)."""
    meta = result["metadata"]
    age = "unknown" if meta.get("age") is None else f"{meta['age']:g}"
    lines = [f"Probability of melanoma: {decided_probability(result):.3f} ({rule_text(result)})",
             (f"Decision: {result['decision']} (threshold {result['threshold']:.3f}, "
              f"{result['threshold_name']})"),
             _plain(operating_point_markdown(result["threshold"], curve)),
             (f"TTA mean {result['tta_mean']:.3f} ± {result['tta_std']:.3f}, range "
              f"{result['tta_min']:.3f}–{result['tta_max']:.3f}"),
             f"Metadata: age {age}, sex {meta.get('sex')}, site {meta.get('site')}",
             heatmap_line(result),
             f"Model: {result['model']} ({result.get('backend', '?')} backend)",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    if result.get("classes"):
        names = result.get("class_names") or {}
        ranked = sorted(result["classes"].items(), key=lambda kv: -kv[1])
        lines.insert(1, "Differential: " + ", ".join(f"{names.get(c, c)} {p:.2f}"
                                                     for c, p in ranked))
    previous = result.get("previous")
    if previous:
        lines.append(f"Same image before: {previous['probability']:.3f}")
    return lines


def heatmap_line(result: dict[str, Any]) -> str:
    """What the report's heatmaps show: EigenCAM, or the Grad-CAM of which output."""
    if result.get("heatmap_method") != "gradcam":
        return "Heatmaps: EigenCAM per layer (where the features are strongest, any class)"
    explained = result.get("heatmap_class") or "melanoma"
    name = (result.get("class_names") or {}).get(explained, explained)
    return f"Heatmaps: Grad-CAM per layer of the output '{name}' (what raises it)"


def _tta_table(ax: Any, result: dict[str, Any]) -> None:
    frame = tta_frame(result)
    ax.axis("off")
    ax.set_title("Test-time augmentation: probability per view", fontsize=9)
    table = ax.table(cellText=frame.astype(str).to_numpy().tolist(),
                     colLabels=list(frame.columns), loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)


class ReportStore:
    """PDF reports held in memory under unguessable tokens, each handed out once."""

    def __init__(self, ttl_s: float = REPORT_TTL_S, max_items: int = MAX_REPORTS) -> None:
        """Create an empty store.

        Args:
            ttl_s: seconds a report waits to be fetched before it is dropped.
            max_items: most reports held; the oldest is dropped beyond it.
        """
        self.ttl_s, self.max_items = ttl_s, max_items
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        """Hold `data`; returns the token that fetches it once."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired()
            while len(self._items) >= self.max_items:
                self._items.pop(next(iter(self._items)))
            self._items[token] = (time.monotonic(), data)
        return token

    def pop(self, token: str) -> bytes | None:
        """The report for `token`, removed from the store; None if unknown or expired."""
        with self._lock:
            self._drop_expired()
            item = self._items.pop(token, None)
        return None if item is None else item[1]

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._items)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, (at, _) in self._items.items() if now - at > self.ttl_s]:
            del self._items[token]

