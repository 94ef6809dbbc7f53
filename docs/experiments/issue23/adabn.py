"""AdaBN experiment (issue 23): re-estimate a bundle's BatchNorm statistics on a clinic's
unlabelled images and write the result as a new bundle (same weights otherwise).

    python docs/experiments/issue23/adabn.py BUNDLE DATASET OUT [--max-images N]

DATASET is any labelled dataset folder the readers know (its labels are not used: only the
images). The new bundle's weights hash, id and an `adaptation` record are updated; everything
else (thresholds, decision rule) is copied, so its evaluation shows what the statistics alone do.
Experiment code: it becomes `python -m eval.adapt` only if it helps on held-out sources.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from data.multisource import DatasetSpec
from models.bundle.batch_inputs import ImageTable
from models.bundle.io import BUNDLE_FORMAT, META_FILE, WEIGHTS_FILE, load_bundle, sha256_file


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-images", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    bundle = load_bundle(a.bundle)
    df = DatasetSpec(a.data).read("skip")
    if len(df) > a.max_images:
        df = df.sample(a.max_images, random_state=a.seed)
    net = bundle.model.backbone
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every batch
    net.train()
    loader = DataLoader(ImageTable(df["image_path"].tolist(), bundle.preprocessing),
                        batch_size=a.batch_size, num_workers=0)
    with torch.no_grad():
        for x, _, err in loader:
            keep = torch.tensor([not e for e in err])
            net(x[keep].contiguous(memory_format=torch.channels_last))
    net.eval()
    a.out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in bundle.model.state_dict().items()}
    weights = a.out / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": BUNDLE_FORMAT})
    info = json.loads((a.bundle / META_FILE).read_text())
    digest = sha256_file(weights)
    info["weights_sha256"] = digest
    info["bundle_id"] = f"{info['name']}-adabn-{digest[:12]}"
    info["adaptation"] = {"method": "adabn", "images": str(a.data), "n_images": len(df),
                          "n_batchnorm_layers": len(bns), "from_bundle": bundle.bundle_id}
    (a.out / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
    for extra in a.bundle.iterdir():
        if extra.name not in (META_FILE, WEIGHTS_FILE) and extra.is_file():
            shutil.copy2(extra, a.out / extra.name)
    load_bundle(a.out)  # loads and verifies
    print(info["bundle_id"], len(df), len(bns))


if __name__ == "__main__":
    main()
