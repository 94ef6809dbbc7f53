"""What a speed figure was measured on: CPU, cores, torch threads, allocator, load."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from configs.process import loaded_allocator


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
