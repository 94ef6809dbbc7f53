"""Shared helpers for the eval.metrics tests: generated data and reference pAUC implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from isic_challenge_scoring.metrics import auc_above_sensitivity
from sklearn.metrics import roc_auc_score, roc_curve


def make_data(
    seed: int, n: int, prevalence: float = 0.3, separation: float = 1.0, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities from two overlapping Gaussians (logit scale)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    # Guarantee both classes even for tiny n.
    y[0], y[1] = 0, 1
    logits = rng.normal(separation * y, 1.0)
    p = 1.0 / (1.0 + np.exp(-logits))
    if decimals is not None:
        p = np.round(p, decimals)  # creates ties
    return y, p


def kaggle_pauc(solution: np.ndarray, submission: np.ndarray, min_tpr: float = 0.8) -> float:
    """The ISIC 2024 Kaggle metric, verbatim."""
    v_gt = abs(np.asarray(solution) - 1)
    v_pred = -1.0 * np.asarray(submission)
    max_fpr = abs(1 - min_tpr)
    partial_auc_scaled = roc_auc_score(v_gt, v_pred, max_fpr=max_fpr)
    return 0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / (1.0 - 0.5) * (
        partial_auc_scaled - 0.5
    )


def isic_package_pauc_converted(y: np.ndarray, p: np.ndarray, min_tpr: float = 0.8) -> float:
    """isic-challenge-scoring's auc_above_sensitivity, converted to the ISIC 2024 definition.

    The package integrates TPR (not TPR - min_tpr) from FPR* (where the ROC curve reaches
    min_tpr) to 1, so subtracting the rectangle min_tpr * (1 - FPR*) gives the 2024 value.
    FPR* is found exactly as the package does (searchsorted left + 2-point interpolation).
    """
    raw = auc_above_sensitivity(
        pd.Series(y.astype(float)), pd.Series(p), pd.Series(np.ones(len(y))), min_tpr
    )
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    k = int(np.searchsorted(tpr, min_tpr, side="left"))
    fpr_star = float(np.interp(min_tpr, tpr[k - 1 : k + 1], fpr[k - 1 : k + 1]))
    return raw - min_tpr * (1.0 - fpr_star)


def sensitivity_at(y: np.ndarray, p: np.ndarray, t: float) -> float:
    return float(np.sum((p >= t) & (y == 1)) / np.sum(y == 1))


RANDOM_CASES = [
    # (seed, n, prevalence, decimals)
    (0, 50, 0.3, None),
    (1, 200, 0.1, None),
    (2, 1000, 0.02, None),
    (3, 300, 0.5, 1),  # heavy ties
    (4, 300, 0.2, 2),  # ties
    (5, 17, 0.4, None),  # tiny
    (6, 2000, 0.05, 3),
    (7, 5, 0.5, None),
]

Y8 = np.array([0, 0, 0, 0, 1, 1, 1, 0])
P8 = np.array([0.1, 0.4, 0.5, 0.2, 0.5, 0.9, 0.3, 0.7])
