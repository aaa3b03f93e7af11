"""Fixed-budget comparisons: exactness against brute force, structure, recommendations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from grpo_theory.exact.budget import (
    Population,
    budget_row,
    budget_table,
    divisor_group_sizes,
    prompt_features,
    recommend,
)
from grpo_theory.exact.estimators import count_advantages

ESTIMATORS = ["grpo", "grpo-bessel", "dr-grpo", "rloo", "reinforce"]


def _brute_force(pop: Population, estimator: str, G: int, budget: int) -> tuple[float, float]:
    """Trace of the covariance and squared bias by enumerating prompts and counts."""
    Q = budget // G
    x = prompt_features(pop.p)
    plus, minus = count_advantages(estimator, G, np.arange(G + 1))
    ks = np.arange(G + 1)
    # value of one group's estimator for prompt j with k correct (Sigma = 0 in the model)
    values = {(j, k): (k / G * plus[k] * (1 - pop.p[j]) - (G - k) / G * minus[k] * pop.p[j])
              * x[j] for j in range(pop.p.size) for k in ks}
    outcomes = [(j, k, pop.weights[j] * stats.binom.pmf(k, G, pop.p[j]))
                for j in range(pop.p.size) for k in ks]
    m1, m2 = np.zeros(2), 0.0
    for combo in itertools.product(outcomes, repeat=Q):
        prob = np.prod([c[2] for c in combo])
        g = sum(values[(c[0], c[1])] for c in combo) / Q
        m1 += prob * g
        m2 += prob * float(g @ g)
    target = pop.weights @ ((pop.p * (1 - pop.p))[:, None] * x)
    return m2 - float(m1 @ m1), float(np.sum((m1 - target) ** 2))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("G", [2, 3, 6])
def test_matches_brute_force_enumeration(estimator, G):
    pop = Population.from_rates([0.2, 0.55, 0.9])
    row = budget_row(pop, estimator, G, 6)
    var, bias_sq = _brute_force(pop, estimator, G, 6)
    assert row.variance == pytest.approx(var, rel=1e-12, abs=1e-15)
    assert row.bias_sq == pytest.approx(bias_sq, rel=1e-12, abs=1e-15)


def test_beta_quadrature_moments_are_exact():
    pop = Population.from_beta(2.0, 5.0, nodes=8)
    for n in range(1, 8):
        exact = np.prod([(2.0 + i) / (7.0 + i) for i in range(n)])  # E[p^n], p ~ Beta(2, 5)
        assert pop.weights @ pop.p**n == pytest.approx(exact, rel=1e-12)


def test_row_structure():
    pop = Population.from_beta(1.0, 3.0)
    for row in budget_table(pop, 64, [2, 4, 8, 16], ESTIMATORS):
        assert row.prompts * row.group_size == row.budget
        assert row.variance == pytest.approx(row.variance_between + row.variance_within)
        assert row.mse == pytest.approx(row.variance + row.bias_sq)
        assert 0 <= row.relative_mse_best_step <= 1
        assert row.signal_groups == pytest.approx(row.prompts * (1 - row.silent_fraction))
        if row.estimator == "rloo" or (row.estimator == "grpo" and row.group_size == 2):
            assert row.bias_sq < 1e-25


def test_single_prompt_has_no_between_variance():
    row = budget_row(Population.from_rates([0.4]), "grpo", 8, 64)
    assert row.variance_between == 0.0 and row.variance_within > 0


def test_recommendation_and_divisors():
    assert divisor_group_sizes(12) == [2, 3, 4, 6, 12]
    assert divisor_group_sizes(512, 16) == [2, 4, 8, 16]
    rows = budget_table(Population.from_rates([0.5]), 64, [2, 4, 8, 16, 32], ["rloo"])
    # One prompt: no between-prompt variance, so larger groups win.
    assert recommend(rows)["rloo"]["max_snr_per_rollout"] == 32


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Population.from_rates([0.2, 1.5]), r"rates must lie in \[0, 1\], got 1.5"),
        (lambda: Population.from_rates([]), "non-empty"),
        (lambda: Population.from_beta(0.0, 1.0), "a must be > 0"),
        (lambda: Population.from_beta(1.0, 1.0, nodes=1), "nodes"),
        (lambda: budget_row(Population.from_rates([0.5]), "grpo", 3, 8), "G must divide"),
        (lambda: budget_row(Population.from_rates([0.5]), "grpo", 1, 8), "G must be"),
        (lambda: budget_row(Population.from_rates([0.5]), "grpo", 2, 8, -1.0), "epsilon"),
        (lambda: budget_table(Population.from_rates([0.5]), 67, None), "no group size"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_variance_spread():
    from grpo_theory.exact.budget import variance_spread

    one = budget_table(Population.from_rates([0.3]), 64, [2, 4, 8, 16], ["reinforce", "rloo"])
    verdict = variance_spread(one)
    # REINFORCE on one prompt: Lemma 5.3's setting, the variance depends on B only.
    assert verdict["reinforce"]["holds"] and verdict["reinforce"]["variance_ratio"] == \
        pytest.approx(1.0, abs=1e-12)
    assert not verdict["rloo"]["holds"]
    with pytest.raises(ValueError, match="rtol"):
        variance_spread(one, rtol=-1)


@pytest.mark.parametrize(("a", "b"), [(0.5, 1e5), (3.0, 2e4), (1e6, 1e6), (2e3, 50.0)])
def test_from_beta_with_large_parameters_keeps_the_moments(a, b):
    # scipy's Gauss-Jacobi weights overflow here; the Golub-Welsch rule takes over.
    pop = Population.from_beta(a, b, nodes=64)
    mean = a / (a + b)
    var = a * b / ((a + b) ** 2 * (a + b + 1))
    assert np.all((pop.p >= 0) & (pop.p <= 1)) and pop.weights.sum() == pytest.approx(1.0)
    assert pop.weights @ pop.p == pytest.approx(mean, rel=1e-9)
    assert pop.weights @ (pop.p - mean) ** 2 == pytest.approx(var, rel=1e-8)


def test_golub_welsch_matches_scipy_where_both_work():
    from scipy import special

    from grpo_theory.exact.budget import _gauss_jacobi_golub_welsch

    for alpha, beta in [(1.0, -0.5), (699.0, 2.0), (-0.95, -0.7)]:
        x, w = special.roots_jacobi(48, alpha, beta)
        x2, w2 = _gauss_jacobi_golub_welsch(48, alpha, beta)
        np.testing.assert_allclose(x2, x, atol=1e-13)
        np.testing.assert_allclose(w2 / w2.sum(), w / w.sum(), atol=1e-10)
