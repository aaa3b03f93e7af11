"""Tests for grpo_theory.symbolic.control_variates and the checks of its claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from sympy.solvers.inequalities import solve_univariate_inequality

from grpo_theory.claims import Outcome
from grpo_theory.claims import control_variates as claims
from grpo_theory.claims.control_variates import (
    chi_square_variance_test,
    correlated_gaussian_pairs,
)
from grpo_theory.symbolic.control_variates import (
    contrastive_variance,
    contrastive_variance_from_pmf,
    correlation,
    minimum_variance,
    no_increase_interval,
    optimal_coefficient,
    pmf_moments,
    printed_no_increase_interval,
    unit_coefficient_reduces_variance,
)
from grpo_theory.symbolic.variance import canonical_form, symbolic_pmf, symbolic_values

# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def test_contrastive_variance_values():
    assert contrastive_variance(1, 1, 0.5, 1) == pytest.approx(1.0)
    assert contrastive_variance(4, 1, 1, 0) == 4
    assert contrastive_variance(4, 1, 1, 2) == 4 + 4 - 4
    assert contrastive_variance(2, 3, -1, -1) == 2 + 3 - 2


def test_optimal_coefficient_and_minimum():
    V = sp.Integer
    assert optimal_coefficient(V(4), V(2)) == sp.Rational(1, 2)
    assert correlation(V(4), V(1), V(1)) == sp.Rational(1, 2)
    assert minimum_variance(V(4), V(1), V(1)) == 3
    assert contrastive_variance(V(4), V(1), V(1), optimal_coefficient(V(1), V(1))) == 3
    assert correlation(4.0, 1.0, 1.0) == pytest.approx(0.5)
    assert minimum_variance(1.0, 1.0, 1.0) == pytest.approx(0.0)


def test_no_increase_interval_values():
    assert no_increase_interval(sp.Integer(2), sp.Integer(1)) == (0, 1)
    assert no_increase_interval(sp.Integer(2), sp.Integer(-1)) == (-1, 0)
    assert no_increase_interval(2.0, 0.0) == (0, 0.0)
    assert no_increase_interval(1.0, 0.6) == (0, pytest.approx(1.2))
    assert printed_no_increase_interval(sp.Integer(2), sp.Integer(3)) == (0, 9)


def test_no_increase_interval_symbolic():
    V = sp.Symbol("V", positive=True)
    C = sp.Symbol("C", real=True)
    lo, hi = no_increase_interval(V, C)
    assert lo == sp.Min(0, 2 * C / V) and hi == sp.Max(0, 2 * C / V)
    Cp = sp.Symbol("C", positive=True)
    assert no_increase_interval(V, Cp) == (0, 2 * Cp / V)


def test_unit_coefficient_condition():
    assert unit_coefficient_reduces_variance(1.0, 0.5) is True
    assert unit_coefficient_reduces_variance(1.0, 0.4) is False
    V, C = sp.Symbol("V", positive=True), sp.Symbol("C", real=True)
    assert unit_coefficient_reduces_variance(V, C) == sp.Ge(2 * C, V)


def test_pmf_moments_and_variance_from_pmf():
    half = sp.Rational(1, 2)
    assert pmf_moments([half, half], [1, -1], [2, 0]) == (1, 1, 1)
    assert contrastive_variance_from_pmf([half, half], [1, -1], [2, 0], 1) == 0
    vec = contrastive_variance_from_pmf([half, half], [[1, 0], [-1, 0]], [[0, 1], [0, -1]], 2)
    assert vec == 1 + 4  # independent-looking coordinates: traces add


def test_variance_from_pmf_matches_formula_symbolically():
    c = sp.Symbol("c", real=True)
    q = symbolic_pmf(3)
    for dim in (None, 2):
        a, b = symbolic_values(3, "a", dim), symbolic_values(3, "b", dim)
        lhs = contrastive_variance_from_pmf(q, a, b, c)
        rhs = contrastive_variance(*pmf_moments(q, a, b), c)
        assert canonical_form(lhs - rhs) == 0
    # A small case also goes through plain simplify.
    p = sp.Symbol("p", positive=True)
    a1, a2, b1, b2 = sp.symbols("a1 a2 b1 b2", real=True)
    lhs = contrastive_variance_from_pmf([p, 1 - p], [a1, a2], [b1, b2], c)
    rhs = contrastive_variance(*pmf_moments([p, 1 - p], [a1, a2], [b1, b2]), c)
    assert sp.simplify(lhs - rhs) == 0


def test_minimum_is_one_minus_rho_squared_symbolically():
    Vp, Vm = sp.symbols("V_p V_m", positive=True)
    C = sp.Symbol("C", real=True)
    at_opt = contrastive_variance(Vp, Vm, C, optimal_coefficient(Vm, C))
    assert sp.simplify(at_opt - (1 - correlation(Vp, Vm, C) ** 2) * Vp) == 0
    assert sp.simplify(minimum_variance(Vp, Vm, C) - at_opt) == 0


def test_no_increase_interval_solves_the_inequality():
    Vp, Vm, C = sp.symbols("V_p V_m C", positive=True)
    c = sp.Symbol("c", real=True)
    solved = solve_univariate_inequality(contrastive_variance(Vp, Vm, C, c) <= Vp, c,
                                         relational=False)
    assert solved == sp.Interval(*no_increase_interval(Vm, C))
    assert solved != sp.Interval(*printed_no_increase_interval(Vm, C))


# ---------------------------------------------------------------------------------------------
# Properties over random valid moments
# ---------------------------------------------------------------------------------------------


@st.composite
def moments(draw):
    vp = draw(st.floats(0.01, 100.0))
    vm = draw(st.floats(0.01, 100.0))
    rho = draw(st.floats(-0.99, 0.99))
    return vp, vm, rho * math.sqrt(vp * vm), rho


@pytest.mark.property
@given(moments())
def test_variance_at_optimum(m):
    vp, vm, cov, rho = m
    c_star = optimal_coefficient(vm, cov)
    at_opt = contrastive_variance(vp, vm, cov, c_star)
    assert at_opt == pytest.approx((1 - rho**2) * vp, rel=1e-9, abs=1e-12)
    assert at_opt == pytest.approx(minimum_variance(vp, vm, cov), rel=1e-9, abs=1e-12)
    assert at_opt <= vp * (1 + 1e-12)
    assert correlation(vp, vm, cov) == pytest.approx(rho, rel=1e-9, abs=1e-12)


@pytest.mark.property
@given(moments(), st.floats(-10.0, 10.0))
def test_optimum_is_global_minimum(m, c):
    vp, vm, cov, _ = m
    c_star = optimal_coefficient(vm, cov)
    assert contrastive_variance(vp, vm, cov, c) >= (
        contrastive_variance(vp, vm, cov, c_star) - 1e-9 * (vp + c * c * vm))


@pytest.mark.property
@given(moments(), st.floats(-0.5, 1.5))
def test_no_increase_interval_property(m, t):
    vp, vm, cov, _ = m
    lo, hi = no_increase_interval(vm, cov)
    width = hi - lo
    c = lo + t * width
    excess = contrastive_variance(vp, vm, cov, c) - vp
    scale = 1e-9 * (vp + c * c * vm + abs(c * cov))
    if 0 <= t <= 1:
        assert excess <= scale
    elif min(t, 1 - t) < -1e-6 and width > 1e-6:
        assert excess > 0


@pytest.mark.property
@given(moments())
def test_unit_coefficient_condition_property(m):
    vp, vm, cov, _ = m
    excess = contrastive_variance(vp, vm, cov, 1.0) - vp
    if abs(2 * cov - vm) > 1e-9 * (vm + abs(cov)):
        assert unit_coefficient_reduces_variance(vm, cov) == (excess <= 0)


@pytest.mark.property
@given(st.lists(st.integers(1, 9), min_size=2, max_size=4), st.data(),
       st.fractions(-3, 3, max_denominator=5))
def test_variance_from_random_pmf_matches_formula(weights, data, c):
    n = len(weights)
    probs = [sp.Rational(w, sum(weights)) for w in weights]
    a = data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    b = data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    c = sp.Rational(c.numerator, c.denominator)
    vp, vm, cov = pmf_moments(probs, a, b)
    assume(vp > 0 and vm > 0)
    assert contrastive_variance_from_pmf(probs, a, b, c) == contrastive_variance(vp, vm, cov, c)


# ---------------------------------------------------------------------------------------------
# Statistical tier
# ---------------------------------------------------------------------------------------------

N_MC = 200_000
ALPHA = 1e-6
VP, VM, COV = 1.0, 2.0, 1.0  # rho^2 = 1/2, c* = 1/2, minimum 1/2


def _difference(c: float, seed: int = 7) -> np.ndarray:
    pairs = correlated_gaussian_pairs(VP, VM, COV, N_MC, seed)
    return pairs[:, 0] - c * pairs[:, 1]


@pytest.mark.statistical
def test_monte_carlo_variance_at_optimum():
    """N = 200 000 Gaussian pairs (PCG64 seed 7); exact two-sided chi-square test at level 1e-6.

    The false-rejection probability of the test is exactly 1e-6 (chi-square quantiles for the
    sample variance of i.i.d. Gaussian draws).
    """
    c_star = optimal_coefficient(VM, COV)
    test = chi_square_variance_test(_difference(c_star), minimum_variance(VP, VM, COV), ALPHA)
    assert test.accepted, test


@pytest.mark.statistical
def test_monte_carlo_power_wrong_coefficient():
    """Power check: the same test (N = 200 000, level 1e-6) rejects a wrong coefficient.

    Using the proof's printed bound 2 Cov^2 / Var(g-) = 1 as the coefficient gives variance 1,
    not the minimum 1/2.
    """
    wrong_c = printed_no_increase_interval(VM, COV)[1]
    test = chi_square_variance_test(_difference(wrong_c), minimum_variance(VP, VM, COV), ALPHA)
    assert not test.accepted, test


@pytest.mark.statistical
def test_monte_carlo_power_wrong_formula():
    """Power check: the same test (N = 200 000, level 1e-6) rejects wrong variance formulas.

    (1 - |rho|) Var(g+) and the sign-flipped quadratic Var+ + c^2 Var- + 2c Cov are rejected at
    the optimal coefficient.
    """
    c_star = optimal_coefficient(VM, COV)
    rho = correlation(VP, VM, COV)
    x = _difference(c_star)
    for wrong in ((1 - abs(rho)) * VP, VP + c_star**2 * VM + 2 * c_star * COV):
        assert not chi_square_variance_test(x, wrong, ALPHA).accepted, wrong


@pytest.mark.statistical
def test_monte_carlo_claim_check_and_power():
    """The claim's own check (N = 200 000 per setting, overall level 1e-6) verifies; with a
    wrong target it refutes."""
    assert claims._monte_carlo().outcome is Outcome.VERIFIED
    pairs = correlated_gaussian_pairs(4.0, 1.0, 1.8, N_MC, seed=11)
    x = pairs[:, 0] - optimal_coefficient(1.0, 1.8) * pairs[:, 1]
    assert not chi_square_variance_test(x, 4.0, ALPHA).accepted  # Var(g+) instead of the minimum


def test_correlated_pairs_are_reproducible():
    a = correlated_gaussian_pairs(1.0, 2.0, 0.5, 100, seed=3)
    b = correlated_gaussian_pairs(1.0, 2.0, 0.5, 100, seed=3)
    assert a.shape == (100, 2)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# The claims' checks on deliberately wrong statements
# ---------------------------------------------------------------------------------------------


def test_printed_range_check_refutes():
    ev = claims._no_increase_as_printed()
    assert ev.outcome is Outcome.REFUTED
    first = ev.details["counterexample"][0]
    assert first["c"] == "1" and first["var_g+_minus_c_g-"] == "4/5"


def test_printed_range_disagrees_with_direct_variance():
    # g+ = 2 s1, g- = 2 s1 + s2 (s uniform on {-1, 1}^2): Var+ = 4, Var- = 5, Cov = 4.
    probs = [sp.Rational(1, 4)] * 4
    signs = [(s1, s2) for s1 in (1, -1) for s2 in (1, -1)]
    plus = [2 * s1 for s1, _ in signs]
    minus = [2 * s1 + s2 for s1, s2 in signs]
    assert pmf_moments(probs, plus, minus) == (4, 5, 4)
    lo, hi = printed_no_increase_interval(5, 4)
    assert lo <= 3 <= hi  # c = 3 is inside the printed range ...
    assert contrastive_variance_from_pmf(probs, plus, minus, 3) == 25  # ... yet 25 > 4
    assert not no_increase_interval(5, 4)[0] <= 3 <= no_increase_interval(5, 4)[1]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_moments():
    with pytest.raises(ValueError, match="var_plus"):
        contrastive_variance(0, 1, 0, 1)
    with pytest.raises(ValueError, match="var_minus"):
        contrastive_variance(1, -1, 0, 1)
    with pytest.raises(ValueError, match="cov"):
        contrastive_variance(1, 1, 1.5, 1)
    with pytest.raises(ValueError, match="cov"):
        minimum_variance(1, 4, -2.1)
    with pytest.raises(ValueError, match="cov"):
        correlation(1, 1, float("nan"))
    with pytest.raises(ValueError, match="c must be finite"):
        contrastive_variance(1, 1, 0, float("inf"))
    with pytest.raises(TypeError, match="c must be a real number"):
        contrastive_variance(1, 1, 0, "1")
    with pytest.raises(TypeError, match="cov"):
        optimal_coefficient(1, True)
    with pytest.raises(ValueError, match="var_minus"):
        optimal_coefficient(0, 1)
    with pytest.raises(ValueError, match="var_minus"):
        no_increase_interval(-1, 1)
    with pytest.raises(ValueError, match="var_minus"):
        printed_no_increase_interval(0, 1)
    with pytest.raises(ValueError, match="var_minus"):
        unit_coefficient_reduces_variance(0.0, 1)


def test_bad_pmf_arguments():
    half = sp.Rational(1, 2)
    with pytest.raises(ValueError, match="plus must have one value per outcome"):
        pmf_moments([half, half], [1], [1, 2])
    with pytest.raises(ValueError, match="minus must have one value per outcome"):
        contrastive_variance_from_pmf([half, half], [1, 2], [1], 1)
    with pytest.raises(ValueError, match="c must be finite"):
        contrastive_variance_from_pmf([half, half], [1, 2], [1, 2], float("nan"))
    with pytest.raises(ValueError, match="probs must sum to 1"):
        pmf_moments([0.3, 0.3], [1, 2], [1, 2])


def test_bad_monte_carlo_arguments():
    with pytest.raises(ValueError, match="n must be"):
        correlated_gaussian_pairs(1.0, 1.0, 0.0, 1, seed=0)
    with pytest.raises(ValueError, match="seed must be"):
        correlated_gaussian_pairs(1.0, 1.0, 0.0, 10, seed=-1)
    with pytest.raises(ValueError, match="cov"):
        correlated_gaussian_pairs(1.0, 1.0, 1.0, 10, seed=0)
    with pytest.raises(ValueError, match="var_plus"):
        correlated_gaussian_pairs(0.0, 1.0, 0.0, 10, seed=0)
    with pytest.raises(ValueError, match="alpha"):
        chi_square_variance_test(np.ones(10), 1.0, 0.0)
    with pytest.raises(ValueError, match="variance"):
        chi_square_variance_test(np.arange(10.0), -1.0, 1e-6)
    with pytest.raises(ValueError, match="sample"):
        chi_square_variance_test(np.ones((3, 3)), 1.0, 1e-6)
    with pytest.raises(ValueError, match="sample"):
        chi_square_variance_test([1.0, float("nan")], 1.0, 1e-6)
