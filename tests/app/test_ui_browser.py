"""Real-browser test: Playwright drives Debian's chromium against the live `python -m app` server.

Uploads an image, fills the metadata, clicks Analyze, waits for the probability and the
heatmaps, saves a screenshot as a CI artefact, then checks the overlay controls (re-rendered
without re-running the model), a readable error for bad input, and an example click. Skips
only when chromium is truly absent (`apt-get install -y chromium`; `.ci/run` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.pipeline.browser_timing import CHROMIUM_ARGS
from tests.app.conftest import LiveServer

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
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


def _pick_example(page, name: str) -> None:
    """Click an example case and wait until its image and metadata are in the inputs: an
    Analyze pressed before the example's image has arrived is sent without one."""
    before = page.evaluate("() => document.querySelector('#image-input img')?.src ?? ''")
    page.get_by_role("button", name=name).click()
    page.wait_for_function(
        "before => { const i = document.querySelector('#image-input img');"
        " const a = document.querySelector('#age-input input');"
        " return !!i && i.src !== before && i.complete && i.naturalWidth > 0"
        " && !!a && a.value !== ''; }", arg=before)


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
    expect(page.locator("#decision")).to_contain_text("melanoma probability")
    page.wait_for_function(f"{LOADED_HEATMAPS} >= 5")
    captions = page.locator("#heatmaps").inner_text()
    assert "backbone.bn2 — 2x2" in captions
    expect(page.locator("#tta-table")).to_contain_text("antitranspose")
    expect(page.locator("#tta-plot svg.tta-svg")).to_be_visible()
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

    _pick_example(page, "melanoma — 60 y, male, anterior torso")
    expect(page.locator("#age-input input")).to_have_value("60")
    expect(page.locator("#site-input input")).to_have_value("anterior torso")
    page.locator("#analyze-button").click()
    _open_json(page)
    expect(page.locator("#result-json")).to_contain_text("anterior torso")
    expect(page.locator("#summary")).to_contain_text("Probability of melanoma")
    page.wait_for_function(f"{LOADED_HEATMAPS} >= 5")
    # Examples are protected copies: analysing one again works (uploads would be gone).
    first = page.locator("#result-json").inner_text()
    page.locator("#analyze-button").click()
    page.wait_for_function("first => document.querySelector('#result-json').innerText !== first",
                           arg=first)  # new timings: a second analysis ran
    expect(page.locator(".toast-body")).to_have_count(0)


def _open_json(page) -> None:
    """Open the result-JSON accordion (it toggles on click: open it only when closed, and wait
    until it is, so a click that lands during a re-layout is retried)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    json_view = page.locator("#result-json")
    for attempt in range(3):
        if json_view.count() and json_view.is_visible():
            return
        page.get_by_text("Result as JSON (what the API returns)").click()
        try:
            json_view.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def _fresh(page, url: str) -> None:
    """Reload the app, with the result-JSON accordion opened once (it toggles on click)."""
    page.goto(url + "/", wait_until="domcontentloaded")
    page.wait_for_selector("#analyze-button")
    _open_json(page)


def _analyze(page) -> str:
    """Click Analyze, wait for the result; returns the result JSON's text."""
    from playwright.sync_api import expect

    before = page.evaluate("() => document.querySelector('#result-json')?.innerText ?? ''")
    page.locator("#analyze-button").click()
    expect(page.locator("#summary")).to_contain_text("Probability of melanoma")
    # Done when the JSON is a new result and no progress timer ("1.2s") is shown over it.
    done = page.wait_for_function(
        "before => { const t = document.querySelector('#result-json')?.innerText ?? '';"
        " return t.includes('timings_ms') && t !== before && !/\\d\\.\\ds/.test(t) && t; }",
        arg=before)
    return done.json_value()


def _age_in_json(text: str) -> str:
    import re

    found = re.search(r'"?age"?\s*:\s*([^,\s}]+)', text)
    assert found, text
    return found.group(1)


