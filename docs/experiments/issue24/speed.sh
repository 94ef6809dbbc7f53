#!/bin/bash
# Issue 24's speed table: today's default (ONNX Runtime fp32) against OpenVINO fp32 and bf16, the
# shipped model, one machine, one after the other (whole machine, nothing beside it).
#   evaluation: the README's command on 600 ISIC 2017 images (as BENCHMARKS.md "Fast by
#               default"), with and without 8-view TTA, images/s of the scoring loop;
#   engine:     eval.benchmark (full analysis = 8 views + 5-layer CAM + overlays; single
#               prediction), 20 HAM10000 images;
#   browser:    the app on each backend, click-to-result in chromium (20 clicks) and the
#               HTTP/gradio_client round trips.
set -uo pipefail
cd "${WT:-/work/main}"
export PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; D=${DATA_ROOT:-/work/shared/data}
OUT=${OUT:-/work/runs/speed24}; PORT=${PORT:-7861}
mkdir -p "$OUT/isic600"
head -601 $D/isic2017_train/ISIC-2017_Training_Part3_GroundTruth.csv > $OUT/isic600/ISIC-2017_Training_Part3_GroundTruth.csv
cp $D/isic2017_train/ISIC-2017_Training_Data_metadata.csv $OUT/isic600/
ln -sfn $D/isic2017_train/ISIC-2017_Training_Data $OUT/isic600/ISIC-2017_Training_Data
echo "=== $(date -u)  $(git rev-parse --short HEAD)  $(lscpu | sed -n 's/Model name: *//p')" | tee -a $OUT/log.txt
for bp in "onnxruntime fp32" "openvino fp32" "openvino bf16"; do
  set -- $bp; b=$1; p=$2
  for tta in tta notta; do
    flag=$([ $tta = tta ] && echo --tta)
    $PY -m eval.evaluate --data $OUT/isic600 $flag --backend $b --precision $p \
        --out $OUT/eval-$b-$p-$tta --n-boot 0 --no-progress > $OUT/eval-$b-$p-$tta.log 2>&1
    echo "evaluate $b $p $tta: $($PY -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['speed']['images_per_s'], 'img/s, AUROC', round(m['auroc'], 4), m['speed']['backend'])" $OUT/eval-$b-$p-$tta/metrics.json)" | tee -a $OUT/log.txt
  done
  $PY -m eval.benchmark --n 20 --backend $b --precision $p --json-out $OUT/bench-$b-$p.json \
      > $OUT/bench-$b-$p.txt 2>&1
  grep -E "engine.analyze|engine.predict|model only|machine" $OUT/bench-$b-$p.txt | sed "s/^/bench $b $p: /" | tee -a $OUT/log.txt
done
bash docs/experiments/issue24/browser.sh
