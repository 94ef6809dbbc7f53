#!/bin/bash
# Issue 24: the Analyze click's blanking step in the browser (a `js=` step) against the server
# round trip it replaces. The same app, backend `auto`, from two trees one after the other:
# BEFORE (a worktree at the commit before the change) and AFTER (this tree); eval.benchmark
# times click-to-result in chromium (20 clicks on the first example) and the HTTP round trips.
# Whole machine. Usage: BEFORE=/work/wt-before bash docs/experiments/issue24/browser_clear.sh
set -uo pipefail
AFTER=${AFTER:-/work/main}; BEFORE=${BEFORE:?a worktree at the commit before the change}
PY=${PY:-/work/main/.venv/bin/python}; OUT=${OUT:-/work/runs/speed24}; PORT=${PORT:-7861}
export LD_PRELOAD=${LD_PRELOAD:-/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4}
mkdir -p "$OUT"
echo "=== $(date -u)  $(lscpu | sed -n 's/Model name: *//p')" | tee -a $OUT/browser-clear.txt
for round in 1 2; do
  for tree in "$BEFORE" "$AFTER"; do
    tag=$(basename $tree)-r$round
    (cd $tree && PYTHONPATH=. MELANOMA_PORT=$PORT $PY -m app > $OUT/app-$tag.log 2>&1) &
    app=$!
    for _ in $(seq 120); do curl -fs http://127.0.0.1:$PORT/healthz > /dev/null && break; sleep 1; done
    (cd $tree && PYTHONPATH=. $PY -m eval.benchmark --n 5 --server-url http://127.0.0.1:$PORT/ \
        --server-calls 20 --browser --browser-reps 20 --json-out $OUT/browser-$tag.json \
        > $OUT/browser-$tag.txt 2>&1)
    pkill -f "python -m app" ; wait $app 2>/dev/null
    echo "$tag ($(cd $tree && git rev-parse --short HEAD)$(cd $tree && git diff --quiet -- app || echo +changes)):" | tee -a $OUT/browser-clear.txt
    grep -iE "browser|raw HTTP|gradio_client" $OUT/browser-$tag.txt | grep -v httpx | tee -a $OUT/browser-clear.txt
  done
done
