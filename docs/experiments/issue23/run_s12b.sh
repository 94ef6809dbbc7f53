#!/bin/bash
# Issue 23, session 12 (b). The greedy soup on HAM10000 fold 0 left the predecessor out and lost
# BCN and ISIC 2017 to the shipped soup (README "Session 12"), and the uniform 3- and 4-way soups
# of session 11, which passed the bf16 gate, diluted the predecessor to 1/3 and 1/4 and lost ISIC
# 2017. Hypothesis: the shipped soup's ISIC 2017 and BCN come with the predecessor's half weight,
# while more chains in the other half make bf16 safe. So: the predecessor at weight 1/2 and the
# other half split evenly over the chains, (A) w1 + w2, (B) w1 + w2 + w3 (w3 from run_s12.sh).
# Waits for run_s12.sh's w3-wise224 export, stops that script there (its second greedy soup is
# not worth the hour: the first one showed fold-0 selection drops the predecessor), then scores.
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s12}
source docs/experiments/issue23/common.sh
S11=/work/runs/s11
until grep -q "END export-w3-wise224" $L/times.log; do sleep 10; done
pkill -f run_s12.sh; sleep 2; pkill -f "run-name g-" ; pkill -f "training.soup"; sleep 2
echo "=== session 12b $(date)  $(git rev-parse --short HEAD) (run_s12.sh stopped after w3-wise224)" >> $L/times.log
P=$S11/predecessor; W1=$S9/base-160-w1-wise224/bundle; W2=$S11/w2-wise224/bundle; W3=$L/w3-wise224/bundle
for spec in "half-w1w2:$P $P $W1 $W2" "half-w1w2w3:$P $P $P $W1 $W2 $W3"; do
  name=${spec%%:*}; t soup-$name $PY -m training.soup ${spec#*:} --out $L/$name.ckpt
  t export-$name $PY -m training.pl_train $(ft_flags $S11/base-160-w2/bundle) --run-name $name --export-checkpoint $L/$name.ckpt
  rm -f $L/$name.ckpt
  score $name $L/$name/bundle msk; gate $name $L/$name/bundle; score $name $L/$name/bundle bcn
done
echo ALLDONE-S12B >> $L/times.log
