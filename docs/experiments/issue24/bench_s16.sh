#!/bin/bash
# Issue 24, session 16: every speed target re-measured on the shipped 160-px default as `auto`
# serves it (fp32: it fails the bf16 gate) against the previous 224-px default as `auto` served
# it (bf16), same machine, arms alternating, two rounds: eval.benchmark (single forward, full
# analysis, predict), eval.evaluate with TTA (600 ISIC 2017 images) and without (the single-view
# copy, HAM10000 fold 0, as notta.sh), then the live app (browser click-to-result, raw HTTP,
# gradio_client; browser.sh's way). Whole machine. Usage: bash .../bench_s16.sh
set -uo pipefail
cd /work/main
source docs/experiments/issue24/common.sh; R=$OUT/s16-bench.txt; mkdir -p $OUT/isic600
declare -A B=([new]=models/default [old]=${OLD:-/work/runs/old-default})
head -601 $D/isic2017_train/ISIC-2017_Training_Part3_GroundTruth.csv > $OUT/isic600/ISIC-2017_Training_Part3_GroundTruth.csv
cp $D/isic2017_train/ISIC-2017_Training_Data_metadata.csv $OUT/isic600/
ln -sfn $D/isic2017_train/ISIC-2017_Training_Data $OUT/isic600/ISIC-2017_Training_Data
for arm in new old; do  # single-view copies (no decision rule) for the no-TTA runs
  single_view_bundle $OUT/single-$arm ${B[$arm]}; done
echo "=== $(machine)  new $(jq -r .name models/default/bundle.json 2>/dev/null)" | tee -a $R
for round in 1 2; do for arm in new old; do
  echo "round $round $arm eval.benchmark auto:" | tee -a $R
  $PY -m eval.benchmark --bundle ${B[$arm]} --n 40 --backend auto 2>&1 \
    | grep -E "engine.analyze|engine.predict|model only|engine stages|precision|backend" | tee -a $R
  o=$OUT/s16-notta-$arm-r$round; $PY -m eval.evaluate --bundle $OUT/single-$arm --data $D/ham10000 \
    --fold 0 --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $arm no TTA ham_f0: $(rate $o)" | tee -a $R
  o=$OUT/s16-tta-$arm-r$round; $PY -m eval.evaluate --bundle ${B[$arm]} --data $OUT/isic600 --tta \
    --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $arm TTA isic600: $(rate $o)" | tee -a $R
done; done
PORT=${PORT:-7861}
for round in 1 2; do
  MELANOMA_PORT=$PORT $PY -m app > $OUT/s16-app.log 2>&1 & app=$!
  for _ in $(seq 120); do curl -fs http://127.0.0.1:$PORT/healthz > $OUT/s16-healthz.json && break; sleep 1; done
  $PY -m eval.benchmark --n 5 --backend auto --server-url http://127.0.0.1:$PORT/ --server-calls 20 \
    --browser --browser-reps 20 --json-out $OUT/s16-browser-r$round.json > $OUT/s16-browser-r$round.txt 2>&1
  kill $app; wait $app 2>/dev/null
  echo "round $round app (new default): $(cat $OUT/s16-healthz.json)" | tee -a $R
  grep -v httpx $OUT/s16-browser-r$round.txt | sed -n '/^bundle /,$p' | tee -a $R
done
echo BENCH-DONE | tee -a $R
