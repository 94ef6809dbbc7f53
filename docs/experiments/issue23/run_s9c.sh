#!/bin/bash
# Issue 23, session 9 (c): the predecessor's own code retraced base-160 exactly (same fold-0
# AUROC per epoch), so code drift does not explain 0.7225 against 0.7729 on BCN. The one
# setting that differs from the predecessor's run is --num-workers 1 (augmentation drawn in a
# worker process: another random stream). Today's code with it: does it reproduce the
# predecessor (fold-0 AUROC 0.8997) and its Barcelona score? Then the base-128 evaluation.
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s9}; mkdir -p $L/eval
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend onnxruntime --num-workers 0 --data /work/runs/sel/bcn --data-format isic2019"
score() { local name=$1 bundle=$2
  t eval-$name $PY -m eval.evaluate --bundle $bundle $EV --out $L/eval/$name
  $PY -m eval.compare --baseline $L/eval/pred160/predictions.csv --candidate $L/eval/$name/predictions.csv > $L/compare-pred160-vs-$name.txt 2>&1
}
echo "=== session 9c $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
B="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --epochs 8 --meta-mask-prob 0 --output-dir $L --keep-checkpoints 1"
name=base-160-w1
t $name $PY -m training.pl_train $B --image-size 160 --num-workers 1 --run-name $name
score $name $L/$name/bundle
score base-128 $L/base-128/bundle
echo ALLDONE-S9C >> $L/times.log
