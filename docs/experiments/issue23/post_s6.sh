#!/bin/bash
# Issue 23, session 7, after run_s6.sh: the members, their mean ensemble and the shipped model
# on the members' shared validation fold (with TTA; none of them trained on it), then the LOSO
# runs again (run_s5.sh's recipe and commands; session 5's folders were on another machine) with
# TTA predictions on each whole held-out source: the proxies the final model's decision rule is
# fitted on (eval.calibrate --proxy). One job at a time, whole machine.
cd "${WT:-/work/wt23b}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
F=${FINAL:-/work/runs/final}; L=${LOSO:-/work/runs/loso}; X=docs/experiments/issue23
while ! grep -q ALLDONE-S6 $F/times.log 2>/dev/null; do sleep 30; done
mkdir -p $L
t() { local log=$1 name=$2; shift 2; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $log
  "$@" > $(dirname $log)/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $log; }
EV="--tta --backend onnxruntime --num-workers 0 --data-format csv"
M="--bundle $F/final-s1/bundle --bundle $F/final-s2/bundle --bundle $F/final-s3/bundle"
$PY $X/val_csv.py $F/final-s1 $F/final-s2 $F/final-s3 $F/fold0.csv > $F/fold0.txt 2>&1
t $F/times.log eval-ensemble $PY -m eval.evaluate $M --data $F/fold0.csv $EV --out $F/eval/ensemble
t $F/times.log eval-default $PY -m eval.evaluate --bundle models/default --data $F/fold0.csv $EV --out $F/eval/default
echo ALLDONE-POST >> $F/times.log
# LOSO again: run_s5.sh's loso() with the same flags, then TTA on the whole held-out source.
BASE="--pretrained auto --image-size 128 --epochs 6 --early-stopping-patience 0 --aug-downscale-prob 0.3 --aug-downscale-min 64 --data $D/ham10000 --data $D/isic2019_84px --monitor auroc --num-workers 0 --output-dir $L --keep-checkpoints 1 --sampler none --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray"
echo "=== session 7 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
loso() { local name=$1; shift
  t $L/times.log $name $PY -m training.pl_train --run-name $name $BASE "$@"
  cp $L/$name/metrics.csv $L/$name/metrics-train.csv
  t $L/times.log export-$name $PY -m training.pl_train --run-name $name $BASE "$@" \
    --export-checkpoint $L/$name/checkpoints/last.ckpt
  $PY $X/val_csv.py $L/$name $L/$name-heldout.csv > $L/$name-heldout.txt 2>&1
  t $L/times.log eval-$name $PY -m eval.evaluate --bundle $L/$name/bundle --data $L/$name-heldout.csv $EV --out $L/eval/$name
}
loso loso-bcn --exclude-data $D/isic2017_train --val-source BCN
loso loso-msk --val-source MSK,ISIC_archive
loso loso-ham --exclude-data $D/isic2017_train --val-source HAM10000
t $L/times.log loso-summary $PY -m training.loso --runs $L/loso-bcn,$L/loso-msk,$L/loso-ham --out $L/loso_summary.json
echo ALLDONE-S7 >> $L/times.log
