"""Evaluation metrics for melanoma classification, binary and multi-class (numpy + scikit-learn).

This package is the single source of truth for every number reported about a model. Modules,
each depending only on those listed above it:

* :mod:`eval.metrics.checks`: :class:`MetricError`, input validation, class counts.
* :mod:`eval.metrics.ranking`: AUROC, average precision, the ISIC 2024 partial AUC above 80% TPR.
* :mod:`eval.metrics.thresholds`: operating-point metrics at a decision threshold and threshold
  selection.
* :mod:`eval.metrics.calibration`: Brier score, ECE, reliability curve.
* :mod:`eval.metrics.bootstrap`: percentile bootstrap confidence intervals, optionally
  resampling whole patients/lesions.
* :mod:`eval.metrics.summary`: :func:`summarize`, the core of ``metrics.json`` for one split.
* :mod:`eval.metrics.subgroups`: age bands and per-subgroup AUROC tables.
* :mod:`eval.metrics.multiclass`: diagnosis (k-class) metrics: the ISIC 2018/2019 balanced
  accuracy (with a bootstrap interval), confusion matrix, per-class one-vs-rest metrics, macro
  AUROC, and :func:`multiclass_summary` for ``metrics.json``. Its own conventions (argmax
  decisions, absent classes as None) are in that module's docstring.

Design rules:

* Binary metrics take ``y_true`` (0/1 labels) and ``y_prob`` (melanoma probabilities) of one
  length n; multi-class ones take ``labels`` (class indices, shape (n,)) and ``probabilities``
  (shape (n, k), rows summing to 1) and, where results are keyed by class, the k ``classes``
  in column order. The docstrings below do not repeat this.
* Invalid input (empty, length mismatch, NaN or out-of-range probabilities, labels other than
  0/1, a metric that needs both classes but gets one) raises :class:`MetricError` with a
  human-readable message. No function silently returns NaN.
* The binary decision rule everywhere is ``prob >= threshold`` -> positive (melanoma); the
  multi-class metrics decide by the argmax of each probability row.
* Results are plain Python ``float``/``int``/``list``/``dict`` so they can go straight into
  ``metrics.json``.

Everything public is re-exported here, so ``from eval.metrics import auroc`` works.
"""

from eval.metrics.bootstrap import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_SKIP_FRACTION,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    bootstrap_ci,
    bootstrap_paired_difference,
)
from eval.metrics.calibration import (
    DEFAULT_N_BINS,
    brier_score,
    expected_calibration_error,
    reliability_curve,
)
from eval.metrics.checks import MetricError
from eval.metrics.multiclass import (
    ROW_SUM_TOLERANCE,
    balanced_accuracy,
    balanced_accuracy_ci,
    confusion_matrix,
    macro_auroc,
    macro_f1,
    multiclass_summary,
    per_class_metrics,
)
from eval.metrics.ranking import DEFAULT_MIN_TPR, auroc, average_precision, pauc_above_tpr
from eval.metrics.subgroups import (
    AGE_BAND_EDGES,
    AGE_BAND_UNKNOWN,
    DEFAULT_SUBGROUP_MIN_N,
    DEFAULT_SUBGROUP_MIN_POS,
    SUBGROUP_MISSING_VALUE,
    age_band,
    subgroup_table,
)
from eval.metrics.summary import summarize
from eval.metrics.thresholds import (
    DEFAULT_SENSITIVITY_TARGET,
    DEFAULT_THRESHOLD,
    binary_metrics_at,
    confusion_at,
    select_thresholds,
    threshold_closest_to_corner,
    threshold_for_sensitivity,
)

__all__ = [
    "AGE_BAND_EDGES",
    "AGE_BAND_UNKNOWN",
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_SKIP_FRACTION",
    "DEFAULT_MIN_TPR",
    "DEFAULT_N_BINS",
    "DEFAULT_N_BOOT",
    "DEFAULT_SEED",
    "DEFAULT_SENSITIVITY_TARGET",
    "DEFAULT_SUBGROUP_MIN_N",
    "DEFAULT_SUBGROUP_MIN_POS",
    "DEFAULT_THRESHOLD",
    "ROW_SUM_TOLERANCE",
    "SUBGROUP_MISSING_VALUE",
    "MetricError",
    "age_band",
    "auroc",
    "average_precision",
    "balanced_accuracy",
    "balanced_accuracy_ci",
    "binary_metrics_at",
    "bootstrap_ci",
    "bootstrap_paired_difference",
    "brier_score",
    "confusion_at",
    "confusion_matrix",
    "expected_calibration_error",
    "macro_auroc",
    "macro_f1",
    "multiclass_summary",
    "pauc_above_tpr",
    "per_class_metrics",
    "reliability_curve",
    "select_thresholds",
    "subgroup_table",
    "summarize",
    "threshold_closest_to_corner",
    "threshold_for_sensitivity",
]
