#!/bin/bash
# Session C: HAM10000 held out (LOSO), then per-resolution evals (run2.sh).
. "$(dirname "$0")/paths.sh"  # REPO, DATA_ROOT, RUNS, SCRATCH, PY
cd "$SCRATCH"
D=$DATA_ROOT
OUT=$RUNS
COMMON="--backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --sampler weighted --aug-downscale-prob 0.3 --aug-downscale-min 64 --data-dir $D/ham10000 --data-dir $D/isic2019_84px --exclude-data-dir $D/isic2017_train --num-workers 0 --output-dir $OUT --keep-checkpoints 0 --meta-mask-prob 0.0"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
t loso-HAM10000 $PY -m training.pl_train --run-name loso-HAM10000 $COMMON --image-size 96 --epochs 2 --val-source HAM10000
bash "$REPO/docs/experiments/issue16/run2.sh"
