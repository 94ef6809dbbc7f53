"""Real-browser test: Playwright drives Debian's chromium against the live `python -m app` server.

Uploads an image, fills the metadata, clicks Analyze, waits for the probability and the
heatmaps, saves a screenshot as a CI artefact, then checks the overlay controls (re-rendered
without re-running the model), a readable error for bad input, and an example click. Skips
only when chromium is truly absent (`apt-get install -y chromium`; `.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.conftest import LiveServer

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 90_000  # one analysis is < 1 s; the margin is for a busy shared CI machine
LOADED_HEATMAPS = ("Array.from(document.querySelectorAll('#heatmaps img'))"
                   ".filter(i => i.complete && i.naturalWidth > 0).length")


@pytest.fixture(scope="module")
def page(live_server: LiveServer) -> Iterator:
    """A chromium page on the app, with every non-local request blocked (no internet here)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(live_server.url) else route.abort())
            page.goto(live_server.url + "/", wait_until="domcontentloaded")
            page.wait_for_selector("#analyze-button")
            yield page
        finally:
            browser.close()


def _choose(page, dropdown_id: str, option: str) -> None:
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def _upload(page, image: Path) -> None:
    clear = page.locator("#image-input button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.locator("#image-input input[type=file]").set_input_files(str(image))
    page.wait_for_selector("#image-input img")


def _gallery_sources(page) -> list[str]:
    return page.locator("#heatmaps img").evaluate_all("imgs => imgs.map(i => i.src)")


def test_analyze_in_the_browser(page, test_image: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    _upload(page, test_image)
    page.locator("#age-input input").fill("63")
    _choose(page, "sex-input", "female")
    _choose(page, "site-input", "lower extremity")
    page.locator("#analyze-button").click()

    expect(page.locator("#summary")).to_contain_text("Probability of melanoma")
    expect(page.locator("#summary")).to_contain_text("decision threshold 0.300")
    expect(page.locator("#probability")).to_contain_text("melanoma")
    page.wait_for_function(f"{LOADED_HEATMAPS} >= 5")
    captions = page.locator("#heatmaps").inner_text()
    assert "backbone.bn2 — 2x2" in captions
    expect(page.locator("#tta-table")).to_contain_text("antitranspose")
    expect(page.locator("#tta-plot svg")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "app-ui-analysis.png"), full_page=True)

    # Opacity and layer choice re-render from the session state, without a new analysis.
    summary = page.locator("#summary").inner_text()
    before = _gallery_sources(page)
    page.locator("#opacity input[type=number]").fill("0.9")
    page.locator("#opacity input[type=number]").press("Enter")
    page.wait_for_function(
        "before => { const s = Array.from(document.querySelectorAll('#heatmaps img'))"
        ".map(i => i.src); return s.length === 5 && s[0] !== before[0]; }", arg=before)
    page.locator("#layer-choice").get_by_text("backbone.bn2", exact=True).click()
    page.wait_for_function(f"{LOADED_HEATMAPS} === 1")
    assert "backbone.bn2" in page.locator("#heatmaps").inner_text()
    assert page.locator("#summary").inner_text() == summary


def test_bad_input_shows_a_readable_error(page, test_image: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    _upload(page, test_image)  # the previous upload was deleted after its analysis
    page.locator("#age-input input").fill("200")
    page.locator("#analyze-button").click()
    toast = page.locator(".toast-body").filter(has_text="out of range")
    expect(toast).to_be_visible()
    text = toast.inner_text()
    assert "age: 200 is out of range" in text
    assert "Traceback" not in text
    # The previous case's result is not left on screen beside the error.
    assert "Probability of melanoma" not in page.locator("#summary").inner_text()
    page.wait_for_timeout(800)  # let the toast finish sliding in for the screenshot
    page.screenshot(path=str(artifacts_dir / "app-ui-error.png"))
    page.locator(".toast-body .toast-close").first.click()


def test_example_is_one_click(page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="melanoma — 60 y, male, anterior torso").click()
    expect(page.locator("#age-input input")).to_have_value("60")
    expect(page.locator("#site-input input")).to_have_value("anterior torso")
    page.locator("#analyze-button").click()
    page.get_by_text("Result as JSON (what the API returns)").click()
    expect(page.locator("#result-json")).to_contain_text("anterior torso")
    expect(page.locator("#summary")).to_contain_text("Probability of melanoma")
    page.wait_for_function(f"{LOADED_HEATMAPS} >= 5")
    # Examples are protected copies: analysing one again works (uploads would be gone).
    first = page.locator("#result-json").inner_text()
    page.locator("#analyze-button").click()
    page.wait_for_function("first => document.querySelector('#result-json').innerText !== first",
                           arg=first)  # new timings: a second analysis ran
    expect(page.locator(".toast-body")).to_have_count(0)
