#!/bin/bash
# Issue 23, session 8: the default's own recipe step on the leave-BCN-out model. The shipped
# default is a 160-px base fine-tuned 1 epoch at 224 px and weight-averaged with its base
# (WiSE-FT, MODEL_CARD.md). Here: loso-bcn-$BASE_SIZE (run_s8.sh) fine-tuned at 224 px for one
# epoch (the default's LRs), the WiSE-FT soup of base + fine-tune exported, then both scored with
# TTA on all 12,381 BCN images and paired against the default. One job at a time, whole machine.
cd "${WT:-/work/wt23c}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s8}; X=docs/experiments/issue23; B=${BASE_SIZE:-192}
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend onnxruntime --num-workers 0 --data-format csv"
FT="--image-size 224 --epochs 1 --early-stopping-patience 0 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data $D/ham10000 --data $D/isic2019_84px --monitor auroc --num-workers 0 --output-dir $L --keep-checkpoints 1 --sampler none --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --exclude-data $D/isic2017_train --val-source BCN --init-bundle $L/loso-bcn-$B/bundle"
ft=loso-bcn-$B-ft224; wise=loso-bcn-$B-wise224
echo "=== session 8b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
t $ft $PY -m training.pl_train --run-name $ft $FT
t soup-$wise $PY -m training.soup $L/loso-bcn-$B/bundle $L/$ft/checkpoints/last.ckpt --out $L/$wise.ckpt
t export-$wise $PY -m training.pl_train --run-name $wise $FT --export-checkpoint $L/$wise.ckpt
for name in $wise; do
  t eval-$name $PY -m eval.evaluate --bundle $L/$name/bundle --data $L/loso-bcn-$B-heldout.csv $EV --out $L/eval/$name
  $PY -m eval.compare --baseline $L/default-loso-bcn.csv --candidate $L/eval/$name/predictions.csv > $L/compare-default-vs-$name.txt 2>&1
  $PY -m eval.compare --baseline $L/eval/loso-bcn-$B/predictions.csv --candidate $L/eval/$name/predictions.csv > $L/compare-loso-bcn-$B-vs-$name.txt 2>&1
done
echo ALLDONE-S8B >> $L/times.log
