#!/bin/bash
# Issue 23, session 16, after run_s16.sh (main tree: eval.calibrate --proxy accepts bundles
# scored on sources they never trained on): the LOSO table of the shipped recipe from the three
# held-out sets' TTA predictions (loso_s16.py), then does the recipe's out-of-source rule travel?
# ms2-160 (the uncalibrated default) gets a rule fitted on the LOSO predictions only (--proxy),
# and both rules are applied to its predictions per source (rule_per_source.py).
cd /work/main; L=${RUNS:-/work/runs/s16}; S15=/work/runs/s15; X=docs/experiments/issue23
source $X/common.sh
P_BCN=$L/eval/lo-bcn-160/bcn/predictions.csv P_MSK=$S15/eval/ms2-160/msk/predictions.csv
P_HAM=$L/eval/lo-ham-160/ham/predictions.csv
$PY $X/loso_s16.py $L/loso_summary.json BCN=$P_BCN MSK+ISIC_archive=$P_MSK HAM10000=$P_HAM \
  > $L/loso_table.txt 2>&1
t proxy-ms2 $PY -m eval.calibrate --bundle $S15/ms2-160/bundle --proxy --score tta_mean \
  --method temperature --sensitivity-target 0.8 --predictions $P_BCN --predictions $P_MSK \
  --predictions $P_HAM --fitted-on "leave-one-source-out runs of the ms2-160 recipe (session 16)" \
  --out $L/proxy-ms2
for b in "$L/proxy-ms2" "models/default"; do
  $PY $X/rule_per_source.py $b isic2017=$S15/eval/ms2-160/isic2017/predictions.csv \
    msk=$P_MSK ham_f0=$S15/eval/ms2-160/ham_f0/predictions.csv; done > $L/rules.txt 2>&1
echo POST-DONE >> $L/times.log
