"""Model code: fusion network, losses, pretrained initialisation, bundles and the inference engine."""

from configs.process import reexec_if_entry_point

reexec_if_entry_point()  # first: a `python -m` entry point restarts on tcmalloc before torch loads

from models._compat import ensure_torchvision_importable  # noqa: E402

# The one place the torchvision shim is applied: before anything imports torchvision (timm,
# pytorch-grad-cam, lightning, torchmetrics). Packages that import those libraries before
# `models` (training) import this package first.
ensure_torchvision_importable()
