"""The fusion network: a timm image backbone plus a metadata MLP, joined by a linear head.

The head has one logit (melanoma against the rest) or, for a diagnosis model, one logit per
class of `FusionConfig.classes` (a softmax head). The classes are canonical diagnoses in the
canonical order (`data.diagnoses.DIAGNOSES`), so melanoma, when present, is always column 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import timm
import torch
from torch import nn

import models  # noqa: F401  (torchvision shim before timm touches torchvision)
import models.nn.hybrid  # noqa: F401  (registers the hybrid backbone with timm)
from data.diagnoses import DIAGNOSES, MELANOMA

MAX_CAM_STAGES = 5  # CNNs' stage count; deeper lists (transformer blocks) are thinned
MELANOMA_TASK = "melanoma"
DIAGNOSIS_TASK = "diagnosis"
TASKS = (MELANOMA_TASK, DIAGNOSIS_TASK)


def check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Validate a diagnosis model's class list.

    Args:
        classes: canonical diagnoses.

    Returns:
        The classes as a tuple.

    Raises:
        ValueError: fewer than two classes, unknown or repeated names, not in the canonical
            order, or no melanoma class (the melanoma probability is read from it).
    """
    classes = tuple(classes)
    unknown = [c for c in classes if c not in DIAGNOSES]
    if unknown:
        raise ValueError(f"unknown diagnosis classes {unknown}; expected some of {DIAGNOSES}")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"a diagnosis model needs two or more distinct classes, got {classes}")
    if list(classes) != sorted(classes, key=DIAGNOSES.index):
        raise ValueError(f"classes {classes} are not in the canonical order {DIAGNOSES}")
    if classes[0] != MELANOMA:
        raise ValueError(f"classes {classes} lack {MELANOMA}: a diagnosis model must include "
                         "melanoma, whose probability every decision is made on")
    return classes


