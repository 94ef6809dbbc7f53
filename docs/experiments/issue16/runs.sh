#!/bin/bash
# Issue 16 runs, one after another (each gets the whole machine). Wall times in times.log.
. "$(dirname "$0")/paths.sh"  # REPO, DATA_ROOT, RUNS, SCRATCH, PY
cd "$SCRATCH"
D=$DATA_ROOT
OUT=$RUNS
COMMON="--backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --sampler weighted --aug-downscale-prob 0.3 --aug-downscale-min 64 --data-dir $D/ham10000 --data-dir $D/isic2019_84px --exclude-data-dir $D/isic2017_train --num-workers 0 --output-dir $OUT --keep-checkpoints 0 --meta-mask-prob 0.0"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
# Candidate: fine-tune the shipped default on all sources (HAM fold 0 and ISIC 2017 stay out).
t ms-f0-128 $PY -m training.pl_train --run-name ms-f0-128 $COMMON --init-bundle $REPO/models/default --image-size 128 --epochs 2 --lr-backbone 1e-4 --lr-head 5e-4 --warmup-epochs 0.2 --fold 0
t ms-f0-224 $PY -m training.pl_train --run-name ms-f0-224 $COMMON --init-bundle $OUT/ms-f0-128/bundle --image-size 224 --epochs 1 --limit-train-batches 0.3 --lr-backbone 3e-5 --lr-head 1e-4 --warmup-epochs 0.1 --fold 0
B=$OUT/ms-f0-224/bundle
t eval-ham $PY -m eval.evaluate --bundle $B --data $D/ham10000 --fold 0 --n-folds 5 --seed 42 --tta --backend onnxruntime --out $OUT/eval-ham10000-fold0
t eval-isic2017 $PY -m eval.evaluate --bundle $B --data $D/isic2017_train --tta --backend onnxruntime --out $OUT/eval-isic2017
for set in ham10000-fold0 isic2017; do for col in prob prob_no_tta; do
  $PY -m eval.compare --baseline $REPO/docs/eval/$set/predictions.csv --candidate $OUT/eval-$set/predictions.csv --score-column $col > $OUT/compare-$set-$col.txt 2>&1
done; done
# Leave-one-source-out, ImageNet init, 96 px, 2 epochs.
for src in BCN MSK,ISIC_archive HAM10000; do
  t loso-${src%%,*} $PY -m training.pl_train --run-name loso-${src%%,*} $COMMON --image-size 96 --epochs 2 --val-source $src
done
echo ALLDONE >> $OUT/times.log
