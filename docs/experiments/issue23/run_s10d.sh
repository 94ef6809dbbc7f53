#!/bin/bash
# (session 10d, kept as run: the soup of 2/3 default + 1/3 base-160-w1-wise224, its bf16 gate first)
# soup with 2/3 default + 1/3 base-160-w1-wise224; bf16 gate first, then the 4 sets if it passes
cd /work/wt23
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=/work/shared/data; PY=/work/main/.venv/bin/python; L=/work/runs/s9; E=$L/eval10; N=soup3-default2-wise224
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
FT="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --init-bundle $L/base-160-w1/bundle --image-size 224 --epochs 3 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --meta-mask-prob 0.2 --early-stopping-patience 0 --keep-checkpoints -1 --num-workers 1 --output-dir $L"
echo "=== session 10d $(date)" >> $L/times.log
t soup-$N $PY -m training.soup /work/main/models/default /work/main/models/default $L/base-160-w1-wise224/bundle --out $L/$N.ckpt
t export-$N $PY -m training.pl_train $FT --run-name $N --export-checkpoint $L/$N.ckpt
cd /work/main
t gate-$N env BUNDLE=$L/$N/bundle OUT=/work/runs/gate-$N bash docs/experiments/issue24/precision_gate.sh
cd /work/wt23
declare -A DATA=([ham_f0]="--data $D/ham10000 --fold 0 --n-folds 5 --seed 42"
  [isic2017]="--data $D/isic2017_train" [msk]="--data /work/runs/sel/msk --data-format isic2019"
  [bcn]="--data /work/runs/sel/bcn --data-format isic2019")
for s in msk bcn; do
  t eval-$N-$s $PY -m eval.evaluate --bundle $L/$N/bundle ${DATA[$s]} --tta --backend openvino --precision bf16 --num-workers 0 --out $E/$N/$s
  $PY -m eval.compare --baseline $E/default/$s/predictions.csv --candidate $E/$N/$s/predictions.csv > $E/compare-default-vs-$N-$s.txt 2>&1
done
echo ALLDONE-S10D >> $L/times.log
