#!/bin/bash
# Issue 24, session 13: eval.evaluate with the next batches decoded in a background thread
# (--prefetch, eval.pipeline.prefetch) against decoding between forward passes (--prefetch 0,
# session 11-12's loop), with the runtime on 2 threads (the default) and on 1 (--num-threads 1:
# one core forward, the other decoding). Without TTA: notta.sh's single-view copy of the
# default on HAM10000 fold 0 (2,003 images); with TTA: the default on the 600 ISIC 2017 images.
# auto = OpenVINO bf16; no workers (the 2-CPU default). Two rounds, arms alternating; then the
# predictions of each arm against --prefetch 0's (a thread must not change a score). Whole
# machine, one after the other.
set -uo pipefail
cd "${WT:-/work/main}"; source docs/experiments/issue24/common.sh
B=$OUT/single-view-bundle-s13; R=$OUT/s13-prefetch.txt
single_view_bundle "$B"
echo "=== $(machine)" | tee -a $R
declare -A ARM=([loop]="--prefetch 0" [ahead]="--prefetch 2" [ahead-1t]="--prefetch 2 --num-threads 1")
for round in 1 2; do for arm in loop ahead ahead-1t; do
  o=$OUT/s13-notta-$arm-r$round; $PY -m eval.evaluate --bundle $B --data $D/ham10000 --fold 0 \
    ${ARM[$arm]} --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $arm no TTA ham_f0: $(rate $o)" | tee -a $R
  o=$OUT/s13-tta-$arm-r$round; $PY -m eval.evaluate --bundle models/default --data $OUT/isic600 \
    --tta ${ARM[$arm]} --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $arm TTA isic600: $(rate $o)" | tee -a $R
done; done
for k in notta tta; do for arm in ahead ahead-1t; do
  echo "$k $arm vs loop, round 1: $($PY -c "import pandas as pd,sys; a,b=(pd.read_csv(f+'/predictions.csv') for f in sys.argv[1:]); assert (a.image_id==b.image_id).all(); print('max |prob difference|', (a.prob-b.prob).abs().max())" $OUT/s13-$k-loop-r1 $OUT/s13-$k-$arm-r1)" | tee -a $R
done; done
