"""Re-estimate a bundle's BatchNorm statistics on images WITH the training augmentation.

Session 11: `eval.adapt` (eval preprocessing) on the soup's own training images fixed its bf16
gate but lost the soup's MSK + archive gain. The ingredients' running statistics were
accumulated on augmented 224-px crops, so this re-estimates them the same way: the
TrainAugment of the training defaults (random resized crop 0.5-1, dihedral flips, colour jitter
0.15, Shades of Gray), one pass over the images in a seeded random order, batch 32, cumulative
average. Writes a bundle like eval.adapt (the `adaptation` record says how).
Usage: python bn_recal_aug.py BUNDLE IMAGE_DIR OUT [PASSES]
"""
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from eval.adapt import ADAPTATION_KEY, batchnorm_layers
from models.bundle.atomic import atomic_folder
from models.bundle.io import META_FILE, load_bundle, read_bundle_info, write_weights
from training.components.augment import TrainAugment

src, images, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
passes = int(sys.argv[4]) if len(sys.argv) > 4 else 1
torch.manual_seed(0)
bundle = load_bundle(src)
info = read_bundle_info(src)
paths = sorted(images.glob("*.jpg"))
augment = TrainAugment(bundle.preprocessing)


class Augmented(Dataset):
    def __len__(self):
        return len(paths) * passes

    def __getitem__(self, i):
        return augment(bundle.preprocessing.load(paths[i % len(paths)]))


layers = batchnorm_layers(bundle)
for layer in layers:
    layer.reset_running_stats()
    layer.momentum = None
net = bundle.model.backbone.train()
gen = torch.Generator().manual_seed(0)
n = 0
t0 = time.time()
with torch.no_grad():
    for x in DataLoader(Augmented(), batch_size=32, shuffle=True, generator=gen, num_workers=0,
                        drop_last=True):
        net(x.contiguous(memory_format=torch.channels_last))
        n += len(x)
net.eval()
with atomic_folder(out) as tmp:
    state = {k: v.detach().contiguous() for k, v in bundle.model.state_dict().items()}
    digest = write_weights(tmp, state)
    new = {k: v for k, v in info.items() if not k.startswith("_")}
    new["weights_sha256"] = digest
    new["bundle_id"] = f"{info['name']}-bnaug-{digest[:12]}"
    new[ADAPTATION_KEY] = {
        "method": "batchnorm re-estimation with the training augmentation",
        "images": str(images), "n_images": n, "passes": passes, "batch_size": 32,
        "n_batchnorm_layers": len(layers), "from_bundle": bundle.bundle_id,
        "augmentation": "TrainAugment defaults (crop 0.5-1, dihedral, colour 0.15)",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (tmp / META_FILE).write_text(json.dumps(new, indent=2, default=str) + "\n")
    load_bundle(tmp)
print(f"{out}: BatchNorm statistics of {n} augmented images, {time.time() - t0:.0f} s")
