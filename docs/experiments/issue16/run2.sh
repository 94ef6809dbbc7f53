#!/bin/bash
# Per-resolution: HAM10000 fold 0 with its images shrunk to 84 / 112 px, single view.
. "$(dirname "$0")/paths.sh"  # REPO, DATA_ROOT, RUNS, SCRATCH, PY
cd "$SCRATCH"; OUT=$RUNS
$PY "$REPO/docs/experiments/issue16/res.py" 84 112
for n in 84 112; do for m in default:$REPO/models/default candidate:$OUT/ms-f0-224/bundle; do
  s=$(date +%s)
  $PY -m eval.evaluate --bundle ${m#*:} --data $SCRATCH/ham$n --fold 0 --n-folds 5 --seed 42 --backend onnxruntime --out $OUT/res-$n-${m%%:*} > $OUT/res-$n-${m%%:*}.log 2>&1
  echo "res $n ${m%%:*} rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log
done; done
echo RESDONE >> $OUT/times.log
