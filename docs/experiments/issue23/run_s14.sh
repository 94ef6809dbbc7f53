#!/bin/bash
# Issue 23, session 14. Session 13's HAM10000 + Barcelona chain (ms-160) finished the way the
# default is: its 224-px epoch on HAM10000 alone (common.sh's ft_epoch0), so the Barcelona-trained
# base ends on full-resolution images (`ms-h-wise224`); judged alone and as 1/5 and 1/3 of a soup
# with the shipped default. Then a second chain of the same recipe (--seed 43, same folds via
# --fold-seed 42), finished the same way, and the soups that hold both chains. Judged on MSK +
# ISIC archive and ISIC 2017 (none of these trained on them), HAM10000 fold 0, and the bf16 gate.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s14}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
echo "=== session 14 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
S13=/work/runs/s13; SHIP=$S13/default; S12=/work/runs/s12
declare -A BASE=([msk]=$S12/eval/ship-uncal/msk/predictions.csv
  [ham_f0]=$S12/gate-ship/ham_f0-bf16/predictions.csv [isic2017]=$S12/gate-ship/isic2017-bf16/predictions.csv)
vs_ship() { $PY -m eval.compare --baseline ${BASE[$2]} --candidate $L/eval/$1/$2/predictions.csv > $L/eval/compare-ship-vs-$1-$2.txt 2>&1; }
sc() { t eval-$1-$3 $PY -m eval.evaluate --bundle $2 ${DATA[$3]} $EV --out $L/eval/$1/$3; vs_ship $1 $3; }
gt() { gate $1 $2; for s in ham_f0 isic2017; do vs_ship $1 $s; done; }
judge() { sc $1 $2 msk; gt $1 $2; }
# soup NAME BUNDLE...: uniform soup of the bundles (repeat one to weight it), exported
soup() { local n=$1; shift; t soup-$n $PY -m training.soup "$@" --out $L/$n.ckpt
  t export-$n $PY -m training.pl_train $(ft_flags $SHIP) --run-name $n --export-checkpoint $L/$n.ckpt; rm -f $L/$n.ckpt; }
# (1) session 13's chain, finished on HAM10000 at 224 px
ft_epoch0 $S13/ms-160/bundle ms-h-ft224     # -> $L/ms-h-wise224
judge ms-h-wise224 $L/ms-h-wise224/bundle
soup ship-msh5 $SHIP $SHIP $SHIP $SHIP $L/ms-h-wise224/bundle; judge ship-msh5 $L/ship-msh5/bundle
soup ship-msh3 $SHIP $SHIP $L/ms-h-wise224/bundle; judge ship-msh3 $L/ship-msh3/bundle
echo PART1-DONE >> $L/times.log
# (2) a second chain, seed 43, same folds
MS="--data $D/ham10000 --data /work/runs/sel/bcn --data-format ham10000 --data-format isic2019 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 43 --fold-seed 42 --output-dir $L"
t ms2-160 $PY -m training.pl_train $MS --pretrained auto --epochs 6 --meta-mask-prob 0 --image-size 160 --num-workers 2 --keep-checkpoints 1 --run-name ms2-160
ft_epoch0 $L/ms2-160/bundle ms2-h-ft224     # -> $L/ms2-h-wise224
judge ms2-h-wise224 $L/ms2-h-wise224/bundle
# the default with both chains: 3/5 default + 1/5 each
soup ship-msh-ms2h $SHIP $SHIP $SHIP $L/ms-h-wise224/bundle $L/ms2-h-wise224/bundle
judge ship-msh-ms2h $L/ship-msh-ms2h/bundle
echo ALLDONE-S14 >> $L/times.log
