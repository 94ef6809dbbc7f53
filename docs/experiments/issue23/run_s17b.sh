#!/bin/bash
# Issue 23, session 17 (b): does the shipped recipe (msx-160) gain from longer training? Both
# msx seeds still improved their validation AUROC in the last of 6 epochs, so this is
# msx-160's command (seed 43) with --epochs 8 (the cosine schedule stretches with it; one
# change). Scored with 8-view TTA on ISIC 2017 (unseen) and HAM10000 fold 0, paired against
# msx-160 (the new default's weights, same seed).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s17}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
E_DEFAULT=/work/runs/s16/eval/msx-160   # the new default (msx-160, uncalibrated) scored the same way
echo "=== session 17b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
t msx-160-e8 $PY -m training.pl_train --data $D/ham10000 --data /work/runs/sel/bcn --data /work/runs/sel/msk \
  --data-format ham10000 --data-format isic2019 --data-format isic2019 --exclude-data $D/isic2017_train \
  --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 43 \
  --fold-seed 42 --output-dir $L --pretrained auto --epochs 8 --meta-mask-prob 0 --image-size 160 \
  --num-workers 2 --keep-checkpoints 1 --run-name msx-160-e8
score msx-160-e8 $L/msx-160-e8/bundle isic2017 ham_f0
echo ALLDONE-S17B >> $L/times.log
