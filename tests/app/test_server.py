"""Live-server tests: `python -m app` on a localhost port, called through gradio_client and HTTP.

Covers /healthz, the `/analyze` API's values (against an in-process engine on the same
bundle), readable errors for every bad-input class with the server staying healthy, uploads
leaving no trace on disk or in the log, startup refusal without a valid bundle, and a clean
SIGTERM shutdown.
"""

from __future__ import annotations

import json
import logging
import math
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models.inference.tta import VIEW_NAMES
from tests.app.conftest import (
    THRESHOLDS,
    LiveServer,
    app_command,
    server_env,
    start_server,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
METADATA = (47, "female", "upper extremity")


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Client:
    """A gradio_client session (results as file descriptors: nothing downloaded)."""
    return Client(live_server.url, verbose=False, download_files=False)


@pytest.fixture(scope="module")
def baseline_files(live_server: LiveServer) -> set[Path]:
    """Files in the server's private folder before any request: the example copies."""
    return {p for p in live_server.private_dir.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def analysis(client: Client, test_image: Path, baseline_files: set[Path]) -> tuple:
    """One successful /analyze call with a real (or generated) image."""
    return client.predict(handle_file(str(test_image)), *METADATA, api_name="/analyze")


def _healthy(server: LiveServer) -> dict:
    response = httpx.get(f"{server.url}/healthz", timeout=10.0)
    assert response.status_code == 200
    return response.json()


def _bundle_info(bundle: Path) -> dict:
    return json.loads((bundle / "bundle.json").read_text())


def test_healthz_reports_the_loaded_bundle(live_server: LiveServer, tiny_bundle: Path) -> None:
    health = _healthy(live_server)
    assert health["status"] == "ok"
    assert health["model_loaded"] is True
    assert health["bundle_id"] == _bundle_info(tiny_bundle)["bundle_id"]
    assert health["version"] == "0.1.0" or health["version"].count(".") >= 1


def test_healthz_answers_head(live_server: LiveServer) -> None:
    """Load balancers and `curl -I` probe with HEAD."""
    response = httpx.head(f"{live_server.url}/healthz", timeout=10.0)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_docs_describe_the_rest_routes_and_point_to_the_gradio_api(
        live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/docs", timeout=10.0).status_code == 200
    spec = httpx.get(f"{live_server.url}/openapi.json", timeout=10.0).json()
    assert {"/healthz", "/report/{token}"} <= set(spec["paths"])
    assert "/?view=api" in spec["info"]["description"]


def test_ui_page_is_served(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/", timeout=30.0)
    assert response.status_code == 200
    assert "<html" in response.text.lower()


def test_only_analyze_and_patient_are_public_endpoints(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/analyze", "/patient"]
    assert [p["parameter_name"] for p in api["named_endpoints"]["/patient"]["parameters"]] == [
        "files", "age", "sex", "sites"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/analyze"]["parameters"]]
    assert params == ["image", "age", "sex", "site", "threshold", "target_sensitivity",
                      "heatmap_member", "heatmap_method", "heatmap_class"]


def test_analyze_returns_the_promised_json(analysis: tuple, tiny_bundle: Path) -> None:
    result = analysis[0]
    info = _bundle_info(tiny_bundle)
    p = result["probability"]
    assert isinstance(p, float) and 0.0 <= p <= 1.0
    assert result["threshold"] == pytest.approx(THRESHOLDS[info["default_threshold"]])
    assert result["decision"] == ("above threshold" if p >= result["threshold"]
                                  else "below threshold")
    assert [t["view"] for t in result["tta"]] == list(VIEW_NAMES)
    views = np.array([t["probability"] for t in result["tta"]])
    assert np.all((views >= 0) & (views <= 1))
    assert views[0] == pytest.approx(p, abs=1e-6)  # identity view
    assert result["tta_mean"] == pytest.approx(views.mean(), abs=1e-9)
    assert result["tta_std"] == pytest.approx(views.std(), abs=1e-9)
    assert result["tta_min"] == pytest.approx(views.min()) and result["tta_max"] == \
        pytest.approx(views.max())
    assert len(result["cam_layers"]) >= 5
    assert result["cam_layers"] == info["cam_layers"]
    assert result["model"] == info["bundle_id"]
    assert result["metadata"] == {"age": 47.0, "sex": "female", "site": "upper extremity"}


def test_analyze_probability_equals_the_engine(analysis: tuple, tiny_bundle: Path,
                                               test_image: Path, engine_cache_dir: Path,
                                               live_server: LiveServer) -> None:
    from models.inference.engine import Engine

    backend = _healthy(live_server)["backend"]
    engine = Engine.from_path(tiny_bundle, num_threads=1, backend=backend,
                              cache_dir=engine_cache_dir)
    expected = engine.predict(str(test_image), *METADATA)
    assert analysis[0]["probability"] == pytest.approx(expected, abs=1e-5)
    assert analysis[0]["backend"] == backend


def test_analyze_ui_outputs(analysis: tuple) -> None:
    result, decision, label, summary, table, plot, gallery, layer_update, threshold = analysis
    assert threshold == pytest.approx(round(result["threshold"], 3))  # the slider's precision
    p = result["probability"]
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert confidences["melanoma"] == pytest.approx(p)
    assert confidences["not melanoma"] == pytest.approx(1 - p)
    assert f"{p:.3f}" in summary and f"{result['threshold']:.3f}" in summary
    # The decision panel leads with the decision and the probability it was made on.
    side = "above" if result["decision"] == "above threshold" else "below"
    assert f'data-decision="{side}"' in decision
    assert f"melanoma probability <b>{result['decision_probability']:.3f}</b>" in decision
    assert [row[0] for row in table["data"]] == list(VIEW_NAMES)
    # The TTA plot: every view a filled bar on its side of the threshold, and the threshold.
    bars = re.findall(r'class="tta-bar" data-view="([^"]+)" data-side="(\w+)" '
                      r'data-probability="([\d.]+)"[^>]* fill="(#\w+)"', plot)
    assert [b[0] for b in bars] == list(VIEW_NAMES)
    for (_, bar_side, prob, fill), view in zip(bars, result["tta"], strict=True):
        assert float(prob) == pytest.approx(view["probability"], abs=1e-4)
        assert bar_side == ("above" if view["probability"] >= result["threshold"] else "below")
        assert fill == {"above": "#c0392b", "below": "#2e86c1"}[bar_side]
    assert f'class="tta-threshold" data-threshold="{result["threshold"]:.4f}"' in plot
    expected = [f"{name} — {h}x{w}" for name, (h, w) in
                zip(result["cam_layers"], result["cam_resolutions"], strict=True)]
    assert [item["caption"] for item in gallery] == expected
    assert layer_update["value"] == "all layers"


def test_upload_is_deleted_and_nothing_identifying_is_logged(
        analysis: tuple, live_server: LiveServer, test_image: Path,
        baseline_files: set[Path]) -> None:
    uploaded = test_image.read_bytes()
    files = {p for p in live_server.private_dir.rglob("*") if p.is_file()}
    leftovers = files - baseline_files
    # Only the rendered overlays may remain (swept later); never the upload itself.
    assert all(p.name == "image.jpeg" for p in leftovers), sorted(leftovers)  # the gallery
    assert not any(p.read_bytes() == uploaded for p in files - baseline_files)
    assert not any(test_image.stem in str(p) for p in files)
    # Uploads live in <content hash>/<name>: the hash folder must go with the file.
    # (Gradio itself creates an empty "vibe_edit_history" folder at startup.)
    empty = [d for d in live_server.private_dir.iterdir()
             if d.is_dir() and not any(d.iterdir()) and d.name != "vibe_edit_history"]
    assert empty == []
    log = live_server.log_text()
    assert test_image.stem not in log
    assert "upper extremity" not in log


def test_answers_never_show_a_server_path(analysis: tuple, client: Client,
                                          live_server: LiveServer, tmp_path: Path) -> None:
    """The result JSON, the summary and an error name no file or folder on the server (the
    gallery's images are Gradio file references, fetched by URL, not part of the answer)."""
    private = str(live_server.private_dir)
    result, _decision, _label, summary = analysis[:4]
    assert private not in json.dumps(result) and "/tmp" not in json.dumps(result)
    assert private not in str(summary)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(broken)), *METADATA, api_name="/analyze")
    assert private not in str(info.value) and str(broken.parent) not in str(info.value)


def _tiny_png(path: Path) -> Path:
    Image.new("RGB", (8, 8), (120, 80, 60)).save(path)
    return path


def _text_file(path: Path) -> Path:
    path.write_text("not an image at all\n")
    return path


@pytest.mark.parametrize(("make", "age", "sex", "site", "reason"), [
    (_text_file, 40, "male", "torso", "not a recognised image file"),
    (_tiny_png, 40, "male", "torso", "8x8 is too small"),
    (None, 200, "male", "torso", "age: 200 is out of range"),
    (None, 40, "x", "torso", "unrecognised sex value 'x'"),
    (None, 40, "male", "elbow", "'elbow' is not a known anatomic site"),
    (None, "forty", "male", "torso", "'forty' is not a number"),
], ids=["non-image", "tiny-image", "age-200", "sex-x", "site-elbow", "age-text"])
def test_bad_inputs_get_readable_errors(client: Client, live_server: LiveServer,
                                        test_image: Path, tmp_path: Path, make, age, sex,
                                        site, reason: str) -> None:
    image = make(tmp_path / f"bad-{uuid.uuid4().hex}.jpg") if make else test_image
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(image)), age, sex, site, api_name="/analyze")
    message = str(info.value)
    assert reason in message
    assert "Traceback" not in message and "File \"" not in message
    assert _healthy(live_server)["status"] == "ok"
    assert reason not in live_server.log_text()  # the error echoes input: never logged
    assert not any(image.name in str(p) for p in live_server.private_dir.rglob("*"))


def test_missing_image_gets_a_readable_error(client: Client, live_server: LiveServer) -> None:
    with pytest.raises(AppError, match="no image: upload a dermoscopy image"):
        client.predict(None, 40, "male", "torso", api_name="/analyze")
    assert _healthy(live_server)["status"] == "ok"


def test_odd_but_valid_input_works(client: Client, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (90, 120, 4), dtype=np.uint8)
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    result = client.predict(handle_file(str(path)), None, "unknown", "unknown",
                            api_name="/analyze")[0]
    assert 0.0 <= result["probability"] <= 1.0
    assert result["metadata"] == {"age": None, "sex": "unknown", "site": "unknown"}


@pytest.mark.parametrize(("sex", "site", "expected"), [
    ("M", "chest", ("male", "anterior torso")),
    ("Female", "back", ("female", "posterior torso")),
    ("f", "Trunk", ("female", "torso")),
    ("unknown", "acral", ("unknown", "palms/soles")),
])
def test_the_readers_synonyms_are_accepted(client: Client, test_image: Path, sex: str,
                                           site: str, expected: tuple[str, str]) -> None:
    """The API takes what the dataset readers map (HAM10000's own sites), canonicalised."""
    result = client.predict(handle_file(str(test_image)), 50, sex, site,
                            api_name="/analyze")[0]
    assert (result["metadata"]["sex"], result["metadata"]["site"]) == expected


def test_the_sex_error_names_the_accepted_values(client: Client, test_image: Path) -> None:
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(test_image)), 50, "other", "torso", api_name="/analyze")
    message = str(info.value)
    assert "male (or m), female (or f), or unknown" in message
    assert "missing marker" not in message


