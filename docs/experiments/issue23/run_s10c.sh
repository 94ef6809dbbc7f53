#!/bin/bash
# Issue 23, session 10 (c): the uniform soup of the shipped default and base-160-w1-wise224
# (run_s10b.sh). Both are 224-px WiSE-FT models of one recipe from the same start (ImageNet
# Lite0, seed 42: same head initialisation), which is the regime where model soups work; their
# prediction mean was better than the default on BCN and MSK (s10/), at 2x the cost; a soup
# costs one model. Exported with the same flags as the fine-tune (thresholds on its fold-0
# predictions), then the four sets with TTA, paired against the default.
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s9}; E=$L/eval10
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend openvino --precision bf16 --num-workers 0"
declare -A DATA=([ham_f0]="--data $D/ham10000 --fold 0 --n-folds 5 --seed 42"
  [isic2017]="--data $D/isic2017_train" [msk]="--data /work/runs/sel/msk --data-format isic2019"
  [bcn]="--data /work/runs/sel/bcn --data-format isic2019")
base=base-160-w1; soup=soup-default-$base-wise224
FT="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --init-bundle $L/$base/bundle --image-size 224 --epochs 3 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --meta-mask-prob 0.2 --early-stopping-patience 0 --keep-checkpoints -1 --num-workers 1 --output-dir $L"
echo "=== session 10c $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
t soup-$soup $PY -m training.soup models/default $L/$base-wise224/bundle --out $L/$soup.ckpt
t export-$soup $PY -m training.pl_train $FT --run-name $soup --export-checkpoint $L/$soup.ckpt
for s in bcn ham_f0 isic2017 msk; do
  t eval-$soup-$s $PY -m eval.evaluate --bundle $L/$soup/bundle ${DATA[$s]} $EV --out $E/$soup/$s
  $PY -m eval.compare --baseline $E/default/$s/predictions.csv --candidate $E/$soup/$s/predictions.csv \
    > $E/compare-default-vs-$soup-$s.txt 2>&1
done
echo ALLDONE-S10C >> $L/times.log
