#!/bin/bash
# Issue 24, session 12: the new default (lite0-sog-meta-224-soup-half, bf16 gate passed, so
# `auto` = OpenVINO bf16) against the soup it replaces (session 11's, gate failed, `auto` =
# OpenVINO fp32; BEFORE tree) and the predecessor (bf16), two rounds alternating: eval.evaluate
# with TTA as the README runs it (600 ISIC 2017 images) and eval.benchmark; then
# static_shape.py (OpenVINO compiled for a static batch against the dynamic graph). Whole
# machine, one after the other.
set -uo pipefail
cd /work/main; source docs/experiments/issue24/common.sh; R=$OUT/s12.txt
declare -A B=([new]=/work/main/models/default [old]=${BEFORE:-/work/wt23}/models/default
  [pred]=/work/runs/s11/predecessor)
echo "=== $(machine)" | tee -a $R
for round in 1 2; do for k in new old pred; do
  o=$OUT/s12-$k-tta-r$round; $PY -m eval.evaluate --bundle ${B[$k]} --data $OUT/isic600 --tta \
    --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $k TTA isic600: $(rate $o)" | tee -a $R; done; done
for k in new old pred; do echo "eval.benchmark $k:" | tee -a $R
  $PY -m eval.benchmark --bundle ${B[$k]} --n 20 --backend openvino --precision auto 2>&1 | tail -9 | tee -a $R; done
$PY docs/experiments/issue24/static_shape.py --bundle models/default --precision bf16 --reps 200 2>&1 | tail -3 | tee -a $R
