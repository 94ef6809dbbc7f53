#!/bin/bash
# Issue 23, session 13: ship the soup of the shipped default (weight 4/5) and the HAM10000 + BCN
# chain ms-wise224 (1/5) as models/default, as ship_s12.sh: the soup made again and exported
# under the shipped name (weights must hash as the scored ship-ms5's), its TTA predictions made
# again under that name on MSK + ISIC archive (checked equal to the scored ones) and on BCN fold
# 0 (the 2,476 BCN images the chain validated on, make_bcn_f0.py), the rule fitted on those
# 5,370 images (no ingredient trained on them), then gate, install, record, reports
# (common.sh's install_default). Usage: ship_s13.sh SHIP_NAME
set -euo pipefail
cd /work/main; L=/work/runs/s13; source docs/experiments/issue23/common.sh
SHIP=$1; P=$L/eval/ship-uncal; rm -rf $L/ship $L/$SHIP $P
MS="--data $D/ham10000 --data /work/runs/sel/bcn --data-format ham10000 --data-format isic2019 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 42 --fold-seed 42 --output-dir $L"
ft_flags() { echo "$MS --init-bundle $1 --image-size 224 --epochs 3 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --meta-mask-prob 0.2 --early-stopping-patience 0 --keep-checkpoints -1 --num-workers 1"; }
t soup-$SHIP $PY -m training.soup $L/default $L/default $L/default $L/default $L/ms-wise224/bundle --out $L/$SHIP.ckpt
t export-$SHIP $PY -m training.pl_train $(ft_flags $L/ms-160/bundle) --run-name $SHIP --export-checkpoint $L/$SHIP.ckpt
CAND=$L/$SHIP/bundle; sha() { $PY -c "import json,sys;print(json.load(open(sys.argv[1]))['weights_sha256'])" $1/bundle.json; }
[ "$(sha $CAND)" = "$(sha $L/ship-ms5/bundle)" ] || { echo "weights differ from ship-ms5" >&2; exit 1; }
DATA[bcn_f0]="--data /work/runs/sel/bcn_f0 --data-format isic2019"
for s in msk bcn_f0; do
  t eval-ship-uncal-$s $PY -m eval.evaluate --bundle $CAND ${DATA[$s]} $EV --out $P/$s; done
$PY -c "import pandas as pd,sys; a,b=(pd.read_csv(f) for f in sys.argv[1:]); assert (a.image_id==b.image_id).all() and (a.prob==b.prob).all(), 'predictions differ'" \
  $P/msk/predictions.csv $L/eval/ship-ms5/msk/predictions.csv
install_default $CAND "MSK and ISIC archive (2,894) + BCN fold 0 (2,476): images no ingredient of this soup trained on" \
  $P/msk/predictions.csv $P/bcn_f0/predictions.csv
