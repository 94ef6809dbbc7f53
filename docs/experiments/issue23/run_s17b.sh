#!/bin/bash
# Issue 23, session 17 (b): does the shipped recipe (msx-160) gain from longer training? Both
# msx seeds still improved their validation AUROC in the last of 6 epochs, so this is
# msx-160's command (seed 43) with --epochs 8 (the cosine schedule stretches with it; one
# change). Scored with 8-view TTA on ISIC 2017 (unseen) and HAM10000 fold 0, paired against
# msx-160 (the new default's weights, same seed). First (3 min), issue 23 step 2 on the new
# default: AdaBN, msx-160's BatchNorm statistics re-estimated on ISIC 2017's images (unlabelled),
# scored on ISIC 2017 and paired against msx-160.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s17}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
E_DEFAULT=/work/runs/s16/eval/msx-160   # the new default (msx-160, uncalibrated) scored the same way
echo "=== session 17b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
t adapt-msx-160-isic2017 $PY -m eval.adapt --bundle /work/runs/s16/msx-160/bundle \
  --images $D/isic2017_train/ISIC-2017_Training_Data --out $L/msx-160-adabn-isic2017
score msx-160-adabn-isic2017 $L/msx-160-adabn-isic2017 isic2017
t msx-160-e8 $PY -m training.pl_train $MSX --seed 43 --epochs 8 --output-dir $L --run-name msx-160-e8
score msx-160-e8 $L/msx-160-e8/bundle isic2017 ham_f0
echo ALLDONE-S17B >> $L/times.log
