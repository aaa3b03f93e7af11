"""Tests of the agreement tests, bounds and intervals of the Monte Carlo layer."""

from __future__ import annotations

import itertools
import math

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from grpo_theory.exact.estimators import Estimator, advantages
from grpo_theory.montecarlo.engine import mc_moments
from grpo_theory.montecarlo.stats import (
    bandit_agreement,
    bernstein_radius,
    check_against_exact,
    empirical_bernstein_radius,
    mean_abs_advantage_bound,
    normal_interval,
    quantisation_total_variation,
    score_bounds,
)


def test_bernstein_radius_solves_the_tail_equation():
    var, b, n, delta = 0.3, 2.0, 5000, 1e-6
    t = bernstein_radius(var, b, n, delta)
    assert 2 * math.exp(-n * t * t / (2 * var + 2 * b * t / 3)) == pytest.approx(delta, rel=1e-9)
    assert bernstein_radius(var, b, 4 * n, delta) < t


def test_bernstein_radius_holds_for_bernoulli_means():
    """The exact binomial tail beyond the radius is at most delta (a check of the inequality)."""
    n, p, delta = 2000, 0.3, 1e-3
    t = bernstein_radius(p * (1 - p), max(p, 1 - p), n, delta)
    lo, hi = math.ceil(n * (p - t)) - 1, math.floor(n * (p + t)) + 1
    tail = sps.binom.cdf(lo, n, p) + sps.binom.sf(hi - 1, n, p)
    assert tail <= delta


def test_empirical_bernstein_radius():
    r = empirical_bernstein_radius(0.25, 1.0, 1001, 1e-6)
    L = math.log(4e6)
    assert r == pytest.approx(math.sqrt(0.5 * L / 1001) + 7 * L / 3000)


@pytest.mark.parametrize("estimator", list(Estimator))
@pytest.mark.parametrize("G", [2, 3, 5])
def test_mean_abs_advantage_bound_is_attained_or_exceeded(estimator, G):
    """Binary rewards: the bound is the maximum over all groups; real rewards: an upper bound."""
    for values, tight in (([0.0, 1.0], True), ([0.0, 0.3, 1.0], False)):
        worst = max(float(np.mean(np.abs(advantages(estimator, np.array(r), 0.0, 0.4))))
                    for r in itertools.product(values, repeat=G))
        bound = mean_abs_advantage_bound(estimator, G, values, 0.0, 0.4)
        assert worst <= bound + 1e-12
        if tight:
            assert worst == pytest.approx(bound, abs=1e-12)


@pytest.mark.property
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=12),
       st.sampled_from(list(Estimator)), st.floats(0, 1))
def test_mean_abs_advantage_bound_property(rewards, estimator, epsilon):
    r = np.array(rewards)
    got = float(np.mean(np.abs(advantages(estimator, r, epsilon, 0.5))))
    assert got <= mean_abs_advantage_bound(estimator, r.size, r, epsilon, 0.5) + 1e-9


def test_score_bounds():
    pi = np.array([0.2, 0.5, 0.3])
    coord, norm = score_bounds(pi)
    scores = np.eye(3) - pi
    np.testing.assert_allclose(coord, np.abs(scores).max(axis=0))
    assert norm == pytest.approx(np.linalg.norm(scores, axis=1).max())
    assert quantisation_total_variation(4, 3) == 12 * 2.0**-33


def _uniform_cube(key, n):
    return jax.random.uniform(key, (n, 3), dtype="float64")


def test_check_against_exact_accepts_the_truth_and_rejects_a_shift():
    """Uniform[0, 1]^3 draws: mean 1/2, covariance I/12, |x| <= 1, ||x|| <= sqrt(3)."""
    m = mc_moments(0, _uniform_cube, 100_000, block_size=4096)
    good = check_against_exact(m, np.full(3, 0.5), np.eye(3) / 12, coordinate_bound=1.0,
                               norm_bound=math.sqrt(3))
    assert good.agrees and good.mean_agrees and good.trace_agrees and good.worst_ratio < 1
    bad_mean = check_against_exact(m, [0.5, 0.5, 0.51], np.eye(3) / 12, coordinate_bound=1.0,
                                   norm_bound=math.sqrt(3))
    assert not bad_mean.agrees and not bad_mean.mean_agrees
    bad_cov = check_against_exact(m, np.full(3, 0.5), np.eye(3) / 10, coordinate_bound=1.0,
                                  norm_bound=math.sqrt(3))
    assert bad_cov.mean_agrees and not bad_cov.trace_agrees
    assert "rejected" in bad_cov.summary() and bad_cov.as_dict()["trace_agrees"] is False


def test_check_against_exact_validates():
    m = mc_moments(0, _uniform_cube, 1000, block_size=100)
    with pytest.raises(ValueError, match="exact_mean"):
        check_against_exact(m, np.zeros(2), np.eye(2), coordinate_bound=1, norm_bound=2)
    with pytest.raises(ValueError, match="delta"):
        check_against_exact(m, np.zeros(3), np.eye(3), coordinate_bound=1, norm_bound=2,
                            delta=0.0)
    with pytest.raises(ValueError, match="coordinate_bound"):
        check_against_exact(m, np.zeros(3), np.eye(3), coordinate_bound=-1, norm_bound=2)
    with pytest.raises(ValueError, match="total_variation"):
        check_against_exact(m, np.zeros(3), np.eye(3), coordinate_bound=1, norm_bound=2,
                            total_variation=-1)


@pytest.mark.statistical
def test_bandit_agreement_and_its_power():
    """N = 2**18 groups, 4 arms, G = 3; false-positive probability <= 1e-6 by construction
    (Bernstein and empirical Bernstein bounds, union over coordinates and trace). Power: RLOO
    draws tested as Dr. GRPO (advantages 3/2 too large) are rejected."""
    z, r = [0.2, -0.5, 0.9, 0.0], [1.0, 0.0, 0.0, 1.0]
    assert bandit_agreement(1, z, r, 3, "dr-grpo", 1 << 18).agrees
    assert not bandit_agreement(1, z, r, 3, "dr-grpo", 1 << 18, draw_estimator="rloo").agrees


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bernstein_radius(-1.0, 1.0, 10, 0.1), "variance"),
        (lambda: bernstein_radius(1.0, 1.0, 1, 0.1), "n"),
        (lambda: bernstein_radius(1.0, 1.0, 10, 1.0), "delta"),
        (lambda: empirical_bernstein_radius(1.0, -1.0, 10, 0.1), "value_range"),
        (lambda: mean_abs_advantage_bound("grpo", 1, [0, 1]), "G"),
        (lambda: mean_abs_advantage_bound("grpo", 2, []), "rewards"),
        (lambda: normal_interval(1.0, -0.1), "stderr"),
        (lambda: normal_interval(1.0, 0.1, level=1.5), "level"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_normal_interval():
    lo, hi = normal_interval(2.0, 0.5, level=0.9)
    assert (hi - lo) / 2 == pytest.approx(0.5 * sps.norm.ppf(0.95))
    lo, hi = normal_interval([1.0, 2.0], [0.1, 0.2])
    assert lo.shape == (2,) and np.all(hi > lo)
