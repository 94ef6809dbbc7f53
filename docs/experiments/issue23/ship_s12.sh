#!/bin/bash
# Issue 23, session 12: ship a soup whose bf16 gate passed as models/default, as ship_s11.sh
# at bf16 (what `auto` serves for it). The soup is first made again from its ingredients and
# exported under the shipped name; its weights must hash as the scored bundle's (SCORED_NAME).
# Its BCN and MSK + archive TTA predictions are then made again under that name (eval.calibrate
# accepts only predictions made by the bundle it calibrates, by id) and must equal the scored
# ones; the rule is fitted on them, the gate rerun on the calibrated bundle and recorded in it,
# then installed, regression values re-recorded and the card's two eval reports regenerated.
# Usage: ship_s12.sh SHIP_NAME SCORED_NAME INGREDIENT...
set -euo pipefail
cd /work/main; L=/work/runs/s12; source docs/experiments/issue23/common.sh
SHIP=$1 NAME=$2; shift 2; P=$L/eval/ship-uncal
rm -rf $L/ship $L/$SHIP $P
t soup-$SHIP $PY -m training.soup "$@" --out $L/$SHIP.ckpt
t export-$SHIP $PY -m training.pl_train $(ft_flags /work/runs/s11/base-160-w2/bundle) --run-name $SHIP --export-checkpoint $L/$SHIP.ckpt
CAND=$L/$SHIP/bundle; sha() { $PY -c "import json,sys;print(json.load(open(sys.argv[1]))['weights_sha256'])" $1/bundle.json; }
[ "$(sha $CAND)" = "$(sha $L/$NAME/bundle)" ] || { echo "weights differ from $NAME" >&2; exit 1; }
for s in bcn msk; do
  t eval-ship-uncal-$s $PY -m eval.evaluate --bundle $CAND ${DATA[$s]} $EV --out $P/$s
  $PY -c "import pandas as pd,sys; a,b=(pd.read_csv(f) for f in sys.argv[1:]); assert (a.image_id==b.image_id).all() and (a.prob==b.prob).all(), 'predictions differ'" \
    $P/$s/predictions.csv $L/eval/$NAME/$s/predictions.csv
done
install_default $CAND "$BCN_MSK_FIT" $P/bcn/predictions.csv $P/msk/predictions.csv
