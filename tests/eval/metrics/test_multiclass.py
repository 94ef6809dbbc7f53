"""Tests for eval.metrics.multiclass: hand-computed cases, absent classes, invalid input, and
agreement with scikit-learn and the official ISIC scorer (isic-challenge-scoring), the latter
also on the real HAM10000 (ISIC 2018 Task 3) labels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from isic_challenge_scoring import metrics as isic_metrics
from isic_challenge_scoring.classification import ClassificationMetric, ClassificationScore
from sklearn.metrics import (
    balanced_accuracy_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from configs.base import REPO_ROOT
from eval.metrics import (
    ROW_SUM_TOLERANCE,
    MetricError,
    balanced_accuracy,
    balanced_accuracy_ci,
    confusion_matrix,
    macro_auroc,
    macro_f1,
    multiclass_summary,
    per_class_metrics,
)
from eval.writers.plots import plot_confusion_matrix

HAM10000_CSV = REPO_ROOT.parent / "shared" / "data" / "ham10000" / "HAM10000_metadata.csv"
ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
ISIC2019_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")

# Hand-computed case: 8 images, classes MEL, NV, BCC, DF; DF is absent from the labels but
# predicted once (row 5). Argmax decisions: 0->0, 0->1, 1->1, 1->1, 1->1, 1->3, 2->2, 2->0.
CLASSES4 = ["MEL", "NV", "BCC", "DF"]
Y4 = np.array([0, 0, 1, 1, 1, 1, 2, 2])
P4 = np.array([
    [0.7, 0.1, 0.1, 0.1],
    [0.3, 0.4, 0.2, 0.1],
    [0.1, 0.8, 0.05, 0.05],
    [0.2, 0.6, 0.1, 0.1],
    [0.1, 0.5, 0.35, 0.05],  # BCC 0.35 ties row 7's BCC score: a half-counted pair
    [0.1, 0.3, 0.1, 0.5],
    [0.1, 0.2, 0.6, 0.1],
    [0.4, 0.1, 0.35, 0.15],
])
# One-vs-rest AUROCs, counted by hand from the columns above:
#   MEL: positives 0.7 (beats all 6 negatives), 0.3 (beats 5, loses to 0.4) -> 11/12
#   NV:  0.8, 0.6, 0.5 beat all 4 negatives, 0.3 beats 3 (loses to 0.4) -> 15/16
#   BCC: 0.6 beats all 6, 0.35 beats 5 and ties 1 -> 11.5/12
EXPECTED4 = {
    "MEL": {"absent": False, "support": 2, "n_predicted": 2, "auroc": 11 / 12,
            "sensitivity": 0.5, "specificity": 5 / 6, "precision": 0.5, "f1": 0.5,
            "tp": 1, "fp": 1, "fn": 1, "tn": 5},
    "NV": {"absent": False, "support": 4, "n_predicted": 4, "auroc": 15 / 16,
           "sensitivity": 0.75, "specificity": 0.75, "precision": 0.75, "f1": 0.75,
           "tp": 3, "fp": 1, "fn": 1, "tn": 3},
    "BCC": {"absent": False, "support": 2, "n_predicted": 1, "auroc": 11.5 / 12,
            "sensitivity": 0.5, "specificity": 1.0, "precision": 1.0, "f1": 2 / 3,
            "tp": 1, "fp": 0, "fn": 1, "tn": 6},
    # Absent but predicted once: a real false positive, so specificity and precision exist.
    "DF": {"absent": True, "support": 0, "n_predicted": 1, "auroc": None,
           "sensitivity": None, "specificity": 7 / 8, "precision": 0.0, "f1": None,
           "tp": 0, "fp": 1, "fn": 0, "tn": 7},
}


def softmax_data(seed: int, n: int, k: int, absent: tuple[int, ...] = (), signal: float = 1.0,
                 decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (classes in ``absent`` never occur) and label-correlated softmax probabilities."""
    rng = np.random.default_rng(seed)
    allowed = np.array([c for c in range(k) if c not in absent])
    y = rng.choice(allowed, size=n, p=np.linspace(2.0, 1.0, allowed.size) / np.linspace(
        2.0, 1.0, allowed.size).sum())
    y[: allowed.size] = allowed  # every allowed class at least once
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), y] += signal
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if decimals is not None:
        # Rounding creates ties in the ranking; renormalise the last column so rows sum to 1.
        p = np.round(p, decimals)
        p[:, -1] = np.clip(1.0 - p[:, :-1].sum(axis=1), 0.0, 1.0)
        p /= p.sum(axis=1, keepdims=True)
    return y, p


