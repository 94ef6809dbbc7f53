"""Model code: fusion network, losses, pretrained initialisation, bundles and the inference engine."""

from models._compat import ensure_torchvision_importable

# The one place the torchvision shim is applied: before anything imports torchvision (timm,
# pytorch-grad-cam, lightning, torchmetrics). Packages that import those libraries before
# `models` (training) import this package first.
ensure_torchvision_importable()
