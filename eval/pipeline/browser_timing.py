"""Click-to-result in a real browser: what a user of the web app waits for.

`python -m eval.benchmark --server-url URL --browser` drives Debian's chromium (Playwright) on a
running app: it clicks the first example case once, then, `--browser-reps` times, presses
Analyze and measures, inside the page, the time from the click to the result being on screen
(the summary filled and every heatmap image decoded), polled once per rendered frame (~16 ms).

Each repetition also records the page's network requests (Playwright's resource timing), so
the report says where the time goes: the clearing round trip, the queue join, the event
stream that carries the result, and the heatmap image downloads, each as the median offset
from the click. (The server's own model time is in the same benchmark's `/analyze` rows.)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
RESULT_TEXT = "Probability of melanoma"  # the summary's first words once a result is shown
TIMEOUT_MS = 60_000

# One state machine per click, evaluated once per animation frame: first the previous result
# must disappear (the click's clearing step), then the new one must be complete on screen.
_DONE_JS = """
([n, text]) => {
  const summary = document.querySelector('#summary');
  const shown = summary !== null && summary.innerText.includes(text);
  if (!window.__benchCleared) { if (!shown) window.__benchCleared = true; return false; }
  const loaded = Array.from(document.querySelectorAll('#heatmaps img'))
    .filter(i => i.complete && i.naturalWidth > 0).length;
  return shown && loaded >= n ? performance.now() - window.__benchT0 : false;
}
"""
_CLICK_JS = """
() => { window.__benchCleared = false; window.__benchT0 = performance.now();
        document.querySelector('#analyze-button').click();
        return performance.timeOrigin + window.__benchT0; }
"""
_LOADED_JS = ("Array.from(document.querySelectorAll('#heatmaps img'))"
              ".filter(i => i.complete && i.naturalWidth > 0).length")


def find_chromium(path: Path | None = None) -> Path:
    """The chromium executable: `path`, $CHROMIUM_PATH, or `chromium` on PATH.

    Raises:
        FileNotFoundError: none found (with the install command).
    """
    found = path or os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not found or not Path(found).is_file():
        raise FileNotFoundError(f"chromium not found ({found or 'not on PATH'}): "
                                "apt-get install -y chromium, or --chromium-path")
    return Path(found)


def _kind(url: str) -> str:
    """Which step of an analysis a request belongs to."""
    path = urlparse(url).path
    if "/queue/join" in path:
        return "queue_join"
    if "/queue/data" in path or "/heartbeat" in path:
        return "event_stream"
    if "/file=" in path or "/file/" in path:
        return "file"
    if "/run/predict" in path or "/api/" in path:
        return "direct_call"
    return "other"


@contextmanager
def _page(url: str, chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(TIMEOUT_MS)
            # Only the app itself: nothing here may reach the internet, and nothing should.
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(url) else route.abort())
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#analyze-button")
            yield page
        finally:
            browser.close()


def first_example_label(config: dict[str, Any]) -> str:
    """The first example case's button label, from the app's /config (no app import)."""
    for component in config.get("components", []):
        labels = component.get("props", {}).get("sample_labels")
        if component.get("type") == "dataset" and labels:
            return str(labels[0])
    raise ValueError("the app shows no example cases: nothing to click")


def _summary(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"n": int(arr.size), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "mean": float(arr.mean())}


def click_to_result(url: str, reps: int, chromium: Path | None = None,
                    warmup: int = 2) -> dict[str, Any]:
    """Time Analyze-to-result on the app's first example case in a real browser.

    Args:
        url: the running app (e.g. ``http://127.0.0.1:7860/``).
        reps: timed clicks.
        chromium: the browser executable (default: :func:`find_chromium`).
        warmup: untimed clicks first (the first analysis compiles and caches).

    Returns:
        ``click_to_result_ms`` (n, p50, p95, mean), ``heatmaps`` waited for, the example's
        label, ``phases_ms``: per request kind, the median offset from the click of its start
        and end (and the count per click), and ``engine_ms``: the server's model time.
    """
    import httpx

    base = url.rstrip("/") + "/"
    config = httpx.get(base + "config", timeout=30).json()
    label = first_example_label(config)
    times: list[float] = []
    phases: dict[str, dict[str, list[float]]] = {}
    with _page(base, find_chromium(chromium)) as page:
        requests: list[Any] = []
        page.on("requestfinished", lambda request: requests.append(request))
        page.get_by_role("button", name=label, exact=True).click()
        # The example is loaded when its metadata and its image are in the inputs (an Analyze
        # sent before the image arrives is refused with "no image").
        page.wait_for_function(
            "() => document.querySelector('#age-input input').value !== '' && "
            "Array.from(document.querySelectorAll('#image-input img'))"
            ".some(i => i.complete && i.naturalWidth > 0)")
        n_heatmaps = 0
        for i in range(warmup + reps):
            requests.clear()
            clicked_at = page.evaluate(_CLICK_JS)
            if i == 0:  # how many heatmaps a finished analysis shows
                page.wait_for_function(f"() => document.querySelector('#summary') && "
                                       f"document.querySelector('#summary').innerText"
                                       f".includes({json.dumps(RESULT_TEXT)})")
                page.wait_for_function(f"{_LOADED_JS} > 0")
                page.wait_for_timeout(1500)
                n_heatmaps = page.evaluate(_LOADED_JS)
                log.info("example %r: %d heatmaps per analysis", label, n_heatmaps)
                continue
            elapsed = page.wait_for_function(_DONE_JS, arg=[n_heatmaps, RESULT_TEXT],
                                             polling="raf").json_value()
            page.wait_for_timeout(150)  # let the trailing requests (re-render check) finish
            if i < warmup:
                continue
            times.append(float(elapsed))
            by_kind: dict[str, list[tuple[float, float]]] = {}
            for request in requests:
                timing = request.timing
                start = timing["startTime"] - clicked_at
                end = start + max(timing.get("responseEnd", 0.0), 0.0)
                by_kind.setdefault(_kind(request.url), []).append((start, end))
            for kind, spans in by_kind.items():
                slot = phases.setdefault(kind, {"count": [], "first_start": [], "last_end": []})
                slot["count"].append(len(spans))
                slot["first_start"].append(min(s for s, _ in spans))
                slot["last_end"].append(max(e for _, e in spans))
    return {
        "example": label, "heatmaps": n_heatmaps, "reps": reps,
        "click_to_result_ms": _summary(times),
        "phases_ms": {kind: {key: float(statistics.median(v)) for key, v in slot.items()}
                      for kind, slot in sorted(phases.items())},
    }


def print_browser_report(result: dict[str, Any]) -> None:
    """The click-to-result table (stdout, as the CLI's output)."""
    s = result["click_to_result_ms"]
    print(f"\nbrowser (chromium, headless): example {result['example']!r}, "
          f"{result['heatmaps']} heatmaps, {s['n']} clicks")
    print(f"click -> result on screen: p50 {s['p50']:.0f} ms, p95 {s['p95']:.0f} ms, "
          f"mean {s['mean']:.0f} ms")
    print(f"  {'requests (median per click)':<28}{'count':>6}{'start ms':>10}{'end ms':>10}")
    for kind, slot in result["phases_ms"].items():
        print(f"  {kind:<28}{slot['count']:>6.0f}{slot['first_start']:>10.0f}"
              f"{slot['last_end']:>10.0f}")
