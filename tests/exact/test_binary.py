"""Tests for the exact binary-reward engine: values, fast paths against full sums, an
enumeration oracle, properties, and bad input."""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom

from grpo_theory.exact import bench, binary
from grpo_theory.exact.binary import (
    SERIES_MIN_LOG_SILENT,
    WINDOW_LOG_TAIL,
    BinaryMoments,
    CountSums,
    binomial_window,
    check_moments,
    count_sums,
    count_sums_grid,
    covariance_trace,
    covariance_trace_grid,
    curves,
    estimator_covariance,
    estimator_mean,
    estimator_moments,
    expected_gradient_weight,
    expected_signal_groups,
    sigma_moments,
    silent_probability,
    snr,
    weight_grid,
)
from grpo_theory.exact.estimators import Estimator, advantages
from grpo_theory.symbolic.expected_gradient import expected_gradient_weight_numeric

ESTIMATORS = [e.value for e in Estimator]
P_GRID = np.concatenate([np.linspace(0.0, 1.0, 41), [1e-300, 1e-9, 1e-4, 1 - 1e-4, 1 - 1e-12]])


def rel_err(x, ref):
    x, ref = np.asarray(x, dtype=float), np.asarray(ref, dtype=float)
    scale = np.maximum(np.abs(ref), np.finfo(float).tiny)
    return float(np.max(np.where(x == ref, 0.0, np.abs(x - ref) / scale)))


# ----------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------


def test_two_grpo_count_sums_closed_form():
    # G = 2: a = -b = 1/2 exactly when k = 1 (probability 2pq), 0 otherwise.
    p = np.linspace(0.0, 1.0, 11)
    pq = p * (1 - p)
    s = count_sums("grpo", 2, p)
    np.testing.assert_allclose(s.mean_a, pq, rtol=1e-15, atol=1e-17)
    np.testing.assert_allclose(s.mean_b, -pq, rtol=1e-15, atol=1e-17)
    np.testing.assert_allclose(s.var_a, pq / 2 - pq**2, rtol=1e-14, atol=1e-17)
    np.testing.assert_allclose(s.cov_ab, -(pq / 2 - pq**2), rtol=1e-14, atol=1e-17)
    np.testing.assert_allclose(s.within_plus, pq / 2, rtol=1e-15, atol=1e-17)
    np.testing.assert_allclose(s.within_minus, pq / 2, rtol=1e-15, atol=1e-17)
    np.testing.assert_allclose(s.silent, p**2 + (1 - p) ** 2, rtol=1e-15)


def test_scalar_and_shape():
    s = count_sums("grpo", 5, 0.3)
    assert isinstance(s, CountSums)
    assert all(np.shape(f) == () for f in s)
    grid = np.full((2, 3), 0.25)
    s = count_sums("rloo", 5, grid)
    assert all(np.shape(f) == (2, 3) for f in s)
    assert np.shape(expected_gradient_weight("grpo", 5, grid)) == (2, 3)
    assert isinstance(float(expected_gradient_weight("grpo", 5, 0.2)), float)


@pytest.mark.parametrize("G", [2, 3])
def test_c2_c3(G):
    p = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(expected_gradient_weight("grpo", G, p), math.sqrt(G - 1),
                               rtol=1e-14)


def test_weights_closed_forms():
    p = np.linspace(0, 1, 21)
    for G in (2, 5, 100, 4096):
        np.testing.assert_allclose(expected_gradient_weight("dr-grpo", G, p), (G - 1) / G)
        np.testing.assert_allclose(expected_gradient_weight("rloo", G, p), 1.0)
        np.testing.assert_allclose(expected_gradient_weight("reinforce", G, p, baseline=0.7),
                                   1.0)


