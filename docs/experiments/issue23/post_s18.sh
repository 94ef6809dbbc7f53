#!/bin/bash
# Issue 23, session 18, after run_s18b.sh (main tree, whole machine): where the 4/5/8-epoch and
# EMA runs sit against msx-160's other seed (msx-160-s44, not chosen by any result), the mean
# ensemble of every msx-recipe run at hand against msx-160, and what --exclude-near-copies
# removes from the recipe's data. Writes $L/eval/compare-*.txt and $L/near_copies.{txt,csv}.
cd /work/main; L=/work/runs/s18
source docs/experiments/issue23/common.sh
S16=/work/runs/s16/eval/msx-160; S44=/work/runs/s17/eval/msx-160-s44; E8=/work/runs/s17/eval/msx-160-e8
runs="$L/eval/msx-160-e4 $L/eval/msx-160-e5 $E8 $L/eval/msx-160-ema"
for s in isic2017 ham_f0; do
  for r in $runs; do [ -f $r/$s/predictions.csv ] || continue
    $PY -m eval.compare --baseline $S44/$s/predictions.csv --candidate $r/$s/predictions.csv \
      > $L/eval/compare-msx-160-s44-vs-$(basename $r)-$s.txt 2>&1; done
  members=$(for r in $S16 $S44 $runs; do [ -f $r/$s/predictions.csv ] && echo $r/$s; done)
  $PY docs/experiments/issue23/mean_ens.py $L/eval/ens-all/$s $members
  $PY -m eval.compare --baseline $S16/$s/predictions.csv --candidate $L/eval/ens-all/$s/predictions.csv \
    > $L/eval/compare-msx-160-vs-ens-all-$s.txt 2>&1
done
t near-copies $PY docs/experiments/issue23/near_copies_s18.py $L/near_copies.csv 0.98 0.95 0.93 0.90
cp $L/near-copies.log $L/near_copies.txt
