"""Training: LightningDataModule, LightningModule and the pl_train entry point."""

# timm, grad-cam, lightning and torchmetrics import torchvision; importing `models` first applies
# its torchvision shim (models/_compat.py), whichever module of this package is loaded first.
import models  # noqa: F401
