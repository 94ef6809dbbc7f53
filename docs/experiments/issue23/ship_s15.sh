#!/bin/bash
# Issue 23, session 15: ship ms2-160 (HAM10000 + BCN, seed 43, 160 px; run_s15.sh) as the
# default. Its mean ensemble with base-160-w1 was no better than ms2-160 alone (run_s15.sh's
# compare files), so the single bundle ships. MSK + ISIC archive is the one labelled source it
# never trained on besides ISIC 2017: a rule fitted on either alone does not travel to the other
# (80 % sensitivity on MSK gives 0.54 on ISIC 2017; on ISIC 2017, 0.92 on MSK), so its decision
# rule (temperature on the 8-view mean, threshold for 80 % sensitivity) is fitted on both pooled
# (common.sh's install_default: calibrate, bf16 gate recorded in the bundle, models/default,
# regression record, docs/eval reports). Run from the main tree.
cd "${WT:-/work/main}"; L=${RUNS:-/work/runs/s15}
source docs/experiments/issue23/common.sh
E_DEFAULT=$L/eval/default
[ -d /work/runs/old-default ] || { mkdir -p /work/runs/old-default && cp models/default/* /work/runs/old-default/; }
install_default $L/ms2-160/bundle \
  "MSK + ISIC archive in ISIC 2019 (2,894 images, 543 melanomas) and ISIC 2017 train (2,000, 374): the two labelled sources this HAM10000 + BCN model never trained on" \
  $L/eval/ms2-160/msk/predictions.csv $L/eval/ms2-160/isic2017/predictions.csv
