#!/bin/bash
# Issue 23, session 16: the leave-one-source-out table of the shipped recipe (ms2-160: Lite0,
# Shades of Gray, 160 px, 6 epochs, best epoch by pooled validation AUROC, seed 43, folds per
# dataset with --fold-seed 42). Each run trains on 4/5 of two sources (fold 0 of each held out
# for validation, as ms2-160 did) and is scored with 8-view TTA on all of the third, which it
# never saw; ms2-160 itself (HAM10000 + BCN) is the MSK + archive row. ISIC 2017 is unseen by all.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s16}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
E_DEFAULT=/work/runs/s15/eval/ms2-160   # the shipped default (ms2-160) scored the same way
DATA[ham]="--data $D/ham10000"
echo "=== session 16 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
R="--backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 43 --fold-seed 42 --output-dir $L --pretrained auto --epochs 6 --meta-mask-prob 0 --image-size 160 --num-workers 2 --keep-checkpoints 1"
t lo-bcn-160 $PY -m training.pl_train --data $D/ham10000 --data /work/runs/sel/msk --data-format ham10000 --data-format isic2019 $R --run-name lo-bcn-160
score lo-bcn-160 $L/lo-bcn-160/bundle bcn isic2017
t lo-ham-160 $PY -m training.pl_train --data /work/runs/sel/bcn --data /work/runs/sel/msk --data-format isic2019 --data-format isic2019 $R --run-name lo-ham-160
score lo-ham-160 $L/lo-ham-160/bundle ham isic2017
echo ALLDONE-S16 >> $L/times.log