@dataclass(frozen=True)
class FusionConfig:
    """Architecture of a `FusionNet`; serialised into the model bundle.

    Attributes:
        backbone: any timm model name.
        meta_dim: length of the encoded metadata vector (0 = image-only model).
        meta_hidden: widths of the metadata MLP's Linear-BatchNorm-ReLU-Dropout blocks.
        meta_dropout: dropout inside the metadata MLP.
        head_dropout: dropout before the final linear layer.
        drop_path_rate: stochastic depth in the backbone (timm).
        classes: () for the one-logit melanoma model; else the diagnosis classes of the
            softmax head (canonical names in canonical order, melanoma first).
        backbone_kwargs: extra constructor arguments of the timm model (e.g. the hybrid's
            `depths` and `dims`), recorded so the bundle rebuilds the same network.
    """

    backbone: str = "efficientnet_b0"
    meta_dim: int = 0
    meta_hidden: tuple[int, ...] = (64, 32)
    meta_dropout: float = 0.2
    head_dropout: float = 0.3
    drop_path_rate: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.classes:
            object.__setattr__(self, "classes", check_classes(self.classes))

    @property
    def task(self) -> str:
        """"melanoma" (one logit) or "diagnosis" (softmax over `classes`)."""
        return DIAGNOSIS_TASK if self.classes else MELANOMA_TASK

    @property
    def num_outputs(self) -> int:
        """Width of the head: 1, or the number of classes."""
        return len(self.classes) or 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (a melanoma model's has no `classes`, as before)."""
        d = asdict(self)
        d["meta_hidden"] = list(self.meta_hidden)
        if self.classes:
            d["classes"] = list(self.classes)
        else:
            del d["classes"]
        if not self.backbone_kwargs:  # older bundles' JSON stays as it was
            del d["backbone_kwargs"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FusionConfig:
        """Inverse of `to_dict` (bundles written before diagnosis models load unchanged)."""
        d = dict(d)
        d["meta_hidden"] = tuple(d.get("meta_hidden", ()))
        d["classes"] = tuple(d.get("classes", ()))
        return cls(**d)


def _mlp(in_dim: int, widths: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                   nn.Dropout(dropout)]
        in_dim = width
    return nn.Sequential(*layers)


class BackboneError(ValueError):
    """A backbone name or input size that cannot work; the message names both."""


def fixed_input_size(backbone: nn.Module) -> tuple[int, int] | None:
    """The only input size a backbone accepts (ViT/EVA-style fixed position embeddings), or
    None for backbones that take any size (CNNs, hybrids, dynamic-size transformers)."""
    patch = getattr(backbone, "patch_embed", None)
    if patch is None or getattr(backbone, "dynamic_img_size", False):
        return None
    if not getattr(patch, "strict_img_size", False) or not getattr(patch, "img_size", None):
        return None
    return tuple(int(v) for v in patch.img_size)


def check_input_size(backbone: str, image_size: int) -> None:
    """Refuse, before any data is read, a backbone that cannot take `image_size` pixels.

    Raises:
        BackboneError: an unknown timm name, or a transformer whose position embeddings fix
            another size (it would fail on its first forward pass).
    """
    try:
        with torch.device("meta"):  # the modules' shapes only: no memory, no weights
            net = timm.create_model(backbone, pretrained=False, num_classes=0)
    except RuntimeError as err:
        if "Unknown model" in str(err):
            raise BackboneError(f"--backbone {backbone!r}: not a timm model name "
                                "(see timm.list_models())") from None
        return  # cannot be built on the meta device: the first forward pass will tell
    fixed = fixed_input_size(net)
    if fixed is not None and fixed != (image_size, image_size):
        raise BackboneError(
            f"--backbone {backbone} takes {fixed[0]}x{fixed[1]} images only (fixed position "
            f"embeddings), but --image-size is {image_size}: use --image-size {fixed[0]}, or a "
            "CNN or hybrid backbone for other sizes")


class FusionNet(nn.Module):
    """Image backbone (timm, `num_classes=0`) + metadata MLP -> concat -> logit(s).

    The metadata branch is named `meta_mlp` (not `meta`: ONNX export rejects that name).
    """

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = timm.create_model(config.backbone, pretrained=False, num_classes=0,
                                          drop_path_rate=config.drop_path_rate,
                                          **config.backbone_kwargs)
        fused = self.backbone.num_features
        if config.meta_dim > 0:
            self.meta_mlp = _mlp(config.meta_dim, config.meta_hidden, config.meta_dropout)
            fused += config.meta_hidden[-1] if config.meta_hidden else config.meta_dim
        else:
            self.meta_mlp = None
        self.head = nn.Sequential(nn.Dropout(config.head_dropout),
                                  nn.Linear(fused, config.num_outputs))

    @property
    def uses_metadata(self) -> bool:
        """Whether the model has a metadata branch."""
        return self.meta_mlp is not None

    def forward(self, image: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        """Compute logits.

        Args:
            image: (N, 3, H, W) normalised images.
            meta: (N, meta_dim) encoded metadata; required iff the model uses metadata.

        Returns:
            (N,) melanoma logits, or (N, K) class logits for a diagnosis model.
        """
        return self._head(self.backbone(image), meta)

    def forward_with_embedding(self, image: torch.Tensor, meta: torch.Tensor | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the image embedding (the backbone's pooled features) of one pass.

        Args:
            image, meta: as `forward`.

        Returns:
            (logits as `forward`, (N, backbone.num_features) pooled image features).
        """
        embedding = self.backbone(image)
        return self._head(embedding, meta), embedding

    def _head(self, embedding: torch.Tensor, meta: torch.Tensor | None) -> torch.Tensor:
        # Kept out of `forward_with_embedding`: `forward` must export (ONNX, TorchScript) to
        # the same graph as before, without a second output (measured: +12 ms per analysis).
        feats = embedding
        if self.meta_mlp is not None:
            if meta is None:
                raise ValueError("this model uses metadata: pass the encoded metadata tensor")
            feats = torch.cat([feats, self.meta_mlp(meta)], dim=1)
        logits = self.head(feats)
        return logits if self.config.classes else logits.squeeze(1)

    def cam_layer_names(self) -> list[str]:
        """Named layers for CAM, from early (fine detail) to late (semantics).

        Uses timm's feature_info stages (skipping the stride-2 stem stage), plus the final
        1x1 head convolution block where the backbone has one (EfficientNet's `bn2`).

        Returns:
            Module names relative to the whole model (e.g. "backbone.blocks.2").
        """
        stages = [info["module"] for info in self.backbone.feature_info]
        if len(stages) > MAX_CAM_STAGES:  # e.g. a ViT's 12 blocks: 4 spread out, ending last
            step = len(stages) / 4
            stages = [stages[round((i + 1) * step) - 1] for i in range(4)]
        names = stages[1:] if len(stages) > 4 else stages
        if hasattr(self.backbone, "bn2") and "bn2" not in names:
            names = names + ["bn2"]
        return [f"backbone.{name}" for name in names]
