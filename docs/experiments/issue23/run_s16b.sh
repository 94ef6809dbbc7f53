#!/bin/bash
# Issue 23, session 16 (b): the shipped recipe (ms2-160: Lite0, Shades of Gray, 160 px, 6 epochs,
# seed 43, folds per dataset with --fold-seed 42) on every source but ISIC 2017: HAM10000 + BCN +
# MSK and ISIC archive (sel/msk) with --exclude-data isic2017_train, which removes the 1,996
# ISIC 2017 images sel/msk holds at 84 px (and their lesions), so ISIC 2017 stays unseen. Scored
# with 8-view TTA on ISIC 2017 and HAM10000 fold 0, paired against ms2-160 (the default).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s16}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
E_DEFAULT=/work/runs/s15/eval/ms2-160   # the shipped default (ms2-160) scored the same way
echo "=== session 16b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
t msx-160 $PY -m training.pl_train --data $D/ham10000 --data /work/runs/sel/bcn --data /work/runs/sel/msk \
  --data-format ham10000 --data-format isic2019 --data-format isic2019 --exclude-data $D/isic2017_train \
  --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 43 \
  --fold-seed 42 --output-dir $L --pretrained auto --epochs 6 --meta-mask-prob 0 --image-size 160 \
  --num-workers 2 --keep-checkpoints 1 --run-name msx-160
score msx-160 $L/msx-160/bundle isic2017 ham_f0
echo ALLDONE-S16B >> $L/times.log
