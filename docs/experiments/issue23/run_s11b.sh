#!/bin/bash
# Issue 23, session 11 (b), replacing run_s11.sh after its first result: re-estimating the
# soup's BatchNorm statistics with eval.adapt on its training images (eval preprocessing)
# passed the bf16 gate but lost the soup's MSK + archive gain (0.7189 -> 0.7013; s11/). So:
# (1) the same re-estimation with the training augmentation (bn_recal_aug.py): gate, MSK, BCN;
# (2) the chain on base-160 (w0: session 9's other random stream, BCN 0.7225), its soup with the
# default, and the 3-way soup, WITHOUT re-estimation: gate, MSK, BCN (HAM and 2017 from the
# gate's bf16 predictions); then w0-wise224 alone on all four.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s11}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
echo "=== session 11b $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
# uncalibrated soup (the shipping name; ship/default is its calibrated copy)
SOUP=/work/runs/ship/lite0-sog-meta-224-soup/bundle
t bnaug-soup $PY docs/experiments/issue23/bn_recal_aug.py $SOUP /work/runs/sel/ham_train $L/soup-bnaug
gate soup-bnaug $L/soup-bnaug
score soup-bnaug $L/soup-bnaug msk bcn
base=$S9/base-160; ft=w0-ft224; wise=w0-wise224
s=$(date +%s); echo "START $ft (stopped after epoch 0) $(date -u +%T)" >> $L/times.log
$PY -m training.pl_train $(ft_flags $base/bundle) --run-name $ft > $L/$ft.log 2>&1 & pid=$!
while kill -0 $pid 2>/dev/null && ! ls $L/$ft/checkpoints/epoch00-*.ckpt >/dev/null 2>&1; do sleep 5; done
sleep 10; kill $pid 2>/dev/null; wait $pid
echo "END $ft $(( $(date +%s) - s )) s $(ls $L/$ft/checkpoints/)" >> $L/times.log
t soup-$wise $PY -m training.soup $base/bundle $(ls $L/$ft/checkpoints/epoch00-*.ckpt) --out $L/$wise.ckpt
t export-$wise $PY -m training.pl_train $(ft_flags $base/bundle) --run-name $wise --export-checkpoint $L/$wise.ckpt
for n in soup2-w0:"models/default $L/$wise/bundle" soup3:"models/default $S9/base-160-w1-wise224/bundle $L/$wise/bundle"; do
  name=${n%%:*}
  t soup-$name $PY -m training.soup ${n#*:} --out $L/$name.ckpt
  t export-$name $PY -m training.pl_train $(ft_flags $base/bundle) --run-name $name --export-checkpoint $L/$name.ckpt
  gate $name $L/$name/bundle; score $name $L/$name/bundle msk bcn
done
score $wise $L/$wise/bundle msk bcn ham_f0 isic2017
echo ALLDONE-S11B >> $L/times.log
