#!/bin/bash
# Issue 24, session 13: the app's engine with OpenVINO graphs compiled for its two batch sizes
# (1 and the 8 TTA views, models.inference.engine.STATIC_BATCHES) beside the dynamic one,
# against the dynamic graph alone (BEFORE: a worktree at the commit before the change). Two
# rounds alternating, both on this tree's models/default, `auto` (OpenVINO bf16 here):
# eval.benchmark (full analysis, engine.predict, the single forward at batch 1), then the
# engine's start-up (ONNX graph cached, so the time is OpenVINO's compiling), 3 starts each.
# Whole machine, one after the other. Usage: BEFORE=/work/wt-s13b bash .../static_s13.sh
set -uo pipefail
cd /work/main; AFTER=$PWD; BEFORE=${BEFORE:?a worktree at the commit before the change}
source docs/experiments/issue24/common.sh; R=$OUT/s13-static.txt; CACHE=$OUT/engine-cache-s13
echo "=== $(machine)  before $(git -C $BEFORE rev-parse --short HEAD)" | tee -a $R
for round in 1 2; do for tree in before after; do
  [ $tree = before ] && cd $BEFORE || cd $AFTER
  echo "round $round $tree eval.benchmark auto:" | tee -a $R
  $PY -m eval.benchmark --bundle $AFTER/models/default --n 20 --backend auto 2>&1 \
    | grep -E "engine.analyze|engine.predict|model only|engine stages" | tee -a $R
done; done
for tree in warm-up before after before after before after; do  # warm-up: exports the graph
  [ $tree = before ] && cd $BEFORE || cd $AFTER
  echo "$tree engine start: $($PY -c "
import sys, time
from models.inference.engine import Engine
t = time.perf_counter()
e = Engine.from_path(sys.argv[1], backend='openvino', precision='auto', cache_dir=sys.argv[2])
print(f'{time.perf_counter() - t:.2f} s', e.precision)" $AFTER/models/default $CACHE 2>&1 | tail -1)" | tee -a $R
done