RANDOM_CASES = [
    # (seed, n, k, absent classes, rounding)
    (0, 60, 3, (), None),
    (1, 400, 8, (), None),
    (2, 300, 8, (5, 7), None),
    (3, 200, 7, (0,), 2),
    (4, 1000, 8, (), 1),
    (5, 12, 4, (2,), None),
]


# --- Hand-computed values -------------------------------------------------------------------


def test_hand_computed_balanced_accuracy_and_confusion() -> None:
    # Recall MEL 1/2, NV 3/4, BCC 1/2; DF absent, so not averaged.
    assert balanced_accuracy(Y4, P4) == pytest.approx((0.5 + 0.75 + 0.5) / 3, abs=1e-15)
    cm = confusion_matrix(Y4, P4, CLASSES4)
    assert cm["classes"] == CLASSES4
    assert cm["counts"] == [[1, 1, 0, 0], [0, 3, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert cm["normalized"] == [[0.5, 0.5, 0.0, 0.0], [0.0, 0.75, 0.0, 0.25],
                                [0.5, 0.0, 0.5, 0.0], None]


@pytest.mark.parametrize("name", CLASSES4)
def test_hand_computed_per_class(name: str) -> None:
    got = per_class_metrics(Y4, P4, CLASSES4)[name]
    expected = EXPECTED4[name]
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-15), key
        else:
            assert got[key] == value, key
    assert (got["notes"] != []) == (name == "DF")


def test_hand_computed_macro_auroc_skips_absent_class() -> None:
    got = macro_auroc(Y4, P4, CLASSES4)
    assert got["macro_auroc"] == pytest.approx((11 / 12 + 15 / 16 + 11.5 / 12) / 3, abs=1e-15)
    assert got["classes_averaged"] == ["MEL", "NV", "BCC"]
    assert got["classes_absent"] == ["DF"]


def test_precision_is_none_when_nothing_is_predicted_as_the_class() -> None:
    # BCC (one image) is never the argmax: precision undefined, recall and F1 a real 0.
    y = [0, 0, 1, 1, 2]
    p = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.5, 0.1, 0.4]]
    bcc = per_class_metrics(y, p, ["MEL", "NV", "BCC"])["BCC"]
    assert bcc["precision"] is None and bcc["n_predicted"] == 0
    assert bcc["sensitivity"] == 0.0 and bcc["f1"] == 0.0 and bcc["absent"] is False
    assert any("no image was predicted as BCC" in note for note in bcc["notes"])


