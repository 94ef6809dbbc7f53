"""Paths shared by the issue 16 scripts (override any of them from the environment): the
repository, the shared data, the run folder and scratch space, as `paths.sh` sets them."""
import os
from pathlib import Path

REPO = Path(os.environ.get("REPO", Path(__file__).resolve().parents[3]))
DATA_ROOT = Path(os.environ.get("DATA_ROOT", REPO.parent / "shared" / "data"))
RUNS = Path(os.environ.get("RUNS", REPO.parent / "runs" / "issue16"))
SCRATCH = Path(os.environ.get("SCRATCH", Path(os.environ.get("TMPDIR", "/tmp")) / "issue16"))
