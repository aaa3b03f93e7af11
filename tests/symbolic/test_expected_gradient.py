"""Tests for grpo_theory.symbolic.expected_gradient (and direct checks of its claims)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.claims._core import Outcome, get_claim, prove_identity
from grpo_theory.symbolic import get_derivation
from grpo_theory.symbolic.advantages import Convention
from grpo_theory.symbolic.expected_gradient import (
    MAX_NUMERIC_G,
    MAX_SYMBOLIC_G,
    P,
    advantage_gap,
    binomial_pmf,
    expected_gradient_weight,
    expected_gradient_weight_numeric,
    expected_group_std,
    expected_group_std_numeric,
    implied_objective,
    limit_objective,
    limit_weight,
    softmax_bandit_expected_gradient,
    std_attenuation_series,
)

CONVENTIONS = [c.value for c in Convention]
P_GRID = [0.0, 0.01, 0.1, 0.25, 0.37, 0.5, 0.8, 0.99, 1.0]


def _is_zero(expr: sp.Expr) -> bool:
    return sp.simplify(sp.expand(expr)) == 0


def _softmax_zero(out, expr: sp.Matrix) -> bool:
    """Whether a matrix of softmax-bandit expressions vanishes (write x_a = exp(theta_a))."""
    xs = sp.symbols(f"x1:{len(out.theta) + 1}", positive=True)
    subs = {sp.exp(t): x for t, x in zip(out.theta, xs, strict=True)}
    return all(sp.expand(sp.fraction(sp.together(e.subs(subs)))[0]) == 0 for e in expr)


# ----------------------------------------------------------------------------------------------
# Exact values
# ----------------------------------------------------------------------------------------------


def test_two_grpo_weight_is_one():
    assert sp.simplify(expected_gradient_weight(2) - 1) == 0


def test_three_grpo_weight_is_sqrt2():
    assert sp.simplify(expected_gradient_weight(3) - sp.sqrt(2)) == 0


def test_four_grpo_weight_closed_form():
    # Gaps sqrt(3), 1 + 1/sqrt(3), 1 + 1/sqrt(3), sqrt(3): by hand,
    # c_4 = sqrt(3) (p^3 + (1-p)^3) + 3 (1 + 1/sqrt(3)) p (1-p) = sqrt(3) + (3 - 2 sqrt(3)) p (1-p).
    expected = sp.sqrt(3) + (3 - 2 * sp.sqrt(3)) * P * (1 - P)
    assert _is_zero(expected_gradient_weight(4) - expected)
    assert sp.simplify(expected_gradient_weight(4, p=sp.Rational(1, 2))
                       - (sp.Rational(3, 4) + sp.sqrt(3) / 2)) == 0


@pytest.mark.parametrize(("G", "value"), [(4, 1.6160), (8, 1.8557), (16, 1.9341)])
def test_weight_at_half(G, value):
    exact = expected_gradient_weight(G, p=sp.Rational(1, 2))
    assert exact.is_number
    assert abs(float(exact) - value) <= 5e-5


def test_weight_with_epsilon_for_pairs():
    # A disagreeing pair gets A = +-1/(1 + 2 eps) (paper v2 Prop 5.1 Case 2), so c_2 = 1/(1+2eps).
    eps = sp.Symbol("epsilon", nonnegative=True)
    assert sp.simplify(expected_gradient_weight(2, "grpo", eps) - 1 / (1 + 2 * eps)) == 0


def test_expanded_and_bernstein_forms_agree():
    for conv in CONVENTIONS:
        for G in (2, 3, 5, 9):
            expanded = expected_gradient_weight(G, conv)
            bernstein = expected_gradient_weight(G, conv, expand=False)
            assert _is_zero(expanded - bernstein), (conv, G)


def test_weight_is_the_conditional_advantage_difference():
    # Direct definition: E[A_1 | r_1 = 1] - E[A_1 | r_1 = 0] by enumerating the other rewards.
    G = 4
    total = sp.Integer(0)
    for others in range(2 ** (G - 1)):
        rest = [(others >> i) & 1 for i in range(G - 1)]
        j = sum(rest)
        prob = P**j * (1 - P) ** (G - 1 - j)
        k_plus, k_minus = j + 1, j
        plus = sp.sqrt(sp.Rational(G - k_plus, k_plus)) if k_plus < G else 0
        minus = -sp.sqrt(sp.Rational(k_minus, G - k_minus)) if k_minus > 0 else 0
        total += prob * (plus - minus)
    assert _is_zero(total - expected_gradient_weight(G))


@pytest.mark.parametrize("G", range(2, 9))
def test_sigma_relation(G):
    assert _is_zero(P * (1 - P) * expected_gradient_weight(G) - expected_group_std(G))


@pytest.mark.parametrize("G", range(2, 9))
def test_other_conventions(G):
    assert _is_zero(expected_gradient_weight(G, "dr-grpo") - sp.Rational(G - 1, G))
    assert _is_zero(expected_gradient_weight(G, "rloo") - 1)
    assert _is_zero(expected_gradient_weight(G, "grpo-bessel")
                    - sp.sqrt(sp.Rational(G - 1, G)) * expected_gradient_weight(G))


def test_advantage_gap_symbolic_group_size():
    G = sp.Symbol("G", integer=True, positive=True)
    j = sp.Symbol("j", integer=True, nonnegative=True)
    assert sp.simplify(advantage_gap(j, G, "dr-grpo") - (G - 1) / G) == 0
    assert sp.simplify(advantage_gap(j, G, "rloo") - 1) == 0


def test_advantage_gap_values():
    assert advantage_gap(0, 2) == 1
    assert advantage_gap(1, 2) == 1
    assert [sp.simplify(advantage_gap(j, 3) - sp.sqrt(2)) for j in range(3)] == [0, 0, 0]
    # All-wrong others: the correct response takes the whole group's signal.
    assert sp.simplify(advantage_gap(0, 5) - 2) == 0


def test_weight_is_symmetric_polynomial():
    for G in range(2, 11):
        c = expected_gradient_weight(G)
        assert c.is_polynomial(P)
        assert sp.degree(c, P) <= G - 2
        assert _is_zero(c - expected_gradient_weight(G, p=1 - P))


def test_weight_at_the_boundary():
    # p = 0: every other response is wrong and the correct one gets A+(1) = sqrt(G - 1).
    for G in (2, 5, 10):
        assert sp.simplify(expected_gradient_weight(G, p=0) - sp.sqrt(G - 1)) == 0
        assert sp.simplify(expected_gradient_weight(G, p=1) - sp.sqrt(G - 1)) == 0


def test_binomial_pmf():
    assert binomial_pmf(1, 2, sp.Rational(1, 2)) == sp.Rational(1, 2)
    assert sp.expand(sum(binomial_pmf(j, 5) for j in range(6))) == 1


# ----------------------------------------------------------------------------------------------
# Expected group std, implied objective, limits
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("G", [2, 3, 5, 8])
def test_expected_group_std_matches_formula(G):
    # Bay & Yearick 2026 written out independently.
    formula = sp.Add(*[sp.binomial(G, k) * P**k * (1 - P) ** (G - k) * sp.sqrt(k * (G - k))
                       for k in range(1, G)]) / G
    assert _is_zero(expected_group_std(G) - formula)


def test_expected_group_std_small_groups():
    assert _is_zero(expected_group_std(2) - P * (1 - P))
    assert _is_zero(expected_group_std(3) - sp.sqrt(2) * P * (1 - P))


def test_implied_objective():
    assert _is_zero(implied_objective(2) - P)
    assert _is_zero(implied_objective(3) - sp.sqrt(2) * P)
    for G in (4, 7, 12):
        f = implied_objective(G)
        assert _is_zero(sp.diff(f, P) - expected_gradient_weight(G))
        assert f.subs(P, 0) == 0
        # f_G(1) < pi = 2 arcsin(1): the weight stays below the arcsine weight.
        assert 0 < float(implied_objective(G, p=1)) < math.pi


def test_implied_objective_other_conventions():
    assert _is_zero(implied_objective(5, "dr-grpo") - sp.Rational(4, 5) * P)
    assert _is_zero(implied_objective(5, "rloo") - P)


def test_limit_weight_and_objective():
    assert limit_weight(sp.Rational(1, 2)) == 2
    assert limit_objective(1) == sp.pi
    assert limit_objective(0) == 0
    assert sp.simplify(sp.diff(limit_objective(), P) - limit_weight()) == 0


def test_std_attenuation_series():
    a1, a2 = std_attenuation_series()
    assert sp.simplify(a1 + 1 / (8 * P * (1 - P))) == 0
    assert std_attenuation_series(sp.Rational(1, 2)) == (sp.Rational(-1, 2), sp.Rational(-3, 8))
    # Against the exact mean std: G^2 (ratio - 1 - a1/G) is a2 up to O(1/G).
    for p in (0.2, 0.5, 0.7):
        a1p, a2p = (float(a) for a in std_attenuation_series(sp.nsimplify(p)))
        gaps = []
        for G in (512, 2048):
            ratio = expected_group_std_numeric(G, p) / math.sqrt(p * (1 - p))
            gaps.append(abs(G**2 * (ratio - 1 - a1p / G) - a2p))
            assert gaps[-1] < 10 / G, (p, G, gaps[-1])
        assert gaps[1] < gaps[0] / 3


# ----------------------------------------------------------------------------------------------
# Numeric versions
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("conv", CONVENTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.125])
def test_numeric_matches_exact(conv, eps):
    for G in range(2, 17) if eps == 0 else (2, 3, 5, 8, 13):
        numeric = expected_gradient_weight_numeric(G, P_GRID, conv, eps)
        weight = expected_gradient_weight(G, conv, sp.nsimplify(eps))
        exact = [float(weight.subs(P, sp.nsimplify(p))) for p in P_GRID]
        np.testing.assert_allclose(numeric, exact, rtol=1e-12, atol=1e-12)


def test_numeric_group_std_matches_exact():
    for G in range(2, 17):
        numeric = expected_group_std_numeric(G, P_GRID)
        exact = [float(expected_group_std(G).subs(P, sp.nsimplify(p))) for p in P_GRID]
        np.testing.assert_allclose(numeric, exact, rtol=1e-12, atol=1e-15)


def test_numeric_shapes():
    assert isinstance(expected_gradient_weight_numeric(4, 0.5), float)
    assert isinstance(expected_group_std_numeric(4, 0.5), float)
    p = np.linspace(0.1, 0.9, 6).reshape(2, 3)
    assert expected_gradient_weight_numeric(5, p).shape == (2, 3)
    assert expected_group_std_numeric(5, p).shape == (2, 3)
    assert expected_gradient_weight_numeric(5, [0.2, 0.4]).shape == (2,)


def test_numeric_stable_for_large_groups():
    G = 4096
    p = np.array([0.0, 1e-300, 1e-12, 1e-6, 0.01, 0.5, 0.99, 1 - 1e-6, 1 - 1e-12, 1.0])
    c = expected_gradient_weight_numeric(G, p)
    sigma = expected_group_std_numeric(G, p)
    assert np.all(np.isfinite(c)) and np.all(np.isfinite(sigma))
    # Boundary values: c_G(0) = c_G(1) = sqrt(G - 1); no spread at all when p is 0 or 1.
    np.testing.assert_allclose(c[[0, 1, -1]], math.sqrt(G - 1), rtol=1e-14)
    assert sigma[0] == 0 and sigma[-1] == 0
    np.testing.assert_allclose(expected_gradient_weight_numeric(G, 1 - p[2:]),
                               c[2:], rtol=1e-9)
    # Interior: the relation c = E[sigma] / (p (1-p)) and the approach to the arcsine weight.
    inner = p[4:7]
    np.testing.assert_allclose(c[4:7], sigma[4:7] / (inner * (1 - inner)), rtol=1e-10)
    # The attenuation is 1/(8 G p (1-p)) to first order (a little more: a2 < 0).
    pq = inner * (1 - inner)
    assert np.all(np.abs(c[4:7] * np.sqrt(pq) - 1) <= 1.05 / (8 * G * pq))


def test_numeric_relation_for_large_groups():
    p = np.linspace(0.02, 0.98, 49)
    for G in (100, 1000, 10_000):
        c = expected_gradient_weight_numeric(G, p)
        sigma = expected_group_std_numeric(G, p)
        np.testing.assert_allclose(c * p * (1 - p), sigma, rtol=1e-11)


def test_numeric_large_group_limit_error_shrinks():
    p = np.linspace(0.05, 0.95, 19)
    errors = [np.abs(expected_gradient_weight_numeric(G, p) * np.sqrt(p * (1 - p)) - 1)
              for G in (256, 1024, 4096)]
    assert np.all(errors[1] < errors[0] / 3) and np.all(errors[2] < errors[1] / 3)
    assert errors[2].max() < 1e-3


# ----------------------------------------------------------------------------------------------
# Softmax bandit enumeration
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rewards", "G", "conv", "weight"),
    [
        ((1, 0), 2, "grpo", sp.Integer(1)),
        ((1, 0, 0), 2, "grpo", sp.Integer(1)),
        ((0, 1, 1), 3, "grpo", sp.sqrt(2)),
        ((1, 0, 0), 2, "grpo-bessel", 1 / sp.sqrt(2)),
        ((1, 0, 1), 3, "dr-grpo", sp.Rational(2, 3)),
    ],
)
def test_softmax_bandit_constant_weights(rewards, G, conv, weight):
    out = softmax_bandit_expected_gradient(rewards, G, conv)
    assert _softmax_zero(out, out.expected_gradient - weight * out.success_gradient)


def test_softmax_bandit_detects_a_wrong_weight():
    out = softmax_bandit_expected_gradient((1, 0, 0), 3, "grpo")
    assert not _softmax_zero(out, out.expected_gradient - out.success_gradient)
    xs = sp.symbols("x1:4", positive=True)
    subs = {sp.exp(t): x for t, x in zip(out.theta, xs, strict=True)}

    def numerator(expr):
        return sp.expand(sp.fraction(sp.together(expr.subs(subs)))[0])

    ev = prove_identity(out.expected_gradient[0], out.success_gradient[0], simplifier=numerator)
    assert ev.outcome is Outcome.REFUTED


def test_softmax_bandit_four_responses():
    out = softmax_bandit_expected_gradient((0, 1, 0), 4, "grpo")
    weight = expected_gradient_weight(4, p=out.success_probability, expand=False)
    assert _softmax_zero(out, out.expected_gradient - weight * out.success_gradient)


def test_softmax_bandit_score_and_policy():
    out = softmax_bandit_expected_gradient((1, 0, 0), 2)
    assert _is_zero(sp.Add(*out.policy) - 1)
    assert _is_zero(out.success_probability - out.policy[0])
    # The gradient of p is pi_1 (e_1 - pi), and its coordinates sum to zero.
    expected = sp.Matrix([out.policy[0] * ((1 if a == 0 else 0) - out.policy[a])
                          for a in range(3)])
    assert _softmax_zero(out, out.success_gradient - expected)


# ----------------------------------------------------------------------------------------------
# Derivation and claim checks
# ----------------------------------------------------------------------------------------------


def test_derivation_renders_and_backs_registered_claims():
    d = get_derivation("expected-gradient")
    text, latex = d.render(), d.render(latex=True)
    assert "c_G" in text and "$$" in latex
    for claim_id in d.claims:
        assert get_claim(claim_id).id == claim_id


def test_a_wrong_weight_is_refuted():
    # The checks can fail: c_4 is not constant, and the Bessel weight for G = 3 is not sqrt(2).
    assert prove_identity(expected_gradient_weight(4), sp.Rational(8, 5)).outcome is (
        Outcome.REFUTED)
    assert prove_identity(expected_gradient_weight(3, "grpo-bessel"), sp.sqrt(2)).outcome is (
        Outcome.REFUTED)


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------

probabilities = st.floats(min_value=0.01, max_value=0.99, allow_nan=False)
group_sizes = st.integers(min_value=2, max_value=64)


@pytest.mark.property
@given(G=group_sizes, p=probabilities)
def test_grpo_weight_at_least_one(G, p):
    assert expected_gradient_weight_numeric(G, p) >= 1 - 1e-12


@pytest.mark.property
@given(G=group_sizes, p=probabilities)
def test_grpo_weight_below_arcsine_weight(G, p):
    # Jensen: E[sigma] <= sqrt(E[sigma^2]) = sqrt(p(1-p)(G-1)/G).
    bound = math.sqrt((G - 1) / G) / math.sqrt(p * (1 - p))
    assert expected_gradient_weight_numeric(G, p) <= bound * (1 + 1e-12)


@pytest.mark.property
@given(G=group_sizes, p=probabilities, conv=st.sampled_from(CONVENTIONS))
def test_weight_symmetric(G, p, conv):
    a = expected_gradient_weight_numeric(G, p, conv)
    b = expected_gradient_weight_numeric(G, 1 - p, conv)
    assert math.isclose(a, b, rel_tol=1e-10)


@pytest.mark.property
@given(G=st.integers(min_value=2, max_value=63), p=probabilities)
def test_grpo_weight_increases_with_group_size(G, p):
    assert (expected_gradient_weight_numeric(G + 1, p)
            >= expected_gradient_weight_numeric(G, p) - 1e-12)


@pytest.mark.property
@given(G=group_sizes, p=probabilities)
def test_convention_relations(G, p):
    c = expected_gradient_weight_numeric(G, p)
    assert math.isclose(expected_gradient_weight_numeric(G, p, "grpo-bessel"),
                        math.sqrt((G - 1) / G) * c, rel_tol=1e-12)
    assert math.isclose(expected_gradient_weight_numeric(G, p, "dr-grpo"), (G - 1) / G,
                        rel_tol=1e-12)
    assert math.isclose(expected_gradient_weight_numeric(G, p, "rloo"), 1, rel_tol=1e-12)


@pytest.mark.property
@given(G=group_sizes, p=probabilities, eps=st.floats(min_value=0, max_value=10))
def test_epsilon_shrinks_the_weight(G, p, eps):
    assert (expected_gradient_weight_numeric(G, p, "grpo", eps)
            <= expected_gradient_weight_numeric(G, p) * (1 + 1e-12))


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [expected_gradient_weight, implied_objective, expected_group_std])
def test_bad_group_size_symbolic(fn):
    with pytest.raises(ValueError, match="G"):
        fn(1)
    with pytest.raises(ValueError, match="G"):
        fn(MAX_SYMBOLIC_G + 1)
    with pytest.raises(TypeError, match="G"):
        fn(2.5)
    with pytest.raises(TypeError, match="G"):
        fn(sp.Symbol("G"))


@pytest.mark.parametrize("fn", [expected_gradient_weight_numeric, expected_group_std_numeric])
def test_bad_group_size_numeric(fn):
    with pytest.raises(ValueError, match="G"):
        fn(1, 0.5)
    with pytest.raises(ValueError, match="G"):
        fn(MAX_NUMERIC_G + 1, 0.5)


def test_bad_probability():
    with pytest.raises(ValueError, match="p"):
        expected_gradient_weight(3, p=sp.Rational(3, 2))
    with pytest.raises(ValueError, match="p"):
        implied_objective(3, p=-1)
    with pytest.raises(ValueError, match="p"):
        expected_group_std(3, p=2)
    with pytest.raises(ValueError, match="p"):
        expected_gradient_weight_numeric(3, [0.5, -0.1])
    with pytest.raises(ValueError, match="p"):
        expected_group_std_numeric(3, 1.5)
    with pytest.raises(ValueError, match="p"):
        expected_gradient_weight_numeric(3, float("nan"))
    for fn in (limit_weight, std_attenuation_series):
        with pytest.raises(ValueError, match="p"):
            fn(0)
        with pytest.raises(ValueError, match="p"):
            fn(1)
    with pytest.raises(ValueError, match="p"):
        limit_objective(1.5)


def test_bad_convention():
    with pytest.raises(ValueError, match="convention"):
        expected_gradient_weight(3, "ppo")
    with pytest.raises(ValueError, match="convention"):
        expected_gradient_weight_numeric(3, 0.5, "ppo")
    with pytest.raises(ValueError, match="convention"):
        implied_objective(3, "ppo")
    with pytest.raises(ValueError, match="convention"):
        advantage_gap(0, 3, "ppo")
    with pytest.raises(ValueError, match="convention"):
        softmax_bandit_expected_gradient((1, 0), 2, "ppo")


def test_negative_epsilon():
    with pytest.raises(ValueError, match="epsilon"):
        expected_gradient_weight(3, "grpo", -0.1)
    with pytest.raises(ValueError, match="epsilon"):
        expected_gradient_weight_numeric(3, 0.5, "grpo", -1e-9)
    with pytest.raises(ValueError, match="epsilon"):
        implied_objective(3, "grpo", -1)
    with pytest.raises(ValueError, match="epsilon"):
        advantage_gap(0, 3, "grpo", -1)
    with pytest.raises(ValueError, match="epsilon"):
        softmax_bandit_expected_gradient((1, 0), 2, "grpo", -1)


def test_bad_gap_index():
    with pytest.raises(ValueError, match="j"):
        advantage_gap(3, 3)
    with pytest.raises(ValueError, match="j"):
        advantage_gap(-1, 3)
    with pytest.raises(TypeError, match="j"):
        advantage_gap(0.5, 3)
    with pytest.raises(ValueError, match="G"):
        advantage_gap(0, 1)


def test_bad_binomial_pmf_input():
    with pytest.raises(ValueError, match="j"):
        binomial_pmf(3, 2)
    with pytest.raises(ValueError, match="n"):
        binomial_pmf(0, -1)
    with pytest.raises(TypeError, match="j"):
        binomial_pmf(0.5, 2)
    with pytest.raises(ValueError, match="p"):
        binomial_pmf(1, 2, 1.5)


def test_bad_bandit_input():
    with pytest.raises(ValueError, match="arm_rewards"):
        softmax_bandit_expected_gradient((1,), 2)
    with pytest.raises(ValueError, match="G"):
        softmax_bandit_expected_gradient((1, 0, 0, 0), 20)
    with pytest.raises(ValueError, match="G"):
        softmax_bandit_expected_gradient((1, 0), 1)
