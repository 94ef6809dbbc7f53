#!/bin/bash
# after ship_s11.sh: the new default's speed under auto (fp32 by its gate), then the test suite
cd /work/main; L=/work/runs/s11
until grep -q SHIPPED $L/times.log; do sleep 5; done
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
R=$L/speed-default.txt; echo "=== $(date -u) $(lscpu | sed -n 's/Model name: *//p')" > $R
for b in models/default /work/wt23/models/default; do
  .venv/bin/python -m eval.evaluate --bundle $b --data /work/runs/speed24/isic600 --tta --backend auto \
    --n-boot 0 --no-progress --out $L/speed-tta-$(basename $(dirname $(dirname $b))) > $L/speed-tta.log 2>&1
  echo "$b TTA isic600: $(.venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['speed']['images_per_s'], 'img/s', m['speed']['backend'], m['auroc'])" $L/speed-tta-$(basename $(dirname $(dirname $b)))/metrics.json)" >> $R
  .venv/bin/python -m eval.benchmark --bundle $b --n 20 --backend openvino --precision auto 2>&1 | tail -9 >> $R
done
echo "speed-default done $(date -u +%T)" >> $L/times.log
.venv/bin/python -m pytest -m "not slow" -p no:cacheprovider -q -x > $L/pytest-full.log 2>&1
echo "pytest full rc=$? $(date -u +%T)" >> $L/times.log
