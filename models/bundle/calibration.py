"""Probability calibration of the melanoma score on the log-odds: temperature or Platt.

Temperature: ``p_cal = sigmoid(logit(p) / T)``; Platt: ``p_cal = sigmoid(a * logit(p) + b)``
with ``a > 0``. Both are strictly increasing in ``p``, so the ranking (AUROC, pAUC) cannot
change; only the probabilities' scale does. Parameters are fitted by minimising the negative
log-likelihood on validation predictions; they are one or two numbers, stored as JSON (never a
pickled estimator).

Why Platt as well: a model trained with focal loss and a class-balanced sampler predicts as if
melanoma were about as common as everything else. That is a shift of the log-odds, which a
temperature (no intercept) cannot undo (measured in MODEL_CARD.md "Calibration").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar

_EPS = 1e-7
LOG_T_BOUNDS = (-4.0, 4.0)  # T in [0.018, 55]: far beyond any sane model's miscalibration


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def apply_temperature(p: Any, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logit(p) / temperature)``.

    Raises:
        ValueError: a temperature that is not positive and finite.
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    return 1.0 / (1.0 + np.exp(-_logit(p) / temperature))


def nll(y: Any, p: Any) -> float:
    """Mean binary negative log-likelihood."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def fit_temperature(y: Any, p: Any) -> float:
    """The temperature minimising the NLL of ``apply_temperature(p, T)`` against ``y``.

    Args:
        y: 0/1 labels (both classes present).
        p: the model's probabilities.

    Raises:
        ValueError: lengths differ, or only one class.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and probabilities {p.shape} must be equal 1-D")
    if len(np.unique(y)) != 2:
        raise ValueError("fitting a temperature needs both melanomas and non-melanomas")
    result = minimize_scalar(lambda log_t: nll(y, apply_temperature(p, float(np.exp(log_t)))),
                             bounds=LOG_T_BOUNDS, method="bounded",
                             options={"xatol": 1e-6})
    return float(np.exp(result.x))


def apply_platt(p: Any, slope: float, intercept: float) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(slope * logit(p) + intercept)``.

    Raises:
        ValueError: a slope that is not positive and finite (the map must keep the ranking).
    """
    if not np.isfinite(slope) or slope <= 0 or not np.isfinite(intercept):
        raise ValueError(f"Platt slope must be positive and finite and the intercept finite, "
                         f"got {slope}, {intercept}")
    return 1.0 / (1.0 + np.exp(-(slope * _logit(p) + intercept)))


def fit_platt(y: Any, p: Any) -> tuple[float, float]:
    """(slope, intercept) minimising the NLL of ``apply_platt(p, slope, intercept)``.

    Raises:
        ValueError: lengths differ, or only one class.
    """
    fit_temperature(y, p)  # the same input checks
    y = np.asarray(y, dtype=np.float64)
    z = _logit(p)

    def loss(params: np.ndarray) -> float:
        q = 1.0 / (1.0 + np.exp(-(np.exp(params[0]) * z + params[1])))
        return nll(y, q)

    # The slope is optimised as log(slope), so it stays positive.
    result = minimize(loss, np.zeros(2), method="Nelder-Mead",
                      options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 2000})
    return float(np.exp(result.x[0])), float(result.x[1])
