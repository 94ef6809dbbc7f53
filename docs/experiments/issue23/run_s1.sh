#!/bin/bash
# Issue 23, session 1: selection split (train HAM10000 minus fold 0 + MSK + ISIC archive; validate on BCN;
# ISIC 2017 train and HAM fold 0 held out). Runs one after another; each gets the whole machine.
cd /work/wt23
D=/work/shared/data; PY=/work/main/.venv/bin/python; OUT=/work/runs/sel
COMMON="--backbone tf_efficientnet_lite0 --pretrained auto --image-size 128 --epochs 15 --color-constancy shades_of_gray --aug-downscale-prob 0.3 --aug-downscale-min 64 --data-dir $D/ham10000 --data-dir $D/isic2019_84px --exclude-data-dir $D/isic2017_train --exclude-data-dir $OUT/ham_f0 --val-source BCN --monitor auroc --num-workers 0 --output-dir $OUT --keep-checkpoints 1"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
ev() { local run=$1; local B=$OUT/$run/bundle
  t eval-$run-ham $PY -m eval.evaluate --bundle $B --data $OUT/ham_f0 --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/ham_f0
  t eval-$run-isic2017 $PY -m eval.evaluate --bundle $B --data $D/isic2017_train --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/isic2017
  t eval-$run-bcn $PY -m eval.evaluate --bundle $B --data $OUT/bcn --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/bcn
}
t s1-mel $PY -m training.pl_train --run-name s1-mel $COMMON --sampler weighted
ev s1-mel
t s1-dx $PY -m training.pl_train --run-name s1-dx $COMMON --sampler weighted --task diagnosis
ev s1-dx
echo ALLDONE >> $OUT/times.log
