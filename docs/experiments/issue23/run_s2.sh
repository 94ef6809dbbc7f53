#!/bin/bash
# Issue 23, session 2: AdaBN on s1-mel (BCN, ISIC 2017), then s2-dx (diagnosis targets, full
# cosine schedule) and s2-nosog (s1-mel without Shades of Gray). One after another, whole machine.
cd /work/wt23
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=/work/shared/data; PY=/work/main/.venv/bin/python; OUT=/work/runs/sel
BASE="--backbone tf_efficientnet_lite0 --pretrained auto --image-size 128 --epochs 15 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data-dir $D/ham10000 --data-dir $D/isic2019_84px --exclude-data-dir $D/isic2017_train --exclude-data-dir $OUT/ham_f0 --val-source BCN --monitor auroc --num-workers 0 --output-dir $OUT --keep-checkpoints 1 --sampler weighted"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
ev() { local run=$1; local B=$OUT/$run/bundle
  t eval-$run-ham $PY -m eval.evaluate --bundle $B --data $OUT/ham_f0 --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/ham_f0
  t eval-$run-isic2017 $PY -m eval.evaluate --bundle $B --data $D/isic2017_train --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/isic2017
  t eval-$run-bcn $PY -m eval.evaluate --bundle $B --data $OUT/bcn --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/bcn
}
# AdaBN: statistics from (up to 4,000 of) the target clinic's own unlabelled images, then scored there.
t adabn-bcn $PY $OUT/adabn.py $OUT/s1-mel/bundle $OUT/bcn $OUT/s1-mel-adabn-bcn/bundle --max-images 4000
t eval-adabn-bcn $PY -m eval.evaluate --bundle $OUT/s1-mel-adabn-bcn/bundle --data $OUT/bcn --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/s1-mel-adabn-bcn/bcn
t adabn-isic2017 $PY $OUT/adabn.py $OUT/s1-mel/bundle $D/isic2017_train $OUT/s1-mel-adabn-isic2017/bundle --max-images 4000
t eval-adabn-isic2017 $PY -m eval.evaluate --bundle $OUT/s1-mel-adabn-isic2017/bundle --data $D/isic2017_train --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/s1-mel-adabn-isic2017/isic2017
t s2-dx $PY -m training.pl_train --run-name s2-dx $BASE --color-constancy shades_of_gray --task diagnosis --early-stopping-patience 0
ev s2-dx
t s2-nosog $PY -m training.pl_train --run-name s2-nosog $BASE --color-constancy none
ev s2-nosog
echo ALLDONE-S2 >> $OUT/times.log
