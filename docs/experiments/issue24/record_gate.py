"""Record the bf16 accuracy gate's result in a bundle's bundle.json (key `precision_gate`).

    python docs/experiments/issue24/record_gate.py BUNDLE GATE_DIR NAME [NAME ...]

For each NAME, GATE_DIR/NAME-fp32 and GATE_DIR/NAME-bf16 are eval.evaluate folders of BUNDLE
on the same images. The gate passes when every set's AUROC (8-view TTA, the decided score) is
within MAX_AUROC_DIFF of fp32; the share of decisions that flip at the bundle's default
threshold is recorded beside it. `--precision auto` then keeps a bundle that failed at fp32.
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from eval.metrics.ranking import auroc
from models.bundle.atomic import atomic_write_text
from models.bundle.io import META_FILE, PRECISION_GATE_KEY
from models.inference.runtime import machine_info

MAX_AUROC_DIFF = 0.002

bundle, gate_dir, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
sets = {}
for name in names:
    a = pd.read_csv(gate_dir / f"{name}-fp32" / "predictions.csv", dtype={"image_id": str})
    b = pd.read_csv(gate_dir / f"{name}-bf16" / "predictions.csv", dtype={"image_id": str})
    m = a.merge(b, on="image_id", suffixes=("_a", "_b"))
    metrics = json.loads((gate_dir / f"{name}-fp32" / "metrics.json").read_text())
    t = float(metrics["thresholds"][metrics["default_threshold"]]["threshold"])
    flips = (m["prob_a"] >= t) != (m["prob_b"] >= t)
    sets[name] = {"images": len(m), "auroc_fp32": auroc(m["label_a"], m["prob_a"]),
                  "auroc_bf16": auroc(m["label_a"], m["prob_b"]),
                  "max_abs_prob_diff": float((m["prob_a"] - m["prob_b"]).abs().max()),
                  "decisions_flipped": int(flips.sum()), "flip_share": float(flips.mean()),
                  "threshold": t}
    sets[name]["auroc_diff"] = sets[name]["auroc_bf16"] - sets[name]["auroc_fp32"]
passed = all(abs(s["auroc_diff"]) <= MAX_AUROC_DIFF for s in sets.values())
summary = "; ".join(f"{n}: AUROC {s['auroc_diff']:+.4f}, {s['decisions_flipped']} of "
                    f"{s['images']} decisions flipped" for n, s in sets.items())
record = {"bf16": {"passed": passed, "max_auroc_diff": MAX_AUROC_DIFF, "summary": summary,
                   "sets": sets, "tta": True, "cpu": machine_info()["cpu"],
                   "measured": datetime.now(UTC).strftime("%Y-%m-%d")}}
path = bundle / META_FILE
info = json.loads(path.read_text())
info[PRECISION_GATE_KEY] = record
atomic_write_text(path, json.dumps(info, indent=2) + "\n")
print(f"bf16 gate {'PASSED' if passed else 'FAILED'}: {summary}")
