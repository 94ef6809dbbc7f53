#!/bin/bash
# Issue 23, session 9: which part of the default's chain gives it Barcelona? Session 8 showed that
# neither resolution, WiSE-FT nor the downscale augmentation closes the leave-BCN-out gap
# (0.72 vs the default's 0.781). This scores, on all 12,381 BCN images with TTA:
#  1. the default's predecessor (commit a3a393e, lite0-sog-meta-160-e8: the base of the default's
#     chain, before its 224-px epoch and soup), no training;
#  2. that base recipe retrained with today's code (HAM10000 fold 0 only, 160 px, 8 epochs,
#     no metadata masking, no sampler, best epoch by fold-0 AUROC: MODEL_CARD.md step 1);
#  3. the same at 128 px (one change).
# Each is paired against the default's committed BCN predictions. One job at a time, whole machine.
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s9}; X=docs/experiments/issue23; mkdir -p $L/eval
zcat $X/loso-s7/eval/default-loso-bcn/predictions.csv.gz > $L/default-loso-bcn.csv
$PY $X/make_bcn.py > $L/make_bcn.txt 2>&1   # /work/runs/sel/bcn: BCN as an isic2019-format folder
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend onnxruntime --num-workers 0 --data /work/runs/sel/bcn --data-format isic2019"
score() { local name=$1 bundle=$2
  t eval-$name $PY -m eval.evaluate --bundle $bundle $EV --out $L/eval/$name
  $PY -m eval.compare --baseline $L/default-loso-bcn.csv --candidate $L/eval/$name/predictions.csv > $L/compare-default-vs-$name.txt 2>&1
}
echo "=== session 9 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
# 1. the predecessor, as shipped
mkdir -p $L/pred160
git show a3a393e:models/default/bundle.json > $L/pred160/bundle.json
git show a3a393e:models/default/model.safetensors > $L/pred160/model.safetensors
score pred160 $L/pred160
# 2./3. the base recipe with today's code
B="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --epochs 8 --meta-mask-prob 0 --num-workers 0 --output-dir $L --keep-checkpoints 1"
for s in ${SIZES:-160 128}; do
  name=base-$s
  t $name $PY -m training.pl_train $B --image-size $s --run-name $name
  score $name $L/$name/bundle
  $PY -m eval.compare --baseline $L/eval/pred160/predictions.csv --candidate $L/eval/$name/predictions.csv > $L/compare-pred160-vs-$name.txt 2>&1
done
echo ALLDONE-S9 >> $L/times.log
