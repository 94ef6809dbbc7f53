#!/bin/bash
# Issue 24, what the browser user waits for: the app on today's default runtime (ONNX Runtime
# fp32) and on `auto` (OpenVINO bf16 here), each timed by eval.benchmark against the running
# server: click-to-result in chromium (20 clicks on the first example), /analyze over raw HTTP
# and gradio_client (20 calls). Whole machine; called by speed.sh.
set -uo pipefail
cd "${WT:-/work/main}"
export PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; OUT=${OUT:-/work/runs/speed24}; PORT=${PORT:-7861}
mkdir -p "$OUT"
for bp in "onnxruntime fp32" "auto auto"; do
  set -- $bp; b=$1; p=$2
  MELANOMA_BACKEND=$b MELANOMA_PRECISION=$p MELANOMA_PORT=$PORT $PY -m app > $OUT/app-$b.log 2>&1 &
  app=$!
  for _ in $(seq 120); do curl -fs http://127.0.0.1:$PORT/healthz > $OUT/healthz-$b.json && break; sleep 1; done
  $PY -m eval.benchmark --n 5 --backend $b --precision $p --server-url http://127.0.0.1:$PORT/ \
      --server-calls 20 --browser --browser-reps 20 --json-out $OUT/browser-$b.json \
      > $OUT/browser-$b.txt 2>&1
  kill $app; wait $app 2>/dev/null
  echo "app $b: $(cat $OUT/healthz-$b.json)" | tee -a $OUT/log.txt
  grep -v "httpx" $OUT/browser-$b.txt | sed -n '/^bundle /,$p' | tee -a $OUT/log.txt
done
