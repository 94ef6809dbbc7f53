#!/bin/bash
# Issue 23, session 15 (b): a third seed of the shipped default's recipe (HAM10000 + BCN, 160 px,
# 6 epochs; --seed 44, same folds via --fold-seed 42), scored like run_s15.sh, and the mean
# ensemble of the two multi-source seeds against its best member (ms2-160, the default).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s15}
source docs/experiments/issue23/common.sh
E_DEFAULT=$L/eval/default
echo "=== session 15b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
MS="--data $D/ham10000 --data /work/runs/sel/bcn --data-format ham10000 --data-format isic2019 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 44 --fold-seed 42 --output-dir $L"
t ms3-160 $PY -m training.pl_train $MS --pretrained auto --epochs 6 --meta-mask-prob 0 --image-size 160 --num-workers 2 --keep-checkpoints 1 --run-name ms3-160
score ms3-160 $L/ms3-160/bundle msk isic2017 ham_f0
for s in msk isic2017 ham_f0; do
  $PY docs/experiments/issue23/mean_ens.py $L/eval/ens23/$s $L/eval/ms2-160/$s $L/eval/ms3-160/$s >> $L/prep.log
  for n in ms2-160 ms3-160; do
    $PY -m eval.compare --baseline $L/eval/$n/$s/predictions.csv --candidate $L/eval/ens23/$s/predictions.csv > $L/eval/compare-$n-vs-ens23-$s.txt 2>&1; done
  $PY -m eval.compare --baseline $L/eval/ms2-160/$s/predictions.csv --candidate $L/eval/ms3-160/$s/predictions.csv > $L/eval/compare-ms2-160-vs-ms3-160-$s.txt 2>&1
done
echo ALLDONE-S15B >> $L/times.log
