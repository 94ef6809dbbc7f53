"""Training: the commands at the top (pl_train, cv, loso, soup, embed, stack, benchmark);
the Lightning pieces they assemble in `components`."""

from configs.process import reexec_if_entry_point

reexec_if_entry_point()  # first: a `python -m` entry point restarts on tcmalloc before torch loads

# timm, grad-cam, lightning and torchmetrics import torchvision; importing `models` first applies
# its torchvision shim (models/_compat.py), whichever module of this package is loaded first.
import models  # noqa: F401
