"""Tests for grpo_theory.exact.related (and direct checks of the related.* claims)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import optimize, special

from grpo_theory.claims import related as related_claims
from grpo_theory.claims._core import Outcome, evaluate, get_claim
from grpo_theory.exact.related import (
    FixedPoint,
    Side,
    average_overestimate_probability,
    binary_group_std,
    conditional_bias,
    conditional_mean_success,
    conditional_mean_success_sum,
    conditional_tail_probability,
    conditional_tail_probability_direct,
    expected_squared_std,
    exploration_probability,
    frozen_exploration_probability,
    gradient_mass_ratio,
    group_size_budget,
    kl_regularised_objective,
    minimal_group_size,
    mroueh_fixed_points,
    mroueh_iterate,
    mroueh_logit_map,
    mroueh_map,
    mroueh_map_derivative,
    mroueh_optimal_policy,
    mroueh_weights,
    nondegenerate_probability,
    overestimate_probability,
    silent_group_rate,
    silent_group_rate_enumerated,
    std_attenuation_error,
)

interior = st.floats(min_value=1e-3, max_value=1 - 1e-3, allow_nan=False)
group_sizes = st.integers(min_value=2, max_value=64)
small_groups = st.integers(min_value=2, max_value=12)


def _near_integer(x: float, tol: float = 1e-7) -> bool:
    return abs(x - round(x)) < tol


# ----------------------------------------------------------------------------------------------
# Yang et al. 2026: values
# ----------------------------------------------------------------------------------------------


def test_nondegenerate_probability_values():
    assert nondegenerate_probability(2, 0.5) == 0.5
    assert nondegenerate_probability(5, 0.0) == 0.0
    assert nondegenerate_probability(5, 1.0) == 0.0
    p = np.array([[0.1, 0.2], [0.7, 0.9]])
    out = nondegenerate_probability(4, p)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, 1 - (1 - p) ** 4 - p**4, atol=1e-15)


def test_nondegenerate_probability_no_cancellation_near_ends():
    # 1 - (1-p)^G - p^G ~ G p for tiny p: computed naively it loses every digit.
    assert math.isclose(nondegenerate_probability(8, 1e-12), 8e-12, rel_tol=1e-6)
    assert math.isclose(nondegenerate_probability(8, 1 - 1e-12), 8e-12, rel_tol=1e-3)


def test_conditional_mean_pairs_and_triples():
    p = np.linspace(0.01, 0.99, 37)
    # G = 2: p_hat = 1/2 on S. G = 3: (p - p^3)/(3p(1-p)) = (1 + p)/3.
    np.testing.assert_allclose(conditional_mean_success(2, p), 0.5, atol=1e-14)
    np.testing.assert_allclose(conditional_mean_success(3, p), (1 + p) / 3, atol=1e-14)
    np.testing.assert_allclose(conditional_mean_success_sum(3, p), (1 + p) / 3, atol=1e-14)


@pytest.mark.parametrize("G", [2, 3, 4, 9, 64, 1000])
def test_conditional_mean_closed_form_matches_sum(G):
    p = np.concatenate([np.geomspace(1e-6, 0.5, 30), 1 - np.geomspace(1e-6, 0.5, 30)])
    np.testing.assert_allclose(conditional_mean_success(G, p), conditional_mean_success_sum(G, p),
                               atol=1e-12)


def test_conditional_mean_limits():
    # p -> 0: S is essentially {R = 1}, so p_hat -> 1/G; p -> 1: p_hat -> (G-1)/G.
    assert math.isclose(conditional_mean_success(10, 1e-9), 0.1, rel_tol=1e-6)
    assert math.isclose(conditional_mean_success(10, 1 - 1e-9), 0.9, rel_tol=1e-6)


def test_conditional_bias_small_groups():
    p = np.linspace(0.01, 0.99, 37)
    np.testing.assert_allclose(conditional_bias(2, p), 0.5 - p, atol=1e-14)
    np.testing.assert_allclose(conditional_bias(3, p), (1 - 2 * p) / 3, atol=1e-14)
    assert conditional_bias(7, 0.5) == pytest.approx(0.0, abs=1e-15)


def test_conditional_bias_symbolic_identity():
    p = sp.Symbol("p", positive=True)
    for G in range(2, 9):
        den = 1 - (1 - p) ** G - p**G
        closed = (p - p**G) / den - p
        lemma = (p * (1 - p) ** G + p ** (G + 1) - p**G) / den
        assert sp.simplify(closed - lemma) == 0


def test_tail_probability_pairs():
    # G = 2: p_hat = 1/2 on S, so Pr(p_hat - p > eps | S) = 1[1/2 - p > eps].
    assert conditional_tail_probability(2, 0.2, 0.25) == 1.0
    assert conditional_tail_probability(2, 0.2, 0.35) == 0.0
    assert conditional_tail_probability(2, 0.8, 0.25, "under") == 1.0
    assert conditional_tail_probability(2, 0.8, 0.25, "over") == 0.0


def test_tail_probability_exact_enumeration():
    # Direct enumeration of all reward vectors in exact rationals at a boundary point:
    # G = 4, p = 1/4, eps = 1/4: p_hat - p > 1/4 iff k/4 > 1/2 iff k = 3.
    from fractions import Fraction

    G, p, eps = 4, Fraction(1, 4), Fraction(1, 4)
    num = den = Fraction(0)
    for v in itertools.product((0, 1), repeat=G):
        k = sum(v)
        if 1 <= k <= G - 1:
            w = p**k * (1 - p) ** (G - k)
            den += w
            num += w if Fraction(k, G) - p > eps else 0
    # Only k = 3 qualifies: Pr(R = 3) / Pr(S) = (12/256) / (174/256) = 2/29.
    assert num / den == Fraction(2, 29)
    assert math.isclose(conditional_tail_probability(G, 0.25, 0.25), 2 / 29, rel_tol=1e-13)


def test_overestimate_probability_sure_region():
    for G in (2, 3, 8, 33):
        p = np.linspace(0.001, 1 / G - 1e-6, 20)
        np.testing.assert_allclose(overestimate_probability(G, p), 1.0, atol=1e-12)
        q = np.linspace(1 / G, 0.999, 20)
        assert np.all(overestimate_probability(G, q) < 1 - 1e-12)


@pytest.mark.parametrize(
    "G, b, value",
    [(6, 0.25, 0.8278), (8, 0.25, 0.7811), (4, 0.5, 0.7770), (6, 0.5, 0.6897),
     (8, 0.5, 0.6409), (2, 0.25, 1.0), (4, 0.25, 1.0), (2, 0.5, 1.0)],
)
def test_corollary1_averages(G, b, value):
    assert round(average_overestimate_probability(G, 0.0, b), 4) == value


def test_corollary1_averages_more_digits():
    assert average_overestimate_probability(8, 0.0, 0.5) == pytest.approx(0.6409483205, abs=1e-9)
    assert average_overestimate_probability(4, 0.0, 0.5) == pytest.approx(0.7769693673, abs=1e-9)
    assert average_overestimate_probability(6, 0.0, 0.5) == pytest.approx(0.6897246063, abs=1e-9)


@pytest.mark.parametrize("G, b", [(3, 0.5), (5, 0.3), (8, 0.25)])
def test_corollary1_average_mirror(G, b):
    hard = average_overestimate_probability(G, 0.0, b, "over")
    easy = average_overestimate_probability(G, 1 - b, 1.0, "under")
    assert hard == pytest.approx(easy, abs=1e-10)


# ----------------------------------------------------------------------------------------------
# Yang et al. 2026: properties
# ----------------------------------------------------------------------------------------------


@pytest.mark.property
@given(G=group_sizes, p=interior)
def test_bias_sign_matches_difficulty(G, p):
    assume(abs(p - 0.5) > 1e-3)
    bias = conditional_bias(G, p)
    assert (bias > 0) == (p < 0.5)
    assert math.isclose(bias, conditional_mean_success(G, p) - p, abs_tol=1e-13)


@pytest.mark.property
@given(G=group_sizes, p=interior)
def test_conditional_mean_within_support(G, p):
    # Corollary 3: on S, p_hat lies in [1/G, (G-1)/G], and so does its mean.
    m = conditional_mean_success(G, p)
    assert 1 / G - 1e-12 <= m <= (G - 1) / G + 1e-12


@pytest.mark.property
@given(G=group_sizes, p=interior, eps=st.floats(min_value=0, max_value=0.5),
       side=st.sampled_from(["over", "under"]))
def test_tail_formula_matches_direct_test(G, p, eps, side):
    edge = G * (p + eps) if side == "over" else G * (p - eps)
    assume(not _near_integer(edge))
    a = conditional_tail_probability(G, p, eps, side)
    b = conditional_tail_probability_direct(G, p, eps, side)
    assert a == pytest.approx(b, abs=1e-12)
    assert 0 <= a <= 1


@pytest.mark.property
@given(G=group_sizes, p=interior, e1=st.floats(0, 0.5), e2=st.floats(0, 0.5))
def test_tail_probability_nonincreasing_in_epsilon(G, p, e1, e2):
    lo, hi = sorted((e1, e2))
    for side in Side:
        assert (conditional_tail_probability_direct(G, p, hi, side)
                <= conditional_tail_probability_direct(G, p, lo, side) + 1e-15)


@pytest.mark.property
@given(G=group_sizes, p=interior)
def test_over_and_under_partition(G, p):
    assume(not _near_integer(G * p))  # then p_hat != p surely
    over = conditional_tail_probability_direct(G, p, 0.0, "over")
    under = conditional_tail_probability_direct(G, p, 0.0, "under")
    assert over + under == pytest.approx(1.0, abs=1e-12)


@pytest.mark.property
@given(G=group_sizes, p=interior)
def test_tail_mirror_symmetry(G, p):
    assume(not _near_integer(G * p))
    assert (conditional_tail_probability_direct(G, p, 0.0, "over")
            == pytest.approx(conditional_tail_probability_direct(G, 1 - p, 0.0, "under"),
                             abs=1e-12))


# ----------------------------------------------------------------------------------------------
# Bay & Yearick 2026
# ----------------------------------------------------------------------------------------------


def test_binary_group_std_matches_vectors():
    for G in (2, 3, 7, 16):
        k = np.arange(G + 1)
        stds = [np.std([1.0] * j + [0.0] * (G - j)) for j in k]
        np.testing.assert_allclose(binary_group_std(k, G), stds, atol=1e-15)
        np.testing.assert_allclose(binary_group_std(k, G), np.sqrt(k / G * (1 - k / G)),
                                   atol=1e-15)
    assert binary_group_std(1, 2) == 0.5


def test_binary_group_std_symbolic():
    k, m = sp.symbols("k m", nonnegative=True)
    G = k + m
    var = (k * (1 - k / G) ** 2 + m * (k / G) ** 2) / G
    assert sp.simplify(var - k * m / G**2) == 0


def test_silent_rate_values():
    assert silent_group_rate(2, 0.5) == 0.5
    assert silent_group_rate(8, 0.0) == 1.0
    np.testing.assert_allclose(silent_group_rate(3, [0.1, 0.5]), [0.73, 0.25], atol=1e-15)


@pytest.mark.property
@given(G=st.integers(2, 12), p=st.floats(0, 1))
def test_silent_rate_matches_enumeration(G, p):
    assert silent_group_rate(G, p) == pytest.approx(silent_group_rate_enumerated(G, p), abs=1e-13)
    assert silent_group_rate(G, p) + nondegenerate_probability(G, p) == pytest.approx(1, abs=1e-13)


def test_attenuation_of_pairs():
    # G = 2: E[sigma] = 2p(1-p) * 1/2, so e_2(p) = 1 - sqrt(p(1-p)).
    p = np.linspace(0.05, 0.95, 19)
    np.testing.assert_allclose(std_attenuation_error(2, p), 1 - np.sqrt(p * (1 - p)), atol=1e-14)


def test_budget_falls_short_and_minimal_group_size():
    assert group_size_budget(0.5, 0.01) == 50.0
    assert std_attenuation_error(50, 0.5) > 0.01  # the budget itself misses the target
    assert minimal_group_size(0.5, 0.01) == 51
    assert std_attenuation_error(51, 0.5) <= 0.01
    np.testing.assert_allclose(group_size_budget([0.2, 0.8], 0.05), [15.625, 15.625])


@pytest.mark.property
@given(p=st.floats(0.05, 0.5), eps=st.floats(0.005, 0.1))
def test_minimal_group_size_is_above_first_order_budget(p, eps):
    g = minimal_group_size(p, eps)
    assert std_attenuation_error(g, p) <= eps
    if g > 2:
        assert std_attenuation_error(g - 1, p) > eps
    assert g > group_size_budget(p, eps)  # the first-order budget is never enough


@pytest.mark.property
@given(G=group_sizes, p=st.floats(0, 1))
def test_expected_squared_std_closed_form(G, p):
    assert expected_squared_std(G, p) == pytest.approx((G - 1) / G * p * (1 - p), abs=1e-13)


def test_gradient_mass_ratio_small_groups_constant():
    p = np.linspace(0.02, 0.98, 25)
    np.testing.assert_allclose(gradient_mass_ratio(2, p), 2.0, atol=1e-12)
    np.testing.assert_allclose(gradient_mass_ratio(3, p), 3 / math.sqrt(2), atol=1e-12)


@pytest.mark.property
@given(G=st.integers(4, 64), a=st.floats(0.01, 0.49), b=st.floats(0.01, 0.49))
def test_gradient_mass_ratio_decreasing_towards_half(G, a, b):
    assume(abs(a - b) > 1e-3)
    lo, hi = sorted((a, b))
    assert gradient_mass_ratio(G, lo) > gradient_mass_ratio(G, hi)


# ----------------------------------------------------------------------------------------------
# Mroueh 2025
# ----------------------------------------------------------------------------------------------


@pytest.mark.property
@given(p=st.floats(0, 1), eps=st.floats(1e-6, 1))
def test_mroueh_weight_identities(p, eps):
    wp, wm = mroueh_weights(p, eps)
    root = math.sqrt(p * (1 - p) + eps)
    assert wp + wm == pytest.approx(1 / root, rel=1e-12)
    assert wp * p - wm * (1 - p) == pytest.approx(0, abs=1e-12 / root)


def test_mroueh_map_matches_printed_form():
    p = np.linspace(0.01, 0.99, 50)
    p_ref, beta, eps = 0.3, 0.7, 0.02
    printed = 1 / (1 + (1 - p_ref) / p_ref * np.exp(-1 / (beta * np.sqrt(p * (1 - p) + eps))))
    np.testing.assert_allclose(mroueh_map(p, p_ref, beta, eps), printed, rtol=1e-13)


@pytest.mark.property
@given(p=st.floats(0, 1), p_ref=interior, beta=st.floats(0.05, 50), eps=st.floats(1e-4, 1))
def test_mroueh_amplification(p, p_ref, beta, eps):
    assert mroueh_map(p, p_ref, beta, eps) > p_ref


@pytest.mark.property
@given(p=st.floats(0.02, 0.98), p_ref=interior, beta=st.floats(0.2, 10), eps=st.floats(1e-3, 1))
def test_mroueh_derivative_matches_differences(p, p_ref, beta, eps):
    h = 1e-6
    fd = (mroueh_map(p + h, p_ref, beta, eps) - mroueh_map(p - h, p_ref, beta, eps)) / (2 * h)
    assert mroueh_map_derivative(p, p_ref, beta, eps) == pytest.approx(fd, rel=1e-5, abs=1e-8)
    assert np.sign(mroueh_map_derivative(p, p_ref, beta, eps)) in (0.0, np.sign(p - 0.5))


def test_mroueh_derivative_symbolic():
    p, pr, b, e = sp.symbols("p p_ref beta epsilon", positive=True)
    h = 1 / (1 + (1 - pr) / pr * sp.exp(-1 / (b * sp.sqrt(p * (1 - p) + e))))
    formula = -h * (1 - h) * (1 - 2 * p) / (2 * b * (p * (1 - p) + e) ** sp.Rational(3, 2))
    assert sp.simplify(sp.diff(h, p) - formula) == 0


def test_mroueh_iterate_variants():
    p_ref, beta, eps = 0.2, 1.5, 0.01
    run = mroueh_iterate(p_ref, beta, eps, 4)
    for n in range(1, 5):
        assert run[n] == pytest.approx(mroueh_map(run[n - 1], p_ref, beta, eps), rel=1e-13)
    mean_only = mroueh_iterate(p_ref, beta, 0.0, 3, "mean-only", p0=0.9)
    target = special.expit(special.logit(p_ref) + 1 / beta)
    np.testing.assert_allclose(mean_only[1:], target, rtol=1e-14)
    mirror = mroueh_iterate(p_ref, beta, eps, 50, "mirror", logits=True)
    assert np.all(np.diff(mirror) >= 2 / (beta * math.sqrt(1 + 4 * eps)) - 1e-12)
    assert special.expit(mirror[-1]) > 0.999


def test_mroueh_fixed_points_three_and_one():
    three = mroueh_fixed_points(0.2, 1.0, 1e-3)
    assert len(three) == 3
    assert [fp.stable for fp in three] == [True, False, True]
    assert three[0].p == pytest.approx(0.679562, abs=1e-6)
    assert all(isinstance(fp, FixedPoint) for fp in three)
    for fp in three:
        assert mroueh_logit_map(fp.logit, 0.2, 1.0, 1e-3) == pytest.approx(fp.logit, rel=1e-12)
    one = mroueh_fixed_points(0.5, 1.0, 0.1)
    assert len(one) == 1 and one[0].stable
    assert mroueh_map(one[0].p, 0.5, 1.0, 0.1) == pytest.approx(one[0].p, rel=1e-12)


@pytest.mark.property
@given(p_ref=st.floats(0.02, 0.95), beta=st.floats(0.2, 20), eps=st.floats(1e-3, 0.5))
def test_mroueh_fixed_points_exceed_reference(p_ref, beta, eps):
    points = mroueh_fixed_points(p_ref, beta, eps, resolution=20_000)
    assert points  # h maps [0, 1] into (p_ref, 1): a fixed point exists
    for fp in points:
        assert fp.logit > special.logit(p_ref)
        assert mroueh_logit_map(fp.logit, p_ref, beta, eps) == pytest.approx(fp.logit,
                                                                            abs=1e-9, rel=1e-9)


def test_mroueh_optimal_policy_against_optimizer():
    rng = np.random.default_rng(7)
    ref = rng.dirichlet(np.ones(5))
    correct = np.array([1, 0, 0, 1, 0])
    wp, wm = mroueh_weights(float(ref[correct == 1].sum()), 0.01)
    closed = mroueh_optimal_policy(ref, correct, wp, wm, 0.8)

    def negative(theta):
        return -kl_regularised_objective(special.softmax(theta), ref, correct, wp, wm, 0.8)

    res = optimize.minimize(negative, np.zeros(5), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20_000})
    np.testing.assert_allclose(special.softmax(res.x), closed, atol=1e-5)
    assert -res.fun <= kl_regularised_objective(closed, ref, correct, wp, wm, 0.8) + 1e-12


@pytest.mark.property
@given(seed=st.integers(0, 10_000), beta=st.floats(0.1, 10))
def test_mroueh_optimal_policy_beats_random_policies(seed, beta):
    rng = np.random.default_rng(seed)
    ref = rng.dirichlet(np.ones(4))
    correct = np.array([1, 1, 0, 0])
    closed = mroueh_optimal_policy(ref, correct, 1.3, 0.4, beta)
    best = kl_regularised_objective(closed, ref, correct, 1.3, 0.4, beta)
    for pi in rng.dirichlet(np.ones(4), size=5):
        assert kl_regularised_objective(pi, ref, correct, 1.3, 0.4, beta) <= best + 1e-12


# ----------------------------------------------------------------------------------------------
# Paper v2 Prop 5.4
# ----------------------------------------------------------------------------------------------


def test_exploration_values():
    assert exploration_probability([0.1, 0.2]) == pytest.approx(1 - 0.81 * 0.64)
    assert exploration_probability([0.3], 16) == pytest.approx(1 - 0.7**16)
    assert frozen_exploration_probability(0.5, 2) == 0.75
    assert exploration_probability([0.2, 1.0]) == 1.0


@pytest.mark.parametrize("m", [2, 3])
def test_prop54_symbolic_substitution(m):
    # p_i = p0 + d_i with 0 <= d_i <= 1 - p0: write 1 - p0 = a and 1 - p_i = a t_i, t_i in [0, 1];
    # then the difference is a^(2m) (1 - prod t_i^2), and 1 - prod t_i^2 >= 0 on [0, 1]^(m-1).
    a = sp.Symbol("a", positive=True)
    d = sp.symbols(f"d1:{m}", nonnegative=True)
    p0 = 1 - a
    ps = [p0] + [p0 + di for di in d]
    diff = (1 - sp.Mul(*[(1 - x) ** 2 for x in ps])) - (1 - (1 - p0) ** (2 * m))
    t = sp.symbols(f"t1:{m}", nonnegative=True)
    in_t = diff.subs({di: a * (1 - ti) for di, ti in zip(d, t, strict=True)})
    assert sp.expand(in_t - a ** (2 * m) * (1 - sp.Mul(*[ti**2 for ti in t]))) == 0
    # Monotone in each d_j: the derivative is a product of nonnegative factors.
    for j, dj in enumerate(d):
        deriv = sp.diff(diff, dj)
        others = sp.Mul(*[(1 - x) ** 2 for i, x in enumerate(ps) if i != j + 1])
        assert sp.expand(deriv - 2 * (1 - ps[j + 1]) * others) == 0


@pytest.mark.property
@given(p0=st.floats(0, 1), rises=st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_prop54_bound_property(p0, rises):
    ps = [p0] + [p0 + r * (1 - p0) for r in rises]  # every p_i >= p0
    m = len(ps)
    assert exploration_probability(ps) >= frozen_exploration_probability(p0, 2 * m) - 1e-12


@pytest.mark.property
@given(p0=st.floats(0, 1), rises=st.lists(st.floats(0, 1), min_size=1, max_size=3))
def test_prop54_bound_holds_for_sixteen_rollout_rounds(p0, rises):
    ps = [p0] + [p0 + r * (1 - p0) for r in rises]
    rounds = len(ps)
    assert (exploration_probability(ps, 16)
            >= frozen_exploration_probability(p0, 16 * rounds) - 1e-12)


# ----------------------------------------------------------------------------------------------
# Claims: direct checks and broken variants
# ----------------------------------------------------------------------------------------------


def test_refuted_claims_have_corrected_twins():
    for refuted_id, twin_id in (("related.yang-cor1-unit-as-printed", "related.yang-cor1-unit"),
                                ("related.bay-budget-as-guarantee", "related.bay-budget")):
        assert get_claim(refuted_id).expected is Outcome.REFUTED
        assert get_claim(twin_id).corrects == refuted_id
        assert evaluate(get_claim(refuted_id)).evidence.outcome is Outcome.REFUTED
        assert evaluate(get_claim(twin_id)).passed


def test_corollary1_check_catches_a_wrong_printed_digit(monkeypatch):
    claim = get_claim("related.yang-cor1-values")
    assert evaluate(claim).evidence.outcome is Outcome.VERIFIED
    monkeypatch.setitem(related_claims.COROLLARY1_PRINTED, (4, 0.5), 0.7769)
    assert evaluate(claim).evidence.outcome is Outcome.REFUTED


def test_budget_check_catches_a_wrong_budget(monkeypatch):
    claim = get_claim("related.bay-budget")
    assert evaluate(claim).evidence.outcome is Outcome.VERIFIED
    # A budget 40 responses too generous is no longer below G_min: the check must refute it.
    monkeypatch.setattr(related_claims, "group_size_budget",
                        lambda p, eps: 1 / (8 * eps * p * (1 - p)) + 40)
    assert evaluate(claim).evidence.outcome is Outcome.REFUTED


def test_prop54_gap_fraction_detects_the_reversed_assumption():
    # If p_i <= p0 instead (1 - p_i = a (1 + s_i)), the difference has negative coefficients.
    a, s = sp.symbols("a s", nonnegative=True)
    gap = (1 - a**2 * (a * (1 + s)) ** 2) - (1 - a**4)
    assert not related_claims._nonnegative_fraction(gap, [a, s])
    good, symbols = related_claims._schedule_gap(2, 2)
    assert related_claims._nonnegative_fraction(good, symbols)


def test_mroueh_fixed_point_claim_values():
    ev = evaluate(get_claim("related.mroueh-fixed-points")).evidence
    assert ev.outcome is Outcome.VERIFIED
    configs = {tuple(f["config"]): f["fixed_points"] for f in ev.details["fixed_points"]}
    assert len(configs[(0.2, 1.0, 1e-3)]) == 3


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nondegenerate_probability(1, 0.5), "G"),
        (lambda: nondegenerate_probability(2, 1.5), "p"),
        (lambda: conditional_mean_success(3, 0.0), "p"),
        (lambda: conditional_mean_success(3, [0.2, 1.0]), "p"),
        (lambda: conditional_mean_success_sum(3, []), "p"),
        (lambda: conditional_bias(200_000, 0.3), "G"),
        (lambda: conditional_tail_probability(4, 0.3, -0.1), "epsilon"),
        (lambda: conditional_tail_probability(4, 0.3, 0.1, "sideways"), "side"),
        (lambda: conditional_tail_probability_direct(4, 1.0, 0.1), "p"),
        (lambda: average_overestimate_probability(4, 0.5, 0.2), "upper"),
        (lambda: average_overestimate_probability(4, -0.1, 0.2), "lower"),
        (lambda: average_overestimate_probability(2000, 0.0, 0.2), "G"),
        (lambda: binary_group_std(5, 4), "k"),
        (lambda: silent_group_rate(3, -0.2), "p"),
        (lambda: silent_group_rate_enumerated(21, 0.5), "G"),
        (lambda: std_attenuation_error(4, 1.0), "p"),
        (lambda: group_size_budget(0.3, 0.0), "epsilon"),
        (lambda: minimal_group_size(0.3, 1.5), "epsilon"),
        (lambda: minimal_group_size(0.3, 1e-6, maximum=10), "maximum"),
        (lambda: expected_squared_std(1, 0.5), "G"),
        (lambda: gradient_mass_ratio(4, 0.0), "p"),
        (lambda: mroueh_weights(0.0, 0.0), "p"),
        (lambda: mroueh_weights(0.5, -1.0), "epsilon"),
        (lambda: mroueh_map(0.5, 1.0, 1.0, 0.1), "p_ref"),
        (lambda: mroueh_map(0.5, 0.3, 0.0, 0.1), "beta"),
        (lambda: mroueh_map_derivative(0.5, 0.3, -1.0, 0.1), "beta"),
        (lambda: mroueh_logit_map(0.0, 0.3, 1.0, 0.0), "epsilon"),
        (lambda: mroueh_logit_map(np.inf, 0.3, 1.0, 0.1), "x"),
        (lambda: mroueh_iterate(0.3, 1.0, 0.1, -1), "steps"),
        (lambda: mroueh_iterate(0.3, 1.0, 0.1, 3, "other"), "variant"),
        (lambda: mroueh_iterate(0.3, 1.0, 0.0, 3, "mirror"), "epsilon"),
        (lambda: mroueh_iterate(0.3, 1.0, 0.1, 3, p0=1.0), "p0"),
        (lambda: mroueh_fixed_points(0.3, 1.0, 0.0), "epsilon"),
        (lambda: mroueh_fixed_points(0.3, 1.0, 0.1, resolution=10), "resolution"),
        (lambda: mroueh_optimal_policy([0.5, 0.6], [1, 0], 1.0, 1.0, 1.0), "reference"),
        (lambda: mroueh_optimal_policy([0.5, 0.5], [1, 0, 0], 1.0, 1.0, 1.0), "correct"),
        (lambda: mroueh_optimal_policy([0.5, 0.5], [2, 0], 1.0, 1.0, 1.0), "correct"),
        (lambda: mroueh_optimal_policy([0.5, 0.5], [1, 0], 1.0, 1.0, 0.0), "beta"),
        (lambda: mroueh_optimal_policy([0.5, 0.5], [1, 0], np.inf, 1.0, 1.0), "omega_plus"),
        (lambda: kl_regularised_objective([0.7, 0.7], [0.5, 0.5], [1, 0], 1.0, 1.0, 1.0),
         "policy"),
        (lambda: exploration_probability([]), "success_probabilities"),
        (lambda: exploration_probability([0.2, 1.2]), "success_probabilities"),
        (lambda: exploration_probability([0.2], 0), "rollouts_per_policy"),
        (lambda: frozen_exploration_probability(1.2, 4), "p0"),
        (lambda: frozen_exploration_probability(0.2, 0), "rollouts"),
    ],
)
def test_bad_input_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nondegenerate_probability(2.5, 0.3), "G"),
        (lambda: conditional_mean_success(3, "0.3"), "p"),
        (lambda: binary_group_std(1.5, 4), "k"),
        (lambda: mroueh_iterate(0.3, 1.0, 0.1, 2.0), "steps"),
        (lambda: mroueh_logit_map("x", 0.3, 1.0, 0.1), "x"),
        (lambda: exploration_probability([0.2], 2.0), "rollouts_per_policy"),
        (lambda: frozen_exploration_probability(0.2, 1.5), "rollouts"),
    ],
)
def test_bad_input_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()
