"""Training: LightningDataModule, LightningModule and the pl_train entry point."""

from models._compat import ensure_torchvision_importable

# Before any import of lightning/timm/grad-cam pulls in torchvision (see models/_compat.py).
ensure_torchvision_importable()
