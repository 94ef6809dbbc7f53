#!/bin/bash
# Issue 16, session 3: the shipped default's decision rule, fitted on unseen ISIC 2019 images.
# eval-oos-default/ comes from run4.sh (make_oos.py builds the set) and was made with the
# uncalibrated bundle (git show 8f0ca21:models/default/bundle.json > models/default/bundle.json
# to rerun this). Both maps were fitted; temperature was shipped (ECE on HAM10000 fold 0 0.122 vs Platt 0.132; ISIC 2017 0.013 both).
. "$(dirname "$0")/paths.sh"  # REPO, DATA_ROOT, RUNS, SCRATCH, PY
for method in platt temperature; do
  $PY -m eval.calibrate --bundle "$REPO/models/default" \
    --predictions "$REPO/docs/experiments/issue16/eval-oos-default/predictions.csv" \
    --score tta_mean --method $method --sensitivity-target 0.8 --out $SCRATCH/default-$method
done
