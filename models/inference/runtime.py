"""Where the model runs and what a speed figure was measured on: device, CPU, threads, allocator."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from configs.process import loaded_allocator


class DeviceError(ValueError):
    """The device asked for is not available here; the message says what is."""


def resolve_device(requested: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a requested ``auto``/``cpu``/``cuda`` (see `configs.choices`).

    ``auto`` is the GPU when torch sees one; asking for ``cuda`` without one is a DeviceError,
    never a silent fall-back to the CPU.
    """
    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if requested == "cuda":
        if not available:
            raise DeviceError(f"--device cuda: torch {torch.__version__} sees no CUDA GPU on "
                              "this machine (a CPU build of torch, or no driver); use --device "
                              "cpu or auto")
        return "cuda"
    raise DeviceError(f"--device {requested!r}: expected auto, cpu or cuda")


def device_name(device: str) -> str:
    """The GPU's name for ``cuda``, else the CPU model."""
    return torch.cuda.get_device_name(0) if device == "cuda" else cpu_name()


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# OpenVINO runs on oneTBB, whose worker threads do not survive fork(): a plain fork of a process
# holding them crashed the parent now and then (segfault in libc, 2026-12-06, BENCHMARKS.md).
# A forkserver is started by fork+exec, and workers fork from it, a process without oneTBB.
FORK_UNSAFE_MODULES = ("openvino",)
SAFE_START_METHOD = "forkserver"


def worker_start_method(num_workers: int) -> str | None:
    """The DataLoader workers' start method: None (the platform's fork) unless a fork-unsafe
    runtime is loaded in this process and workers are asked for."""
    if num_workers > 0 and any(m in sys.modules for m in FORK_UNSAFE_MODULES):
        return SAFE_START_METHOD
    return None


def machine_info() -> dict[str, Any]:
    """A JSON-serialisable description of this machine for benchmark records.

    Returns:
        cpu, cores, python, torch, torch_threads, allocator_preload, tcmalloc, loadavg_start and
        a one-line summary.
    """
    cpu, cores = cpu_name(), os.cpu_count()
    allocator = loaded_allocator()
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "allocator": allocator, "allocator_preload": os.environ.get("LD_PRELOAD", ""),
            "tcmalloc": allocator.startswith("tcmalloc"),
            "loadavg_start": [round(v, 2) for v in os.getloadavg()],
            "summary": f"{cores} x {cpu}, torch {torch.__version__}, allocator {allocator}"}
