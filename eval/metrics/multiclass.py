"""Multi-class (diagnosis) metrics: balanced accuracy, confusion matrix, per-class one-vs-rest.

For the 8-class diagnosis models (ISIC 2019 order ``MEL, NV, BCC, AK, BKL, DF, VASC, SCC``, or
a subset of it in that order). The headline number is the ISIC 2018/2019 challenge metric,
balanced accuracy: the mean per-class recall over the classes present in the labels.

Conventions (the binary modules' rules, adapted to k classes):

* Input: ``labels`` are int class indices into ``classes`` (shape (n,)); ``probabilities``
  has shape (n, k), finite values in [0, 1], each row summing to 1 within
  :data:`ROW_SUM_TOLERANCE`. Anything else raises :class:`MetricError` naming the row.
* The decision is the argmax of each row; ties go to the first (lowest-index) class, as in
  numpy/torch. The official ISIC scorer instead counts a tied row as "undecided" (always
  wrong); with continuous scores ties do not occur and the two agree.
* A class absent from the labels is reported with ``"absent": True`` and None for every
  metric that needs positives (AUROC, sensitivity, F1); it is never shown as 0, and it is left
  out of the balanced accuracy and the macro AUROC (as in the ISIC scorer).
* Precision of a class nothing was predicted as is None, with the reason in that class's
  ``notes``. (The binary :func:`~eval.metrics.binary_metrics_at` reports 0.0 there; for a
  per-class table a 0 would read as "every call was wrong" when no call was made.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.metrics.bootstrap import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_SKIP_FRACTION,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    _bootstrap,
    _check_bootstrap_args,
    _cluster_layout,
)
from eval.metrics.checks import MetricError
from eval.metrics.ranking import auroc

logger = logging.getLogger(__name__)

# Softmax outputs saved as float32 (or rounded in a CSV) sum to 1 only approximately.
ROW_SUM_TOLERANCE: float = 1e-4


def _where(row: int, col: int, classes: Sequence[str] | None) -> str:
    """``"row 3, column 'BCC'"`` (or ``column 2`` without class names) for error messages."""
    column = repr(classes[col]) if classes is not None else str(col)
    return f"row {row}, column {column}"


def _validate_classes(classes: Any, k: int) -> list[str]:
    """Class names as a list of k distinct non-empty strings.

    Raises:
        MetricError: Wrong count, duplicates, or a name that is not a non-empty string.
    """
    if isinstance(classes, str):
        raise MetricError(f"classes must be a list of names, not the string {classes!r}")
    names = list(classes)
    if len(names) != k:
        raise MetricError(f"classes has {len(names)} name(s) but probabilities has {k} column(s)")
    bad = [c for c in names if not isinstance(c, str) or not c]
    if bad:
        raise MetricError(f"class names must be non-empty strings; got {bad[:5]!r}")
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise MetricError(f"class names must be distinct; repeated: {duplicates}")
    return names


def _validate_probabilities(p_arr: np.ndarray, classes: Sequence[str] | None) -> np.ndarray:
    """Probability matrix as float64 (n, k), checked cell by cell (see _validate_multiclass)."""
    if p_arr.ndim != 2:
        raise MetricError(f"probabilities must be 2-D (n, k); got shape {p_arr.shape}")
    if p_arr.shape[1] < 2:
        raise MetricError(f"probabilities needs at least 2 class columns; got {p_arr.shape[1]}")
    try:
        p = p_arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"probabilities must be numeric; got dtype {p_arr.dtype}") from exc
    for bad, what in ((np.isnan(p), "NaN"), (np.isinf(p), "infinite")):
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise MetricError(
                f"probabilities contain {int(bad.sum())} {what} value(s), first at "
                f"{_where(int(r), int(c), classes)}"
            )
    outside = (p < 0.0) | (p > 1.0)
    if outside.any():
        r, c = np.argwhere(outside)[0]
        raise MetricError(
            f"probabilities must be in [0, 1]; {int(outside.sum())} value(s) are not, first "
            f"{p[r, c]:.6g} at {_where(int(r), int(c), classes)} (did you pass logits?)"
        )
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        r = int(np.flatnonzero(off)[0])
        raise MetricError(
            f"each probabilities row must sum to 1 (within {ROW_SUM_TOLERANCE:g}); "
            f"{int(off.sum())} row(s) do not, first row {r} sums to {sums[r]:.6g} "
            "(softmax not applied, or one-vs-rest sigmoid outputs?)"
        )
    return p


def _validate_labels(labels: Any, n: int, k: int) -> np.ndarray:
    """Labels as an int64 array of class indices in ``[0, k)`` (see _validate_multiclass)."""
    try:
        y_arr = np.asarray(labels)
    except ValueError as exc:  # ragged nested lists
        raise MetricError(f"labels must be a 1-D array of class indices: {exc}") from exc
    if y_arr.ndim != 1:
        raise MetricError(f"labels must be 1-D; got shape {y_arr.shape}")
    if y_arr.shape[0] != n:
        raise MetricError(
            f"labels and probabilities have different lengths: {y_arr.shape[0]} vs {n}"
        )
    try:
        y_float = y_arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricError(
            f"labels must be integer class indices; got dtype {y_arr.dtype} "
            "(map class names to indices first)"
        ) from exc
    # 2.0 is accepted (labels read from a float column), 1.5 / NaN / -1 / k are data bugs.
    bad = ~np.isfinite(y_float) | (y_float != np.round(y_float)) | (y_float < 0) | (y_float >= k)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise MetricError(
            f"labels must be class indices in [0, {k}); {int(bad.sum())} value(s) are not, "
            f"first {y_arr[r:r + 1].tolist()[0]!r} at row {r}"
        )
    return y_float.astype(np.int64)


def _validate_multiclass(
    labels: Any, probabilities: Any, classes: Any = None
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """``(y, p, names)`` as int64 labels, float64 probabilities (k >= 2) and a list of names or
    None.

    MetricError, naming the first bad row, for empty input, wrong shapes or lengths,
    non-integer or out-of-range labels, non-numeric, NaN, infinite or out-of-range
    probabilities, rows not summing to 1, or bad class names.
    """
    try:
        p_arr = np.asarray(probabilities)
    except ValueError as exc:  # numpy refuses ragged nested lists
        raise MetricError(f"probabilities must be a rectangular (n, k) array: {exc}") from exc
    names = None
    if classes is not None and p_arr.ndim == 2:
        names = _validate_classes(classes, p_arr.shape[1])
    p = _validate_probabilities(p_arr, names)
    if p.shape[0] == 0:
        raise MetricError("empty input: labels and probabilities have no samples")
    y = _validate_labels(labels, p.shape[0], p.shape[1])
    return y, p, names


def _validate_named(
    labels: Any, probabilities: Any, classes: Any
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`_validate_multiclass` for the functions whose results are keyed by class name.

    Raises:
        MetricError: As :func:`_validate_multiclass`, or if ``classes`` is None.
    """
    if classes is None:
        raise MetricError("classes (the k class names, in column order) is required")
    y, p, names = _validate_multiclass(labels, probabilities, classes)
    return y, p, names or []


