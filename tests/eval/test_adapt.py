"""eval.adapt (AdaBN): only the backbone's BatchNorm statistics change, to exactly the images'
statistics; the new bundle loads, says what it is, and ensembles/two-stage bundles are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from data.unlabelled import read_unlabelled
from eval.adapt import ADAPTATION_KEY, batchnorm_layers, main
from models.bundle.io import load_bundle


@pytest.fixture()
def images(ham_source: Path, tmp_path: Path) -> Path:
    """12 real (or generated) images, unlabelled, and one broken file."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    for path in sorted((ham_source / "images").glob("*.jpg"))[:12]:
        shutil.copyfile(path, folder / path.name)
    (folder / "broken.jpg").write_text("not an image")
    return folder


def test_only_batchnorm_statistics_change_to_the_images_statistics(bundle64: Path,
                                                                   images: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "adapted"
    assert main(["--bundle", str(bundle64), "--images", str(images), "--out", str(out),
                 "--batch-size", "64"]) == 0
    before = load_file(str(bundle64 / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith(("running_mean", "running_var", "num_batches_tracked"))
                           for k in changed)
    # One batch of every readable image: the first BatchNorm now holds exactly the mean and
    # (unbiased) variance of its input over those images.
    source = load_bundle(bundle64)
    first = batchnorm_layers(source)[0]
    seen: list[torch.Tensor] = []
    handle = first.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].detach()))
    table, _ = read_unlabelled(images)
    readable = [p for p in table["image_path"] if not p.endswith("broken.jpg")]
    x = torch.stack([torch.from_numpy(source.preprocessing.normalize(
        source.preprocessing.model_view(source.preprocessing.load(p)))) for p in readable])
    with torch.no_grad():
        source.model.backbone.eval()(x)
    handle.remove()
    acts = seen[0]
    adapted = load_bundle(out)
    bn = batchnorm_layers(adapted)[0]
    torch.testing.assert_close(bn.running_mean, acts.mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(bn.running_var, acts.var(dim=(0, 2, 3), unbiased=True),
                               atol=1e-4, rtol=1e-3)
    info = json.loads((out / "bundle.json").read_text())
    record = info[ADAPTATION_KEY]
    assert record["n_images"] == len(readable) == 12
    assert record["from_bundle"] == source.bundle_id
    assert adapted.bundle_id != source.bundle_id and "-adabn-" in adapted.bundle_id
    assert info["thresholds"] == source.info["thresholds"]


def test_ensembles_two_stage_and_in_place_writes_are_refused(bundle64: Path, make_bundle,
                                                             images: Path, tmp_path: Path,
                                                             capsys) -> None:
    from models.bundle.ensemble import save_ensemble

    members = [load_bundle(bundle64), load_bundle(make_bundle(seed=1))]
    ensemble = save_ensemble(tmp_path / "ens", members, name="pair")
    cases = [(ensemble, tmp_path / "x", "an ensemble; adapt each member bundle"),
             (bundle64, bundle64, "write the adapted bundle to a new folder")]
    two_stage = tmp_path / "two-stage"
    shutil.copytree(bundle64, two_stage)
    info = json.loads((two_stage / "bundle.json").read_text())
    info["second_stage"] = {"folder": "second_stage"}
    (two_stage / "bundle.json").write_text(json.dumps(info))
    cases.append((two_stage, tmp_path / "y", "a two-stage bundle"))
    for bundle, out, fact in cases:
        assert main(["--bundle", str(bundle), "--images", str(images), "--out", str(out)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and fact in lines[0], lines
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
