#!/bin/bash
# Default bundle on the out-of-source set (ISIC 2019 BCN subsample + MSK + archive, ISIC 2017 out), TTA.
# Paths (override any of them): the repository, the shared data, the run folder, scratch space.
REPO=${REPO:-$(cd "$(dirname "$0")/../../.." && pwd)}
DATA_ROOT=${DATA_ROOT:-$REPO/../shared/data}
RUNS=${RUNS:-$REPO/../runs/issue16}
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}/issue16}
PY=${PY:-$REPO/.venv/bin/python}
mkdir -p "$RUNS" "$SCRATCH"
while pgrep -f run3.sh > /dev/null; do sleep 10; done
cd "$SCRATCH"; OUT=$RUNS
s=$(date +%s); echo "START eval-oos-default $(date -u +%T)" >> $OUT/times.log
$PY -m eval.evaluate --bundle $REPO/models/default --data $OUT/oos --tta --backend onnxruntime --out $OUT/eval-oos-default > $OUT/eval-oos-default.log 2>&1
echo "END eval-oos-default rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log
