#!/bin/bash
# Issue 24, session 11: preprocessing by table lookups (bit-identical) against the per-pixel
# formulas. (1) preprocess_bench.py: per-step medians in one process; (2) eval.evaluate without
# TTA (notta.sh's single-view copy of the bundle, HAM10000 fold 0) and with TTA (600 ISIC 2017
# images), `auto` backend, --num-workers 0 and 2, before (BEFORE tree) and after (this tree)
# alternating; (3) eval.benchmark before/after. Whole machine, one after the other.
set -uo pipefail
cd "${WT:-/work/main}"; AFTER=$PWD; BEFORE=${BEFORE:-/work/wt23}
source docs/experiments/issue24/common.sh; B=$OUT/single-view-bundle; R=$OUT/s11.txt
echo "=== $(date -u)  after $(git rev-parse --short HEAD) before $(git -C $BEFORE rev-parse --short HEAD)  $(lscpu | sed -n 's/Model name: *//p')  $(grep -o -w 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')" | tee -a $R
PYTHONPATH=. $PY docs/experiments/issue24/preprocess_bench.py $D/ham10000/images 300 | tee -a $R
PYTHONPATH=. $PY docs/experiments/issue24/preprocess_bench.py $D/isic2017_train/ISIC-2017_Training_Data 300 | tee -a $R
ls $B/bundle.json $OUT/isic600 >/dev/null || { echo "run notta.sh once first"; exit 1; }
for round in 1 2; do
  for tree in before after; do
    [ $tree = before ] && cd $BEFORE || cd $AFTER
    for w in 0 2; do
      o=$OUT/s11-$tree-notta-w$w; PYTHONPATH=. $PY -m eval.evaluate --bundle $B --data $D/ham10000 --fold 0 \
        --backend auto --num-workers $w --n-boot 0 --no-progress --out $o > $o.log 2>&1
      echo "round $round $tree no TTA ham_f0 workers $w: $(rate $o)" | tee -a $R
      o=$OUT/s11-$tree-tta-w$w; PYTHONPATH=. $PY -m eval.evaluate --bundle $AFTER/models/default --data $OUT/isic600 \
        --tta --backend auto --num-workers $w --n-boot 0 --no-progress --out $o > $o.log 2>&1
      echo "round $round $tree TTA isic600 workers $w: $(rate $o)" | tee -a $R
    done
  done
done
for tree in before after; do
  [ $tree = before ] && cd $BEFORE || cd $AFTER
  echo "eval.benchmark $tree:" | tee -a $R
  PYTHONPATH=. $PY -m eval.benchmark --bundle $AFTER/models/default --n 20 --backend openvino --precision auto 2>&1 | tail -25 | tee -a $R
done
