#!/bin/bash
# Issue 24's accuracy gate for reduced precision: the shipped default scored by OpenVINO at fp32
# and at bf16 (same graph, same images, TTA as the README runs it) on HAM10000 fold 0 and
# isic2017_train; AUROC difference (paired, eval.compare) and the share of decisions that flip
# at the shipped threshold (flips.py). Whole machine; OpenVINO installed in the venv.
set -euo pipefail
cd "${WT:-/work/main}"
export PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; D=${DATA_ROOT:-/work/shared/data}
OUT=${OUT:-/work/runs/gate24}; B=${BUNDLE:-models/default}
mkdir -p "$OUT"
for set in ham_f0:/work/runs/sel/ham_f0 isic2017:$D/isic2017_train; do
  name=${set%%:*}; data=${set#*:}
  for p in fp32 bf16; do
    s=$(date +%s)
    $PY -m eval.evaluate --bundle $B --data $data --tta --backend openvino --precision $p \
        --num-workers 0 --no-progress --out $OUT/$name-$p > $OUT/$name-$p.log 2>&1
    echo "$name $p: $(( $(date +%s) - s )) s" | tee -a $OUT/times.txt
  done
  $PY -m eval.compare --baseline $OUT/$name-fp32/predictions.csv \
      --candidate $OUT/$name-bf16/predictions.csv > $OUT/compare-$name.txt
  $PY docs/experiments/issue24/flips.py $OUT/$name-fp32 $OUT/$name-bf16 | tee $OUT/flips-$name.txt
done
# Record the result in the bundle (a failed gate keeps --precision auto at fp32 for it).
$PY docs/experiments/issue24/record_gate.py $B $OUT ham_f0 isic2017
