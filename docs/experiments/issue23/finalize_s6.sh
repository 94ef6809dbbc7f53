#!/bin/bash
# Issue 23, session 7, after post_s6.sh and post_s7.sh: the comparisons, then the shipped bundle.
#   1. each member and the mean ensemble on the shared fold (TTA), paired (eval.compare);
#      per source; the shipped default beside them;
#   2. (by hand, see README) the decision rule of the chosen model from the LOSO runs' TTA
#      predictions on their held-out sources (eval.calibrate --proxy).
# Usage: finalize_s6.sh [INDEX]   (member index 0-2 in metrics.json's order; default: the best
# AUROC on the fold, which favours the member, not the ensemble). Step 2 is run by hand after.
set -uo pipefail
cd "${WT:-/work/main}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; F=${FINAL:-/work/runs/final}; L=${LOSO:-/work/runs/loso}
X=docs/experiments/issue23; R=$F/report; mkdir -p $R
$PY $X/members.py $F/eval/ensemble $F/eval/members > $R/members.txt
for i in 0 1 2; do
  $PY -m eval.compare --baseline $F/eval/members/member$i/predictions.csv \
    --candidate $F/eval/ensemble/predictions.csv > $R/compare-ensemble-vs-member$i.txt 2>&1
done
best=${1:-$($PY -c "
import pandas as pd, sys
from eval.metrics.ranking import auroc
s = {i: auroc(d.label, d.prob) for i in range(3)
     for d in [pd.read_csv('$F/eval/members/member%d/predictions.csv' % i)]}
print(max(s, key=s.get))")}
echo "best member index: $best" | tee $R/best.txt
$PY -m eval.compare --baseline $F/eval/default/predictions.csv \
  --candidate $F/eval/members/member$best/predictions.csv > $R/compare-member$best-vs-default.txt 2>&1
$PY -m eval.compare --baseline $F/eval/default/predictions.csv \
  --candidate $F/eval/ensemble/predictions.csv > $R/compare-ensemble-vs-default.txt 2>&1
$PY $X/per_source.py $F/fold0.csv default=$F/eval/default/predictions.csv \
  member0=$F/eval/members/member0/predictions.csv member1=$F/eval/members/member1/predictions.csv \
  member2=$F/eval/members/member2/predictions.csv ensemble=$F/eval/ensemble/predictions.csv \
  > $R/per_source.txt 2>&1
tail -n +1 $R/*.txt
