"""AdaBN: re-estimate a bundle's BatchNorm statistics on a clinic's own unlabelled images.

`python -m eval.adapt --bundle B --images DIR --out B2` runs the image branch of bundle B in
training mode (no gradients, no labels) over up to `--max-images` of the clinic's images and
keeps, for every BatchNorm layer of the backbone, the average of the batch statistics; every
weight stays as it was. B2 records this in bundle.json (`adaptation`) and gets its own id.
Thresholds and any calibration map are B's, copied: they were chosen on B's scores, so check
B2 on labelled images of that clinic (`eval.evaluate`) before relying on them.

Refused: ensembles (adapt each member, then write a new ensemble of the adapted members) and
two-stage bundles (their trees were fitted on B's embeddings, which adaptation changes).
The metadata branch is left alone: unlabelled images seldom come with age, sex and site.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from configs.adaptation import AdaptSettings
from configs.cli import Command
from data.readers import DatasetError
from data.unlabelled import read_unlabelled
from eval.pipeline.errors import EvalError
from models.bundle.atomic import atomic_folder
from models.bundle.batch_inputs import ImageTable
from models.bundle.ensemble import is_ensemble
from models.bundle.io import (
    META_FILE,
    SECOND_STAGE_KEY,
    Bundle,
    BundleError,
    load_bundle,
    read_bundle_info,
    write_weights,
)

log = logging.getLogger(__name__)

ADAPTATION_KEY = "adaptation"


def batchnorm_layers(bundle: Bundle) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    """The image branch's BatchNorm layers, in network order."""
    return [m for m in bundle.model.backbone.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate(bundle: Bundle, paths: list[str], batch_size: int) -> int:
    """Replace the backbone's BatchNorm running statistics by those of these images (each
    batch weighs the same: PyTorch's cumulative average, momentum None). In place.

    Returns:
        The number of images used (unreadable ones are left out).
    """
    layers = batchnorm_layers(bundle)
    if not layers:
        raise EvalError(f"{bundle.path}: its backbone has no BatchNorm layer to adapt")
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    net = bundle.model.backbone
    net.train()  # BatchNorm uses and accumulates batch statistics; dropout has no effect here
    used = 0
    loader = DataLoader(ImageTable(paths, bundle.preprocessing), batch_size=batch_size,
                        num_workers=0)
    for x, _index, errors in loader:
        keep = torch.tensor([not e for e in errors])
        if int(keep.sum()) < 2:  # a batch of one has no variance: leave it out
            continue
        net(x[keep].contiguous(memory_format=torch.channels_last))
        used += int(keep.sum())
    net.eval()
    if used == 0:
        raise EvalError("no readable image to estimate the statistics from")
    return used


def _refuse(folder: Path) -> dict[str, Any]:
    """bundle.json of an adaptable bundle, or a one-line reason why it is not."""
    if is_ensemble(folder):
        raise EvalError(f"{folder}: an ensemble; adapt each member bundle with eval.adapt, "
                        "then write an ensemble of the adapted members (training.cv or "
                        "models.bundle.ensemble): BatchNorm statistics belong to one network")
    info = read_bundle_info(folder)
    if info.get(SECOND_STAGE_KEY):
        raise EvalError(f"{folder}: a two-stage bundle; its trees were fitted on this "
                        "network's embeddings, which adaptation changes. Adapt its CNN bundle "
                        "and fit the second stage again")
    return info


def run(s: AdaptSettings) -> dict[str, Any]:
    """Adapt the bundle as the settings say; returns the new bundle.json."""
    info = _refuse(s.bundle)
    if Path(s.out).resolve() == Path(s.bundle).resolve():
        raise EvalError(f"{s.out}: write the adapted bundle to a new folder")
    bundle = load_bundle(s.bundle)  # verifies the weights' checksum
    table, skipped = read_unlabelled(s.images)
    if len(table) > s.max_images:
        table = table.sample(s.max_images, random_state=s.seed).sort_index()
    log.info("%d images from %s (%d not usable)", len(table), s.images, len(skipped))
    used = reestimate(bundle, table["image_path"].tolist(), s.batch_size)
    with atomic_folder(s.out) as tmp:
        state = {k: v.detach().contiguous() for k, v in bundle.model.state_dict().items()}
        digest = write_weights(tmp, state)
        new = {k: v for k, v in info.items() if not k.startswith("_")}
        new["weights_sha256"] = digest
        new["bundle_id"] = f"{info['name']}-adabn-{digest[:12]}"
        new[ADAPTATION_KEY] = {
            "method": "adabn", "images": str(s.images), "n_images": used,
            "n_batchnorm_layers": len(batchnorm_layers(bundle)), "batch_size": s.batch_size,
            "seed": s.seed, "from_bundle": bundle.bundle_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "note": "only the backbone's BatchNorm statistics changed; thresholds and "
                    "calibration are the source bundle's, not re-chosen"}
        (tmp / META_FILE).write_text(json.dumps(new, indent=2, default=str) + "\n")
        load_bundle(tmp)  # what was written must load
    log.info("wrote %s (%s): BatchNorm statistics of %d images", s.out, new["bundle_id"], used)
    return new


def show(s: AdaptSettings, new: dict[str, Any]) -> None:
    """The adapted bundle's id and where its statistics came from."""
    print(f"{s.out}: {new['bundle_id']} (BatchNorm statistics of "
          f"{new[ADAPTATION_KEY]['n_images']} images from {s.images})")


COMMAND = Command(AdaptSettings, run, bad_input=(BundleError, DatasetError, EvalError, OSError),
                  writes_to=lambda s: s.out, show=show)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