@pytest.mark.parametrize(("kwargs", "threshold", "name", "sensitivity", "specificity",
                          "flagged"), [
    ({}, 0.3, "sensitivity_target", 0.75, 0.5, 0.6),  # the bundle's default
    ({"threshold": 0.5}, 0.5, "custom", 0.5, 5 / 6, 0.3),
    # A preset's threshold is that preset, by the name the UI's menu shows.
    ({"threshold": 0.2}, 0.2, "sensitivity_0.8", 1.0, 2 / 6, 0.8),
    ({"target_sensitivity": 1.0}, 0.2, "sensitivity_1", 1.0, 2 / 6, 0.8),
    ({"threshold": 0.9, "target_sensitivity": 0.75}, 0.35, "sensitivity_0.75", 0.75, 4 / 6,
     0.5),  # a target wins over a threshold
])
def test_analyze_decides_at_the_requested_operating_point(
        client: Client, test_image: Path, kwargs: dict, threshold: float, name: str,
        sensitivity: float, specificity: float, flagged: float) -> None:
    """Figures come from the bundle's stored validation curve (see CURVE_* in conftest)."""
    result = client.predict(handle_file(str(test_image)), *METADATA, **kwargs,
                            api_name="/analyze")[0]
    assert result["threshold"] == pytest.approx(threshold)
    assert result["threshold_name"] == name
    assert result["decision"] == ("above threshold" if result["probability"] >= threshold
                                  else "below threshold")
    op = result["operating_point"]
    assert (op["sensitivity"], op["specificity"], op["flagged"]) == pytest.approx(
        (sensitivity, specificity, flagged), abs=1e-6)
    assert (op["n"], op["n_pos"]) == (10, 4)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"threshold": 1.5}, "threshold 1.5 is outside 0..1"),
    ({"target_sensitivity": "most"}, "target sensitivity 'most' is not a number"),
    ({"target_sensitivity": 0}, "target sensitivity must be above 0"),
])
def test_bad_operating_point_gets_a_readable_error(client: Client, live_server: LiveServer,
                                                  tmp_path: Path, test_image: Path,
                                                  kwargs: dict, reason: str) -> None:
    image = tmp_path / f"op-{uuid.uuid4().hex}.jpg"
    image.write_bytes(test_image.read_bytes())
    with pytest.raises(AppError, match=reason):
        client.predict(handle_file(str(image)), *METADATA, **kwargs, api_name="/analyze")
    assert _healthy(live_server)["status"] == "ok"
    assert not any(image.name in str(p) for p in live_server.private_dir.rglob("*"))


