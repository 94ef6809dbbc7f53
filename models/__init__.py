"""Model code in rooms: `nn` (the network), `bundle` (its saved form), `inference` (serving),
`explain` (heatmaps) and `second_stage` (the trees); see docs/design.md."""

from configs.process import reexec_if_entry_point

reexec_if_entry_point()  # first: a `python -m` entry point restarts on tcmalloc before torch loads

from models._compat import ensure_torchvision_importable  # noqa: E402

# The one place the torchvision shim is applied: before anything imports torchvision (timm,
# pytorch-grad-cam, lightning, torchmetrics). Packages that import those libraries before
# `models` (training) import this package first.
ensure_torchvision_importable()
