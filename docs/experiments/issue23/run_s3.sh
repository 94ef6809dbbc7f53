#!/bin/bash
# Issue 23, session 3: BCN split by lesion (bcn_sel chooses checkpoints, bcn_test is only tested).
# s3-mel: the s1-mel recipe on that split; s3-nosampler: the same without the weighted sampler.
# One after another, whole machine.
cd /work/wt23
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=/work/shared/data; PY=/work/main/.venv/bin/python; OUT=/work/runs/sel
BASE="--backbone tf_efficientnet_lite0 --pretrained auto --image-size 128 --epochs 15 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data-dir $D/ham10000 --data-dir $D/isic2019_84px --exclude-data-dir $D/isic2017_train --exclude-data-dir $OUT/ham_f0 --exclude-data-dir $OUT/bcn_test --val-source BCN --monitor auroc --num-workers 0 --output-dir $OUT --keep-checkpoints 1 --color-constancy shades_of_gray"
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
ev() { local run=$1; local B=$OUT/$run/bundle
  t eval-$run-bcn_test $PY -m eval.evaluate --bundle $B --data $OUT/bcn_test --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/bcn_test
  t eval-$run-isic2017 $PY -m eval.evaluate --bundle $B --data $D/isic2017_train --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/isic2017
  t eval-$run-ham $PY -m eval.evaluate --bundle $B --data $OUT/ham_f0 --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$run/ham_f0
}
echo "=== session 3 $(date)  wt23 at $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $OUT/times.log
t s3-mel $PY -m training.pl_train --run-name s3-mel $BASE --sampler weighted
ev s3-mel
t s3-nosampler $PY -m training.pl_train --run-name s3-nosampler $BASE --sampler none
ev s3-nosampler
# The earlier runs (checkpoints chosen on all of BCN) on the test half too, for the record.
for r in s1-mel s2-nosog s2-dx; do [ -d $OUT/$r/bundle ] && t eval-$r-bcn_test $PY -m eval.evaluate --bundle $OUT/$r/bundle --data $OUT/bcn_test --tta --backend onnxruntime --num-workers 0 --out $OUT/eval/$r/bcn_test; done
echo ALLDONE-S3 >> $OUT/times.log
