#!/bin/bash
# Issue 23, session 7, after post_s6.sh: the shipped default on the same held-out sources as the
# LOSO runs (BCN; MSK + ISIC archive), which it never trained on either (HAM10000 only): the
# recipe against today's model on clinics neither saw, paired. OpenVINO bf16 (the default's
# precision gate passed: AUROC -0.0006 on HAM10000 fold 0), TTA as the bundle's rule says.
cd "${WT:-/work/wt23b}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; L=${LOSO:-/work/runs/loso}
while ! grep -q ALLDONE-S7 $L/times.log 2>/dev/null; do sleep 30; done
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
for run in loso-bcn loso-msk; do
  t eval-default-$run $PY -m eval.evaluate --bundle models/default --data $L/$run-heldout.csv \
    --data-format csv --tta --backend openvino --precision bf16 --num-workers 0 --out $L/eval/default-$run
  $PY -m eval.compare --baseline $L/eval/default-$run/predictions.csv \
    --candidate $L/eval/$run/predictions.csv > $L/compare-default-vs-$run.txt 2>&1
done
echo ALLDONE-POST7 >> $L/times.log
