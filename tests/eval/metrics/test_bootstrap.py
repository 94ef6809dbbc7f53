"""Tests for eval.metrics.bootstrap: percentile and cluster bootstrap intervals."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from eval.metrics.bootstrap import bootstrap_ci
from eval.metrics.calibration import brier_score
from eval.metrics.checks import MetricError
from eval.metrics.ranking import auroc, average_precision, pauc_above_tpr
from tests.eval.metrics.conftest import make_data


@pytest.mark.parametrize("metric", [auroc, pauc_above_tpr, average_precision, brier_score])
def test_bootstrap_ci_contains_point(metric):
    y, p = make_data(21, 600, 0.3)
    point, lo, hi = bootstrap_ci(y, p, metric, n_boot=300, seed=1)
    assert point == pytest.approx(metric(y, p))
    assert lo < point < hi


def test_bootstrap_ci_shrinks_with_n():
    y_s, p_s = make_data(5, 200, 0.3)
    y_l, p_l = make_data(6, 5000, 0.3)
    _, lo_s, hi_s = bootstrap_ci(y_s, p_s, auroc, n_boot=400)
    _, lo_l, hi_l = bootstrap_ci(y_l, p_l, auroc, n_boot=400)
    # sqrt(5000 / 200) = 5: expect roughly 5x narrower; require at least 3x.
    assert (hi_l - lo_l) * 3 < (hi_s - lo_s)


def test_bootstrap_is_reproducible_and_seed_dependent():
    y, p = make_data(8, 300)
    a = bootstrap_ci(y, p, auroc, n_boot=200, seed=3)
    assert a == bootstrap_ci(y, p, auroc, n_boot=200, seed=3)
    assert a != bootstrap_ci(y, p, auroc, n_boot=200, seed=4)


def test_bootstrap_alpha_widens_interval():
    y, p = make_data(8, 300)
    _, lo95, hi95 = bootstrap_ci(y, p, auroc, n_boot=400, alpha=0.05)
    _, lo50, hi50 = bootstrap_ci(y, p, auroc, n_boot=400, alpha=0.5)
    assert lo95 < lo50 < hi50 < hi95


def test_grouped_bootstrap_with_singleton_groups_equals_naive():
    # One row per group draws the very same random indices as the row bootstrap.
    y, p = make_data(9, 300)
    naive = bootstrap_ci(y, p, auroc, n_boot=200, seed=5)
    grouped = bootstrap_ci(y, p, auroc, groups=np.arange(len(y)), n_boot=200, seed=5)
    assert grouped == pytest.approx(naive, abs=1e-15)


def test_grouped_bootstrap_resamples_whole_groups():
    # Encode the group id in the probability and check every resample contains each group a
    # whole number of times.
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 6, size=60)
    groups = np.repeat(np.arange(60), sizes)
    p = groups / 100.0
    y = (groups % 3 == 0).astype(int)
    seen: list[np.ndarray] = []

    def recorder(yy: np.ndarray, pp: np.ndarray) -> float:
        ids = np.rint(pp * 100).astype(int)
        counts = np.bincount(ids, minlength=60)
        ok = np.all(counts % sizes == 0)
        seen.append(counts // sizes)
        assert ok, "a group was split by the resampling"
        return float(yy.mean())

    bootstrap_ci(y, p, recorder, groups=[f"patient_{g}" for g in groups], n_boot=50, seed=0)
    draws = np.array(seen[1:])  # first call is the point estimate on the full data
    assert draws.shape == (50, 60)
    assert np.all(draws.sum(axis=1) == 60)  # 60 groups drawn with replacement each time
    assert draws.max() > 1  # some groups drawn more than once


def test_grouped_bootstrap_wider_for_duplicated_rows():
    # Each original row duplicated 10x (e.g. 10 images of one lesion). The row bootstrap treats
    # the copies as independent and is ~sqrt(10) too narrow; the cluster bootstrap is not.
    y0, p0 = make_data(12, 300, 0.3)
    reps = 10
    y, p = np.repeat(y0, reps), np.repeat(p0, reps)
    groups = np.repeat(np.arange(len(y0)), reps)
    _, lo_n, hi_n = bootstrap_ci(y, p, auroc, n_boot=300, seed=0)
    _, lo_g, hi_g = bootstrap_ci(y, p, auroc, groups=groups, n_boot=300, seed=0)
    _, lo_0, hi_0 = bootstrap_ci(y0, p0, auroc, n_boot=300, seed=0)
    assert (hi_g - lo_g) > 2 * (hi_n - lo_n)
    # The cluster CI on duplicated data is about the row CI on the original data.
    assert (hi_g - lo_g) == pytest.approx(hi_0 - lo_0, rel=0.3)


def test_bootstrap_skips_single_class_resamples_and_logs(caplog):
    # 1 positive in 30 rows: ~36% of resamples have no positive.
    y = np.r_[1, np.zeros(29)].astype(int)
    p = np.linspace(1, 0, 30)
    with caplog.at_level(logging.WARNING, logger="eval.metrics"):
        point, lo, hi = bootstrap_ci(y, p, auroc, n_boot=200, seed=0)
    assert point == 1.0 and lo <= hi == 1.0
    assert any("skipped" in r.getMessage() for r in caplog.records)
    with pytest.raises(MetricError, match="undefined on"):
        bootstrap_ci(y, p, auroc, n_boot=200, seed=0, max_skip_fraction=0.1)


def test_bootstrap_raises_when_metric_always_undefined():
    y, p = make_data(0, 50)

    def never(yy: np.ndarray, pp: np.ndarray) -> float:
        if len(yy) == 50 and np.array_equal(yy, y) and np.array_equal(pp, p):
            return 0.5
        raise MetricError("undefined")

    with pytest.raises(MetricError, match="bootstrap failed"):
        bootstrap_ci(y, p, never, n_boot=20)


def test_bootstrap_bad_arguments():
    y, p = make_data(0, 50)
    with pytest.raises(MetricError, match="n_boot"):
        bootstrap_ci(y, p, auroc, n_boot=0)
    with pytest.raises(MetricError, match="alpha"):
        bootstrap_ci(y, p, auroc, alpha=1.5)
    with pytest.raises(MetricError, match="groups has length"):
        bootstrap_ci(y, p, auroc, groups=np.arange(10))
    with pytest.raises(MetricError, match="missing"):
        bootstrap_ci(y, p, auroc, groups=[None] + list(range(49)))


def test_bootstrap_auroc_is_fast():
    y, p = make_data(13, 2000, 0.2)
    start = time.perf_counter()
    bootstrap_ci(y, p, auroc, n_boot=1000)
    assert time.perf_counter() - start < 3.0
