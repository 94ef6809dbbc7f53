#!/bin/bash
# Issue 23, session 11. Session 10's soup (default + base-160-w1-wise224) beat the default on
# BCN and MSK + archive but failed the bf16 gate, while both ingredients pass it. A weight-
# averaged network keeps the average of its ingredients' BatchNorm running statistics, which
# are not the statistics of its own activations; re-estimating them on the training images
# (HAM10000 minus fold 0, eval preprocessing; `eval.adapt`'s AdaBN) is the standard repair for
# soups. (1) Does it pass the gate and keep the gains? (2) Is the soup gain robust to the
# ingredient's random stream: the same chain on session 9's base-160 (num-workers 0, the
# "unlucky" stream, BCN 0.7225), its soup with the default, and the 3-way soup.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s11}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
echo "=== session 11 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
$PY docs/experiments/issue23/make_ham_train.py   # /work/runs/sel/ham_train: the 8,012 training images
adapt() { t adapt-$1 $PY -m eval.adapt --bundle $2 --images /work/runs/sel/ham_train --max-images 9000 --out $L/$1; }
# (1) the shipped-candidate soup (calibrated, /work/runs/ship/default) with re-estimated BN
adapt soup-bn /work/runs/ship/default
gate soup-bn $L/soup-bn
score soup-bn $L/soup-bn msk bcn
# (2) the chain on base-160 (w0): 224-px epoch 0, WiSE soup, then the soups with the default
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
  adapt $name-bn $L/$name/bundle
done
for name in soup2-w0-bn soup3-bn; do gate $name $L/$name; score $name $L/$name msk bcn; done
score w0-wise224 $L/$wise/bundle msk bcn ham_f0 isic2017
echo ALLDONE-S11 >> $L/times.log
