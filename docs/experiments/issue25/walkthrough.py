"""Issue 25 walk-through: the shipped model in `python -m app`, driven by Chromium as a new user.

    python docs/experiments/issue25/walkthrough.py OUT_DIR

Starts the server on a free localhost port, then: the first screen at 1280x800 (examples
visible), the "melanoma — 60 y" example analysed and the threshold moved to 0.8, 0.95 and 0.01
(TTA plot screenshots), report before/after an error, the error state of a bad age, a text file
renamed .jpg, and the patient view. Prints what it checked; screenshots go to OUT_DIR.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from tests.app.conftest import free_port  # noqa: E402
from tests.app.test_ui_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

EXAMPLE = "melanoma — 60 y, male, anterior torso"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(out / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "app", "--port", str(port)], cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(480):
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        print("healthz", httpx.get(url + "/healthz").json())
        print("HEAD /healthz", httpx.head(url + "/healthz").status_code,
              "| /docs", httpx.get(url + "/docs").status_code)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(120_000)
            page.goto(url + "/", wait_until="domcontentloaded")
            page.wait_for_selector("#analyze-button")
            box = page.get_by_role("button", name=EXAMPLE).bounding_box()
            print("first example bottom at", round(box["y"] + box["height"]), "of 800 px")
            page.screenshot(path=str(out / "01-first-screen-1280x800.png"))
            page.locator("#report-button").click()
            expect(page.locator("#report")).to_contain_text("Nothing to report")
            print("report before analysis:", page.locator("#report").inner_text())
            page.set_viewport_size({"width": 1400, "height": 1100})
            page.get_by_role("button", name=EXAMPLE).click()
            page.locator("#analyze-button").click()
            expect(page.locator("#decision")).to_contain_text("melanoma probability")
            page.wait_for_selector("#tta-plot rect.tta-bar")
            print("decision panel:", page.locator("#decision").inner_text())
            page.screenshot(path=str(out / "02-analysis.png"), full_page=True)
            for t in (0.8, 0.95, 0.01):
                box = page.locator("#threshold input[type=number]")
                box.fill(str(t))
                box.press("Enter")
                expect(page.locator("#summary")).to_contain_text(f"threshold {t:.3f}")
                bars = page.locator("#tta-plot rect.tta-bar")
                sides = bars.evaluate_all("b => b.map(r => r.dataset.side + ':' + "
                                          "r.getAttribute('fill'))")
                print(f"threshold {t}: {len(sides)} bars", sorted(set(sides)),
                      "| preset:", page.locator("#threshold-preset input").input_value())
                page.locator("#tta-plot").screenshot(path=str(out / f"03-tta-plot-{t}.png"))
            page.locator("#image-input button[aria-label='Remove Image']").first.click()
            page.locator("#age-input input").fill("300")
            page.locator("#analyze-button").click()
            expect(page.locator(".toast-body")).to_be_visible()
            page.wait_for_timeout(1000)
            pills = page.evaluate("Array.from(document.querySelectorAll('.error')).filter(e => "
                                  "e.offsetParent !== null && e.innerText.trim() === 'Error' && "
                                  "!e.closest('.toast-body')).map(e => e.closest('[id]')?.id)")
            print("error toast:", page.locator(".toast-body").first.inner_text().replace(
                "\n", " "), "| error pills:", pills)
            page.screenshot(path=str(out / "04-error-state.png"))
            page.locator("#report-button").click()
            print("report after the error:", page.locator("#report").inner_text())
            page.locator(".toast-body .toast-close").first.click()
            fake = out / "notes-renamed.jpg"
            fake.write_text("not a photo\n")
            page.locator("#image-input input[type=file]").set_input_files(str(fake))
            warning = page.locator(".toast-body").filter(has_text="not a recognised image")
            expect(warning).to_be_visible()
            print("upload warning:", warning.inner_text().replace("\n", " "))
            page.screenshot(path=str(out / "05-upload-warning.png"))
            page.locator(".toast-body .toast-close").first.click()
            fake.unlink()
            page.get_by_text("Patient view: compare several lesions of one person").click()
            examples = sorted((REPO / "app" / "examples").glob("*.jpg"))
            files = []
            for k, src in enumerate(examples):
                files.append(out / f"lesion-{k + 1}.jpg")
                shutil.copyfile(src, files[-1])
            page.locator("#patient-files input[type=file]").set_input_files(
                [str(f) for f in files])
            page.locator("#patient-sites input, #patient-sites textarea").fill(
                "chest, upper extremity, lower extremity, face")
            page.locator("#patient-button").click()
            expect(page.locator("#patient-table tr.patient-lesion")).to_have_count(len(files))
            page.locator("#patient-table").screenshot(path=str(out / "06-patient-view.png"))
            print("patient view rows:", page.locator("#patient-table tr.patient-lesion")
                  .evaluate_all("rows => rows.map(r => r.cells[0].innerText + ' / ' + "
                                "r.cells[2].innerText)"))
            for f in files:
                f.unlink()
            browser.close()
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
