"""An ISIC 2024 layout (train-metadata.csv + train-image.hdf5) built from real BCN images.

Real ISIC 2024 data is not available here. This file exercises the ISIC 2024 route of the
second stage end to end on real dermoscopy pixels and real melanoma labels: the first N images of
bcn_test (ISIC 2019, Barcelona) as JPEG bytes in an HDF5 file, their age, sex and site, with
*generated* patients (each image assigned to one of N/8 patients at random, so patient context
is computed but carries no real signal) and *generated* TBP measurements (tbp_lv_* drawn from a
seeded normal distribution, unrelated to the labels). Figures from it test the plumbing, not
the value of patient context or TBP features.

`python make_isic2024_generated.py BCN_TEST OUT [N]`
"""

import csv
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

src, out = Path(sys.argv[1]), Path(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
truth = pd.read_csv(src / "ISIC_2019_Training_GroundTruth.csv")
meta = pd.read_csv(src / "ISIC_2019_Training_Metadata.csv").set_index("image")
rng = np.random.default_rng(2024)
rows = truth.sample(n=min(n, len(truth)), random_state=2024).reset_index(drop=True)
out.mkdir(parents=True, exist_ok=True)
records = []
with h5py.File(out / "train-image.hdf5", "w") as h5:
    for _, r in rows.iterrows():
        image = r["image"]
        h5.create_dataset(image, data=np.void((src / "ISIC_2019_Training_Input"
                                               / f"{image}.jpg").read_bytes()))
        m = meta.loc[image]
        age = m.get("age_approx")
        records.append({
            "isic_id": image, "patient_id": f"IP_{rng.integers(0, max(1, n // 8)):06d}",
            "target": int(r["MEL"] == 1.0),
            "age_approx": "" if pd.isna(age) else int(age),
            "sex": "" if pd.isna(m.get("sex")) else m["sex"],
            "anatom_site_general": "" if pd.isna(m.get("anatom_site_general"))
            else m["anatom_site_general"],
            "tbp_lv_areaMM2": round(float(rng.lognormal(2.0, 0.6)), 3),
            "tbp_lv_perimeterMM": round(float(rng.lognormal(2.7, 0.3)), 3),
            "tbp_lv_H": round(float(rng.normal(55, 8)), 3),
            "tbp_lv_Hext": round(float(rng.normal(60, 6)), 3),
            "clin_size_long_diam_mm": round(float(rng.lognormal(1.4, 0.4)), 3),
            "tbp_lv_minorAxisMM": round(float(rng.lognormal(1.0, 0.4)), 3)})
with (out / "train-metadata.csv").open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
print(out, len(records), "images,", sum(r["target"] for r in records), "melanomas,",
      len({r["patient_id"] for r in records}), "patients")
