"""Model code: fusion network, losses, pretrained initialisation, bundles and the inference engine."""

from models._compat import ensure_torchvision_importable

# Must run before anything imports torchvision (timm, pytorch-grad-cam, lightning).
ensure_torchvision_importable()
