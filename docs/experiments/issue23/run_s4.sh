#!/bin/bash
# Issue 23, session 4 (prepared in session 3): the recipe of s3-nosampler (Lite0, 128 px, Shades
# of Gray, downscale augmentation, melanoma target, no sampler; checkpoints on bcn_sel), then one
# change each: Lite2 (offline ImageNet weights), and Shades of Gray off on the clean split.
# Run from a worktree at a fixed commit after run_s3.sh's folders exist (make_bcn_halves.py,
# make_ham_f0.py recreate them on a new machine). One job at a time, whole machine.
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}; OUT=${RUNS:-/work/runs/sel}
BASE="--pretrained auto --image-size 128 --epochs 15 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data $D/ham10000 --data $D/isic2019_84px --exclude-data $D/isic2017_train --exclude-data $OUT/ham_f0 --exclude-data $OUT/bcn_test --val-source BCN --monitor auroc --num-workers 0 --output-dir $OUT --keep-checkpoints 1 --sampler none"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
ev() { local run=$1; local B=$OUT/$run/bundle
  for set in bcn_test:$OUT/bcn_test isic2017:$D/isic2017_train ham_f0:$OUT/ham_f0; do
    t eval-$run-${set%%:*} $PY -m eval.evaluate --bundle $B --data ${set#*:} --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/${set%%:*}
  done
}
echo "=== session 4 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $OUT/times.log
t s4-lite2 $PY -m training.pl_train --run-name s4-lite2 $BASE --backbone tf_efficientnet_lite2 --color-constancy shades_of_gray
ev s4-lite2
t s4-nosog $PY -m training.pl_train --run-name s4-nosog $BASE --backbone tf_efficientnet_lite0 --color-constancy none
ev s4-nosog
echo ALLDONE-S4 >> $OUT/times.log
