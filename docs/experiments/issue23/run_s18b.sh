#!/bin/bash
# Issue 23, session 18 (b). run_s18.sh's first arm already failed its rule: msx-160-e4 (seed 43,
# 4 epochs) lost ISIC 2017 to its seed twin msx-160 by its CI (-0.027 [-0.039, -0.016], as the
# 8-epoch run did), so its second seed could not change the decision: it was stopped 40 s in
# and this script spends the session's CPU where a result can still decide something.
# 1. msx-160-e5: msx-160's command with --epochs 5 (seed 43), scored as run_s18.sh scores.
# 2. Adaptive, fixed before step 1 ends: if msx-160-e5 beats msx-160 on ISIC 2017 in point
#    estimate, its second seed (msx-160-e5-s44; run_s18.sh's rule then decides the arm);
#    otherwise msx-160-ema: msx-160's command (6 epochs, seed 43) with --ema-decay 0.999 (an
#    exponential moving average of the weights over ~1,000 of its ~3,500 steps, validated,
#    checkpointed and exported in place of the raw weights; one seed: exploratory, it could
#    only earn a second seed next session).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s18}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
E_DEFAULT=/work/runs/s16/eval/msx-160
echo "=== session 18b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
t msx-160-e5 $PY -m training.pl_train $MSX --seed 43 --epochs 5 --output-dir $L --run-name msx-160-e5
score msx-160-e5 $L/msx-160-e5/bundle isic2017 ham_f0
diff=$(awk -F'│' '$2 ~ /auroc/ {gsub(/ /, "", $5); split($5, a, "\\["); print a[1]}' \
  $L/eval/compare-default-vs-msx-160-e5-isic2017.txt)
echo "msx-160-e5 ISIC 2017 difference vs msx-160: $diff" >> $L/times.log
if awk -v d="$diff" 'BEGIN {exit !(d + 0 > 0)}'; then
  t msx-160-e5-s44 $PY -m training.pl_train $MSX --seed 44 --epochs 5 --output-dir $L --run-name msx-160-e5-s44
  score msx-160-e5-s44 $L/msx-160-e5-s44/bundle isic2017 ham_f0
else
  t msx-160-ema $PY -m training.pl_train $MSX --seed 43 --epochs 6 --ema-decay 0.999 --output-dir $L --run-name msx-160-ema
  score msx-160-ema $L/msx-160-ema/bundle isic2017 ham_f0
fi
echo ALLDONE-S18B >> $L/times.log
