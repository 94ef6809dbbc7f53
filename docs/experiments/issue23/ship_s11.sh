#!/bin/bash
# Issue 23, session 11: ship a candidate as models/default. CAND = an uncalibrated bundle, EV =
# its eval.evaluate folders (bcn/, msk/: TTA predictions on the two ISIC 2019 clinics it never
# trained on). Calibrates the decision rule on those predictions (temperature on the TTA mean,
# threshold for 80 % sensitivity, as session 10), runs issue 24's bf16 gate on the calibrated
# bundle (recorded in it), installs it, re-records the regression values and regenerates the
# two eval reports the model card links.
set -euo pipefail
cd /work/main; L=/work/runs/s11; source docs/experiments/issue23/common.sh
CAND=$1; EV=$2; OUT=$L/ship
rm -rf $OUT
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
