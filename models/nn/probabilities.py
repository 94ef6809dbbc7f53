"""How the network's logits become probabilities: the one definition every path uses.

A melanoma model's (N,) logits go through a sigmoid; a diagnosis model's (N, K) logits
through a softmax, whose column 0 is melanoma (`models.nn.fusion`: classes are canonical and
melanoma comes first), so its melanoma probability is P(MEL) and every decision, threshold
and metric on "the probability" means the same for both kinds.

Training's validation scores, the bundle's reference predictions, evaluation and the app's
engine (eager, TorchScript or ONNX Runtime logits alike) all call :func:`logits_to_probability`, so
the
same logit gives bit-identical probabilities everywhere.
"""

from __future__ import annotations

import numpy as np
import torch

MELANOMA_COLUMN = 0  # of a diagnosis model's outputs (checked by models.nn.fusion.check_classes)


def _float32(logits: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(logits, np.ndarray):
        logits = torch.from_numpy(np.asarray(logits, dtype=np.float32))
    return logits.detach().to(device="cpu", dtype=torch.float32)


def logits_to_probability(logits: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Melanoma probability of each row of logits ((N,) melanoma or (N, K) diagnosis logits).

    The sigmoid (softmax) is taken in float32, the dtype every runtime produces its logits in,
    and widened to float64, so that values from eager, TorchScript and ONNX Runtime logits and
    stored probabilities compare exactly. Returns an (N,) float64 CPU tensor, detached.
    """
    logits = _float32(logits)
    if logits.ndim == 2:
        return torch.softmax(logits, dim=1)[:, MELANOMA_COLUMN].double()
    return torch.sigmoid(logits).double()


def logits_to_class_probabilities(logits: torch.Tensor | np.ndarray) -> torch.Tensor | None:
    """Class probabilities of a diagnosis model's logits (None for a melanoma model's).

    Args:
        logits: (N, K) diagnosis logits, or (N,) melanoma logits.

    Returns:
        (N, K) float64 softmax probabilities on the CPU, or None for (N,) logits.
    """
    logits = _float32(logits)
    return torch.softmax(logits, dim=1).double() if logits.ndim == 2 else None