def test_argmax_ties_go_to_the_first_class() -> None:
    p = [[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]]
    assert confusion_matrix([0, 1], p, ["A", "B", "C"])["counts"] == [
        [1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_single_class_present() -> None:
    y, p = [1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]
    assert balanced_accuracy(y, p) == pytest.approx(2 / 3)
    nv = per_class_metrics(y, p, ["MEL", "NV"])["NV"]
    assert nv["auroc"] is None and nv["specificity"] is None and nv["sensitivity"] == 2 / 3
    with pytest.raises(MetricError, match="at least two classes present"):
        macro_auroc(y, p, ["MEL", "NV"])
    with pytest.raises(MetricError, match="at least two classes present"):
        multiclass_summary(y, p, ["MEL", "NV"], n_boot=0)


# --- Agreement with reference implementations ------------------------------------------------


@pytest.mark.parametrize(("seed", "n", "k", "absent", "dec"), RANDOM_CASES)
# sklearn warns when an absent class is predicted, then skips it, as the challenge metric does.
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_agrees_with_sklearn(seed, n, k, absent, dec) -> None:
    y, p = softmax_data(seed, n, k, absent, decimals=dec)
    names = list(ISIC2019_CLASSES[:k])
    pred = p.argmax(axis=1)
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    per_class = per_class_metrics(y, p, names)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(range(k)), zero_division=np.nan)
    for c, name in enumerate(names):
        m = per_class[name]
        assert m["support"] == support[c] and m["absent"] == (c in absent)
        if c in absent:
            # Never 0 for what needs positives; a prediction of an absent class is a real FP.
            assert m["auroc"] is None and m["sensitivity"] is None and m["f1"] is None
            assert m["precision"] == (None if m["n_predicted"] == 0 else 0.0)
            continue
        assert m["auroc"] == pytest.approx(roc_auc_score(y == c, p[:, c]), abs=1e-12)
        assert m["sensitivity"] == pytest.approx(recall[c], abs=1e-12)
        assert m["f1"] == pytest.approx(f1[c], abs=1e-12)
        if math.isnan(precision[c]):
            assert m["precision"] is None and m["n_predicted"] == 0
        else:
            assert m["precision"] == pytest.approx(precision[c], abs=1e-12)
    present = [c for c in range(k) if c not in absent]
    macro = macro_auroc(y, p, names)
    assert macro["macro_auroc"] == pytest.approx(
        np.mean([roc_auc_score(y == c, p[:, c]) for c in present]), abs=1e-12)
    # Macro precision/recall/F1 over the present classes, a never-predicted class counting 0.
    ours = multiclass_summary(y, p, names, n_boot=0)
    theirs = precision_recall_fscore_support(y, pred, labels=present, average="macro",
                                             zero_division=0)
    assert [ours["macro_precision"], ours["macro_recall"], ours["macro_f1"]] == pytest.approx(
        list(theirs[:3]), abs=1e-12)
    assert macro_f1(y, p) == pytest.approx(theirs[2], abs=1e-12)
    assert ours["macro_recall"] == pytest.approx(ours["balanced_accuracy"], abs=1e-12)


@pytest.mark.parametrize(("seed", "n", "k", "absent", "dec"), RANDOM_CASES)
def test_agrees_with_isic_challenge_scoring_functions(seed, n, k, absent, dec) -> None:
    # The scorer's own balanced accuracy: NaN recall of an absent class is skipped by mean().
    y, p = softmax_data(seed, n, k, absent, decimals=dec)
    names = list(ISIC2019_CLASSES[:k])
    truth = pd.DataFrame(np.eye(k)[y], columns=names)
    pred = pd.DataFrame(p, columns=names)
    weights = pd.Series(np.ones(n))
    if dec is None:  # the scorer counts argmax ties as wrong ("undecided"); we take the first
        assert balanced_accuracy(y, p) == pytest.approx(
            isic_metrics.balanced_multiclass_accuracy(truth, pred, weights), abs=1e-12)
    for name, m in per_class_metrics(y, p, names).items():
        if not m["absent"]:
            assert m["auroc"] == pytest.approx(
                isic_metrics.auc(truth[name], pred[name], weights), abs=1e-12)


@pytest.fixture
def isic_parse_csv_on_pandas3(monkeypatch: pytest.MonkeyPatch) -> None:
    """isic-challenge-scoring 5.6 parses prediction CSVs with ``DataFrame.applymap``, which
    pandas 3 removed; ``DataFrame.map`` is its documented replacement with the same meaning."""
    if not hasattr(pd.DataFrame, "applymap"):
        monkeypatch.setattr(pd.DataFrame, "applymap", pd.DataFrame.map, raising=False)


@pytest.mark.realdata
# The scorer's ROC simplification (rdp) and its pandas calls warn on numpy 2 / pandas 3.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdp")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:isic_challenge_scoring")
def test_real_ham10000_agrees_with_official_isic2018_scorer(
    tmp_path: Path, isic_parse_csv_on_pandas3: None
) -> None:
    if not HAM10000_CSV.is_file():
        pytest.skip(f"real data not available: {HAM10000_CSV} does not exist")
    meta = pd.read_csv(HAM10000_CSV)
    dx_to_class = {"mel": 0, "nv": 1, "bcc": 2, "akiec": 3, "bkl": 4, "df": 5, "vasc": 6}
    y = meta["dx"].map(dx_to_class).to_numpy()
    assert len(y) == 10015 and not np.isnan(y.astype(float)).any()
    # Deterministic, label-correlated predictions: a mediocre but informative "model".
    rng = np.random.default_rng(2018)
    logits = rng.normal(0.0, 1.0, (len(y), 7))
    logits[np.arange(len(y)), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth_csv, pred_csv = tmp_path / "truth.csv", tmp_path / "pred.csv"
    image = meta["image_id"]
    pd.DataFrame(np.eye(7)[y], columns=ISIC2018_CLASSES).assign(image=image)[
        ["image", *ISIC2018_CLASSES]].to_csv(truth_csv, index=False)
    pd.DataFrame(p, columns=ISIC2018_CLASSES).assign(image=image)[
        ["image", *ISIC2018_CLASSES]].to_csv(pred_csv, index=False)

    score = ClassificationScore.from_file(
        truth_csv, pred_csv, ClassificationMetric.BALANCED_ACCURACY)
    summary = multiclass_summary(y, p, ISIC2018_CLASSES, n_boot=0)
    assert summary["balanced_accuracy"] == pytest.approx(score.overall, abs=1e-6)
    assert summary["balanced_accuracy"] == pytest.approx(
        score.aggregate["balanced_accuracy"], abs=1e-6)
    for name in ISIC2018_CLASSES:
        assert summary["per_class"][name]["auroc"] == pytest.approx(
            score.per_category.loc[name, "auc"], abs=1e-6)
    assert summary["macro_auroc"] == pytest.approx(score.macro_average["auc"], abs=1e-6)
    assert summary["absent_classes"] == [] and summary["n"] == 10015
    assert 0.3 < summary["balanced_accuracy"] < 0.9  # the probabilities carry real signal


# --- Summary, bootstrap, plot ----------------------------------------------------------------


def test_summary_is_plain_json_with_the_documented_keys() -> None:
    y, p = softmax_data(7, 300, 8, absent=(5,))
    groups = np.arange(300) // 3
    s = multiclass_summary(y, p, ISIC2019_CLASSES, groups=groups, n_boot=200, seed=1)
    assert set(s) == {
        "n", "classes", "absent_classes", "balanced_accuracy", "balanced_accuracy_ci",
        "accuracy", "macro_precision", "macro_recall", "macro_f1", "macro_auroc",
        "macro_auroc_classes", "per_class", "confusion_matrix",
        "n_boot", "bootstrap_seed", "ci_level", "grouped_bootstrap", "notes"}
    assert json.loads(json.dumps(s, allow_nan=False)) == s  # plain types, no NaN
    assert s["absent_classes"] == ["DF"] and "DF" not in s["macro_auroc_classes"]
    assert s["per_class"]["DF"]["absent"] is True and s["per_class"]["DF"]["auroc"] is None
    assert s["confusion_matrix"]["normalized"][5] is None
    assert s["accuracy"] == pytest.approx(float(np.mean(p.argmax(axis=1) == y)))
    low, high = s["balanced_accuracy_ci"]
    assert low <= s["balanced_accuracy"] <= high and s["grouped_bootstrap"] is True
    assert any("DF is absent" in note for note in s["notes"])
    assert multiclass_summary(y, p, ISIC2019_CLASSES, n_boot=0)["balanced_accuracy_ci"] is None


def test_balanced_accuracy_ci_is_reproducible_and_group_aware() -> None:
    y, p = softmax_data(8, 200, 4)
    point, low, high = balanced_accuracy_ci(y, p, n_boot=300, seed=3)
    assert point == balanced_accuracy(y, p) and low < point < high
    assert balanced_accuracy_ci(y, p, n_boot=300, seed=3) == (point, low, high)
    # Ten copies of every image: resampling rows would treat them as independent evidence.
    y10, p10, groups = np.repeat(y, 10), np.repeat(p, 10, axis=0), np.repeat(np.arange(200), 10)
    _, row_low, row_high = balanced_accuracy_ci(y10, p10, n_boot=300, seed=3)
    _, grp_low, grp_high = balanced_accuracy_ci(y10, p10, groups=groups, n_boot=300, seed=3)
    assert grp_high - grp_low > 2 * (row_high - row_low)
    with pytest.raises(MetricError, match="groups has length"):
        balanced_accuracy_ci(y, p, groups=[1, 2, 3])


def test_plot_confusion_matrix_writes_png_with_absent_row(tmp_path: Path) -> None:
    cm = confusion_matrix(Y4, P4, CLASSES4)
    path = plot_confusion_matrix(cm, tmp_path / "cm.png")
    assert path == tmp_path / "cm.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


# --- Invalid input ---------------------------------------------------------------------------

GOOD_P = [[0.7, 0.3], [0.4, 0.6]]


@pytest.mark.parametrize(
    ("labels", "probabilities", "classes", "message"),
    [
        ([0, 1], [0.7, 0.3], ["A", "B"], r"must be 2-D \(n, k\); got shape \(2,\)"),
        ([0], [[1.0]], ["A"], "at least 2 class columns"),
        ([], np.zeros((0, 2)), ["A", "B"], "empty input"),
        ([0, 1, 1], GOOD_P, ["A", "B"], "different lengths: 3 vs 2"),
        ([[0, 1]], GOOD_P, ["A", "B"], "labels must be 1-D"),
        ([0, 2], GOOD_P, ["A", "B"], r"class indices in \[0, 2\); 1 value\(s\) are not, first "
                                     "2 at row 1"),
        ([-1, 0], GOOD_P, ["A", "B"], "first -1 at row 0"),
        ([0, 0.5], GOOD_P, ["A", "B"], "first 0.5 at row 1"),
        ([0, np.nan], GOOD_P, ["A", "B"], "first nan at row 1"),
        (["A", "B"], GOOD_P, ["A", "B"], "integer class indices; got dtype <U1"),
        ([0, 1], [[0.7, 0.3], [np.nan, 0.6]], ["A", "B"], "1 NaN value.*row 1, column 'A'"),
        ([0, 1], [[0.7, 0.3], [0.4, np.inf]], ["A", "B"], "1 infinite value.*row 1, column 'B'"),
        ([0, 1], [[0.7, 0.3], [1.5, -0.5]], ["A", "B"],
         r"in \[0, 1\]; 2 value\(s\) are not, first 1.5 at row 1, column 'A' .*logits"),
        ([0, 1], [[0.7, 0.3], [0.4, 0.5]], ["A", "B"], "1 row.* do not, first row 1 sums to 0.9"),
        ([0, 1], [["x", "y"], ["z", "w"]], ["A", "B"], "must be numeric"),
        ([0, 1], GOOD_P, ["A"], "classes has 1 name.*2 column"),
        ([0, 1], GOOD_P, ["A", "A"], r"distinct; repeated: \['A'\]"),
        ([0, 1], GOOD_P, ["A", ""], "non-empty strings"),
        ([0, 1], GOOD_P, "AB", "not the string"),
        ([0, 1], GOOD_P, None, "classes .* is required"),
    ],
)
def test_invalid_input_raises_clear_error(labels, probabilities, classes, message) -> None:
    with pytest.raises(MetricError, match=message):
        per_class_metrics(labels, probabilities, classes)


def test_row_sum_tolerance() -> None:
    y = [0, 1]
    near = [[0.7, 0.3 - ROW_SUM_TOLERANCE / 2], [0.4, 0.6]]
    assert balanced_accuracy(y, near) == 1.0
    with pytest.raises(MetricError, match="sum to 1"):
        balanced_accuracy(y, [[0.7, 0.3 - 2 * ROW_SUM_TOLERANCE], [0.4, 0.6]])


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.array([0, 1], dtype=np.int8)])
def test_labels_of_other_numeric_dtypes_are_accepted(labels) -> None:
    assert balanced_accuracy(labels, GOOD_P) == 1.0
