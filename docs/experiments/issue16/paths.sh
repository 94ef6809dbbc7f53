# Paths shared by the issue 16 scripts (source it; override any of them from the environment):
# the repository, the shared data, the run folder, scratch space and the Python to run.
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
DATA_ROOT=${DATA_ROOT:-$REPO/../shared/data}
RUNS=${RUNS:-$REPO/../runs/issue16}
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}/issue16}
PY=${PY:-$REPO/.venv/bin/python}
mkdir -p "$RUNS" "$SCRATCH"
