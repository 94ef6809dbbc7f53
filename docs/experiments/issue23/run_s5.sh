#!/bin/bash
# Issue 23, session 6: the leave-one-source-out table of the chosen recipe (s3-nosampler: Lite0,
# 128 px, Shades of Gray, downscale augmentation, melanoma target, focal loss, no sampler) with a
# FIXED number of epochs: no early stopping, and the exported model is the last epoch's (the
# held-out source never chooses anything). Then AdaBN on each held-out source, paired against the
# unadapted model. Run from a worktree at a fixed commit; one job at a time, whole machine.
#
# Data: HAM10000 (200x150) + ISIC 2019 at 84 px. ISIC 2017 train is excluded from the BCN and
# HAM10000 runs (it stays an external check); the MSK+archive run cannot exclude it (its 2,000
# images are most of MSK+archive), so it validates on all 2,894 MSK+archive images at 84 px.
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
OUT=${RUNS:-/work/runs/loso}; SEL=${SEL:-/work/runs/sel}; EPOCHS=${EPOCHS:-6}
BASE="--pretrained auto --image-size 128 --epochs $EPOCHS --early-stopping-patience 0 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data $D/ham10000 --data $D/isic2019_84px --monitor auroc --num-workers 0 --output-dir $OUT --keep-checkpoints 1 --sampler none --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
loso() { local name=$1; shift
  t $name $PY -m training.pl_train --run-name $name $BASE "$@"
  # keep the per-epoch curve and the best-on-held-out predictions (reference only), then export
  # the last epoch: the LOSO figures are the last epoch's.
  cp $OUT/$name/metrics.csv $OUT/$name/metrics-train.csv
  cp $OUT/$name/val_predictions.csv $OUT/$name/val_predictions-best-epoch.csv
  t export-$name $PY -m training.pl_train --run-name $name $BASE "$@" \
    --export-checkpoint $OUT/$name/checkpoints/last.ckpt
}
ev() { t eval-$1-$2 $PY -m eval.evaluate --bundle $3 --data $4 --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$1/$2; }
adabn() { local run=$1 set=$2 data=$3 images=$4
  ev $run $set $OUT/$run/bundle $data
  t adapt-$run-$set $PY -m eval.adapt --bundle $OUT/$run/bundle --images $images --out $OUT/$run-adabn-$set
  ev $run-adabn $set $OUT/$run-adabn-$set $data
  $PY -m eval.compare --baseline $OUT/eval/$run/$set/predictions.csv --candidate $OUT/eval/$run-adabn/$set/predictions.csv > $OUT/compare-adabn-$run-$set.txt 2>&1
}
echo "=== session 6 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $OUT/times.log
loso loso-bcn --exclude-data $D/isic2017_train --val-source BCN
loso loso-msk --val-source MSK,ISIC_archive
loso loso-ham --exclude-data $D/isic2017_train --val-source HAM10000
t loso-summary $PY -m training.loso --runs $OUT/loso-bcn,$OUT/loso-msk,$OUT/loso-ham --out $OUT/loso_summary.json
adabn loso-bcn bcn_test $SEL/bcn_test $SEL/bcn_test/ISIC_2019_Training_Input
adabn loso-ham ham_f0 $SEL/ham_f0 $SEL/ham_f0/images
adabn loso-msk isic2017 $D/isic2017_train $D/isic2017_train/ISIC-2017_Training_Data
ev loso-bcn isic2017 $OUT/loso-bcn/bundle $D/isic2017_train
echo ALLDONE-S5 >> $OUT/times.log
