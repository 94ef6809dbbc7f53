#!/bin/bash
# Issue 23, session 7: the final recipe on everything. s3-nosampler (Lite0, 128 px, Shades of Gray,
# downscale augmentation, melanoma target, focal loss, no sampler), 6 fixed epochs, no early
# stopping, the LAST epoch exported. Data: HAM10000 + ISIC 2019 at 84 px (BCN, MSK, archive) +
# ISIC 2017 train (kept once, at its higher resolution, where it is also in ISIC 2019).
# Three members differ by --seed (init, order, augmentation) and share --fold-seed 42, so all
# hold out the same grouped fold 0 (20 %): the ensemble and each member are compared there,
# paired, on images none of them trained on. Run from a worktree at a fixed commit; one job at a
# time, whole machine.
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
OUT=${RUNS:-/work/runs/final}; EPOCHS=${EPOCHS:-6}; mkdir -p $OUT
BASE="--pretrained auto --image-size 128 --epochs $EPOCHS --early-stopping-patience 0 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data $D/ham10000 --data $D/isic2019_84px --data $D/isic2017_train --monitor auroc --num-workers 0 --output-dir $OUT --keep-checkpoints 1 --sampler none --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --fold-seed 42"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
member() { local name=$1; shift
  t $name $PY -m training.pl_train --run-name $name $BASE "$@"
  cp $OUT/$name/metrics.csv $OUT/$name/metrics-train.csv
  cp $OUT/$name/val_predictions.csv $OUT/$name/val_predictions-best-epoch.csv
  t export-$name $PY -m training.pl_train --run-name $name $BASE "$@" \
    --export-checkpoint $OUT/$name/checkpoints/last.ckpt
}
echo "=== session 7 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $OUT/times.log
for seed in ${SEEDS:-1 2 3}; do member final-s$seed --seed $seed; done
echo ALLDONE-S6 >> $OUT/times.log