def test_a_single_bundle_has_no_other_heatmap_member(client: Client, test_image: Path,
                                                     tiny_bundle: Path) -> None:
    from models.bundle.io import load_bundle

    bundle_id = load_bundle(tiny_bundle).bundle_id
    result = client.predict(handle_file(str(test_image)), *METADATA, heatmap_member=bundle_id,
                            api_name="/analyze")[0]
    assert result["heatmap_member"] == bundle_id
    with pytest.raises(AppError, match="heatmap_member 'other': this model is a single bundle"):
        client.predict(handle_file(str(test_image)), *METADATA, heatmap_member="other",
                       api_name="/analyze")


def test_unknown_report_token_is_not_found(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/report/not-a-token", timeout=10.0)
    assert response.status_code == 404
    assert "served once" in response.text


def test_oversized_upload_is_refused(live_server: LiveServer, tmp_path: Path) -> None:
    # The session server runs with the default 20 MB limit: send 21 MB of noise.
    big = tmp_path / "big.bin"
    big.write_bytes(np.random.default_rng(0).bytes(21 * 1024 * 1024))
    with open(big, "rb") as fh:
        response = httpx.post(f"{live_server.url}/gradio_api/upload",
                              files={"files": ("big.png", fh, "image/png")}, timeout=60.0)
    assert response.status_code == 413
    assert "maximum allowed size" in response.text
    assert not any(p.stat().st_size > 20 * 1024 * 1024
                   for p in live_server.private_dir.rglob("*") if p.is_file())
    assert _healthy(live_server)["status"] == "ok"


def _raw_upload(http: httpx.Client, url: str, name: str, data: bytes) -> str:
    response = http.post(f"{url}/gradio_api/upload", files={"files": (name, data)})
    response.raise_for_status()
    return response.json()[0]


def _raw_analyze(http: httpx.Client, url: str, server_path: str) -> str:
    """/analyze over the raw HTTP API on an already uploaded file; the event stream's text."""
    config = http.get(f"{url}/config").json()
    n_inputs = next(len(d["inputs"]) for d in config["dependencies"]
                    if d.get("api_name") == "analyze")
    data = [{"path": server_path, "meta": {"_type": "gradio.FileData"}}, *METADATA]
    data += [None] * (n_inputs - len(data))
    event = http.post(f"{url}/gradio_api/call/analyze", json={"data": data}).json()["event_id"]
    return http.get(f"{url}/gradio_api/call/analyze/{event}").text


def test_two_users_uploading_identical_bytes_are_both_analysed(live_server: LiveServer,
                                                               test_image: Path) -> None:
    """Issue 26: Gradio stores uploads by content hash, so two people sending the same image
    share one file; the first analysis must not delete it under the second. Once both are
    analysed, nothing is left."""
    data = test_image.read_bytes() + uuid.uuid4().bytes  # bytes after the JPEG end: same image
    url = live_server.url
    with httpx.Client(timeout=120.0) as alice, httpx.Client(timeout=120.0) as bob:
        paths = [_raw_upload(user, url, "mole.jpg", data) for user in (alice, bob)]
        assert paths[0] == paths[1]  # one file on the server for both uploads
        first = _raw_analyze(alice, url, paths[0])
        assert Path(paths[0]).exists()  # bob's upload is still to be analysed
        second = _raw_analyze(bob, url, paths[1])
    assert "event: complete" in first, first[:300]
    assert "event: complete" in second, second[:300]
    assert not Path(paths[0]).exists() and not Path(paths[0]).parent.exists()
    assert _healthy(live_server)["status"] == "ok"


def test_refuses_to_start_without_a_bundle(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(app_command("--bundle", str(tmp_path / "nonexistent")),
                          cwd=REPO_ROOT, env=server_env(), capture_output=True, text=True,
                          timeout=120, check=False)
    lines = _output_lines(proc)
    assert proc.returncode != 0
    assert len(lines) == 1, lines
    assert "cannot start" in lines[0] and "does not exist" in lines[0]
    assert time.monotonic() - started < 60


def _output_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """Non-empty output lines, without the allocator's install hint (machines without
    tcmalloc print it once at start-up: configs/process.py)."""
    return [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and "tcmalloc is not installed" not in line]


def test_an_ensemble_is_served_with_every_member_scoring(tiny_bundle: Path, tmp_path: Path,
                                                        test_image: Path,
                                                        engine_cache_dir: Path) -> None:
    """`--bundle <ensemble folder>`: probability and TTA from both members, heatmaps from the
    first, the ensemble's own threshold, members listed in /healthz."""
    from models.bundle.ensemble import save_ensemble
    from models.bundle.io import load_bundle
    from models.inference.engine import Engine
    from tests.app.conftest import build_tiny_bundle

    second = build_tiny_bundle(tmp_path / "second", seed=1)
    members = [load_bundle(tiny_bundle), load_bundle(second)]
    ensemble = save_ensemble(tmp_path / "ens", members, name="pair",
                             thresholds={"sensitivity_target": 0.45}, notes="test")
    server = start_server(ensemble, tmp_path, "--engine-cache-dir", str(engine_cache_dir))
    try:
        health = _healthy(server)
        assert health["members"] == [m.bundle_id for m in members]
        assert health["bundle_id"].startswith("pair-")
        client = Client(server.url, verbose=False, download_files=False)
        result = client.predict(handle_file(str(test_image)), *METADATA,
                                api_name="/analyze")[0]
        # Each caller picks the member drawing the heatmaps (by id or index), per call.
        picked = [client.predict(handle_file(str(test_image)), *METADATA,
                                 heatmap_member=pick, api_name="/analyze")[0]
                  for pick in (members[1].bundle_id, "1")]
        with pytest.raises(AppError, match="heatmap member 'third' is not in this ensemble"):
            client.predict(handle_file(str(test_image)), *METADATA, heatmap_member="third",
                           api_name="/analyze")
        assert _healthy(server)["status"] == "ok"
    finally:
        server.stop()
    engines = [Engine(m, num_threads=1, backend=health["backend"].split(",")[0],
                      cache_dir=engine_cache_dir) for m in members]
    expected = np.mean([e.predict(str(test_image), *METADATA) for e in engines])
    assert result["probability"] == pytest.approx(expected, abs=1e-5)
    assert result["threshold"] == 0.45 and result["threshold_name"] == "sensitivity_target"
    assert result["model"] == health["bundle_id"]
    assert result["cam_layers"] == members[0].info["cam_layers"]
    assert result["heatmap_member"] == members[0].bundle_id
    assert [p["heatmap_member"] for p in picked] == [members[1].bundle_id] * 2
    assert [p["probability"] for p in picked] == pytest.approx([result["probability"]] * 2,
                                                               abs=1e-6)
    views = np.array([v["probability"] for v in result["tta"]])
    assert views[0] == pytest.approx(result["probability"], abs=1e-5)


@pytest.mark.parametrize("content", ["", "{not json", '{"format": "melanoma-bundle"}'],
                         ids=["no-bundle-json", "bad-json", "missing-keys"])
def test_refuses_to_start_with_an_invalid_bundle(tmp_path: Path, content: str,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # In-process (same code path as the subprocess above, without a 10 s interpreter start).
    from app.__main__ import main

    folder = tmp_path / "bundle"
    folder.mkdir()
    if content:
        (folder / "bundle.json").write_text(content)
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)  # main() sets it; restored after
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with caplog.at_level(logging.ERROR):
            code = main(["--bundle", str(folder), "--temp-dir", str(tmp_path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code != 0
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert errors[0].startswith("cannot start: ") and str(folder) in errors[0]
    assert [p for p in tmp_path.iterdir() if p.name.startswith("melanoma-app-")] == []


def test_sigterm_stops_the_server_cleanly(tiny_bundle: Path, engine_cache_dir: Path,
                                          tmp_path: Path, test_image: Path) -> None:
    server = start_server(tiny_bundle, tmp_path, "--engine-cache-dir", str(engine_cache_dir))
    try:
        private = server.private_dir
        client = Client(server.url, verbose=False, download_files=False)
        client.predict(handle_file(str(test_image)), *METADATA, api_name="/analyze")
        started = time.monotonic()
        returncode = server.stop(timeout=15.0)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert returncode == 0, server.log_text()
    assert not private.exists(), "the private upload/output folder was not removed"
    # Generous: the target is < 5 s, but shared CI machines stall; the exit itself is the test.
    assert elapsed < 15.0
    assert not math.isnan(elapsed)


def test_a_diagnosis_bundle_serves_the_differential(tmp_path: Path, test_image: Path,
                                                   engine_cache_dir: Path) -> None:
    """/analyze of a diagnosis bundle: every class's probability (identity view and TTA mean),
    P(melanoma) = P(MEL) decided as for a melanoma model, the whole differential in the label."""
    from models.bundle.io import load_bundle
    from models.inference.engine import Engine
    from tests.app.conftest import DIAGNOSIS_CLASSES, build_tiny_bundle

    folder = build_tiny_bundle(tmp_path / "dx", seed=2, classes=DIAGNOSIS_CLASSES)
    server = start_server(folder, tmp_path, "--engine-cache-dir", str(engine_cache_dir))
    try:
        client = Client(server.url, verbose=False, download_files=False)
        result, _decision, label, summary, *_ = client.predict(
            handle_file(str(test_image)), *METADATA, api_name="/analyze")
        # Issue 27: the heatmaps may explain a class, named in the answer.
        explained = client.predict(handle_file(str(test_image)), *METADATA,
                                   heatmap_method="gradcam", heatmap_class="bcc",
                                   api_name="/analyze")[0]
        decided = client.predict(handle_file(str(test_image)), *METADATA,
                                 heatmap_method="gradcam", api_name="/analyze")[0]
        with pytest.raises(AppError, match="heatmap class 'XYZ' is not one of"):
            client.predict(handle_file(str(test_image)), *METADATA, heatmap_method="gradcam",
                           heatmap_class="XYZ", api_name="/analyze")
        backend = _healthy(server)["backend"]
    finally:
        server.stop()
    assert (result["heatmap_method"], result["heatmap_class"]) == ("eigencam", None)
    assert (explained["heatmap_method"], explained["heatmap_class"]) == ("gradcam", "BCC")
    assert explained["cam_layers"] == result["cam_layers"]
    assert explained["probability"] == pytest.approx(result["probability"], abs=1e-6)
    top = max(decided["classes_tta_mean"], key=decided["classes_tta_mean"].get)
    assert decided["heatmap_class"] == top
    bundle = load_bundle(folder)
    assert list(result["classes"]) == list(DIAGNOSIS_CLASSES)
    assert sum(result["classes"].values()) == pytest.approx(1.0, abs=1e-6)
    assert sum(result["classes_tta_mean"].values()) == pytest.approx(1.0, abs=1e-6)
    assert result["classes"]["MEL"] == pytest.approx(result["probability"], abs=1e-9)
    assert result["classes_tta_mean"]["MEL"] == pytest.approx(result["tta_mean"], abs=1e-9)
    assert result["class_names"]["NV"] == "melanocytic naevus"
    assert result["decision"] == ("above threshold" if result["probability"] >=
                                  result["threshold"] else "below threshold")
    engine = Engine(bundle, num_threads=1, backend=backend, cache_dir=engine_cache_dir)
    expected = engine.analyze(str(test_image), *METADATA, tta=False, cam=False).classes
    assert result["classes"] == pytest.approx(expected, abs=1e-5)
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert len(confidences) == 8
    assert confidences["melanoma"] == pytest.approx(result["probability"])
    assert "**Differential**" in summary and "melanocytic naevus (NV)" in summary
