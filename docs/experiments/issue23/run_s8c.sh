#!/bin/bash
# Issue 23, session 8 (c): session 7's leave-BCN-out run at 128 px (run_s5.sh's flags, 6 epochs,
# last epoch exported) WITHOUT the downscale augmentation, which no run has ablated. Scored
# with TTA on all 12,381 BCN images and paired against the default's committed predictions
# (loso-s7/eval/default-loso-bcn). One job at a time, whole machine. From run_s8.sh.
cd "${WT:-/work/wt23c}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s8}; X=docs/experiments/issue23; mkdir -p $L/eval
zcat $X/loso-s7/eval/default-loso-bcn/predictions.csv.gz > $L/default-loso-bcn.csv
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend onnxruntime --num-workers 0 --data-format csv"
base() { echo "--pretrained auto --image-size $1 --epochs 6 --early-stopping-patience 0 --aug-downscale-prob 0 --data $D/ham10000 --data $D/isic2019_84px --monitor auroc --num-workers 0 --output-dir $L --keep-checkpoints 1 --sampler none --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --exclude-data $D/isic2017_train --val-source BCN"; }
run() { local size=$1 name=loso-bcn-$1-nodown
  t $name $PY -m training.pl_train --run-name $name $(base $size)
  cp $L/$name/metrics.csv $L/$name/metrics-train.csv
  t export-$name $PY -m training.pl_train --run-name $name $(base $size) --export-checkpoint $L/$name/checkpoints/last.ckpt
  $PY $X/val_csv.py $L/$name $L/$name-heldout.csv > $L/$name-heldout.txt 2>&1
  t eval-$name $PY -m eval.evaluate --bundle $L/$name/bundle --data $L/$name-heldout.csv $EV --out $L/eval/$name
  $PY -m eval.compare --baseline $L/default-loso-bcn.csv --candidate $L/eval/$name/predictions.csv > $L/compare-default-vs-$name.txt 2>&1
}
echo "=== session 8 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
for s in ${SIZES:-128}; do run $s; done
echo ALLDONE-S8C >> $L/times.log
