"""`--device` of the batch commands: the CPU path is today's, `cuda` without a GPU is one clear
error, and on a GPU (where one is lent) the probabilities agree with the CPU's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from eval.evaluate import main
from eval.pipeline.errors import EvalError
from eval.pipeline.inference import AMP_TOLERANCE, make_forward, predict
from models.bundle.io import load_bundle
from models.inference.runtime import DeviceError, cpu_name, resolve_device

FAST = ["--n-boot", "0", "--no-progress", "--num-workers", "0", "--batch-size", "6",
        "--backend", "eager"]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
GPU = pytest.mark.skipif(not torch.cuda.is_available(),
                         reason="needs a CUDA GPU (run where the device machine is lent)")


@pytest.mark.parametrize(("requested", "available", "expected"), [
    ("cpu", True, "cpu"), ("cpu", False, "cpu"), ("auto", True, "cuda"), ("auto", False, "cpu"),
    ("cuda", True, "cuda")])
def test_resolve_device(monkeypatch, requested, available, expected) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    assert resolve_device(requested) == expected


def test_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="--device cuda: .* sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="expected auto, cpu or cuda"):
        resolve_device("tpu")


def test_cpu_only_backends_are_refused_on_the_gpu(bundle64: Path) -> None:
    with pytest.raises(EvalError, match="--backend onnxruntime runs on the CPU only"):
        make_forward(load_bundle(bundle64), "onnxruntime", "cuda")


@NO_GPU
def test_evaluate_with_cuda_here_exits_2_with_one_line(bundle64, ham_source, tmp_path,
                                                        capsys) -> None:
    out = tmp_path / "out"
    assert main(["--bundle", str(bundle64), "--data", str(ham_source), "--out", str(out),
                 "--device", "cuda", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda: ")
    assert not out.exists()


def test_device_cpu_is_the_default_path_and_is_recorded(bundle64, ham_source, tmp_path,
                                                        monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # auto -> cpu anywhere
    outs = {}
    for device in ("auto", "cpu"):
        outs[device] = tmp_path / device
        assert main(["--bundle", str(bundle64), "--data", str(ham_source), "--out",
                     str(outs[device]), "--device", device, *FAST]) == 0
    auto, cpu = (pd.read_csv(outs[d] / "predictions.csv") for d in ("auto", "cpu"))
    np.testing.assert_array_equal(auto["prob"].to_numpy(), cpu["prob"].to_numpy())
    speed = json.loads((outs["cpu"] / "metrics.json").read_text())["speed"]
    assert speed["device"] == cpu_name() and speed["backend"] == "eager"


@GPU
@pytest.mark.parametrize("amp", [False, True])
def test_gpu_probabilities_agree_with_the_cpu(bundle64, ham_source, amp) -> None:
    from data.readers import read_dataset

    df = read_dataset(ham_source)
    cpu = predict([load_bundle(bundle64)], df, tta=True, batch_size=4, num_workers=0,
                  progress=False, backend="eager")
    gpu = predict([load_bundle(bundle64)], df, tta=True, batch_size=4, num_workers=0,
                  progress=False, backend="eager", device="cuda", amp=amp)
    assert gpu.backend.startswith("eager-cuda")
    tolerance = AMP_TOLERANCE if gpu.backend.endswith("-amp") else 1e-4
    np.testing.assert_allclose(gpu.members[0].views, cpu.members[0].views, atol=tolerance)