def _confusion_counts(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """k x k int64 counts, rows = true class, columns = predicted class."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def _balanced_accuracy_of(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Mean recall over the classes present in ``y`` (validated input)."""
    support = np.bincount(y, minlength=k)
    correct = np.bincount(y[pred == y], minlength=k)
    present = support > 0
    return float(np.mean(correct[present] / support[present]))


def balanced_accuracy(labels: Any, probabilities: Any) -> float:
    """Balanced accuracy, the ISIC 2018/2019 challenge metric: mean recall over the classes present.

    Decisions are the argmax. A class absent from the labels is skipped (its recall is
    undefined), as the official scorer does; a model is not rewarded for never predicting it.
    """
    y, p, _ = _validate_multiclass(labels, probabilities)
    return _balanced_accuracy_of(y, p.argmax(axis=1), p.shape[1])


def confusion_matrix(labels: Any, probabilities: Any, classes: Sequence[str]) -> dict[str, Any]:
    """Confusion matrix of argmax decisions: ``{"classes", "counts", "normalized"}``.

    Rows are the true class, columns the prediction. A ``normalized`` row is the fraction of that
    class's images given each prediction, or None for a class absent from the labels (a row of
    zeros would look like a class that is always misclassified).
    """
    y, p, names = _validate_named(labels, probabilities, classes)
    k = p.shape[1]
    counts = _confusion_counts(y, p.argmax(axis=1), k)
    support = counts.sum(axis=1)
    normalized: list[list[float] | None] = [
        (counts[i] / support[i]).tolist() if support[i] > 0 else None for i in range(k)
    ]
    return {"classes": names, "counts": counts.tolist(), "normalized": normalized}


def _macro_prf_of(y: np.ndarray, pred: np.ndarray, k: int) -> dict[str, float]:
    """Macro precision, recall and F1 over the classes present in ``y`` (validated input).

    A present class that nothing was predicted as counts 0 precision (scikit-learn's
    ``zero_division=0``): in an average, never calling a class is a failure, not a gap.
    """
    counts = _confusion_counts(y, pred, k)
    tp = np.diag(counts).astype(np.float64)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    present = support > 0
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = tp / np.maximum(support, 1)
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(k), where=(support + predicted) > 0)
    return {"macro_precision": float(precision[present].mean()),
            "macro_recall": float(recall[present].mean()),
            "macro_f1": float(f1[present].mean())}


