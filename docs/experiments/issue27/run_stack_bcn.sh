#!/bin/bash
# Issue 27 part 2, measured on real images: the second stage over every member's embedding, the
# tabular-only baseline and the out-of-fold-weighted blend, on BCN test (bcn_test: 6,233 ISIC
# 2019 images from the Barcelona clinic, 1,298 melanomas, lesion ids; no patient ids, so no
# patient context). Members: the three issue-23 selection CNNs (s3-nosampler Lite0, s4-lite2,
# s4-nosog), none of which trained on or chose checkpoints with these images (--unseen). The
# trees cross-validate on 5 lesion-grouped folds of bcn_test itself: they adapt the CNNs to this
# clinic with its own labels (read the figures as that, not as a clinic nobody labelled).
# Run after run_s4.sh, whole machine.
set -euo pipefail
cd "${WT:-/work/main}"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; SEL=${SEL:-/work/runs/sel}; OUT=${OUT:-/work/runs/stack27}
HERE=docs/experiments/issue27
mkdir -p "$OUT"
s=$(date +%s)
$PY -m training.embed --bundle $SEL/s3-nosampler/bundle --bundle $SEL/s4-lite2/bundle \
    --bundle $SEL/s4-nosog/bundle --data $SEL/bcn_test --unseen --out $OUT/bcn3.parquet \
    --no-progress > $OUT/embed.log 2>&1
echo "embed 3 members: $(( $(date +%s) - s )) s" | tee $OUT/times.txt
$PY $HERE/one_member.py $OUT/bcn3.parquet $OUT/bcn1.parquet
for e in bcn1 bcn3; do
  s=$(date +%s)
  $PY -m training.stack --embeddings $OUT/$e.parquet --out $OUT/stack-$e --no-progress \
      > $OUT/stack-$e.txt 2> $OUT/stack-$e.log
  echo "stack $e: $(( $(date +%s) - s )) s" | tee -a $OUT/times.txt
  $PY $HERE/components.py $OUT/stack-$e
done
cmp() { $PY -m eval.compare --baseline $1 --candidate $2 > $OUT/compare-$3.txt; cat $OUT/compare-$3.txt; }
cmp $OUT/stack-bcn1/component-cnn.csv $OUT/stack-bcn3/component-cnn.csv cnn1-vs-cnn3mean
cmp $OUT/stack-bcn1/component-lightgbm.csv $OUT/stack-bcn3/component-lightgbm.csv trees1-vs-trees3
cmp $OUT/stack-bcn3/component-cnn.csv $OUT/stack-bcn3/component-tabular-lightgbm.csv cnn3-vs-tabular
cmp $OUT/stack-bcn3/component-cnn.csv $OUT/stack-bcn3/component-blend.csv cnn3-vs-blend
cmp $OUT/stack-bcn3/component-lightgbm.csv $OUT/stack-bcn3/component-blend.csv trees3-vs-blend
echo DONE >> $OUT/times.txt
# The ISIC 2024 route (HDF5 images, patient context, TBP columns) on generated patients and TBP
# values over real BCN images: plumbing, not a measurement of those features' value.
$PY $HERE/make_isic2024_generated.py $SEL/bcn_test $OUT/isic2024-generated 1500
s=$(date +%s)
$PY -m training.embed --bundle $SEL/s3-nosampler/bundle --data $OUT/isic2024-generated --unseen \
    --out $OUT/isic2024.parquet --no-progress > $OUT/embed-isic2024.log 2>&1
$PY -m training.stack --embeddings $OUT/isic2024.parquet --out $OUT/stack-isic2024 --no-progress \
    > $OUT/stack-isic2024.txt 2> $OUT/stack-isic2024.log
echo "isic2024 generated, embed + stack: $(( $(date +%s) - s )) s" | tee -a $OUT/times.txt
echo DONE-ISIC2024 >> $OUT/times.txt
