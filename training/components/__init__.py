"""The Lightning pieces the training commands assemble: module, data, augmentation, mixing,
optimiser, sampling, resume, losses, ImageNet init."""
