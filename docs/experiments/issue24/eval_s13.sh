#!/bin/bash
# Issue 24, session 13: eval.evaluate as the README runs it, before (BEFORE: a worktree at the
# commit before this session's changes: decoding between forward passes, dynamic-shape graph)
# and after: with --prefetch 0 (fixed-shape graphs for evaluation's batch only) and with the new
# default (--prefetch 2: the next batches decoded in a background thread, plus the fixed-shape
# graphs). Without TTA: the single-view copy of the default on HAM10000 fold 0 (prefetch_s13.sh
# makes it); with TTA: the default on the 600 ISIC 2017 images. auto = OpenVINO bf16, no
# workers (the 2-CPU default). Two rounds, arms alternating; predictions checked equal to
# before's. Whole machine. Usage: BEFORE=/work/wt-s13b bash .../eval_s13.sh
set -uo pipefail
cd /work/main; AFTER=$PWD; BEFORE=${BEFORE:?a worktree at the commit before the change}
source docs/experiments/issue24/common.sh; B=$OUT/single-view-bundle-s13; R=$OUT/s13-eval.txt
echo "=== $(machine)  before $(git -C $BEFORE rev-parse --short HEAD)" | tee -a $R
declare -A ARM=([before]="" [after-p0]="--prefetch 0" [after]="")
for round in 1 2; do for arm in before after-p0 after; do
  [ $arm = before ] && cd $BEFORE || cd $AFTER
  o=$OUT/s13e-notta-$arm-r$round; $PY -m eval.evaluate --bundle $B --data $D/ham10000 --fold 0 \
    ${ARM[$arm]} --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $arm no TTA ham_f0: $(rate $o)" | tee -a $R
  o=$OUT/s13e-tta-$arm-r$round; $PY -m eval.evaluate --bundle $AFTER/models/default \
    --data $OUT/isic600 --tta ${ARM[$arm]} --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $arm TTA isic600: $(rate $o)" | tee -a $R
done; done
cd $AFTER
for k in notta tta; do for arm in after-p0 after; do
  echo "$k $arm vs before, round 1: $($PY -c "import pandas as pd,sys; a,b=(pd.read_csv(f+'/predictions.csv') for f in sys.argv[1:]); assert (a.image_id==b.image_id).all(); print('max |prob difference|', (a.prob-b.prob).abs().max())" $OUT/s13e-$k-before-r1 $OUT/s13e-$k-$arm-r1)" | tee -a $R
done; done
