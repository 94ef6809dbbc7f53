"""Draw weights: class balance, per-source shares."""

from __future__ import annotations

import numpy as np
import pytest

from training.components.sampling import sample_weights

LABELS = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
SOURCES = np.array(["A"] * 4 + ["B"] * 6)


def _share(weights: np.ndarray, mask: np.ndarray) -> float:
    return float(weights[mask].sum())


def test_class_balance_only_matches_the_old_sampler():
    w = sample_weights(LABELS, SOURCES, balance_classes=True)
    counts = np.bincount(LABELS)
    expected = 1.0 / counts[LABELS]
    np.testing.assert_allclose(w, expected / expected.sum())
    assert _share(w, LABELS == 1) == pytest.approx(0.5)


@pytest.mark.parametrize(("weights", "share_a"), [
    ({"A": 1.0, "B": 1.0}, 0.5), ({"A": 3.0}, 0.75), ({"A": 1.0, "B": 3.0}, 0.25),
    ({"B": 0.0}, 1.0),
])
def test_source_shares(weights, share_a):
    w = sample_weights(LABELS, SOURCES, balance_classes=False, source_weights=weights)
    assert w.sum() == pytest.approx(1.0)
    assert _share(w, SOURCES == "A") == pytest.approx(share_a)
    # Uniform within a source when classes are not balanced.
    assert np.ptp(w[SOURCES == "A"]) == pytest.approx(0.0)


def test_sources_and_classes_together():
    w = sample_weights(LABELS, SOURCES, balance_classes=True, source_weights={"A": 1, "B": 1})
    for source in ("A", "B"):
        mask = SOURCES == source
        assert _share(w, mask) == pytest.approx(0.5)
        assert _share(w, mask & (LABELS == 1)) == pytest.approx(0.25)


@pytest.mark.parametrize(("weights", "message"), [
    ({"C": 1.0}, r"names \['C'\], not in the training data"),
    ({"A": -1.0}, "must not be negative"),
    ({"A": 0.0, "B": 0.0}, "weight 0"),
])
def test_bad_source_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        sample_weights(LABELS, SOURCES, balance_classes=False, source_weights=weights)
