"""Evaluation plots as PNG files: ROC (operating points marked), PR, reliability, confusion
matrices and score histograms by class.

Uses matplotlib's object API with the Agg canvas (no pyplot global state, no display needed).
Curve points come from scikit-learn; every operating-point number from eval.metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from eval.metrics import binary_metrics_at, reliability_curve

DPI = 120
_MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def _figure(width: float = 5.5, height: float = 5.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png")
    return path


def plot_roc(y: np.ndarray, curves: Mapping[str, np.ndarray], main: str,
             thresholds: Mapping[str, float], path: Path) -> Path:
    """ROC curves; the operating points of `curves[main]` at each threshold are marked.

    Args:
        y: 0/1 labels.
        curves: label -> scores; the first is drawn boldest.
        main: key of the curve whose operating points are marked.
        thresholds: name -> threshold.
        path: PNG to write.
    """
    fig = _figure()
    ax = fig.subplots()
    for i, (label, scores) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(y, scores)
        ax.plot(fpr, tpr, lw=2.0 if i == 0 else 1.0, alpha=1.0 if i == 0 else 0.7, label=label)
    for i, (name, t) in enumerate(thresholds.items()):
        m = binary_metrics_at(y, curves[main], t)
        ax.plot(1 - m["specificity"], m["sensitivity"], _MARKERS[i % len(_MARKERS)], ms=8,
                mec="black", label=f"{name} (t={t:.3f}): sens {m['sensitivity']:.2f}, "
                f"spec {m['specificity']:.2f}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax.set(xlabel="False positive rate (1 - specificity)", ylabel="True positive rate "
           "(sensitivity)", title="ROC", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_pr(y: np.ndarray, curves: Mapping[str, np.ndarray], path: Path) -> Path:
    """Precision-recall curves with the prevalence as the no-skill line."""
    fig = _figure()
    ax = fig.subplots()
    for i, (label, scores) in enumerate(curves.items()):
        precision, recall, _ = precision_recall_curve(y, scores)
        ax.step(recall, precision, where="post", lw=2.0 if i == 0 else 1.0,
                alpha=1.0 if i == 0 else 0.7, label=label)
    ax.axhline(float(np.mean(y)), ls=":", c="grey", lw=1, label=f"prevalence {np.mean(y):.3f}")
    ax.set(xlabel="Recall (sensitivity)", ylabel="Precision", title="Precision-recall",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="upper right", fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_reliability(y: np.ndarray, prob: np.ndarray, path: Path, n_bins: int = 10) -> Path:
    """Reliability diagram (equal-width bins) with the bin counts below."""
    curve = reliability_curve(y, prob, n_bins)
    fig = _figure(5.5, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfect calibration")
    top.plot(curve["mean_predicted"], curve["observed_frequency"], "o-", label="model")
    top.set(ylabel="Observed melanoma frequency", title="Reliability diagram", xlim=(0, 1),
            ylim=(0, 1.01))
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    width = 1.0 / curve["n_bins"]
    bottom.bar(curve["bin_center"], curve["count"], width=width * 0.9, color="tab:grey")
    bottom.set(xlabel="Predicted probability", ylabel="Images", yscale="log")
    return _save(fig, path)


def plot_confusion(y: np.ndarray, prob: np.ndarray, thresholds: Mapping[str, float],
                   path: Path) -> Path:
    """One confusion matrix per threshold (rows: truth, columns: prediction)."""
    fig = _figure(3.6 * len(thresholds), 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(thresholds)))
    for ax, (name, t) in zip(axes, thresholds.items(), strict=True):
        m = binary_metrics_at(y, prob, t)
        cm = np.array([[m["tn"], m["fp"]], [m["fn"], m["tp"]]])
        ax.imshow(cm, cmap="Blues")
        for (r, c), v in np.ndenumerate(cm):
            ax.text(c, r, f"{v}", ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black", fontsize=12)
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["other", "melanoma"],
               yticklabels=["other", "melanoma"], xlabel="Predicted", ylabel="True",
               title=f"{name}\nt={t:.3f}")
    return _save(fig, path)


def plot_confusion_matrix(confusion: Mapping[str, Any], path: Path) -> Path:
    """Multi-class confusion matrix: colours row-normalised, cells annotated with counts.

    Row normalisation keeps rare classes readable next to a dominant one (NV); the count and
    the row percentage are written in each cell. A class absent from the labels (its
    ``normalized`` row is None) is drawn grey and marked "(absent)" on the axis.

    Args:
        confusion: :func:`eval.metrics.confusion_matrix` output (``classes``, ``counts``,
            ``normalized``; rows true, columns predicted).
        path: PNG to write.
    """
    classes = list(confusion["classes"])
    counts = np.asarray(confusion["counts"], dtype=int)
    k = len(classes)
    frac = np.array([row if row is not None else [np.nan] * k
                     for row in confusion["normalized"]], dtype=float)
    size = max(4.0, 0.75 * k + 2.0)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    cmap = colormaps["Blues"].with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(frac), cmap=cmap, vmin=0.0, vmax=1.0)
    for (r, c), v in np.ndenumerate(counts):
        absent = np.isnan(frac[r, c])
        label = f"{v}" if absent else f"{v}\n{frac[r, c]:.0%}"
        ax.text(c, r, label, ha="center", va="center", fontsize=8,
                color="white" if not absent and frac[r, c] > 0.5 else "black")
    row_labels = [f"{name} (absent)" if row is None else f"{name} (n={int(counts[i].sum())})"
                  for i, (name, row) in enumerate(zip(classes, confusion["normalized"],
                                                      strict=True))]
    ax.set(xticks=range(k), yticks=range(k), xlabel="Predicted", ylabel="True",
           title="Confusion matrix (colour: fraction of true class)")
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(row_labels)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Fraction of true class")
    return _save(fig, path)


def plot_histograms(y: np.ndarray, prob: np.ndarray, thresholds: Mapping[str, float],
                    path: Path, xlabel: str = "Predicted probability") -> Path:
    """Score histograms of melanomas and other lesions (density), thresholds as lines."""
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    ax.hist(prob[y == 0], bins=bins, density=True, alpha=0.6,
            label=f"other (n={int((y == 0).sum())})")
    ax.hist(prob[y == 1], bins=bins, density=True, alpha=0.6,
            label=f"melanoma (n={int((y == 1).sum())})")
    for i, (name, t) in enumerate(thresholds.items()):
        ax.axvline(t, ls=("--", ":", "-.")[i % 3], c="black", lw=1, label=f"{name} ({t:.3f})")
    ax.set(xlabel=xlabel, ylabel="Density", title="Scores by class", xlim=(0, 1))
    ax.legend(fontsize=7)
    return _save(fig, path)


def make_plots(out: Path, y: np.ndarray, curves: Mapping[str, np.ndarray], main: str,
               thresholds: Mapping[str, float], probabilistic: bool = True) -> dict[str, str]:
    """Write every plot for one evaluation.

    Args:
        out: output folder.
        y: 0/1 labels.
        curves: label -> scores; `main` is the final model, others (no TTA, members) are
            drawn thinner on the ROC and PR plots.
        main: key of the final model in `curves`.
        thresholds: the final model's operating points (name -> threshold).
        probabilistic: False for rank scores (no reliability diagram).

    Returns:
        Plot kind -> file name (relative to `out`).
    """
    out.mkdir(parents=True, exist_ok=True)
    ordered = {main: curves[main], **{k: v for k, v in curves.items() if k != main}}
    files = {"roc": plot_roc(y, ordered, main, thresholds, out / "roc.png"),
             "pr": plot_pr(y, ordered, out / "pr.png"),
             "confusion": plot_confusion(y, curves[main], thresholds, out / "confusion.png"),
             "histogram": plot_histograms(y, curves[main], thresholds, out / "score_hist.png",
                                          "Predicted probability" if probabilistic
                                          else "Rank score")}
    if probabilistic:
        files["reliability"] = plot_reliability(y, curves[main], out / "reliability.png")
    return {kind: path.name for kind, path in files.items()}
