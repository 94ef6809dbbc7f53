#!/bin/bash
# Issue 23, session 15 (new machine: /work/runs was gone). Rebuilds session 14's lead, the 2 x 160 px
# mean ensemble of base-160-w1 (session 9, HAM10000 only, an ingredient of the default) and
# ms2-160 (session 14, HAM10000 + BCN, seed 43), from scratch with the same commands, and scores
# the default, each member and the ensemble on MSK + ISIC archive, HAM10000 fold 0 and ISIC 2017
# (TTA, OpenVINO bf16; members also at fp32 on the gate's sets, so the ensemble's bf16 gate
# is the members' mean, which is what models.bundle.ensemble's "mean" combiner serves).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s15}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
E_DEFAULT=$L/eval/default
echo "=== session 15 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
for m in make_bcn make_msk make_ham_f0; do $PY docs/experiments/issue23/$m.py >> $L/prep.log 2>&1; done
# the shipped default's TTA predictions: the reference every comparison pairs against
for s in msk ham_f0 isic2017; do
  t eval-default-$s $PY -m eval.evaluate --bundle models/default ${DATA[$s]} $EV --out $E_DEFAULT/$s; done
# (1) base-160-w1, run_s9c.sh's command
B="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --epochs 8 --meta-mask-prob 0 --output-dir $L --keep-checkpoints 1"
t base-160-w1 $PY -m training.pl_train $B --image-size 160 --num-workers 1 --run-name base-160-w1
# (2) ms2-160, run_s14.sh's command
MS="--data $D/ham10000 --data /work/runs/sel/bcn --data-format ham10000 --data-format isic2019 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 43 --fold-seed 42 --output-dir $L"
t ms2-160 $PY -m training.pl_train $MS --pretrained auto --epochs 6 --meta-mask-prob 0 --image-size 160 --num-workers 2 --keep-checkpoints 1 --run-name ms2-160
echo TRAIN-DONE >> $L/times.log
# (3) members: bf16 on the three sets, fp32 on the gate's two
for n in base-160-w1 ms2-160; do
  score $n $L/$n/bundle msk ham_f0 isic2017
  for s in ham_f0 isic2017; do
    t eval-$n-$s-fp32 $PY -m eval.evaluate --bundle $L/$n/bundle ${DATA[$s]} ${EV/bf16/fp32} --out $L/eval/$n-fp32/$s; done
done
# (4) the mean ensemble from the members' predictions, against the default and each member
for s in msk ham_f0 isic2017; do
  $PY docs/experiments/issue23/mean_ens.py $L/eval/ens/$s $L/eval/base-160-w1/$s $L/eval/ms2-160/$s >> $L/prep.log
  $PY -m eval.compare --baseline $E_DEFAULT/$s/predictions.csv --candidate $L/eval/ens/$s/predictions.csv > $L/eval/compare-default-vs-ens-$s.txt 2>&1
  for n in base-160-w1 ms2-160; do
    $PY -m eval.compare --baseline $L/eval/$n/$s/predictions.csv --candidate $L/eval/ens/$s/predictions.csv > $L/eval/compare-$n-vs-ens-$s.txt 2>&1; done
done
for s in ham_f0 isic2017; do
  $PY docs/experiments/issue23/mean_ens.py $L/eval/ens-fp32/$s $L/eval/base-160-w1-fp32/$s $L/eval/ms2-160-fp32/$s >> $L/prep.log
  $PY -m eval.compare --baseline $L/eval/ens-fp32/$s/predictions.csv --candidate $L/eval/ens/$s/predictions.csv > $L/eval/gate-ens-$s.txt 2>&1
done
echo ALLDONE-S15 >> $L/times.log
