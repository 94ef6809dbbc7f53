"""How the network's logits become probabilities: the one definition every path uses.

Training's validation scores, the bundle's reference predictions, evaluation and the app's
engine (eager, TorchScript or ONNX Runtime logits alike) all call :func:`logits_to_probability`, so the
same logit gives bit-identical probabilities everywhere.
"""

from __future__ import annotations

import numpy as np
import torch


def logits_to_probability(logits: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Melanoma probability of each logit.

    The sigmoid is taken in float32 (the dtype every runtime produces its logits in) and the
    result is widened to float64, so that values computed from eager, TorchScript and ONNX
    Runtime logits, and stored probabilities, compare exactly.

    Args:
        logits: (N,) logits as a tensor or an array, any float dtype.

    Returns:
        (N,) float64 tensor on the CPU, detached from any graph.
    """
    if isinstance(logits, np.ndarray):
        logits = torch.from_numpy(np.asarray(logits, dtype=np.float32))
    return torch.sigmoid(logits.detach().to(device="cpu", dtype=torch.float32)).double()