def test_weight_endpoints():
    # c_G(0) = A+(1) - A-(0) = sqrt(G - 1) for GRPO.
    for G in (2, 3, 10, 1000):
        assert expected_gradient_weight("grpo", G, 0.0) == pytest.approx(math.sqrt(G - 1),
                                                                          rel=1e-15)
        assert expected_gradient_weight("grpo", G, 1.0) == pytest.approx(math.sqrt(G - 1),
                                                                          rel=1e-15)
        assert expected_gradient_weight("grpo", G, 1e-300) == pytest.approx(math.sqrt(G - 1),
                                                                            rel=1e-13)


@pytest.mark.parametrize("conv", ["grpo", "grpo-bessel", "dr-grpo", "rloo"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_weight_agrees_with_symbolic_engine(conv, epsilon):
    p = np.linspace(0, 1, 33)
    for G in (2, 3, 4, 7, 16, 64):
        ref = expected_gradient_weight_numeric(G, p, conv, epsilon)
        assert rel_err(expected_gradient_weight(conv, G, p, epsilon), ref) < 1e-12


def test_sigma_moments_against_mpmath():
    mpmath.mp.dps = 40
    for G, p in [(2, 0.7), (20, 0.3), (57, 0.5), (58, 0.5), (100, 0.0893), (300, 0.13),
                 (1000, 0.339), (4096, 0.003), (4096, 0.5), (5, 1e-9)]:
        pm = mpmath.mpf(p)
        w = [mpmath.binomial(G, k) * pm**k * (1 - pm) ** (G - k) for k in range(G + 1)]
        s = [mpmath.sqrt(k * (G - k)) / G for k in range(G + 1)]
        mean = mpmath.fsum(a * b for a, b in zip(w, s, strict=True))
        var = mpmath.fsum(a * (b - mean) ** 2 for a, b in zip(w, s, strict=True))
        for method in ("auto", "window"):
            m, v = sigma_moments(G, p, method=method)
            assert abs(m / float(mean) - 1) < 2e-15, (G, p, method)
            assert abs(v / float(var) - 1) < 5e-14, (G, p, method)


# ----------------------------------------------------------------------------------------------
# Fast paths against the plain full sums
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("est", ESTIMATORS)
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_count_sums_fast_paths_match_full(est, epsilon):
    for G in (2, 3, 5, 17, 57, 58, 100, 1000):
        full = count_sums(est, G, P_GRID, epsilon, 0.3, method="full")
        for method in ("auto", "window"):
            fast = count_sums(est, G, P_GRID, epsilon, 0.3, method=method)
            for name, x, ref in zip(CountSums._fields, fast, full, strict=True):
                assert rel_err(x, ref) < 1e-12, (est, G, method, name)


@pytest.mark.parametrize("est", ESTIMATORS)
def test_grids_match_full_at_large_g(est):
    Gs = np.array([2, 31, 58, 257, 2048, 4096])
    p = np.linspace(0, 1, 26)
    q = 1 - p
    summ = (1.5, 0.5, q * q, p * p, -p * q)
    assert rel_err(weight_grid(est, Gs, p), weight_grid(est, Gs, p, method="full")) < 1e-12
    assert rel_err(covariance_trace_grid(est, Gs, p, *summ),
                   covariance_trace_grid(est, Gs, p, *summ, method="full")) < 1e-12


def test_series_matches_windowed_sums():
    """Where the series is used, it matches the windowed sums for groups up to 40000."""
    p = np.concatenate([np.geomspace(1e-4, 0.02, 25), np.linspace(0.02, 0.98, 49)])
    Gs = np.unique(np.geomspace(20, 40000, 60).astype(int))
    mean, var = binary._sigma_grid(Gs, p, "auto")
    mean_w, var_w = binary._sigma_grid(Gs, p, "window")
    pr = np.minimum(p, 1 - p)
    used = Gs[:, None] * -np.log1p(-pr)[None, :] >= SERIES_MIN_LOG_SILENT
    assert used.sum() > 1000
    assert rel_err(mean[used], mean_w[used]) < 2e-15
    assert rel_err(var[used], var_w[used]) < 5e-14


def test_huge_group():
    G = 200_000
    p = np.array([1e-6, 1e-4, 0.01, 0.5, 0.9])
    assert rel_err(sigma_moments(G, p)[0], sigma_moments(G, p, method="window")[0]) < 1e-14
    c = expected_gradient_weight("grpo", G, p[2:])
    np.testing.assert_allclose(c * np.sqrt(p[2:] * (1 - p[2:])), 1.0, atol=1e-4)


def test_window_bound():
    bound = 2 * math.exp(-WINDOW_LOG_TAIL)
    p = np.concatenate([np.linspace(0, 1, 101), [1e-7, 1e-3, 1 - 1e-3]])
    for G in (2, 9, 64, 333, 4096):
        lo, hi = binomial_window(G, p)
        k = np.arange(G + 1)[None, :]
        outside = (k < lo[:, None]) | (k > hi[:, None])
        mass = np.where(outside, binom.pmf(k, G, p[:, None]), 0.0).sum(axis=1)
        assert mass.max() <= bound


def test_curves_match_grid_functions():
    Gs = np.arange(2, 300)
    p = np.linspace(0, 1, 37)
    q = 1 - p
    summ = (1.0, 2.0, q * q, p * p, -p * q)
    out = curves(ESTIMATORS, Gs, p, *summ, block=64)
    for est in ESTIMATORS:
        w, t = out[est]
        assert rel_err(w, weight_grid(est, Gs, p)) < 1e-15
        assert rel_err(t, covariance_trace_grid(est, Gs, p, *summ)) < 1e-14


def test_count_sums_grid_rows():
    Gs = np.array([7, 2, 500])
    p = np.linspace(0, 1, 9)
    grid = count_sums_grid("grpo-bessel", Gs, p)
    for i, G in enumerate(Gs):
        row = count_sums("grpo-bessel", int(G), p)
        for x, ref in zip(grid, row, strict=True):
            assert rel_err(x[i], ref) < 1e-15


def test_benchmark_small():
    out = bench.run_benchmark(40, 30, repeats=1)
    assert out["values"] == 2 * 5 * 39 * 30
    assert out["seconds"] > 0
    assert out["max_rel_error_weight"] < 1e-12
    assert out["max_rel_error_trace"] < 1e-12


# ----------------------------------------------------------------------------------------------
# Mean and covariance against an enumeration over every group of a categorical policy
# ----------------------------------------------------------------------------------------------


def _categorical_moments(pi, rewards, scores):
    pi, r, s = np.asarray(pi), np.asarray(rewards), np.asarray(scores)
    p = float(pi @ r)
    moments = []
    for mask in (r == 1, r == 0):
        w = pi[mask] / pi[mask].sum()
        mu = w @ s[mask]
        cov = (s[mask] - mu).T @ np.diag(w) @ (s[mask] - mu)
        moments.append((mu, cov))
    (mu_p, sig_p), (mu_m, sig_m) = moments
    return BinaryMoments(p, mu_p, mu_m, sig_p, sig_m)


def _enumerate(est, G, pi, rewards, scores, epsilon, baseline):
    mean = np.zeros(scores.shape[1])
    second = np.zeros((scores.shape[1],) * 2)
    for arms in itertools.product(range(len(pi)), repeat=G):
        prob = float(np.prod(pi[list(arms)]))
        A = advantages(est, rewards[list(arms)], epsilon, baseline)
        g = (A[:, None] * scores[list(arms)]).mean(axis=0)
        mean += prob * g
        second += prob * np.outer(g, g)
    return mean, second - np.outer(mean, mean)


@pytest.mark.parametrize("est", ESTIMATORS)
@pytest.mark.parametrize("G", [2, 3, 4])
def test_moments_match_enumeration(est, G):
    rng = np.random.default_rng(G)
    pi = rng.dirichlet(np.ones(5))
    rewards = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    scores = rng.normal(size=(5, 3))  # arbitrary per-outcome score vectors
    epsilon, baseline = (0.05, 0.4)
    m = _categorical_moments(pi, rewards, scores)
    mean, cov = estimator_moments(est, G, m, epsilon, baseline)
    mean_e, cov_e = _enumerate(est, G, pi, rewards, scores, epsilon, baseline)
    np.testing.assert_allclose(mean, mean_e, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cov, cov_e, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(estimator_mean(est, G, m, epsilon, baseline), mean)
    np.testing.assert_allclose(estimator_covariance(est, G, m, epsilon, baseline), cov)


def test_softmax_score_mean_is_weight_times_gradient():
    rng = np.random.default_rng(3)
    theta = rng.normal(size=4)
    pi = np.exp(theta) / np.exp(theta).sum()
    rewards = np.array([1.0, 0.0, 0.0, 1.0])
    scores = np.eye(4) - pi  # softmax score: zero mean under pi
    m = _categorical_moments(pi, rewards, scores)
    grad_p = pi * (rewards - pi @ rewards)
    for est in ESTIMATORS:
        for G in (2, 3, 8, 64, 4096):
            mean = estimator_mean(est, G, m)
            c = expected_gradient_weight(est, G, m.p)
            np.testing.assert_allclose(mean, c * grad_p, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------


probs = st.floats(0.0, 1.0, allow_nan=False)
sizes = st.integers(2, 300)


@pytest.mark.property
@given(p=probs, G=sizes)
def test_property_weight_symmetric_positive(p, G):
    for est in ("grpo", "grpo-bessel"):
        c = expected_gradient_weight(est, G, p)
        assert c > 0
        assert c == pytest.approx(float(expected_gradient_weight(est, G, 1 - p)), rel=1e-13)
    # c_G(p) sqrt(p(1-p)) stays below 1 (the attenuation is one-sided)
    assert expected_gradient_weight("grpo", G, p) * math.sqrt(p * (1 - p)) <= 1 + 1e-15


@pytest.mark.property
@given(p=st.floats(1e-6, 1 - 1e-6), G=sizes, est=st.sampled_from(ESTIMATORS),
       epsilon=st.sampled_from([0.0, 0.2]))
def test_property_count_sums(p, G, est, epsilon):
    s = count_sums(est, G, p, epsilon, 0.25)
    assert s.var_a >= 0 and s.var_b >= 0
    assert s.within_plus >= 0 and s.within_minus >= 0
    assert s.cov_ab**2 <= s.var_a * s.var_b * (1 + 1e-9) + 1e-300
    assert 0 <= s.silent <= 1
    # the weight from the Bin(G-1) gap sums equals E[a]/p - E[b]/(1-p)
    c = expected_gradient_weight(est, G, p, epsilon, 0.25)
    assert s.mean_a / p - s.mean_b / (1 - p) == pytest.approx(float(c), rel=1e-10)


@pytest.mark.property
@given(p=probs, G=st.integers(2, 5000))
def test_property_silent(p, G):
    silent = silent_probability(G, p)
    assert silent == pytest.approx(p**G + (1 - p) ** G, rel=1e-12, abs=1e-300)
    assert expected_signal_groups(10, G, p) == pytest.approx(10 * (1 - silent), abs=1e-12)


@pytest.mark.property
@given(p=probs, G=sizes, est=st.sampled_from(ESTIMATORS),
       t=st.tuples(*[st.floats(0, 10)] * 4), cos=st.floats(-1, 1))
def test_property_trace_nonnegative(p, G, est, t, cos):
    tsp, tsm, a, b = t
    tr = covariance_trace(est, G, p, tsp, tsm, a, b, cos * math.sqrt(a * b))
    assert tr >= -1e-14


# ----------------------------------------------------------------------------------------------
# snr
# ----------------------------------------------------------------------------------------------


def test_snr():
    assert snr([3.0, 4.0], np.diag([1.0, 4.0])) == 5.0
    assert snr([1.0], [[0.0]]) == math.inf
    assert math.isnan(snr([0.0], [[0.0]]))
    assert snr([0.0, 0.0], np.eye(2)) == 0.0


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def _moments(**override):
    base = dict(p=0.5, mu_plus=[1.0, 0.0], mu_minus=[-1.0, 0.0], sigma_plus=np.eye(2),
                sigma_minus=np.eye(2))
    base.update(override)
    return BinaryMoments(**base)


def test_bad_estimator():
    with pytest.raises(ValueError, match="estimator must be one of grpo, grpo-bessel"):
        count_sums("ppo", 4, 0.5)
    with pytest.raises(ValueError, match="estimator"):
        curves(["grpo", "nope"], [2], [0.5], 1.0, 1.0, 0.0, 0.0, 0.0)


def test_bad_group_size():
    with pytest.raises(ValueError, match="G"):
        count_sums("grpo", 1, 0.5)
    with pytest.raises(TypeError, match="G"):
        expected_gradient_weight("grpo", 2.5, 0.5)
    with pytest.raises(ValueError, match="G_values"):
        weight_grid("grpo", [2, 1], [0.5])
    with pytest.raises(ValueError, match="G_values"):
        weight_grid("grpo", [2.0, 3.0], [0.5])
    with pytest.raises(ValueError, match="Q"):
        expected_signal_groups(0, 2, 0.5)


def test_bad_probability():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\].*index \(2,\)"):
        count_sums("grpo", 4, [0.1, 0.2, 1.5])
    with pytest.raises(ValueError, match="p must lie"):
        silent_probability(3, -0.1)
    with pytest.raises(ValueError, match="p"):
        sigma_moments(3, float("nan"))
    with pytest.raises(TypeError, match="p"):
        count_sums("grpo", 4, "half")


def test_bad_epsilon_baseline_method():
    with pytest.raises(ValueError, match="epsilon"):
        count_sums("grpo", 4, 0.5, epsilon=-1e-3)
    with pytest.raises(ValueError, match="baseline"):
        count_sums("reinforce", 4, 0.5, baseline=float("inf"))
    with pytest.raises(ValueError, match="method"):
        count_sums("grpo", 4, 0.5, method="fast")


def test_bad_moments():
    with pytest.raises(ValueError, match="moments.mu_minus"):
        estimator_mean("grpo", 4, _moments(mu_minus=[1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="moments.sigma_plus"):
        estimator_covariance("grpo", 4, _moments(sigma_plus=np.eye(3)))
    with pytest.raises(ValueError, match="moments.sigma_minus must be symmetric"):
        estimator_covariance("grpo", 4, _moments(sigma_minus=[[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive semi-definite"):
        estimator_covariance("grpo", 4, _moments(sigma_plus=-np.eye(2)))
    with pytest.raises(ValueError, match="moments.mu_plus must be finite"):
        estimator_mean("grpo", 4, _moments(mu_plus=[np.nan, 0.0]))
    with pytest.raises(ValueError, match="moments.p"):
        estimator_mean("grpo", 4, _moments(p=2.0))
    with pytest.raises(TypeError, match="moments"):
        check_moments({"p": 0.5})


def test_bad_summaries():
    with pytest.raises(ValueError, match="tr_sigma_plus must be >= 0"):
        covariance_trace("grpo", 4, 0.5, -1.0, 1.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="mu_dot"):
        covariance_trace("grpo", 4, 0.5, 1.0, 1.0, 1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="broadcast"):
        covariance_trace("grpo", 4, [0.1, 0.2], 1.0, 1.0, [1.0, 1.0, 1.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="mu_minus_sq must be finite"):
        covariance_trace_grid("grpo", [2], [0.5], 1.0, 1.0, 1.0, np.inf, 0.0)


def test_bad_snr():
    with pytest.raises(ValueError, match="cov must have shape"):
        snr([1.0, 2.0], np.eye(3))
    with pytest.raises(ValueError, match="non-negative diagonal"):
        snr([1.0], [[-1.0]])
    with pytest.raises(ValueError, match="mean must be a vector"):
        snr([[1.0]], [[1.0]])
