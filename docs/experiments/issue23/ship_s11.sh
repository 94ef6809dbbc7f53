#!/bin/bash
# Issue 23, session 11: ship a candidate as models/default. CAND = an uncalibrated bundle. Scores
# it with TTA at PRECISION (fp32 for a bundle whose bf16 gate fails: what `auto` will serve) on
# the two ISIC 2019 clinics it never trained on (BCN, MSK + archive), calibrates the decision
# rule on those predictions (temperature on the TTA mean, threshold for 80 % sensitivity, as
# session 10), runs issue 24's bf16 gate on the calibrated bundle (recorded in it), installs it,
# re-records the regression values and regenerates the two eval reports the model card links
# (those steps are `install_default` in common.sh since session 12; the commands are the same).
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
install_default $CAND "$BCN_MSK_FIT" $EV/bcn/predictions.csv $EV/msk/predictions.csv
