"""Issue 23, session 17: are any of the MSK + ISIC archive images that msx-160 trained on
near-copies of ISIC 2017 images (its one unseen set)? Image ids and lesion ids remove the 1,996
shared images and their lesions, but 701 archive images carry no lesion id.

Each image becomes a 32x32 grey thumbnail, centred and scaled to unit norm; the similarity of
two images is the largest dot product over the 8 flips/rotations of one of them. The 1,996
known copies (same id at 84 and 256 px) calibrate what a copy scores; the question is how many
of the other sel/msk images score like a copy against some ISIC 2017 image.

Usage: PYTHONPATH=. python docs/experiments/issue23/near_dups.py ISIC2017_DIR SEL_MSK_DIR [OUT.csv]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SIDE = 32


def thumb(path: Path) -> np.ndarray:
    g = np.asarray(Image.open(path).convert("L").resize((SIDE, SIDE), Image.BOX), np.float32)
    g = g - g.mean()
    return g / (np.linalg.norm(g) + 1e-6)


def dihedral(t: np.ndarray) -> list[np.ndarray]:
    rots = [np.rot90(t, k) for k in range(4)]
    return rots + [np.fliplr(r) for r in rots]


def main() -> None:
    d17, dmsk = Path(sys.argv[1]), Path(sys.argv[2])
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    ids17 = sorted(p.stem for p in (d17 / "ISIC-2017_Training_Data").glob("ISIC_*.jpg"))
    meta = pd.read_csv(dmsk / "ISIC_2019_Training_Metadata.csv", dtype=str)
    files = meta["image"].tolist()
    idsm = [f.removesuffix("_downsampled") for f in files]  # ISIC 2019's name for a resized copy
    t17 = np.stack([thumb(d17 / "ISIC-2017_Training_Data" / f"{i}.jpg") for i in ids17])
    tm = np.stack([thumb(dmsk / "ISIC_2019_Training_Input" / f"{i}.jpg") for i in files])
    a = tm.reshape(len(tm), -1)
    views = np.stack([dihedral(t) for t in t17]).reshape(len(t17), 8, -1)  # (n_2017, 8, SIDE^2)
    sim = np.max([a @ views[:, k].T for k in range(8)], axis=0)  # (n_msk, n_2017)
    pos17 = {i: k for k, i in enumerate(ids17)}
    shared = np.array([i in pos17 for i in idsm])
    own = np.array([sim[r, pos17[i]] for r, i in enumerate(idsm) if i in pos17])
    other = sim.copy()
    for r, i in enumerate(idsm):
        if i in pos17:
            other[r, pos17[i]] = -np.inf
    best_other = other.max(axis=1)
    rest = ~shared
    q = lambda x: " ".join(f"{p}%={np.percentile(x, p):.3f}" for p in (0, 1, 5, 50))
    print(f"ISIC 2017 images {len(ids17)}, sel/msk {len(idsm)}, shared ids {shared.sum()}")
    print(f"known copies, similarity to their own 2017 image: {q(own)}")
    print(f"known copies, best similarity to any other 2017 image: max={best_other[shared].max():.3f} "
          f"99%={np.percentile(best_other[shared], 99):.3f}")
    print(f"the {rest.sum()} others, best similarity to any 2017 image: max={best_other[rest].max():.3f} "
          f"99%={np.percentile(best_other[rest], 99):.3f} 50%={np.median(best_other[rest]):.3f}")
    for cut in (np.percentile(own, 1), np.percentile(own, 5), 0.9):
        print(f"  others at or above {cut:.3f}: {(best_other[rest] >= cut).sum()}")
    if out:
        r = np.flatnonzero(rest)
        j = other[r].argmax(axis=1)
        pd.DataFrame({"image": [files[k] for k in r], "nearest_2017": [ids17[k] for k in j],
                      "similarity": best_other[r]}).sort_values("similarity", ascending=False) \
            .to_csv(out, index=False, float_format="%.4f")


if __name__ == "__main__":
    main()