def macro_f1(labels: Any, probabilities: Any) -> float:
    """Macro F1 with argmax decisions, over the classes present in ``labels`` (the reference
    recipe's checkpoint metric). Raises MetricError on invalid input."""
    y, p, _ = _validate_multiclass(labels, probabilities)
    return _macro_prf_of(y, p.argmax(axis=1), p.shape[1])["macro_f1"]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def _one_class_metrics(
    y: np.ndarray, p: np.ndarray, counts: np.ndarray, i: int, name: str
) -> dict[str, Any]:
    """One-vs-rest metrics of class ``i`` (see :func:`per_class_metrics`)."""
    n = int(y.shape[0])
    tp = int(counts[i, i])
    support = int(counts[i].sum())
    n_predicted = int(counts[:, i].sum())
    fn, fp = support - tp, n_predicted - tp
    tn = n - tp - fn - fp
    notes: list[str] = []
    if support == 0:
        notes.append(f"{name} is absent from the labels: AUROC, sensitivity and F1 undefined")
    if support == n:
        notes.append(f"every image is {name}: AUROC and specificity undefined")
    if n_predicted == 0:
        notes.append(f"no image was predicted as {name}: precision undefined")
    # AUROC needs both a positive and a negative; the checks above already explain a None.
    roc = auroc((y == i).astype(np.int8), p[:, i]) if 0 < support < n else None
    # F1 = 2TP / (2TP + FP + FN): defined (possibly a real 0) whenever the class is present.
    f1 = 2 * tp / (2 * tp + fp + fn) if support > 0 else None
    return {
        "absent": support == 0,
        "support": support,
        "n_predicted": n_predicted,
        "auroc": roc,
        "sensitivity": _ratio(tp, support),
        "specificity": _ratio(tn, n - support),
        "precision": _ratio(tp, n_predicted),
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "notes": notes,
    }


