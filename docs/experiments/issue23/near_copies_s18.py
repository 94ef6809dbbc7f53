"""Issue 23, session 18: what `--exclude-near-copies` removes from the shipped recipe's data.

Reads msx-160's training data (HAM10000 + sel/bcn + sel/msk, ISIC 2017 held out) as training
does, by id only and then with `--exclude-near-copies CUT` for each cut, and prints per source
how many images leave and how long the check took; the matches at the lowest cut go to OUT.csv
(compare with s17/near_dups.csv, made by near_dups.py from sel/msk alone).

Usage: PYTHONPATH=. python docs/experiments/issue23/near_copies_s18.py OUT.csv [CUT ...]
"""
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from data import near_copies
from data.multisource import dataset_specs, read_sources
from data.readers import read_dataset

D = Path("/work/shared/data")
SEL = Path("/work/runs/sel")
SPECS = dataset_specs([D / "ham10000", SEL / "bcn", SEL / "msk"], ["ham10000", "isic2019", "isic2019"])
HELD = D / "isic2017_train"

logging.basicConfig(level=logging.INFO, format="%(message)s")
out = Path(sys.argv[1])
cuts = [float(c) for c in sys.argv[2:]] or [0.95, 0.93, 0.90]
by_id = read_sources(SPECS, exclude=dataset_specs([HELD]))
print(f"by id: {len(by_id)} images {by_id['source'].value_counts().to_dict()}")
start = time.perf_counter()
own = near_copies.fingerprints(by_id["image_path"].tolist(), description="training data")
held_table = read_dataset(HELD)
held = near_copies.fingerprints(held_table["image_path"].tolist(), description="ISIC 2017")
index, sim = near_copies.nearest(own, held)
print(f"fingerprints and similarities of {len(by_id)} x {len(held)} images: "
      f"{time.perf_counter() - start:.1f} s")
for cut in sorted(cuts, reverse=True):
    hit = sim >= cut
    print(f"cut {cut}: {int(hit.sum())} matches {by_id.loc[hit, 'source'].value_counts().to_dict()}")
low = min(cuts)
rows = by_id.loc[sim >= low, ["image_id", "source", "target"]].assign(
    nearest_2017=held_table["image_id"].to_numpy()[index[sim >= low]], similarity=sim[sim >= low])
rows.sort_values("similarity", ascending=False).to_csv(out, index=False, float_format="%.4f")
start = time.perf_counter()  # the flag end to end, as training runs it
flagged = read_sources(SPECS, exclude=dataset_specs([HELD]), near_copy_similarity=0.93)
print(f"read_sources with near_copy_similarity=0.93: {len(flagged)} images "
      f"{flagged['source'].value_counts().to_dict()}, {flagged.attrs['near_copies']}, "
      f"{time.perf_counter() - start:.1f} s")
