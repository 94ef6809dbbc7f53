#!/bin/bash
# Issue 23, session 10: is the HAM10000-only recipe better than the default away from BCN too,
# and how wide is its seed spread at 128 px? (1) session 9's base-128 and base-160-w1 on HAM10000
# fold 0, ISIC 2017 and MSK + archive, paired against the default's predictions on the same
# images; (2) two more seeds of base-128 (same folds: --fold-seed 42), each on all four sets;
# (3) offline mean ensemble of the three 128-px seeds (mean_ens.py), paired against the default.
# A 3 x 128-px ensemble costs about one 224-px forward (3 x (128/224)^2 = 0.98).
cd "${WT:-/work/wt23}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
L=${RUNS:-/work/runs/s9}; E=$L/eval10; mkdir -p $E
X=docs/experiments/issue23
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend onnxruntime --num-workers 0"
declare -A DATA=([ham_f0]="--data $D/ham10000 --fold 0 --n-folds 5 --seed 42"
  [isic2017]="--data $D/isic2017_train" [msk]="--data /work/runs/sel/msk --data-format isic2019"
  [bcn]="--data /work/runs/sel/bcn --data-format isic2019")
declare -A DEF=([ham_f0]=docs/eval/ham10000-fold0 [isic2017]=docs/eval/isic2017
  [msk]=$X/loso-s7/eval/default-loso-msk [bcn]=$X/loso-s7/eval/default-loso-bcn)
for s in "${!DEF[@]}"; do mkdir -p $E/default/$s
  if [ -f ${DEF[$s]}/predictions.csv ]; then cp ${DEF[$s]}/predictions.csv $E/default/$s/
  else zcat ${DEF[$s]}/predictions.csv.gz > $E/default/$s/predictions.csv; fi; done
score() { local name=$1 bundle=$2 set=$3
  t eval-$name-$set $PY -m eval.evaluate --bundle $bundle ${DATA[$set]} $EV --out $E/$name/$set
  $PY -m eval.compare --baseline $E/default/$set/predictions.csv \
    --candidate $E/$name/$set/predictions.csv > $E/compare-default-vs-$name-$set.txt 2>&1
}
echo "=== session 10 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
# session 9's BCN predictions of its runs, into the same layout
for r in base-128 base-160-w1; do mkdir -p $E/$r/bcn; cp $L/eval/$r/predictions.csv $E/$r/bcn/
  $PY -m eval.compare --baseline $E/default/bcn/predictions.csv --candidate $E/$r/bcn/predictions.csv \
    > $E/compare-default-vs-$r-bcn.txt 2>&1; done
for r in base-128 base-160-w1; do for s in ham_f0 isic2017 msk; do score $r $L/$r/bundle $s; done; done
B="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --epochs 8 --meta-mask-prob 0 --num-workers 0 --output-dir $L --keep-checkpoints 1 --image-size 128 --fold-seed 42"
for seed in 1 2; do name=base-128-s$seed
  t $name $PY -m training.pl_train $B --seed $seed --run-name $name
  for s in bcn ham_f0 isic2017 msk; do score $name $L/$name/bundle $s; done
  for s in bcn ham_f0 isic2017 msk; do
    $PY $X/mean_ens.py $E/ens128-$seed/$s $(for k in base-128 $(seq -f base-128-s%g 1 $seed); do echo $E/$k/$s; done) >> $L/times.log
    $PY -m eval.compare --baseline $E/default/$s/predictions.csv --candidate $E/ens128-$seed/$s/predictions.csv \
      > $E/compare-default-vs-ens128-$seed-$s.txt 2>&1; done
done
echo ALLDONE-S10 >> $L/times.log
