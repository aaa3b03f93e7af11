"""The beta-binomial difficulty fit: likelihood and derivatives, recovery, silent groups, goodness
of fit, windows and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from grpo_theory.analyze.difficulty import (
    Estimate,
    _compress,
    _negloglik,
    expected_silent,
    fit_beta_binomial,
    goodness_of_fit,
    window_bounds,
    z_value,
)
from grpo_theory.exact.binary import silent_probability
from grpo_theory.exact.budget import Population

DELTA = 1e-6
"""False-positive probability of each statistical test (normal approximation of the MLE)."""


def _counts(seed: int, a: float, b: float, groups: int, sizes) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = rng.choice(np.atleast_1d(sizes), size=groups)
    return rng.binomial(n, rng.beta(a, b, size=groups)), n


def test_loglik_equals_scipy_betabinom():
    k, n = _counts(0, 0.7, 1.9, 500, [2, 4, 16])
    fit = fit_beta_binomial(k, n)
    direct = stats.betabinom.logpmf(k, n, fit.a, fit.b).sum()
    assert fit.loglik == pytest.approx(direct, rel=1e-12)


def test_gradient_and_hessian_match_finite_differences():
    k, n = _counts(1, 1.3, 0.6, 300, [3, 8])
    nn, kk, w = _compress(k, n)
    theta = np.log([1.1, 0.8])
    _, grad, hess = _negloglik(theta, nn, kk, w)
    h = 1e-6
    for i, e in enumerate(np.eye(2)):
        fp, gp, _ = _negloglik(theta + h * e, nn, kk, w)
        fm, gm, _ = _negloglik(theta - h * e, nn, kk, w)
        assert grad[i] == pytest.approx((fp - fm) / (2 * h), rel=1e-6)
        np.testing.assert_allclose(hess[:, i], (gp - gm) / (2 * h), rtol=1e-5)


def test_mle_is_stationary_and_maximal():
    k, n = _counts(2, 2.0, 3.0, 2000, 8)
    fit = fit_beta_binomial(k, n)
    _, grad, _ = _negloglik(np.log([fit.a, fit.b]), *_compress(k, n))
    assert np.max(np.abs(grad)) < 1e-5 * k.size
    for da, db in [(1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98)]:
        assert stats.betabinom.logpmf(k, n, fit.a * da, fit.b * db).sum() < fit.loglik


@pytest.mark.statistical
@pytest.mark.parametrize(("a", "b", "sizes"), [(2.0, 3.0, 8), (0.5, 1.5, [2, 16]),
                                               (0.3, 0.3, 4)])
def test_truth_inside_the_confidence_ellipse(a, b, sizes):
    # 20,000 groups; the Wald ellipse at level 1 - 1e-6 misses the truth with probability
    # 1e-6 under the normal approximation of the MLE.
    k, n = _counts(3, a, b, 20_000, sizes)
    fit = fit_beta_binomial(k, n)
    assert fit.reliable
    assert fit.contains(a, b, 1 - DELTA)
    # Power: a 15% error in either parameter is rejected at the same level.
    assert not fit.contains(1.15 * a, b, 1 - DELTA)
    assert not fit.contains(a, 0.85 * b, 1 - DELTA)


@pytest.mark.statistical
def test_mean_interval_covers_the_truth():
    a, b = 1.2, 2.5
    k, n = _counts(4, a, b, 20_000, [4, 8])
    fit = fit_beta_binomial(k, n)
    mean = fit.interval(lambda a_, b_: a_ / (a_ + b_), 1 - DELTA, "logit")
    assert mean.covers(a / (a + b))
    assert not mean.covers(a / (a + b) + 0.02)  # power


def test_expected_silent_matches_the_exact_engine():
    pop = Population.from_beta(0.8, 1.7, nodes=96)
    for G in (2, 3, 8, 32):
        engine = float(pop.weights @ silent_probability(G, pop.p))
        assert float(expected_silent(0.8, 1.7, G)) == pytest.approx(engine, rel=1e-10)


def test_expected_silent_equals_betabinom_extremes():
    n = np.array([2, 5, 17])
    direct = stats.betabinom.pmf(0, n, 0.4, 2.2) + stats.betabinom.pmf(n, n, 0.4, 2.2)
    np.testing.assert_allclose(expected_silent(0.4, 2.2, n), direct, rtol=1e-12)


@pytest.mark.statistical
def test_goodness_of_fit_accepts_beta_and_rejects_a_two_point_mixture():
    k, n = _counts(5, 1.0, 2.0, 10_000, 16)
    fit = fit_beta_binomial(k, n)
    assert goodness_of_fit(fit, k, n)["p_value"] > DELTA
    # Power: half the prompts at p = 0.1, half at p = 0.8 is far from any Beta.
    rng = np.random.default_rng(6)
    p = np.where(rng.random(10_000) < 0.5, 0.1, 0.8)
    k2 = rng.binomial(16, p)
    fit2 = fit_beta_binomial(k2, n)
    assert goodness_of_fit(fit2, k2, n)["p_value"] < DELTA


def test_no_overdispersion_is_flagged_unreliable():
    rng = np.random.default_rng(7)
    k = rng.binomial(8, 0.3, size=5000)
    fit = fit_beta_binomial(k, np.full(k.size, 8))
    assert not fit.reliable
    assert fit.overdispersion < 1e-3
    assert fit.mean == pytest.approx(k.mean() / 8, abs=1e-3)


def test_all_failures_is_on_the_boundary():
    fit = fit_beta_binomial(np.zeros(50, int), np.full(50, 4))
    assert fit.at_boundary and not fit.reliable
    assert fit.mean < 1e-3


@pytest.mark.property
@given(st.lists(st.tuples(st.integers(2, 16), st.floats(0, 1)), min_size=3, max_size=40))
def test_fit_is_finite_and_intervals_contain_the_value(groups):
    n = np.array([g[0] for g in groups])
    k = np.array([int(round(g[1] * g[0])) for g in groups])
    fit = fit_beta_binomial(k, n)
    assert np.isfinite(fit.a) and np.isfinite(fit.b) and fit.a > 0 and fit.b > 0
    assert 0 <= fit.mean <= 1 and 0 < fit.overdispersion < 1
    if fit.reliable:
        est = fit.interval(lambda a, b: a / (a + b), 0.95, "logit")
        assert est.low <= est.value <= est.high


def test_interval_returns_a_list_for_vector_functions():
    k, n = _counts(8, 2.0, 2.0, 1000, 6)
    fit = fit_beta_binomial(k, n)
    out = fit.interval(lambda a, b: np.array([a, b]), 0.9, "log")
    assert [type(e) for e in out] == [Estimate, Estimate]
    assert out[0].value == pytest.approx(fit.a) and out[1].value == pytest.approx(fit.b)
    assert out[0].low < fit.a < out[0].high


def test_windows_split_steps_into_contiguous_ranges():
    steps = np.arange(10)
    group_step = np.repeat(steps, 3)
    assert window_bounds(steps, group_step, 4) == [(0, 2), (3, 4), (5, 7), (8, 9)]
    assert window_bounds(steps[:3], group_step[:9], 10) == [(0, 0), (1, 1), (2, 2)]
    assert window_bounds(steps, group_step, 1) == [(0, 9)]


def test_z_value():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(("k", "n", "exc", "match"), [
    ([1, 2], [4], ValueError, "one shape"),
    ([], [], ValueError, "non-empty"),
    ([1.0, 2.0], [4, 4], TypeError, "integer"),
    ([5], [4], ValueError, "successes <= sizes"),
    ([0], [0], ValueError, "sizes >= 1"),
])
def test_bad_input(k, n, exc, match):
    with pytest.raises(exc, match=match):
        fit_beta_binomial(np.array(k), np.array(n))


def test_bad_level_and_scale():
    k, n = _counts(9, 2.0, 2.0, 200, 4)
    fit = fit_beta_binomial(k, n)
    with pytest.raises(ValueError, match="level"):
        fit.interval(lambda a, b: a, 1.5)
    with pytest.raises(ValueError, match="scale must be one of"):
        fit.interval(lambda a, b: a, 0.9, "sqrt")
    with pytest.raises(ValueError, match="windows"):
        window_bounds(np.arange(3), np.arange(3), 0)
