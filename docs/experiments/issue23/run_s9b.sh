#!/bin/bash
# Issue 23, session 9 (b): the base recipe retrained with today's code scored 0.7225 on BCN
# against 0.7729 for the shipped predecessor it copies (run_s9.sh). Same command, the
# predecessor's own code (worktree at a3a393e, today's environment): code drift or run-to-run
# variance? (The old CLI names the dataset --data-dir.) Then the base-128 evaluation that
# run_s9.sh's stop cut. Whole machine. Stopped after 3 epochs (README, session 9).
cd "${WT:-/work/wt-a3a}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s9}; mkdir -p $L/eval
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend onnxruntime --num-workers 0 --data /work/runs/sel/bcn --data-format isic2019"
score() { local name=$1 bundle=$2
  (cd /work/wt23 && t eval-$name $PY -m eval.evaluate --bundle $bundle $EV --out $L/eval/$name)
  (cd /work/wt23 && $PY -m eval.compare --baseline $L/eval/pred160/predictions.csv --candidate $L/eval/$name/predictions.csv > $L/compare-pred160-vs-$name.txt 2>&1)
}
echo "=== session 9b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
name=oldcode-160
t $name $PY -m training.pl_train --data-dir $D/ham10000 --backbone tf_efficientnet_lite0 \
  --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --image-size 160 \
  --epochs 8 --num-workers 0 --output-dir $L --run-name $name
score $name $L/$name/bundle
score base-128 $L/base-128/bundle
echo ALLDONE-S9B >> $L/times.log
