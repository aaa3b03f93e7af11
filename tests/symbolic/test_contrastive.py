"""Tests of grpo_theory.symbolic.contrastive: the contrastive weight, baselines and clipping."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.symbolic._derivation import get_derivation
from grpo_theory.symbolic.advantages import Convention
from grpo_theory.symbolic.contrastive import (
    baseline_estimator,
    baseline_split,
    clip_minus,
    clip_plus,
    clip_ratio,
    clipped_objective,
    contrastive_coefficients,
    contrastive_form,
    contrastive_weight,
    contrastive_weight_closed_form,
    control_variate_coefficient,
    estimator_coefficients,
    group_estimator,
    sign_split_objective,
    subgroup_weights,
)

CONVENTIONS = list(Convention)
EPS = sp.Symbol("epsilon", nonnegative=True)
K, M = sp.symbols("k m", positive=True, integer=True)


def _zero(expr) -> bool:
    return sp.simplify(expr) == 0


# ----------------------------------------------------------------------------------------------
# The weight
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "G", "convention", "expected"),
    [
        (1, 2, "grpo", sp.Rational(1, 2)),
        (1, 2, "grpo-bessel", sp.sqrt(2) / 4),
        (1, 2, "dr-grpo", sp.Rational(1, 4)),
        (1, 2, "rloo", sp.Rational(1, 2)),
        (1, 4, "grpo", sp.sqrt(3) / 4),
        (1, 4, "grpo-bessel", sp.Rational(3, 8)),
        (3, 4, "dr-grpo", sp.Rational(3, 16)),
        (2, 4, "rloo", sp.Rational(1, 3)),
        (5, 16, "grpo", sp.sqrt(5 * 11) / 16),
    ],
)
def test_contrastive_weight_values(k, G, convention, expected):
    assert _zero(contrastive_weight(k, G, convention) - expected)
    assert _zero(contrastive_weight_closed_form(k, G, convention) - expected)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_weight_matches_closed_form_symbolically(convention):
    # m = j + 1 so that sympy knows G - 1 = k + j > 0
    j = sp.Symbol("j", nonnegative=True, integer=True)
    G = K + j + 1
    eps = EPS if convention in (Convention.GRPO, Convention.GRPO_BESSEL) else 0
    derived = contrastive_weight(K, G, convention, eps)
    closed = contrastive_weight_closed_form(K, G, convention, eps)
    assert _zero(derived - closed)


def test_population_weight_is_sqrt_of_bernoulli_variance():
    p_hat = K / (K + M)
    assert _zero(contrastive_weight(K, K + M, "grpo") - sp.sqrt(p_hat * (1 - p_hat)))


def test_bessel_weight_at_zero_epsilon():
    for G in range(2, 12):
        for k in range(1, G):
            p_hat = sp.Rational(k, G)
            expected = sp.sqrt(sp.Rational(G - 1, G)) * sp.sqrt(p_hat * (1 - p_hat))
            assert _zero(contrastive_weight(k, G, "grpo-bessel") - expected)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_subgroup_weights_are_opposite(convention):
    for G in range(2, 9):
        for k in range(1, G):
            a, b = subgroup_weights(k, G, convention, EPS)
            assert _zero(a + b)
            assert _zero(a - contrastive_weight(k, G, convention, EPS))


def test_epsilon_shrinks_the_std_weights():
    eps = sp.Rational(1, 10)
    for convention in ("grpo", "grpo-bessel"):
        assert contrastive_weight(1, 3, convention, eps) < contrastive_weight(1, 3, convention)
    # the centred conventions ignore epsilon
    for convention in ("dr-grpo", "rloo"):
        assert contrastive_weight(1, 3, convention, eps) == contrastive_weight(1, 3, convention)


# ----------------------------------------------------------------------------------------------
# Estimator and contrastive form
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("rewards", [[1, 0], [0, 1], [1, 0, 0], [0, 1, 1, 0, 1], [1, 1, 0, 1]])
def test_group_estimator_equals_contrastive_form(convention, rewards):
    f = list(sp.symbols(f"f1:{len(rewards) + 1}", real=True))
    eps = EPS if convention in (Convention.GRPO, Convention.GRPO_BESSEL) else 0
    lhs = group_estimator(rewards, f, convention, eps)
    rhs = contrastive_form(rewards, f, convention, eps)
    assert _zero(lhs - rhs)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_coefficient_vectors_agree(convention):
    for G in range(2, 10):
        for k in range(1, G):
            got = estimator_coefficients([1] * k + [0] * (G - k), convention)
            want = contrastive_coefficients(k, G, convention)
            assert all(_zero(a - b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("value", [0, 1])
def test_silent_group_estimator_is_zero(convention, value):
    f = list(sp.symbols("f1:5", real=True))
    assert group_estimator([value] * 4, f, convention) == 0
    assert group_estimator([value] * 4, f, convention, sp.Rational(1, 100)) == 0


def test_group_estimator_with_numbers():
    # Dr. GRPO, rewards (1, 0, 0): A = (2/3, -1/3, -1/3); (1/3)(2/3*3 - 1/3*6 - 1/3*9) = -1
    assert group_estimator([1, 0, 0], [3, 6, 9], "dr-grpo") == -1
    assert contrastive_form([1, 0, 0], [3, 6, 9], "dr-grpo") == -1


@pytest.mark.property
@given(
    data=st.lists(st.booleans(), min_size=2, max_size=10).filter(lambda r: 0 < sum(r) < len(r)),
    values=st.lists(st.fractions(min_value=-10, max_value=10, max_denominator=50),
                    min_size=10, max_size=10),
    convention=st.sampled_from(CONVENTIONS),
    eps=st.sampled_from([0, Fraction(1, 10), Fraction(1, 10**4)]),
)
def test_contrastive_identity_property(data, values, convention, eps):
    rewards = [int(x) for x in data]
    f = [sp.Rational(v.numerator, v.denominator) for v in values[: len(rewards)]]
    e = sp.Rational(eps.numerator, eps.denominator) if eps else 0
    lhs = group_estimator(rewards, f, convention, e)
    rhs = contrastive_form(rewards, f, convention, e)
    assert _zero(lhs - rhs)


# ----------------------------------------------------------------------------------------------
# Baseline as a control variate
# ----------------------------------------------------------------------------------------------


def test_baseline_split_matches_estimator():
    b = sp.Symbol("b", real=True)
    g = list(sp.symbols("g1:6", real=True))
    rewards = [1, 0, 1, 0, 0]
    wp, wn = baseline_split(2, 3, b)
    split = wp * (g[0] + g[2]) / 2 + wn * (g[1] + g[3] + g[4]) / 3
    assert _zero(baseline_estimator(rewards, g, b) - split)


def test_mean_baseline_coefficient_is_one():
    assert control_variate_coefficient(1, 3, sp.Rational(1, 4)) == 1
    assert _zero(control_variate_coefficient(K, M, K / (K + M)) - 1)
    # and another baseline gives another coefficient
    assert control_variate_coefficient(1, 3, sp.Rational(1, 2)) == 3


def test_mean_baseline_is_dr_grpo():
    g = list(sp.symbols("g1:5", real=True))
    rewards = [1, 1, 0, 0]
    mean = sp.Rational(1, 2)
    assert _zero(baseline_estimator(rewards, g, mean) - group_estimator(rewards, g, "dr-grpo"))


# ----------------------------------------------------------------------------------------------
# Clipping
# ----------------------------------------------------------------------------------------------


def test_clip_values():
    e = sp.Rational(1, 5)
    assert clip_ratio(sp.Rational(1, 2), e) == sp.Rational(4, 5)
    assert clip_ratio(1, e) == 1
    assert clip_ratio(3, e) == sp.Rational(6, 5)
    assert clip_plus(3, e) == sp.Rational(6, 5) and clip_plus(0, e) == 0
    assert clip_minus(0, e) == sp.Rational(4, 5) and clip_minus(3, e) == 3


def test_sign_split_examples():
    e = sp.Rational(1, 5)
    # positive advantage: clipped above only
    assert clipped_objective(3, 2, e) == sign_split_objective(3, 2, e) == sp.Rational(12, 5)
    assert clipped_objective(sp.Rational(1, 10), 2, e) == sp.Rational(1, 5)
    # negative advantage: clipped below only
    assert clipped_objective(sp.Rational(1, 10), -2, e) == sp.Rational(-8, 5)
    assert clipped_objective(3, -2, e) == -6 == sign_split_objective(3, -2, e)
    assert sign_split_objective(2, 0, e) == 0


def test_sign_split_symbolic_advantage_is_piecewise():
    A = sp.Symbol("A", real=True)
    out = sign_split_objective(sp.Rational(3, 2), A, sp.Rational(1, 5))
    assert isinstance(out, sp.Piecewise)
    assert out.subs(A, 1) == sp.Rational(6, 5)
    assert out.subs(A, -1) == sp.Rational(-3, 2)


@pytest.mark.property
@given(
    rho=st.fractions(min_value=0, max_value=5, max_denominator=40),
    adv=st.fractions(min_value=-5, max_value=5, max_denominator=40),
    eps=st.fractions(min_value=Fraction(1, 100), max_value=Fraction(99, 100),
                     max_denominator=100),
)
def test_clip_sign_split_property(rho, adv, eps):
    r = sp.Rational(rho.numerator, rho.denominator)
    a = sp.Rational(adv.numerator, adv.denominator)
    e = sp.Rational(eps.numerator, eps.denominator)
    assert clipped_objective(r, a, e) == sign_split_objective(r, a, e)


def test_swapped_clip_is_wrong():
    # A deliberately wrong split (negatives clipped from above) fails on a simple point.
    e = sp.Rational(1, 5)
    wrong = -2 * clip_plus(sp.Rational(1, 10), e)
    assert clipped_objective(sp.Rational(1, 10), -2, e) != wrong


# ----------------------------------------------------------------------------------------------
# Derivation
# ----------------------------------------------------------------------------------------------


def test_derivation_renders():
    d = get_derivation("contrastive-form")
    text = d.render()
    assert "grpo.contrastive-form" in text
    assert "\\frac" in d.render(latex=True)
    assert len(d.steps) >= 5


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [contrastive_weight, contrastive_weight_closed_form,
                                subgroup_weights])
def test_weight_bad_input(fn):
    with pytest.raises(ValueError, match="k"):
        fn(0, 4)
    with pytest.raises(ValueError, match="k"):
        fn(4, 4)
    with pytest.raises(TypeError, match="k"):
        fn(1.5, 4)
    with pytest.raises(ValueError, match="G"):
        fn(1, 1)
    with pytest.raises(TypeError, match="G"):
        fn(1, 2.5)
    with pytest.raises(ValueError, match="epsilon"):
        fn(1, 4, "grpo", -0.1)
    with pytest.raises(ValueError, match="convention"):
        fn(1, 4, "ppo")


def test_coefficients_bad_input():
    with pytest.raises(ValueError, match="k"):
        contrastive_coefficients(0, 3)
    with pytest.raises(TypeError, match="G"):
        contrastive_coefficients(1, sp.Symbol("G", integer=True, positive=True))
    with pytest.raises(TypeError, match="k"):
        contrastive_coefficients(sp.Symbol("k", integer=True, positive=True), 4)
    with pytest.raises(ValueError, match="rewards"):
        estimator_coefficients([1])
    with pytest.raises(ValueError, match="rewards"):
        estimator_coefficients([1, float("nan")])
    with pytest.raises(TypeError, match="rewards"):
        estimator_coefficients(5)


def test_estimator_bad_input():
    f = sp.symbols("f1:4")
    with pytest.raises(ValueError, match="f_values"):
        group_estimator([1, 0], f)
    with pytest.raises(ValueError, match="rewards"):
        contrastive_form([1, 1, 1], f)
    with pytest.raises(ValueError, match="rewards"):
        contrastive_form([1, 0, 2], f)
    with pytest.raises(ValueError, match="f_values"):
        contrastive_form([1, 0], f)
    with pytest.raises(ValueError, match="epsilon"):
        group_estimator([1, 0, 0], f, "grpo", -1)


def test_baseline_bad_input():
    g = sp.symbols("g1:3")
    with pytest.raises(ValueError, match="b"):
        control_variate_coefficient(1, 1, 1)
    with pytest.raises(TypeError, match="b"):
        control_variate_coefficient(1, 1, "half")
    with pytest.raises(ValueError, match="b"):
        baseline_split(1, 1, float("inf"))
    with pytest.raises(ValueError, match="n_pos"):
        baseline_split(0, 2, 0)
    with pytest.raises(ValueError, match="n_neg"):
        control_variate_coefficient(2, 0, 0)
    with pytest.raises(ValueError, match="g_values"):
        baseline_estimator([1, 0, 0], g, 0)


def test_clip_bad_input():
    with pytest.raises(ValueError, match="epsilon"):
        clip_ratio(1, 0)
    with pytest.raises(ValueError, match="epsilon"):
        clip_plus(1, 1)
    with pytest.raises(ValueError, match="epsilon"):
        clip_minus(1, -0.2)
    with pytest.raises(ValueError, match="rho"):
        clip_ratio(-1, 0.2)
    with pytest.raises(TypeError, match="rho"):
        clip_plus("1", 0.2)
    with pytest.raises(ValueError, match="advantage"):
        clipped_objective(1, float("nan"), 0.2)
    with pytest.raises(TypeError, match="advantage"):
        sign_split_objective(1, None, 0.2)
