#!/bin/bash
# Issue 24, session 12: the serving commands before (BEFORE tree: torch's OpenMP threads spin
# after each parallel region, libgomp's default with OMP_WAIT_POLICY unset) and after this change
# (this tree: the serving entry points set OMP_WAIT_POLICY=PASSIVE, configs/process.py), two
# rounds alternating, both on this tree's models/default: eval.evaluate --tta (600 ISIC 2017
# images, auto = OpenVINO bf16) and eval.benchmark on auto; then eval.benchmark on eager torch
# (the path where sleeping threads could cost time).
cd /work/main; AFTER=$PWD; BEFORE=${BEFORE:-/work/wt23}
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
unset OMP_WAIT_POLICY
PY=${PY:-/work/main/.venv/bin/python}; OUT=${OUT:-/work/runs/speed24}; R=$OUT/s12-omp.txt
echo "=== $(date -u)  after $(git rev-parse --short HEAD)+change, before $(git -C $BEFORE rev-parse --short HEAD)  $(lscpu | sed -n 's/Model name: *//p')" | tee -a $R
for round in 1 2; do for tree in before after; do
  [ $tree = before ] && cd $BEFORE || cd $AFTER
  o=$OUT/s12-omp-$tree-r$round; $PY -m eval.evaluate --bundle $AFTER/models/default \
    --data $OUT/isic600 --tta --backend auto --n-boot 0 --no-progress --out $o > $o.log 2>&1
  echo "round $round $tree TTA isic600: $($PY -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['speed']['images_per_s'], 'img/s', m['speed']['backend'])" $o/metrics.json) ($(grep -o 'OMP_WAIT_POLICY=[A-Za-z]*' $o.log | head -1))" | tee -a $R
  echo "round $round $tree eval.benchmark auto:" | tee -a $R
  $PY -m eval.benchmark --bundle $AFTER/models/default --n 20 --backend auto 2>&1 | grep -E "engine.analyze|engine.predict|model only|engine stages" | tee -a $R
done; done
for tree in before after; do [ $tree = before ] && cd $BEFORE || cd $AFTER
  echo "$tree eval.benchmark eager:" | tee -a $R
  $PY -m eval.benchmark --bundle $AFTER/models/default --n 20 --backend eager 2>&1 | grep -E "engine.analyze|engine.predict|model only|engine stages" | tee -a $R; done
