"""The BCN part of ISIC 2019 (84 px) as its own isic2019-format folder (12,381 images)."""
from pathlib import Path

import pandas as pd

S = Path("/work/shared/data/isic2019_84px")
OUT = Path("/work/runs/sel/bcn")
OUT.mkdir(parents=True, exist_ok=True)
meta = pd.read_csv(S / "ISIC_2019_Training_Metadata.csv")
truth = pd.read_csv(S / "ISIC_2019_Training_GroundTruth.csv")
bcn = meta[meta.lesion_id.fillna("").str.startswith("BCN")]
meta[meta.image.isin(bcn.image)].to_csv(OUT / "ISIC_2019_Training_Metadata.csv", index=False)
truth[truth.image.isin(bcn.image)].to_csv(OUT / "ISIC_2019_Training_GroundTruth.csv", index=False)
(OUT / "ISIC_2019_Training_Input").unlink(missing_ok=True)
(OUT / "ISIC_2019_Training_Input").symlink_to(S / "ISIC_2019_Training_Input")
print(len(bcn), int(truth[truth.image.isin(bcn.image)].MEL.sum()))
