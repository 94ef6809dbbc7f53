#!/bin/bash
# Issue 24, session 14: the app's engine before (BEFORE: a worktree at bd89c88: dynamic-shape
# OpenVINO graph, per-pixel overlays) and after (this tree: graphs compiled for the engine's
# batch sizes 1 and 8, overlays by table), three rounds alternating, eval.benchmark --n 40 on
# models/default, `auto` (OpenVINO bf16 here); then the overlays alone (overlay_bench.py).
# Whole machine, one after the other. Usage: BEFORE=/work/wt-s13b bash .../bench_s14.sh
set -uo pipefail
cd /work/main; AFTER=$PWD; BEFORE=${BEFORE:?a worktree at the commit before the change}
source docs/experiments/issue24/common.sh; R=$OUT/s14-bench.txt
echo "=== $(machine)  before $(git -C $BEFORE rev-parse --short HEAD)" | tee -a $R
for round in 1 2 3; do for tree in before after; do
  [ $tree = before ] && cd $BEFORE || cd $AFTER
  echo "round $round $tree eval.benchmark auto:" | tee -a $R
  $PY -m eval.benchmark --bundle $AFTER/models/default --n 40 --backend auto 2>&1 \
    | grep -E "engine.analyze|engine.predict|model only|engine stages" | tee -a $R
done; done
cd $AFTER; $PY docs/experiments/issue24/overlay_bench.py 2>&1 | tail -1 | tee -a $R
