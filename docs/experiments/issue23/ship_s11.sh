#!/bin/bash
# Issue 23, session 11: ship a candidate as models/default. CAND = an uncalibrated bundle. Scores
# it with TTA at PRECISION (fp32 for a bundle whose bf16 gate fails: what `auto` will serve) on
# the two ISIC 2019 clinics it never trained on (BCN, MSK + archive), calibrates the decision
# rule on those predictions (temperature on the TTA mean, threshold for 80 % sensitivity, as
# session 10), runs issue 24's bf16 gate on the calibrated bundle (recorded in it), installs it,
# re-records the regression values and regenerates the two eval reports the model card links.
set -euo pipefail
cd /work/main; L=/work/runs/s11; source docs/experiments/issue23/common.sh
CAND=$1; PRECISION=${PRECISION:-fp32}; OUT=$L/ship; EV=$L/eval/ship-uncal-$PRECISION
rm -rf $OUT
for s in bcn msk; do
  t eval-ship-uncal-$s $PY -m eval.evaluate --bundle $CAND ${DATA[$s]} --tta --backend openvino \
    --precision $PRECISION --num-workers 0 --out $EV/$s
  $PY -m eval.compare --baseline $E_DEFAULT/$s/predictions.csv --candidate $EV/$s/predictions.csv \
    > $L/eval/compare-default-vs-ship-uncal-$PRECISION-$s.txt 2>&1
done
t calibrate-ship $PY -m eval.calibrate --bundle $CAND --score tta_mean --method temperature \
  --sensitivity-target 0.8 --predictions $EV/bcn/predictions.csv --predictions $EV/msk/predictions.csv \
  --fitted-on "ISIC 2019 BCN (12,381) + MSK and ISIC archive (2,894): clinics this HAM10000-only model never trained on" \
  --out $OUT
gate ship $OUT
cp $OUT/bundle.json $OUT/model.safetensors models/default/
t record-ship $PY -m tests.models.bundle.test_default_bundle --record
for s in "ham10000-fold0 --data $D/ham10000 --fold 0 --n-folds 5 --seed 42" "isic2017 --data $D/isic2017_train"; do
  set -- $s; name=$1; shift
  t report-$name $PY -m eval.evaluate --bundle models/default "$@" --tta --backend onnxruntime --out docs/eval/$name
done
echo SHIPPED >> $L/times.log
