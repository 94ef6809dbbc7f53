"""Issue 23, session 14: is the multi-source chain's gain a weight-soup effect or diversity?
The mean of two models' 8-view TTA probabilities per image (what a 2-member mean ensemble
scores, at twice the serving cost) from prediction files already written, paired against the
shipped default with eval.compare. Usage: python ens_s14.py OUT NAME=CSV_DIR... (each CSV_DIR
holds SET/predictions.csv for msk, ham_f0 and isic2017)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

SETS = ("msk", "ham_f0", "isic2017")
S12 = Path("/work/runs/s12")
SHIP = {"msk": S12 / "eval/ship-uncal/msk", "ham_f0": S12 / "gate-ship/ham_f0-bf16",
        "isic2017": S12 / "gate-ship/isic2017-bf16"}


def main() -> None:
    out = Path(sys.argv[1])
    for arg in sys.argv[2:]:
        name, folder = arg.split("=", 1)
        for s in SETS:
            ship = pd.read_csv(SHIP[s] / "predictions.csv")
            other = pd.read_csv(Path(folder) / s / "predictions.csv").set_index("image_id")
            assert set(ship.image_id) == set(other.index), f"{name} {s}: other images"
            # both on the uncalibrated scale (the shipped bundle's gate files are calibrated)
            own = ship.get("prob_uncalibrated", ship["prob"]).to_numpy()
            theirs = other.get("prob_uncalibrated", other["prob"]).loc[ship.image_id].to_numpy()
            mean = ship[["image_id", "label", "group_id"]].assign(prob=(own + theirs) / 2)
            d = out / f"ens-ship-{name}" / s
            d.mkdir(parents=True, exist_ok=True)
            mean.to_csv(d / "predictions.csv", index=False)
            r = subprocess.run([sys.executable, "-m", "eval.compare", "--baseline",
                                str(SHIP[s] / "predictions.csv"), "--candidate",
                                str(d / "predictions.csv")], capture_output=True, text=True)
            (out / f"compare-ship-vs-ens-ship-{name}-{s}.txt").write_text(r.stdout + r.stderr)
            line = [ln for ln in r.stdout.splitlines() if ln.startswith("│ auroc")]
            print(name, s, line[0] if line else r.stderr[-300:])


if __name__ == "__main__":
    main()
