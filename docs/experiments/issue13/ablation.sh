#!/bin/bash
# LightGBM alone with feature groups removed (after run.sh); results in MODEL_CARD "Second stage".
R=/work/runs13
for n in ham oos; do
  for v in "noemb:--embedding-dims 0" "nostats:--no-image-stats" "cnnmeta:--embedding-dims 0 --no-image-stats"; do
    .venv/bin/python -m training.stack --embeddings $R/emb-$n.parquet --model lightgbm \
      --out $R/abl-$n-${v%%:*} --no-progress ${v#*:}
  done
  # paired comparison, CNN alone vs the combined trees (and LightGBM alone: lightgbm_prob)
  .venv/bin/python -m eval.compare --baseline $R/stack-$n/cnn_predictions.csv \
    --candidate $R/stack-$n/oof_predictions.csv
done
