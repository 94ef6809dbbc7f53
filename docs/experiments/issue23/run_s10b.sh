#!/bin/bash
# Issue 23, session 10 (b): the default's finishing chain on base-160-w1 (the 160-px base that
# beat the default on BCN, +0.019, but lost 0.032 on ISIC 2017). Exactly MODEL_CARD.md's steps
# 2-3: fine-tune at 224 px from the base bundle (3-epoch cosine schedule; only epoch 0 is used,
# so the run is stopped once its epoch-0 checkpoint exists), the WiSE-FT soup of base + epoch 0,
# exported (thresholds on its own fold-0 predictions), then all four sets with TTA and paired
# against the default. A 224-px single model: the default's own serving cost.
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
base=base-160-w1; ft=$base-ft224; wise=$base-wise224
FT="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --init-bundle $L/$base/bundle --image-size 224 --epochs 3 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --meta-mask-prob 0.2 --early-stopping-patience 0 --keep-checkpoints -1 --num-workers 1 --output-dir $L"
echo "=== session 10b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
s=$(date +%s); echo "START $ft (stopped after epoch 0) $(date -u +%T)" >> $L/times.log
$PY -m training.pl_train $FT --run-name $ft > $L/$ft.log 2>&1 & pid=$!
while kill -0 $pid 2>/dev/null && ! ls $L/$ft/checkpoints/epoch00-*.ckpt >/dev/null 2>&1; do sleep 5; done
sleep 10; kill $pid 2>/dev/null; wait $pid
echo "END $ft $(( $(date +%s) - s )) s $(ls $L/$ft/checkpoints/)" >> $L/times.log
t soup-$wise $PY -m training.soup $L/$base/bundle $(ls $L/$ft/checkpoints/epoch00-*.ckpt) --out $L/$wise.ckpt
t export-$wise $PY -m training.pl_train $FT --run-name $wise --export-checkpoint $L/$wise.ckpt
for s in bcn ham_f0 isic2017 msk; do
  t eval-$wise-$s $PY -m eval.evaluate --bundle $L/$wise/bundle ${DATA[$s]} $EV --out $E/$wise/$s
  $PY -m eval.compare --baseline $E/default/$s/predictions.csv --candidate $E/$wise/$s/predictions.csv \
    > $E/compare-default-vs-$wise-$s.txt 2>&1
  $PY -m eval.compare --baseline $E/$base/$s/predictions.csv --candidate $E/$wise/$s/predictions.csv \
    > $E/compare-$base-vs-$wise-$s.txt 2>&1
done
echo ALLDONE-S10B >> $L/times.log