def per_class_metrics(
    labels: Any, probabilities: Any, classes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """One-vs-rest metrics of every class with argmax decisions, in class order.

    Each class gets ``absent, support, n_predicted, auroc, sensitivity, specificity, precision,
    f1, tp, fp, fn, tn, notes``. Undefined values are None, never 0, and ``notes`` says why:

    * class absent from the labels: ``auroc``, ``sensitivity`` and ``f1`` are None; specificity
      and precision stay defined (an image wrongly called the absent class is a real false
      positive).
    * nothing predicted as the class: ``precision`` is None (no call was made); F1 is then 0 if
      the class is present (all its images were missed).
    * every image is of the class: ``auroc`` and ``specificity`` are None.
    """
    y, p, names = _validate_named(labels, probabilities, classes)
    counts = _confusion_counts(y, p.argmax(axis=1), p.shape[1])
    return {name: _one_class_metrics(y, p, counts, i, name) for i, name in enumerate(names)}


def macro_auroc(labels: Any, probabilities: Any, classes: Sequence[str]) -> dict[str, Any]:
    """Mean one-vs-rest AUROC over the classes present in the labels.

    Absent classes are left out (their AUROC is undefined) and listed, so two macro AUROCs are
    only compared when they average the same classes: ``{"macro_auroc", "classes_averaged",
    "classes_absent"}``. Needs two classes present.
    """
    y, p, names = _validate_named(labels, probabilities, classes)
    support = np.bincount(y, minlength=p.shape[1])
    present = [i for i in range(p.shape[1]) if support[i] > 0]
    if len(present) < 2:
        raise MetricError(
            f"macro AUROC needs at least two classes present in the labels; got "
            f"{[names[i] for i in present]}"
        )
    values = [auroc((y == i).astype(np.int8), p[:, i]) for i in present]
    return {
        "macro_auroc": float(np.mean(values)),
        "classes_averaged": [names[i] for i in present],
        "classes_absent": [names[i] for i in range(p.shape[1]) if support[i] == 0],
    }


def balanced_accuracy_ci(
    labels: Any,
    probabilities: Any,
    groups: Any = None,
    n_boot: int = DEFAULT_N_BOOT,
    alpha: float = DEFAULT_ALPHA,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float, float]:
    """``(point, low, high)`` of the balanced accuracy, resampled as
    :func:`~eval.metrics.bootstrap_ci`.

    Each resample averages the classes present in it, as the challenge metric would on that
    sample.
    """
    _check_bootstrap_args(n_boot, alpha)
    y, p, _ = _validate_multiclass(labels, probabilities)
    pred, k = p.argmax(axis=1), p.shape[1]
    return _bootstrap(y.shape[0], lambda idx: _balanced_accuracy_of(y[idx], pred[idx], k),
                      groups, n_boot, alpha, seed, DEFAULT_MAX_SKIP_FRACTION)


def multiclass_summary(
    labels: Any,
    probabilities: Any,
    classes: Sequence[str],
    groups: Any = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """The multi-class part of ``metrics.json`` for one split.

    Args:
        labels: Int class indices, shape (n,).
        probabilities: Shape (n, k), rows summing to 1.
        classes: The k class names, in column order.
        groups: Optional patient/lesion id per row for a cluster bootstrap.
        n_boot: Bootstrap resamples for the balanced-accuracy interval; 0 disables it (None).
        seed: Bootstrap seed.

    Returns:
        Dict with ``n, classes, absent_classes, balanced_accuracy, balanced_accuracy_ci,
        accuracy, macro_precision, macro_recall, macro_f1, macro_auroc, macro_auroc_classes, per_class, confusion_matrix, n_boot,
        bootstrap_seed, ci_level, grouped_bootstrap, notes``. ``per_class`` is
        :func:`per_class_metrics`, ``confusion_matrix`` is :func:`confusion_matrix`;
        ``balanced_accuracy_ci`` is ``[low, high]`` or None.

    Raises:
        MetricError: On invalid input or fewer than two classes present.
    """
    y, p, names = _validate_named(labels, probabilities, classes)
    if groups is not None:
        _cluster_layout(groups, y.shape[0])  # fail fast on bad groups, before any work
    macro = macro_auroc(y, p, names)
    notes = [f"{c} is absent from the labels: left out of balanced accuracy and macro AUROC"
             for c in macro["classes_absent"]]
    ci: list[float] | None = None
    if n_boot > 0:
        try:
            _, low, high = balanced_accuracy_ci(y, p, groups=groups, n_boot=n_boot, seed=seed)
            ci = [low, high]
        except MetricError as exc:
            notes.append(f"balanced accuracy CI not computed: {exc}")
            logger.warning("balanced accuracy CI not computed: %s", exc)
    pred = p.argmax(axis=1)
    return {
        "n": int(y.shape[0]),
        "classes": names,
        "absent_classes": macro["classes_absent"],
        "balanced_accuracy": _balanced_accuracy_of(y, pred, p.shape[1]),
        "balanced_accuracy_ci": ci,
        "accuracy": float(np.mean(pred == y)),
        # Over the same classes as balanced accuracy (macro recall equals it).
        **_macro_prf_of(y, pred, p.shape[1]),
        "macro_auroc": macro["macro_auroc"],
        "macro_auroc_classes": macro["classes_averaged"],
        "per_class": per_class_metrics(y, p, names),
        "confusion_matrix": confusion_matrix(y, p, names),
        "n_boot": int(n_boot),
        "bootstrap_seed": int(seed),
        "ci_level": 1.0 - DEFAULT_ALPHA,
        "grouped_bootstrap": groups is not None,
        "notes": notes,
    }
