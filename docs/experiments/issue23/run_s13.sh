#!/bin/bash
# Issue 23, session 13. (1) AdaBN per clinic on the shipped default (eval.adapt on each clinic's
# own unlabelled images, then those images scored, 8-view TTA, OpenVINO bf16, paired against the
# shipped default). (2) The data the four HAM10000-only chains do not share: the default's recipe
# (Lite0, 160 px, Shades of Gray, best epoch by fold-0 AUROC) on HAM10000 + BCN (ISIC 2019, 84 px),
# 6 epochs; HAM10000 fold 0 and BCN fold 0 (--fold-seed 42, folds per dataset) held out; its
# 224-px epoch on the same data and the WiSE soup, as common.sh's ft_epoch0; then soups of the
# shipped default with it at weight 1/5 and 1/3. Judged on MSK + ISIC archive and ISIC 2017,
# which none of them trained on, with the bf16 gate (HAM10000 fold 0 and ISIC 2017).
cd "${WT:-/work/wt23}"; L=${RUNS:-/work/runs/s13}; mkdir -p $L/eval
source docs/experiments/issue23/common.sh
echo "=== session 13 $(date)  $(git rev-parse --short HEAD), CPU $(lscpu | sed -n 's/Model name: *//p')" >> $L/times.log
SHIP=$L/default; [ -d $SHIP ] || cp -r /work/main/models/default $SHIP
S12=/work/runs/s12
declare -A BASE=([bcn]=$S12/eval/ship-uncal/bcn/predictions.csv [msk]=$S12/eval/ship-uncal/msk/predictions.csv
  [ham_f0]=$S12/gate-ship/ham_f0-bf16/predictions.csv [isic2017]=$S12/gate-ship/isic2017-bf16/predictions.csv)
# vs_ship NAME SET: pair NAME's predictions on SET against the shipped default's
vs_ship() { $PY -m eval.compare --baseline ${BASE[$2]} --candidate $L/eval/$1/$2/predictions.csv > $L/eval/compare-ship-vs-$1-$2.txt 2>&1; }
sc() { t eval-$1-$3 $PY -m eval.evaluate --bundle $2 ${DATA[$3]} $EV --out $L/eval/$1/$3; vs_ship $1 $3; }
gt() { gate $1 $2; for s in ham_f0 isic2017; do vs_ship $1 $s; done; }
# (1) AdaBN: a folder of links to each ISIC 2019 clinic's images (eval.adapt's unlabelled input)
for s in bcn msk; do [ -d $L/img-$s ] || $PY - /work/runs/sel/$s $L/img-$s <<'EOF'
import sys, pathlib, pandas as pd
src, out = (pathlib.Path(a) for a in sys.argv[1:]); out.mkdir(parents=True)
for i in pd.read_csv(src / "ISIC_2019_Training_GroundTruth.csv").image:
    (out / f"{i}.jpg").symlink_to(src / "ISIC_2019_Training_Input" / f"{i}.jpg")
EOF
done
for c in msk:$L/img-msk isic2017:$D/isic2017_train/ISIC-2017_Training_Data bcn:$L/img-bcn; do
  s=${c%%:*}; t adapt-ship-$s $PY -m eval.adapt --bundle $SHIP --images ${c#*:} --out $L/ship-adabn-$s
  sc ship-adabn-$s $L/ship-adabn-$s $s; done
echo ADABN-DONE >> $L/times.log
# (2) the multi-source chain
MS="--data $D/ham10000 --data /work/runs/sel/bcn --data-format ham10000 --data-format isic2019 --backbone tf_efficientnet_lite0 --color-constancy shades_of_gray --fold 0 --n-folds 5 --seed 42 --fold-seed 42 --output-dir $L"
# the default's 224-px fine-tune flags (common.sh) on this chain's data
ft_flags() { echo "$MS --init-bundle $1 --image-size 224 --epochs 3 --lr-backbone 5e-5 --lr-head 2e-4 --warmup-epochs 0.2 --meta-mask-prob 0.2 --early-stopping-patience 0 --keep-checkpoints -1 --num-workers 1"; }
t ms-160 $PY -m training.pl_train $MS --pretrained auto --epochs 6 --meta-mask-prob 0 --image-size 160 --num-workers 2 --keep-checkpoints 1 --run-name ms-160
ft_epoch0 $L/ms-160/bundle ms-ft224   # -> $L/ms-wise224
sc ms-wise224 $L/ms-wise224/bundle msk; gt ms-wise224 $L/ms-wise224/bundle
soup() { local n=$1; shift; t soup-$n $PY -m training.soup "$@" --out $L/$n.ckpt
  t export-$n $PY -m training.pl_train $(ft_flags $L/ms-160/bundle) --run-name $n --export-checkpoint $L/$n.ckpt; rm -f $L/$n.ckpt; }
soup ship-ms5 $SHIP $SHIP $SHIP $SHIP $L/ms-wise224/bundle
sc ship-ms5 $L/ship-ms5/bundle msk; gt ship-ms5 $L/ship-ms5/bundle
soup ship-ms3 $SHIP $SHIP $L/ms-wise224/bundle
sc ship-ms3 $L/ship-ms3/bundle msk; gt ship-ms3 $L/ship-ms3/bundle
echo ALLDONE-S13 >> $L/times.log
