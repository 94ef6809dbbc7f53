"""How an entry point's process runs: a fast allocator preloaded, idle OpenMP threads that
sleep where another runtime does the model's work, and a line saying so.

PyTorch on these CPUs page-faults heavily under glibc malloc: with tcmalloc preloaded, batched
evaluation ran 3.5x faster and training steps ~20 % faster (BENCHMARKS.md). A preload must be
in place before the process starts, so each command line entry point calls
:func:`ensure_fast_allocator` first thing: when tcmalloc is installed and not yet loaded, the
process re-executes itself once with it in ``LD_PRELOAD``. ``MELANOMA_ALLOCATOR=system`` turns
this off. Kept free of torch so the re-exec happens before the heavy imports.

The serving commands run the network in OpenVINO's (or ONNX Runtime's) threads, and torch only
for small steps around it (the TTA views, EigenCAM). After each of those steps torch's OpenMP
threads (libgomp) spin, waiting for more work, on the cores the next forward pass needs: on a
2-core Zen 4 the app's 8-view forward took 29 ms instead of the runtime's own 22 ms. With
``OMP_WAIT_POLICY=PASSIVE`` they sleep at once (BENCHMARKS.md, issue 24, session 12). It must be
in the environment before torch loads its OpenMP library, so it is set here too; a policy the
user set is kept. Training keeps libgomp's default, and so does a serving command told to run the
network in torch itself (`--backend eager` or `torchscript`, flag or ``MELANOMA_BACKEND``): there
sleeping threads cost more than they free (eager 8-view analysis 96 -> 113 ms with PASSIVE).
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import sys
from pathlib import Path

from configs.choices import TORCH_BACKENDS

log = logging.getLogger(__name__)

ALLOCATOR_ENV = "MELANOMA_ALLOCATOR"
"""``auto`` (default: tcmalloc when installed) or ``system`` (the C library's malloc)."""
ALLOCATOR_CHOICES = ("auto", "system")
REEXEC_MARK = "MELANOMA_ALLOCATOR_REEXEC"  # set in the re-executed process: never loop
TCMALLOC_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                "/usr/lib", "/usr/local/lib")
INSTALL_HINT = "apt-get install libtcmalloc-minimal4"
ENTRY_POINTS = ("app", "training.pl_train", "training.cv", "training.benchmark", "training.embed",
                "eval.evaluate", "eval.predict", "eval.adapt", "eval.benchmark")
"""The `python -m` commands that run on tcmalloc (everything that runs the model)."""
SERVING_ENTRY_POINTS = ("app", "eval.evaluate", "eval.predict", "eval.benchmark")
"""The commands whose forward pass runs in the inference runtime's threads, not torch's."""
OMP_WAIT_ENV = "OMP_WAIT_POLICY"
SERVING_OMP_WAIT = "PASSIVE"
BACKEND_ENV = "MELANOMA_BACKEND"


def find_tcmalloc() -> str | None:
    """Path of an installed tcmalloc shared library, or None."""
    for folder in LIBRARY_DIRS:
        for name in TCMALLOC_NAMES:
            path = Path(folder) / name
            if path.is_file():
                return str(path)
    found = ctypes.util.find_library("tcmalloc_minimal")
    return found if found and Path(found).is_absolute() else None


def loaded_allocator() -> str:
    """The malloc this process runs on: ``tcmalloc (<library>)`` or ``system``."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = os.environ.get("LD_PRELOAD", "")
    for line in maps.splitlines():
        if "tcmalloc" in line:
            return f"tcmalloc ({Path(line.split()[-1]).name})"
    return "system"


def ensure_fast_allocator() -> None:
    """Re-execute this process once with tcmalloc preloaded, when it is installed and wanted.

    Does nothing when ``MELANOMA_ALLOCATOR=system``, when tcmalloc (or another allocator the
    user preloaded) is already in place, or in the re-executed process itself. Without
    tcmalloc it warns once with the install command and carries on.
    """
    mode = os.environ.get(ALLOCATOR_ENV, "auto").strip().lower() or "auto"
    if mode not in ALLOCATOR_CHOICES:
        log.warning("%s=%r is not one of %s; using 'auto'", ALLOCATOR_ENV, mode,
                    ALLOCATOR_CHOICES)
        mode = "auto"
    preload = os.environ.get("LD_PRELOAD", "")
    if (mode == "system" or os.environ.get(REEXEC_MARK) or "malloc" in preload
            or loaded_allocator() != "system"):
        return
    library = find_tcmalloc()
    if library is None:
        log.warning("tcmalloc is not installed: PyTorch runs up to 3x slower on glibc malloc; "
                    "install it with `%s` (or set %s=system to silence this)", INSTALL_HINT,
                    ALLOCATOR_ENV)
        return
    env = {**os.environ, "LD_PRELOAD": ":".join(p for p in (library, preload) if p),
           REEXEC_MARK: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError as err:  # e.g. a sandbox forbidding exec: run on, just slower
        log.warning("could not restart with tcmalloc preloaded (%s); continuing without it",
                    err)


def running_module() -> str | None:
    """The module this process was started as with ``python -m``, or None."""
    argv = list(getattr(sys, "orig_argv", []))[1:]
    for i, arg in enumerate(argv):
        if arg == "-m" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:]
        if not arg.startswith("-"):
            return None  # a script or `-c` code came first
    return None


def reexec_if_entry_point() -> None:
    """`ensure_fast_allocator` when this process is one of :data:`ENTRY_POINTS`, after
    `quiet_openmp` for the :data:`SERVING_ENTRY_POINTS`.

    Called by the product packages' ``__init__`` before they import torch, so that the
    re-exec costs no second torch import and OpenMP reads the policy when it loads; library
    use (tests, notebooks) is left alone.
    """
    module = running_module()
    if module in SERVING_ENTRY_POINTS:
        quiet_openmp()
    if module in ENTRY_POINTS:
        ensure_fast_allocator()


def quiet_openmp() -> None:
    """Let torch's idle OpenMP threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``) unless the
    user chose a policy or a torch backend; effective only before torch is imported (see the
    module docstring)."""
    if requested_backend() not in TORCH_BACKENDS:
        os.environ.setdefault(OMP_WAIT_ENV, SERVING_OMP_WAIT)


def requested_backend() -> str | None:
    """The ``--backend`` on this process's command line, else ``MELANOMA_BACKEND``, else None.

    Read before the settings are parsed (torch must not be loaded yet); the settings parse
    them again, with their validation.
    """
    argv = list(getattr(sys, "orig_argv", []))
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1].strip().lower()
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1].strip().lower()
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    return value or None


def runtime_summary(torch_threads: int) -> str:
    """One line for the log: allocator, torch threads and cores.

    Args:
        torch_threads: torch's intra-op thread count in this process.

    Returns:
        e.g. ``allocator tcmalloc (libtcmalloc_minimal.so.4), torch threads 2 of 2 cores
        (MELANOMA_ALLOCATOR=auto, OMP_WAIT_POLICY=PASSIVE)``.
    """
    return (f"allocator {loaded_allocator()}, torch threads {torch_threads} of "
            f"{os.cpu_count()} cores ({ALLOCATOR_ENV}="
            f"{os.environ.get(ALLOCATOR_ENV, 'auto')}, {OMP_WAIT_ENV}="
            f"{os.environ.get(OMP_WAIT_ENV, 'unset')})")
