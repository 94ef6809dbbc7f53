#!/bin/bash
# Issue 24, `eval.evaluate` WITHOUT TTA (target >= 200 images/s). The shipped bundle decides on
# the calibrated mean of the 8 views, so evaluate turns TTA on for it; this scores the same
# network (same weights file, same graph) through a copy of its bundle.json without the
# `decision` block (single view, uncalibrated), so the loop runs one view per image as the
# README's command would for a single-view bundle. ONNX Runtime fp32 (before) against `auto`
# (OpenVINO, bf16 where the CPU has it), 2,003 HAM10000 fold-0 images, then 600 ISIC 2017 images
# (256 x 256 JPEGs). Whole machine, one after the other.
set -uo pipefail
cd "${WT:-/work/main}"
source docs/experiments/issue24/common.sh; B=$OUT/single-view-bundle
mkdir -p "$OUT/isic600"
single_view_bundle "$B"
head -601 $D/isic2017_train/ISIC-2017_Training_Part3_GroundTruth.csv > $OUT/isic600/ISIC-2017_Training_Part3_GroundTruth.csv
cp $D/isic2017_train/ISIC-2017_Training_Data_metadata.csv $OUT/isic600/
ln -sfn $D/isic2017_train/ISIC-2017_Training_Data $OUT/isic600/ISIC-2017_Training_Data
echo "=== $(date -u)  $(git rev-parse --short HEAD)  $(lscpu | sed -n 's/Model name: *//p')" | tee -a $OUT/notta.txt
for data in "ham_f0 $D/ham10000 --fold 0" "isic600 $OUT/isic600"; do
  set -- $data; name=$1; shift
  for b in onnxruntime auto; do
    $PY -m eval.evaluate --bundle $B --data "$@" --backend $b --out $OUT/notta-$name-$b \
        --n-boot 0 --no-progress > $OUT/notta-$name-$b.log 2>&1
    echo "no TTA, $name, $b: $($PY -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['speed']['images_per_s'], 'img/s, AUROC', round(m['auroc'], 4), m['speed']['backend'], m['tta'])" $OUT/notta-$name-$b/metrics.json)" | tee -a $OUT/notta.txt
  done
done
