"""MSK + ISIC archive (ISIC 2019, 84 px) as an isic2019-format folder: the 2,894 images the
default was scored on as session 7's leave-MSK-out held-out set (image ids from its predictions)."""
from pathlib import Path

import pandas as pd

S = Path("/work/shared/data/isic2019_84px")
OUT = Path("/work/runs/sel/msk")
IDS = Path(__file__).parent / "loso-s7/eval/default-loso-msk/predictions.csv.gz"
OUT.mkdir(parents=True, exist_ok=True)
ids = set(pd.read_csv(IDS, usecols=["image_id"]).image_id)
meta = pd.read_csv(S / "ISIC_2019_Training_Metadata.csv")
truth = pd.read_csv(S / "ISIC_2019_Training_GroundTruth.csv")
meta[meta.image.isin(ids)].to_csv(OUT / "ISIC_2019_Training_Metadata.csv", index=False)
truth[truth.image.isin(ids)].to_csv(OUT / "ISIC_2019_Training_GroundTruth.csv", index=False)
(OUT / "ISIC_2019_Training_Input").unlink(missing_ok=True)
(OUT / "ISIC_2019_Training_Input").symlink_to(S / "ISIC_2019_Training_Input")
print(len(ids), int(meta.image.isin(ids).sum()), int(truth[truth.image.isin(ids)].MEL.sum()))
