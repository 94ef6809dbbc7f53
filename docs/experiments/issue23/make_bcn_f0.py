"""BCN fold 0 of the HAM10000 + BCN chain (session 13) as its own isic2019-format folder: the
2,476 BCN images that chain validated on and never trained on (its val_predictions.csv, source
BCN). Usage: make_bcn_f0.py RUN_DIR (e.g. /work/runs/s13/ms-160)."""
import sys
from pathlib import Path

import pandas as pd

SRC, OUT = Path("/work/runs/sel/bcn"), Path("/work/runs/sel/bcn_f0")
val = pd.read_csv(Path(sys.argv[1]) / "val_predictions.csv")
ids = set(val.loc[val.source == "BCN", "image_id"])
OUT.mkdir(parents=True, exist_ok=True)
for name in ("ISIC_2019_Training_Metadata.csv", "ISIC_2019_Training_GroundTruth.csv"):
    table = pd.read_csv(SRC / name)
    table[table.image.isin(ids)].to_csv(OUT / name, index=False)
(OUT / "ISIC_2019_Training_Input").unlink(missing_ok=True)
(OUT / "ISIC_2019_Training_Input").symlink_to(SRC / "ISIC_2019_Training_Input")
truth = pd.read_csv(OUT / "ISIC_2019_Training_GroundTruth.csv")
print(len(truth), int(truth.MEL.sum()))
