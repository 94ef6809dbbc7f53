#!/bin/bash
# Issue 23, session 12: a greedy soup (Wortsman et al. 2022, with replacement) of the four
# 224-px chains, each step picked on HAM10000 fold 0 only (single view, the export's own
# validation), then scored on MSK + archive, the bf16 gate and BCN when it is not the shipped
# soup; then a fourth chain (base-160 with --num-workers 3, a fourth augmentation stream) and the
# greedy soup again with it. Ingredients: predecessor (session 9's default), w1 (session 9),
# w0 and w2 (session 11).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s12}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
S11=/work/runs/s11
echo "=== session 12 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
declare -A ING=([pred]=$S11/predecessor [w1]=$S9/base-160-w1-wise224/bundle
  [w0]=$S11/w0-wise224/bundle [w2]=$S11/w2-wise224/bundle)
auroc() { $PY -c "import json,sys;print(json.load(open(sys.argv[1]))['metrics']['validation']['auroc'])" $1/bundle.json; }
# soup_of NAME ING...: the uniform soup of the ingredients (repeats weight them), exported and
# validated on fold 0; prints its fold-0 AUROC
soup_of() { local n=$1; shift; local paths=(); for i in "$@"; do paths+=(${ING[$i]}); done
  if [ ! -f $L/$n/bundle/bundle.json ]; then
    t soup-$n $PY -m training.soup "${paths[@]}" --out $L/$n.ckpt
    t export-$n $PY -m training.pl_train $(ft_flags $S11/base-160-w2/bundle) --run-name $n --export-checkpoint $L/$n.ckpt
    rm -f $L/$n.ckpt; fi
  auroc $L/$n/bundle; }
# greedy START_AUROC ING...: greedy soup with replacement from the first ingredient; at each
# step the candidate that raises fold-0 AUROC most is added; stops when none does. Sets $G.
greedy() { local best=$1; shift; local cands=("$@"); local cur=(${cands[0]})
  while [ ${#cur[@]} -lt 8 ]; do local pick="" pa=$best
    for c in "${cands[@]}"; do [ ${#cur[@]} -eq 1 ] && [ $c = ${cur[0]} ] && continue
      local set=($(printf '%s\n' "${cur[@]}" $c | sort))
      local n=g-$(IFS=-; echo "${set[*]}"); local a=$(soup_of $n "${set[@]}")
      echo "greedy ${cur[*]} + $c -> $n $a" >> $L/greedy.log
      if $PY -c "import sys;sys.exit(0 if float(sys.argv[1])>float(sys.argv[2]) else 1)" $a $pa; then pick=$c; pa=$a; fi; done
    [ -z "$pick" ] && break; cur=($(printf '%s\n' "${cur[@]}" $pick | sort)); best=$pa
    echo "greedy step: ${cur[*]} fold-0 $best" >> $L/greedy.log; done
  G=g-$(IFS=-; echo "${cur[*]}"); [ ${#cur[@]} -eq 1 ] && G=single-${cur[0]}
  echo "GREEDY RESULT $G ($best)" >> $L/greedy.log; }
greedy 0.9119 w2 w1 pred w0
if [ "$G" != g-pred-w1 ] && [ -d $L/$G ]; then
  score $G $L/$G/bundle msk; gate $G $L/$G/bundle; score $G $L/$G/bundle bcn; fi
echo GREEDY1-DONE >> $L/times.log
# the fourth chain, as run_s11c.sh's third
B="--data $D/ham10000 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --pretrained auto --epochs 8 --meta-mask-prob 0 --output-dir $L --keep-checkpoints 1"
base=base-160-w3; ft=w3-ft224; wise=w3-wise224
t $base $PY -m training.pl_train $B --image-size 160 --num-workers 3 --run-name $base
ft_epoch0 $L/$base/bundle $ft  # the 224-px epoch and its WiSE soup $wise (common.sh)
ING[w3]=$L/$wise/bundle
a3=$(auroc $L/$wise/bundle); echo "w3-wise224 fold-0 $a3" >> $L/greedy.log
# start from the best single chain by fold 0, as greedy soups do
first=w2; top=0.9119; $PY -c "import sys;sys.exit(0 if float(sys.argv[1])>0.9119 else 1)" $a3 && { first=w3; top=$a3; }
others=$(printf '%s\n' w2 w1 pred w0 w3 | grep -vx $first | tr '\n' ' ')
greedy $top $first $others
if [ "$G" != g-pred-w1 ] && [ -d $L/$G ] && [ ! -d $L/eval/$G/msk ]; then
  score $G $L/$G/bundle msk; gate $G $L/$G/bundle; score $G $L/$G/bundle bcn; fi
echo ALLDONE-S12 >> $L/times.log
