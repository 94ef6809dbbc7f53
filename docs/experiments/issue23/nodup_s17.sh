#!/bin/bash
# Issue 23, session 17: the ISIC 2017 comparisons again without the ISIC 2017 images nearest to
# one of msx-160's MSK + archive training images (near_dups.py's CSV), at three similarity cuts.
cd "${WT:-/work/main}"; L=${RUNS:-/work/runs/s17}
source docs/experiments/issue23/common.sh
$PY docs/experiments/issue23/near_dups.py $D/isic2017_train /work/runs/sel/msk $L/near_dups.csv
$PY - $L <<'PY'
import os, sys
import pandas as pd
L = sys.argv[1]
runs = {"ms2-160": "/work/runs/s15/eval/ms2-160", "ms3-160": "/work/runs/s15/eval/ms3-160",
        "msx-160": "/work/runs/s16/eval/msx-160", "msx-160-s44": f"{L}/eval/msx-160-s44",
        "ens-ms23": f"{L}/eval/ens-ms23", "ens-msx": f"{L}/eval/ens-msx"}
near = pd.read_csv(f"{L}/near_dups.csv")
for cut in ("0.95", "0.93", "0.9"):
    drop = set(near.loc[near.similarity >= float(cut), "nearest_2017"])
    for name, path in runs.items():
        f = pd.read_csv(f"{path}/isic2017/predictions.csv", dtype={"image_id": str, "group_id": str})
        out = f"{L}/nodup/{cut}/{name}"; os.makedirs(out, exist_ok=True)
        f[~f.image_id.isin(drop)].to_csv(f"{out}/predictions.csv", index=False)
    print(cut, "dropped", len(drop), "images, melanomas", int(f[f.image_id.isin(drop)].label.sum()))
PY
for cut in 0.95 0.93 0.9; do N=$L/nodup/$cut
  for pair in ms2-160:msx-160 ms3-160:msx-160-s44 ens-ms23:ens-msx; do b=${pair%:*} c=${pair#*:}
    echo "$cut $b -> $c: $($PY -m eval.compare --baseline $N/$b/predictions.csv \
      --candidate $N/$c/predictions.csv 2>&1 | grep auroc | tr -s ' ')"; done; done
