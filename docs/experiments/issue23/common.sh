#!/bin/bash
# Shared setup of issue 23's run scripts (session 11 on): paths, the timer, the four scoring
# sets, TTA scoring flags and the default's 224-px fine-tune flags. Source it, then set L.
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
D=${DATA_ROOT:-/work/shared/data}; PY=${PY:-/work/main/.venv/bin/python}
S9=/work/runs/s9; E_DEFAULT=$S9/eval10/default   # the shipped default's TTA predictions
# t NAME CMD...: run CMD with its log in $L/NAME.log and its wall time in $L/times.log
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $L/times.log
  "$@" > $L/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $L/times.log; }
EV="--tta --backend openvino --precision bf16 --num-workers 0"
declare -A DATA=([ham_f0]="--data $D/ham10000 --fold 0 --n-folds 5 --seed 42"
  [isic2017]="--data $D/isic2017_train" [msk]="--data /work/runs/sel/msk --data-format isic2019"
  [bcn]="--data /work/runs/sel/bcn --data-format isic2019")
# The shipped default's training data and recipe (msx-160, session 16 b; add --seed, --epochs,
# --run-name): HAM10000 + BCN + MSK and ISIC archive without ISIC 2017's images and lesions
MSX="--data $D/ham10000 --data /work/runs/sel/bcn --data /work/runs/sel/msk --data-format ham10000
  --data-format isic2019 --data-format isic2019 --exclude-data $D/isic2017_train
  --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5
  --fold-seed 42 --pretrained auto --meta-mask-prob 0 --image-size 160 --num-workers 2
  --keep-checkpoints 1"
# ft_flags BASE_BUNDLE: MODEL_CARD.md step 2 (one 224-px epoch of a 3-epoch cosine schedule)
ft_flags() { echo "--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --init-bundle $1 --image-size 224 --epochs 3 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --meta-mask-prob 0.2 --early-stopping-patience 0 --keep-checkpoints -1 --num-workers 1 --output-dir $L"; }
# score NAME BUNDLE SET...: TTA predictions of BUNDLE on each set, paired against the default
score() { local n=$1 b=$2; shift 2; for s in "$@"; do
  t eval-$n-$s $PY -m eval.evaluate --bundle $b ${DATA[$s]} $EV --out $L/eval/$n/$s
  $PY -m eval.compare --baseline $E_DEFAULT/$s/predictions.csv \
    --candidate $L/eval/$n/$s/predictions.csv > $L/eval/compare-default-vs-$n-$s.txt 2>&1; done; }
# gate NAME BUNDLE: issue 24's bf16 precision gate (HAM10000 fold 0, ISIC 2017), recorded in it
# (its bf16 predictions on those two sets are also paired against the default, as score does)
gate() { t gate-$1 env BUNDLE=$2 OUT=$L/gate-$1 WT=$PWD bash docs/experiments/issue24/precision_gate.sh
  for s in ham_f0 isic2017; do mkdir -p $L/eval/$1; ln -sfn $L/gate-$1/$s-bf16 $L/eval/$1/$s
    $PY -m eval.compare --baseline $E_DEFAULT/$s/predictions.csv \
      --candidate $L/eval/$1/$s/predictions.csv > $L/eval/compare-default-vs-$1-$s.txt 2>&1; done; }
# ft_epoch0 BASE_BUNDLE NAME: the default's 224-px fine-tune of BASE_BUNDLE, stopped once its
# first epoch's checkpoint is written (the schedule is 3 epochs; the recipe keeps epoch 0), then
# its WiSE soup with the base exported as $L/${NAME%-ft224}-wise224 (run_s11c.sh, run_s12.sh)
ft_epoch0() { local base=$1 ft=$2 wise=${2%-ft224}-wise224 s=$(date +%s) pid
  echo "START $ft (stopped after epoch 0) $(date -u +%T)" >> $L/times.log
  $PY -m training.pl_train $(ft_flags $base) --run-name $ft > $L/$ft.log 2>&1 & pid=$!
  while kill -0 $pid 2>/dev/null && ! ls $L/$ft/checkpoints/epoch00-*.ckpt >/dev/null 2>&1; do sleep 5; done
  sleep 10; kill $pid 2>/dev/null; wait $pid
  echo "END $ft $(( $(date +%s) - s )) s $(ls $L/$ft/checkpoints/)" >> $L/times.log
  t soup-$wise $PY -m training.soup $base $(ls $L/$ft/checkpoints/epoch00-*.ckpt) --out $L/$wise.ckpt
  t export-$wise $PY -m training.pl_train $(ft_flags $base) --run-name $wise --export-checkpoint $L/$wise.ckpt; }
# install_default BUNDLE FITTED_ON PREDICTIONS...: the shipping steps of ship_s11.sh to
# ship_s13.sh. Fits the decision rule of the uncalibrated BUNDLE on its TTA predictions
# (temperature on the TTA mean, threshold for 80 % sensitivity; FITTED_ON says on what), gates
# the calibrated bundle ($L/ship) and records the gate in it, installs it as models/default,
# re-records the regression values and regenerates the two eval reports the model card links.
# Run from the main tree. BCN_MSK_FIT: what sessions 11-12 fitted on (HAM10000-only models).
BCN_MSK_FIT="ISIC 2019 BCN (12,381) + MSK and ISIC archive (2,894): clinics this HAM10000-only model never trained on"
install_default() { local cand=$1 fitted=$2 out=$L/ship s name; shift 2
  t calibrate-ship $PY -m eval.calibrate --bundle $cand --score tta_mean --method temperature \
    --sensitivity-target 0.8 $(printf -- '--predictions %s ' "$@") --fitted-on "$fitted" --out $out
  gate ship $out
  cp $out/bundle.json $out/model.safetensors models/default/
  t record-ship $PY -m tests.models.bundle.test_default_bundle --record
  for s in "ham10000-fold0 --data $D/ham10000 --fold 0 --n-folds 5 --seed 42" "isic2017 --data $D/isic2017_train"; do
    set -- $s; name=$1; shift
    t report-$name $PY -m eval.evaluate --bundle models/default "$@" --tta --backend onnxruntime --out docs/eval/$name
  done
  echo SHIPPED >> $L/times.log; }
