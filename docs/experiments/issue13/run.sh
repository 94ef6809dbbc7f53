#!/bin/bash
# Issue 13 measurements: embed (default bundle) -> stack, HAM10000 fold 0 and unseen ISIC 2019.
# Run from the repository root; /work/runs16/oos is docs/experiments/issue16/make_oos.py's set.
cd /work/main; PY=/work/main/.venv/bin/python; OUT=/work/runs13; D=/work/shared/data
t() { local name=$1; shift; local s=$(date +%s); echo "START $name $(date -u +%T)" >> $OUT/times.log
  "$@" > $OUT/$name.log 2>&1; echo "END $name rc=$? $(( $(date +%s) - s )) s" >> $OUT/times.log; }
t embed-ham $PY -m training.embed --bundle models/default --data-dir $D/ham10000 --out $OUT/emb-ham.parquet --no-progress
t embed-oos $PY -m training.embed --bundle models/default --data-dir /work/runs16/oos --unseen --out $OUT/emb-oos.parquet --no-progress
t stack-ham $PY -m training.stack --embeddings $OUT/emb-ham.parquet --model lightgbm,xgboost,catboost --out $OUT/stack-ham --no-progress
t stack-oos $PY -m training.stack --embeddings $OUT/emb-oos.parquet --model lightgbm,xgboost,catboost --out $OUT/stack-oos --no-progress
echo ALLDONE >> $OUT/times.log
