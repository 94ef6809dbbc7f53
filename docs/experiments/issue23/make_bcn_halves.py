"""BCN (ISIC 2019, 84 px) split in two by lesion: `bcn_sel` chooses checkpoints, `bcn_test` is
only tested. Images without a lesion id are their own group. Deterministic (seed 0)."""
from pathlib import Path

import numpy as np
import pandas as pd

S = Path("/work/shared/data/isic2019_84px")
ROOT = Path("/work/runs/sel")
meta = pd.read_csv(S / "ISIC_2019_Training_Metadata.csv")
truth = pd.read_csv(S / "ISIC_2019_Training_GroundTruth.csv")
bcn = meta[meta.lesion_id.fillna("").str.startswith("BCN")].copy()
groups = np.array(sorted(bcn.lesion_id.unique()))
np.random.default_rng(0).shuffle(groups)
test_groups = set(groups[: len(groups) // 2])
halves = {"bcn_test": bcn[bcn.lesion_id.isin(test_groups)],
          "bcn_sel": bcn[~bcn.lesion_id.isin(test_groups)]}
for name, part in halves.items():
    out = ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    meta[meta.image.isin(part.image)].to_csv(out / "ISIC_2019_Training_Metadata.csv", index=False)
    t = truth[truth.image.isin(part.image)]
    t.to_csv(out / "ISIC_2019_Training_GroundTruth.csv", index=False)
    (out / "ISIC_2019_Training_Input").unlink(missing_ok=True)
    (out / "ISIC_2019_Training_Input").symlink_to(S / "ISIC_2019_Training_Input")
    print(name, len(part), part.lesion_id.nunique(), int(t.MEL.sum()))
