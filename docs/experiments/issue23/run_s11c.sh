#!/bin/bash
# Issue 23, session 11 (c), late in the session: a third seed-42 chain for the soups. The
# default's 160-px base recipe with --num-workers 2 (a third augmentation random stream; w0 and
# w1 were 0 and 1), the 224-px epoch and WiSE as before (`w2-wise224`), then the 4-way soup of
# the predecessor and the three chains: MSK + archive first (the set no choice was made on),
# then the bf16 gate, then BCN, as far as the session allows.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s11}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
echo "=== session 11c $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
B="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --epochs 8 --meta-mask-prob 0 --output-dir $L --keep-checkpoints 1"
base=base-160-w2; ft=w2-ft224; wise=w2-wise224
t $base $PY -m training.pl_train $B --image-size 160 --num-workers 2 --run-name $base
ft_epoch0 $L/$base/bundle $ft  # the 224-px epoch and its WiSE soup $wise (common.sh)
name=soup4
t soup-$name $PY -m training.soup $L/predecessor $S9/base-160-w1-wise224/bundle $L/w0-wise224/bundle $L/$wise/bundle --out $L/$name.ckpt
t export-$name $PY -m training.pl_train $(ft_flags $L/$base/bundle) --run-name $name --export-checkpoint $L/$name.ckpt
score $name $L/$name/bundle msk
gate $name $L/$name/bundle
score $name $L/$name/bundle bcn
echo ALLDONE-S11C >> $L/times.log