def test_untouched_or_cleared_age_is_sent_as_unknown(page, live_server: LiveServer,
                                                     test_image: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    expect(page.locator("#age-input input, #age-input textarea")).to_have_value("")
    _upload(page, test_image)
    assert _age_in_json(_analyze(page)) == "null"  # page load, field never touched
    field = page.locator("#age-input input, #age-input textarea")
    field.fill("0")  # a real 0 (a newborn) is still sent as 0
    assert _age_in_json(_analyze(page)) == "0"
    field.fill("")  # cleared after an analysis
    assert _age_in_json(_analyze(page)) == "null"
    _pick_example(page, "melanoma — 60 y, male, anterior torso")
    expect(field).to_have_value("60")
    field.fill("")  # cleared after picking an example
    assert _age_in_json(_analyze(page)) == "null"


def test_other_metadata_reanalyses_without_a_new_upload(page, live_server: LiveServer,
                                                        test_image: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    _upload(page, test_image)
    _analyze(page)
    assert "Same image" not in page.locator("#summary").inner_text()
    _choose(page, "sex-input", "female")
    text = _analyze(page)  # the upload was deleted: this runs from the session's memory
    expect(page.locator("#summary")).to_contain_text("Same image, other metadata")
    expect(page.locator("#summary")).to_contain_text("sex female")
    expect(page.locator(".toast-body")).to_have_count(0)
    assert "female" in text


def test_threshold_moves_the_decision_without_a_new_analysis(page, live_server: LiveServer,
                                                             test_image: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    expect(page.locator("#operating-point")).to_contain_text("sensitivity 0.75")
    _upload(page, test_image)
    first = _analyze(page)
    timings = first[first.index("timings_ms"):first.index("model")]
    slider = page.locator("#threshold input[type=number]")
    slider.fill("0.999")
    slider.press("Enter")
    expect(page.locator("#summary")).to_contain_text("threshold 0.999")
    expect(page.locator("#summary")).to_contain_text("below threshold")
    expect(page.locator("#operating-point")).to_contain_text("sensitivity 0.00")
    expect(page.locator("#tta-table")).not_to_contain_text("above")
    after = page.locator("#result-json").inner_text()
    assert "custom" in after and after[after.index("timings_ms"):after.index("model")] == \
        timings  # same analysis, re-decided: the model did not run again
    _choose(page, "threshold-preset", "sensitivity_0.8 (0.200): sensitivity ≥ 0.80 on validation")
    expect(page.locator("#threshold input[type=number]")).to_have_value("0.2")
    expect(page.locator("#summary")).to_contain_text("threshold 0.200")
    expect(page.locator("#operating-point")).to_contain_text("sensitivity 1.00")


def test_report_downloads_a_pdf_and_keeps_nothing(page, live_server: LiveServer,
                                                  test_image: Path, artifacts_dir: Path) -> None:
    import httpx

    _fresh(page, live_server.url)
    _upload(page, test_image)
    _analyze(page)
    with page.expect_download() as info:
        page.locator("#report-button").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (artifacts_dir / "app-report.pdf").write_bytes(pdf)
    assert not [p for p in live_server.private_dir.rglob("*.pdf")]
    link = page.locator("#report-link").get_attribute("href")
    again = httpx.get(f"{live_server.url}/{link}", timeout=10.0)
    assert again.status_code == 404  # served once, then gone from memory


def _own_tab(page, url: str):
    """A page of the module's browser (one Playwright per thread) in a session of its own,
    for another server at `url`, with every other request blocked."""
    tab = page.context.browser.new_page(viewport={"width": 1400, "height": 1800})
    tab.set_default_timeout(TIMEOUT_MS)
    tab.route("**/*", lambda route: route.continue_()
              if route.request.url.startswith(url) else route.abort())
    return tab


def test_a_single_bundle_shows_no_member_picker(page, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    expect(page.locator("#heatmap-member")).to_be_hidden()


def test_each_user_picks_the_ensemble_member_drawing_the_heatmaps(
        page, tiny_bundle: Path, engine_cache_dir: Path, tmp_path: Path,
        test_image: Path) -> None:
    """An ensemble server shows a member picker; picking another member analyses the shown
    case again (from the session: the upload is gone) and its heatmaps replace the first's."""
    from playwright.sync_api import expect

    from models.bundle.ensemble import save_ensemble
    from models.bundle.io import load_bundle
    from tests.app.conftest import build_tiny_bundle, start_server

    members = [load_bundle(tiny_bundle), load_bundle(build_tiny_bundle(tmp_path / "b", seed=1))]
    ids = [m.bundle_id for m in members]
    folder = save_ensemble(tmp_path / "ens", members, name="pair",
                           thresholds={"sensitivity_target": 0.45})
    server = start_server(folder, tmp_path, "--engine-cache-dir", str(engine_cache_dir))
    tab = _own_tab(page, server.url)
    try:
        _fresh(tab, server.url)
        expect(tab.locator("#model-card")).to_contain_text("2 members")
        expect(tab.locator("#heatmap-member input")).to_have_value(f"1. {ids[0]}")
        _upload(tab, test_image)
        first = _analyze(tab)
        tab.wait_for_function(f"{LOADED_HEATMAPS} >= 5")
        heatmaps = _gallery_sources(tab)
        _choose(tab, "heatmap-member", f"2. {ids[1]}")
        # The result JSON names no member but the one drawing the heatmaps.
        tab.wait_for_function("id => (document.querySelector('#result-json')?.innerText ?? '')"
                              ".includes(id)", arg=ids[1])
        second = tab.locator("#result-json").inner_text()
        tab.wait_for_timeout(500)
        assert tab.locator(".toast-body").all_inner_texts() == []
        tab.wait_for_function(
            "before => { const s = Array.from(document.querySelectorAll('#heatmaps img'))"
            ".map(i => i.src); return s.length >= 5 && s[0] !== before[0]; }", arg=heatmaps)
    finally:
        tab.close()
        server.stop()
    assert ids[0] in first and ids[1] not in first
    assert ids[1] in second and ids[0] not in second


def test_a_diagnosis_model_shows_the_differential(page, engine_cache_dir: Path, tmp_path: Path,
                                                  test_image: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from tests.app.conftest import DIAGNOSIS_CLASSES, build_tiny_bundle, start_server

    folder = build_tiny_bundle(tmp_path / "dx", seed=2, classes=DIAGNOSIS_CLASSES)
    server = start_server(folder, tmp_path, "--engine-cache-dir", str(engine_cache_dir))
    tab = _own_tab(page, server.url)
    try:
        _fresh(tab, server.url)
        expect(tab.locator("#model-card")).to_contain_text("diagnosis over 8 classes")
        _upload(tab, test_image)
        _analyze(tab)
        expect(tab.locator("#summary")).to_contain_text("Differential")
        for name in ("basal cell carcinoma (BCC)", "dermatofibroma (DF)", "melanoma (MEL)"):
            expect(tab.locator("#summary")).to_contain_text(name)
        # The probability panel lists every class (Gradio's label shows them as rows).
        panel = tab.locator("#probability").inner_text()
        assert all(n in panel for n in ("melanoma", "melanocytic naevus", "vascular lesion",
                                        "squamous cell carcinoma")), panel
        tab.screenshot(path=str(artifacts_dir / "app-ui-differential.png"), full_page=True)
    finally:
        tab.close()
        server.stop()


# -- Issue 25: what a new user hit -----------------------------------------------------------

MELANOMA_60 = "melanoma — 60 y, male, anterior torso"
MELANOMA_80 = "melanoma — 80 y, male, upper extremity"
BARS = ("Array.from(document.querySelectorAll('#tta-plot rect.tta-bar')).map(r => ({"
        "side: r.dataset.side, p: parseFloat(r.dataset.probability), fill: r.getAttribute('fill'),"
        " h: parseFloat(r.getAttribute('height'))}))")
FILLS = {"above": "#c0392b", "below": "#2e86c1"}


def _set_threshold(page, value: float) -> None:
    from playwright.sync_api import expect

    box = page.locator("#threshold input[type=number]")
    box.fill(f"{value}")
    box.press("Enter")
    expect(page.locator("#summary")).to_contain_text(f"threshold {value:.3f}")


@pytest.mark.parametrize("thresholds", [(0.8, 0.95, 0.01, 0.5), (0.01, 0.999, 0.3)],
                         ids=["melanoma-example", "from-all-above"])
def test_the_tta_plot_keeps_every_bar_and_draws_the_threshold(page, live_server: LiveServer,
                                                              thresholds,
                                                              artifacts_dir: Path) -> None:
    _fresh(page, live_server.url)
    _pick_example(page, MELANOMA_60)
    _analyze(page)
    for t in thresholds:
        _set_threshold(page, t)
        page.wait_for_function(
            "t => { const l = document.querySelector('#tta-plot line.tta-threshold');"
            " return l && Math.abs(parseFloat(l.dataset.threshold) - t) < 1e-4; }", arg=t)
        bars = page.evaluate(BARS)
        assert len(bars) == 8, (t, bars)
        for bar in bars:  # every bar drawn, filled by its own side of the threshold
            assert bar["side"] == ("above" if bar["p"] >= t else "below"), (t, bar)
            assert bar["fill"] == FILLS[bar["side"]] and bar["h"] > 0, (t, bar)
        assert page.locator("#tta-plot rect.tta-legend").count() == 2  # a swatch per side
    page.locator("#tta-plot").screenshot(path=str(artifacts_dir / f"app-tta-plot-{t}.png"))


def test_report_before_any_analysis_says_nothing_to_report(page, live_server: LiveServer
                                                           ) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    page.locator("#report-button").click()
    expect(page.locator("#report")).to_contain_text("Nothing to report: analyse an image first")


def test_a_failed_analysis_leaves_nothing_to_report(page, live_server: LiveServer) -> None:
    """Analyse a case, remove the image, Analyze (error): the report is not the old case."""
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    _pick_example(page, MELANOMA_80)
    _analyze(page)
    page.locator("#image-input button[aria-label='Remove Image']").first.click()
    page.locator("#age-input input").fill("30")
    page.locator("#analyze-button").click()
    expect(page.locator(".toast-body").filter(has_text="no image")).to_be_visible()
    expect(page.locator("#summary")).not_to_contain_text("Probability of melanoma")
    expect(page.locator("#tta-plot rect.tta-bar")).to_have_count(0)
    page.locator("#report-button").click()
    expect(page.locator("#report")).to_contain_text("Nothing to report")
    expect(page.locator("#report-link")).to_have_count(0)
    page.locator(".toast-body .toast-close").first.click()


# Status pills reading "Error" on components (the toast's own title is not one).
ERROR_PILLS = ("Array.from(document.querySelectorAll('.error')).filter(e => e.offsetParent"
               " !== null && e.innerText.trim() === 'Error' && !e.closest('.toast-body'))"
               ".map(e => e.closest('[id]')?.id ?? '?')")


def test_an_error_is_shown_once(page, live_server: LiveServer, test_image: Path,
                                artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    _upload(page, test_image)
    page.locator("#age-input input").fill("300")
    page.locator("#analyze-button").click()
    expect(page.locator(".toast-body").filter(has_text="out of range")).to_be_visible()
    page.wait_for_timeout(800)  # the toast slides in
    assert page.evaluate(ERROR_PILLS) == ["decision"]  # one, not one per output
    for quiet in ("#threshold", "#layer-choice", "#tta-table", "#heatmaps", "#result-json"):
        assert page.locator(f"{quiet} .error").count() == 0, quiet
    page.screenshot(path=str(artifacts_dir / "app-error-state.png"))
    page.locator(".toast-body .toast-close").first.click()


def test_a_file_that_is_no_image_is_named_on_upload(page, live_server: LiveServer,
                                                    tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    fake = tmp_path / "notes-renamed.jpg"
    fake.write_text("this is a text file, not a photo\n")
    clear = page.locator("#image-input button[aria-label='Remove Image']")
    if clear.count():
        clear.first.click()
    page.locator("#image-input input[type=file]").set_input_files(str(fake))
    toast = page.locator(".toast-body").filter(has_text="not a recognised image file")
    expect(toast).to_be_visible()  # before any Analyze click
    assert "notes-renamed.jpg" in toast.inner_text()
    page.locator(".toast-body .toast-close").first.click()


def test_the_patient_view_labels_lesions_and_clears_after_an_error(
        page, live_server: LiveServer, test_image: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    page.get_by_text("Patient view: compare several lesions of one person").click()
    names = []
    for k in range(4):
        path = tmp_path / f"mole-{k}.jpg"
        shutil.copyfile(test_image, path)
        names.append(path)
    page.locator("#patient-files input[type=file]").set_input_files([str(p) for p in names])
    page.locator("#patient-sites input, #patient-sites textarea").fill(
        "back, chest, face, unknown")
    page.locator("#patient-button").click()
    rows = page.locator("#patient-table tr.patient-lesion")
    expect(rows).to_have_count(4)
    table = page.locator("#patient-table").inner_text()
    assert all(p.name in table for p in names) and "lesion 1" not in table
    assert "posterior torso" in table and "head/neck" in table
    expect(page.locator("#patient-table img")).to_have_count(4)  # thumbnails
    page.locator("#patient-files button[aria-label='Clear']").first.click()
    page.locator("#patient-files input[type=file]").set_input_files(str(names[0]))
    page.locator("#patient-sites input, #patient-sites textarea").fill("")
    page.locator("#patient-button").click()
    expect(page.locator(".toast-body").filter(has_text="upload 2 to 20")).to_be_visible()
    expect(rows).to_have_count(0)  # the previous table is not left under the error
    page.locator(".toast-body .toast-close").first.click()


def test_presets_have_one_name_and_follow_the_slider(page, live_server: LiveServer,
                                                     test_image: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    _upload(page, test_image)
    _analyze(page)
    _choose(page, "threshold-preset",
            "sensitivity_0.95 (0.200): sensitivity ≥ 0.95 on validation")
    expect(page.locator("#summary")).to_contain_text("(sensitivity_0.95)")
    expect(page.locator("#result-json")).to_contain_text("sensitivity_0.95")
    expect(page.locator("#threshold input[type=number]")).to_have_value("0.2")
    _set_threshold(page, 0.9)  # typed: the menu follows
    expect(page.locator("#threshold-preset input")).to_have_value(
        "custom: the threshold set on the slider")
    expect(page.locator("#summary")).to_contain_text("(custom)")
    _set_threshold(page, 0.3)  # the bundle default's threshold: the menu says so
    expect(page.locator("#threshold-preset input")).to_have_value(
        "sensitivity_target (0.300): the model's default")
    # Three decimals at most in the number box, whatever the stored threshold.
    value = page.locator("#threshold input[type=number]").input_value()
    assert len(value.split(".")[-1]) <= 3, value


def test_the_result_leads_with_the_decision(page, live_server: LiveServer,
                                            test_image: Path) -> None:
    from playwright.sync_api import expect

    _fresh(page, live_server.url)
    _upload(page, test_image)
    text = _analyze(page)
    found = re.search(r'"?decision_probability"?\s*:\s*([\d.]+)', text)
    above = re.search(r'"?decision"?\s*:\s*"above threshold"', text) is not None
    assert found, text
    expect(page.locator("#probability")).to_be_hidden()  # no "not melanoma 56%" row
    decision = page.locator("#decision").inner_text()
    headline = "Above the decision threshold" if above else "Below the decision threshold"
    assert decision.startswith(headline), decision
    assert f"melanoma probability {float(found.group(1)):.3f}" in decision
    expect(page.locator("#result-json").locator("..").locator("..")).to_contain_text(
        "decision_probability")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800},
                                      {"width": 1400, "height": 900}], ids=["1280", "1400"])
def test_layout_fits_a_laptop_screen(page, live_server: LiveServer, test_image: Path,
                                     viewport: dict) -> None:
    from playwright.sync_api import expect

    tab = _own_tab(page, live_server.url)
    try:
        tab.set_viewport_size(viewport)
        tab.goto(live_server.url + "/", wait_until="domcontentloaded")
        tab.wait_for_selector("#analyze-button")
        first = tab.get_by_role("button", name=MELANOMA_60).bounding_box()
        assert first and first["y"] + first["height"] <= viewport["height"], first
        _pick_example(tab, MELANOMA_60)
        tab.locator("#analyze-button").click()
        expect(tab.locator("#tta-table")).to_contain_text("antitranspose")
        header = tab.locator("#tta-table").get_by_text("vs threshold").first.bounding_box()
        table = tab.locator("#tta-table").bounding_box()
        assert header and table
        assert header["x"] + header["width"] <= min(table["x"] + table["width"],
                                                    viewport["width"]) + 1, (header, table)
    finally:
        tab.close()


def test_click_to_result_benchmark(live_server: LiveServer) -> None:
    """`eval.benchmark --browser`: Analyze on the first example, timed inside the page."""
    from concurrent.futures import ThreadPoolExecutor

    from eval.pipeline.browser_timing import click_to_result

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    # Its own thread: this module's `page` fixture holds a sync Playwright on this one.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(click_to_result, live_server.url, reps=2,
                             chromium=Path(CHROMIUM), warmup=1).result()
    assert result["example"].startswith("melanoma")
    assert result["heatmaps"] == 5  # one per CAM layer: the wait covers every image
    timing = result["click_to_result_ms"]
    assert timing["n"] == 2 and 0 < timing["p50"] <= timing["p95"]
    join = result["phases_ms"]["queue_join"]
    assert join["count"] >= 1 and join["first_start"] >= 0  # the analysis joins after the click
