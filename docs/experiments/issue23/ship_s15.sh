#!/bin/bash
# Issue 23, session 15: the 2 x 160 px mean ensemble (base-160-w1 + ms2-160, run_s15.sh) made
# into a servable ensemble with its decision rule fitted out of source. MSK + ISIC archive is
# the one labelled source neither member trained on (ms2-160 trained on BCN), so every fit is
# on it: each member's temperature map on its own TTA mean, then the ensemble's thresholds on
# the ensemble's own predictions (eval.calibrate on the ensemble folder). The bf16 gate is
# recorded per member (its AUROC does not depend on the monotone map: the uncalibrated fp32
# and bf16 runs of run_s15.sh), and measured for the ensemble as served. Run from the main tree.
cd "${WT:-/work/main}"; L=${RUNS:-/work/runs/s15}; S=$L/ship
source docs/experiments/issue23/common.sh
FIT="MSK + ISIC archive in ISIC 2019 (2,894 images, 543 melanomas): a source neither member trained on"
MEMBERS="base-160-w1 ms2-160"
for n in $MEMBERS; do
  t calibrate-$n $PY -m eval.calibrate --bundle $L/$n/bundle --score tta_mean --method temperature \
    --sensitivity-target 0.8 --predictions $L/eval/$n/msk/predictions.csv --fitted-on "$FIT" \
    --out $S/final/members/$n
  mkdir -p $L/gate-$n
  for s in ham_f0 isic2017; do ln -sfn $L/eval/$n-fp32/$s $L/gate-$n/$s-fp32; ln -sfn $L/eval/$n/$s $L/gate-$n/$s-bf16; done
  $PY docs/experiments/issue24/record_gate.py $S/final/members/$n $L/gate-$n ham_f0 isic2017 | tee $L/gate-$n/record.txt
done
# the ensemble of the calibrated members (provisional thresholds: the members' mean)
$PY - $S/ens0 $S/final/members <<'PY'
import sys
from pathlib import Path
from models.bundle.ensemble import save_ensemble
from models.bundle.io import load_bundle
members = [load_bundle(Path(sys.argv[2]) / n) for n in ("base-160-w1", "ms2-160")]
print(save_ensemble(sys.argv[1], members, name="lite0-sog-meta-160x2", combiner="mean"))
PY
t eval-ens0-msk $PY -m eval.evaluate --bundle $S/ens0 ${DATA[msk]} $EV --out $L/eval/ens0/msk
t calibrate-ens $PY -m eval.calibrate --bundle $S/ens0 --predictions $L/eval/ens0/msk/predictions.csv \
  --sensitivity-target 0.8 --fitted-on "$FIT" --out $S/final
# the shipped ensemble on the two gate sets at fp32 and bf16 (ensemble-level gate and flips)
for s in ham_f0 isic2017; do for p in fp32 bf16; do
  t eval-final-$s-$p $PY -m eval.evaluate --bundle $S/final ${DATA[$s]} ${EV/bf16/$p} --out $L/eval/final-$p/$s; done
  $PY -m eval.compare --baseline $L/eval/final-fp32/$s/predictions.csv --candidate $L/eval/final-bf16/$s/predictions.csv > $L/eval/gate-final-$s.txt 2>&1
  $PY docs/experiments/issue24/flips.py $L/eval/final-fp32/$s $L/eval/final-bf16/$s | tee $L/eval/flips-final-$s.txt
done
echo SHIP-READY >> $L/times.log
