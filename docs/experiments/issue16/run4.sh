#!/bin/bash
# Default bundle on the out-of-source set (ISIC 2019 BCN subsample + MSK + archive, ISIC 2017 out), TTA.
. "$(dirname "$0")/paths.sh"  # REPO, DATA_ROOT, RUNS, SCRATCH, PY
while pgrep -f run3.sh > /dev/null; do sleep 10; done
cd "$SCRATCH"; OUT=$RUNS
s=$(date +%s); echo "START eval-oos-default $(date -u +%T)" >> $OUT/times.log
$PY -m eval.evaluate --bundle $REPO/models/default --data $OUT/oos --tta --backend onnxruntime --out $OUT/eval-oos-default > $OUT/eval-oos-default.log 2>&1
echo "END eval-oos-default rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log
