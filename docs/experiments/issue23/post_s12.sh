#!/bin/bash
# Issue 23, session 12: session 12's candidates (8-view TTA, OpenVINO bf16, what `auto` serves
# when the gate passes) paired against the shipped soup at fp32 (what `auto` serves for it):
# BCN and MSK + archive from ship_s11.sh's uncalibrated fp32 scoring (AUROC does not change
# under its monotone calibration), HAM10000 fold 0 and ISIC 2017 from its gate's fp32 run.
L=${RUNS:-/work/runs/s12}; S11=/work/runs/s11; PY=${PY:-/work/main/.venv/bin/python}
declare -A SHIP=([bcn]=$S11/eval/ship-uncal-fp32/bcn [msk]=$S11/eval/ship-uncal-fp32/msk
  [ham_f0]=$S11/gate-ship/ham_f0-fp32 [isic2017]=$S11/gate-ship/isic2017-fp32)
for n in "$@"; do for s in bcn msk ham_f0 isic2017; do
  [ -f $L/eval/$n/$s/predictions.csv ] || continue
  $PY -m eval.compare --baseline ${SHIP[$s]}/predictions.csv --candidate $L/eval/$n/$s/predictions.csv \
    > $L/eval/compare-ship-vs-$n-$s.txt 2>&1
  echo "$n $s $(grep '│ auroc' $L/eval/compare-ship-vs-$n-$s.txt)"; done; done
