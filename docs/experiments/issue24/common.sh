#!/bin/bash
# Shared setup of issue 24's speed scripts (session 13 on; speed_s11.sh and speed_s12.sh use
# it too): the allocator preload, paths, the machine line every record starts with, and
# rate DIR, one line from an eval.evaluate --out folder's metrics.json. Source it.
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 PYTHONPATH=.
PY=${PY:-/work/main/.venv/bin/python}; D=${DATA_ROOT:-/work/shared/data}
OUT=${OUT:-/work/runs/speed24}
machine() { echo "$(date -u)  $(git rev-parse --short HEAD)  $(lscpu | sed -n 's/Model name: *//p')  $(grep -o -w 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"; }
rate() { $PY -c "import json,sys; m=json.load(open(sys.argv[1])); s=m['speed']; print(s['images_per_s'], 'img/s, AUROC', round(m['auroc'], 4), s['backend'], 'tta', m['tta'], 'threads', s['torch_threads'], 'prefetch', s.get('prefetch', 0))" $1/metrics.json; }
# single_view_bundle OUT [SRC]: a copy of bundle SRC (default models/default) without its
# decision rule (one view per image, uncalibrated; same weights), so eval.evaluate runs without
# TTA (notta.sh, session 10; bench_s16.sh)
single_view_bundle() { mkdir -p "$1"; $PY - "$1" "${2:-models/default}" <<'PY'
import json, shutil, sys
from pathlib import Path
out, src = Path(sys.argv[1]), Path(sys.argv[2])
meta = json.loads((src / "bundle.json").read_text())
for key in ("decision", "decision_fit"):
    meta.pop(key, None)
meta["name"] += "-single-view"
(out / "bundle.json").write_text(json.dumps(meta, indent=1))
shutil.copy(src / "model.safetensors", out / "model.safetensors")
PY
}
