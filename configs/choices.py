"""Named choices that settings offer and library code implements: one list for each.

Kept here, free of torch, so that settings can be parsed (and a bad flag reported) before the
heavy libraries load; `models.inference.backends` builds its runners for exactly
:data:`BACKENDS`, and `models.bundle.ensemble` combines members by exactly :data:`COMBINERS`.
"""

from __future__ import annotations

from typing import Literal, get_args

Backend = Literal["auto", "openvino", "onnxruntime", "torchscript", "eager"]
"""Inference runtime; ``auto`` picks OpenVINO (when installed and its logits agree with eager),
else ONNX Runtime, else TorchScript, else eager PyTorch."""

BACKENDS: tuple[str, ...] = get_args(Backend)
"""Every accepted name: ``auto`` first, then the runtimes in the order ``auto`` tries them."""

AUTO_ORDER: tuple[str, ...] = BACKENDS[1:]
"""What ``auto`` tries, in order; the last one (eager PyTorch) always works."""

TORCH_BACKENDS: tuple[str, ...] = ("torchscript", "eager")
"""The runtimes whose forward pass runs in torch's own threads (see `configs.process`)."""

Precision = Literal["auto", "fp32", "bf16"]
"""Inference precision of the OpenVINO runtime: ``auto`` is bf16 where the CPU computes it
natively (avx512_bf16 or AMX) and the bundle's logits agree with fp32, else fp32. The other
runtimes compute in fp32."""

PRECISIONS: tuple[str, ...] = get_args(Precision)
"""Every accepted precision name."""

Device = Literal["auto", "cpu", "cuda"]
"""Where the batch commands run the model; ``auto`` is a CUDA GPU when torch sees one, else the
CPU. The app always runs on the CPU."""

DEVICES: tuple[str, ...] = get_args(Device)
"""Every accepted device name."""

Combiner = Literal["mean", "rank", "weighted"]
"""How an ensemble's member probabilities become one score: mean probability, rank average, or
a mean weighted by each member's validation AUROC (the ISIC 2024 references' hard weighting)."""

COMBINERS: tuple[str, ...] = get_args(Combiner)
"""Every accepted combiner name."""

ClassWeights = Literal["none", "inverse", "sqrt-inverse"]
"""Per-class loss weights of a diagnosis head, from the training split's class counts."""

CLASS_WEIGHTS: tuple[str, ...] = get_args(ClassWeights)
"""Every accepted class weighting (`training.components.losses.class_weights_from_counts`)."""

Optimizer = Literal["adamw", "sgd"]
"""Training optimiser (`training.components.optim.build_optimizer`)."""

OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
"""Every accepted optimiser name."""

AugPolicy = Literal["none", "randaugment", "trivialaugment"]
"""Automatic augmentation policy of training (`training.components.augment.TrainAugment`)."""

AUG_POLICIES: tuple[str, ...] = get_args(AugPolicy)
"""Every accepted policy name."""
