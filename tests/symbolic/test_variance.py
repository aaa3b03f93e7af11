"""Tests for grpo_theory.symbolic.variance and the checks of grpo_theory.claims.variance."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.claims import Outcome, prove_identity
from grpo_theory.claims import variance as claims
from grpo_theory.symbolic.variance import (
    between_covariance,
    canonical_form,
    conditional_expectations,
    covariance,
    cross_covariance,
    expectation,
    flatten_two_level,
    grouped_mean_distribution,
    iid_mean_distribution,
    product_variance_formula,
    product_variance_trace_formula,
    symbolic_pmf,
    symbolic_values,
    variance,
    within_covariance,
)

HALF = sp.Rational(1, 2)
THIRD = sp.Rational(1, 3)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def test_symbolic_pmf_sums_to_one():
    q = symbolic_pmf(4)
    assert len(q) == 4
    assert sp.Add(*q) == 1
    assert symbolic_pmf(1) == [1]


def test_symbolic_values_shapes():
    assert len(symbolic_values(3, "x")) == 3
    vecs = symbolic_values(3, "g", dim=2)
    assert all(v.shape == (2, 1) for v in vecs)
    assert len({s for v in vecs for s in v}) == 6


def test_bernoulli_moments():
    p = sp.Symbol("p", positive=True)
    probs = [p, 1 - p]
    assert sp.simplify(expectation(probs, [1, 0]) - p) == 0
    assert sp.simplify(variance(probs, [1, 0]) - p * (1 - p)) == 0


def test_covariance_values():
    probs = [THIRD] * 3
    assert covariance(probs, [1, 2, 3], [1, 2, 3]) == sp.Rational(2, 3)
    assert covariance(probs, [1, 2, 3], [3, 2, 1]) == -sp.Rational(2, 3)
    assert covariance(probs, [1, 2, 3], [5, 5, 5]) == 0


def test_vector_variance_is_trace():
    # Two independent coordinates with variances 1 and 4: the trace is 5.
    probs = [sp.Rational(1, 4)] * 4
    vals = [sp.Matrix([a, b]) for a in (1, -1) for b in (2, -2)]
    assert variance(probs, vals) == 5
    assert expectation(probs, vals) == sp.zeros(2, 1)
    assert variance(probs, [[a, b] for a in (1, -1) for b in (2, -2)]) == 5


def test_cross_covariance_vector():
    probs = [HALF, HALF]
    cov = cross_covariance(probs, [1, -1], [sp.Matrix([3, 0]), sp.Matrix([1, 4])])
    assert cov == sp.Matrix([1, -2])


def test_numeric_probabilities_accepted():
    assert float(variance([0.25, 0.75], [0.0, 4.0])) == pytest.approx(3.0)


def test_iid_mean_distribution_enumerates_all_sequences():
    q = symbolic_pmf(3)
    ps, vs = iid_mean_distribution(q, [0, 1, 5], 3)
    assert len(ps) == len(vs) == 27
    assert canonical_form(sp.Add(*ps) - 1) == 0
    x = symbolic_values(3, "x")
    for n in (1, 2, 3):
        ps, vs = iid_mean_distribution(q, x, n)
        assert canonical_form(variance(ps, vs) - variance(q, x) / n) == 0


def test_flatten_and_conditional_expectations():
    w, u, x = [THIRD, 2 * THIRD], [[1], [HALF, HALF]], [[5], [0, 2]]
    assert flatten_two_level(w, u, x) == ([THIRD, THIRD, THIRD], [5, 0, 2])
    assert conditional_expectations(u, x) == [5, 1]
    assert between_covariance(w, u, x, x) == sp.Rational(32, 9)
    assert within_covariance(w, u, x, x) == sp.Rational(2, 3)


def test_law_of_total_variance_symbolic():
    w = symbolic_pmf(2, "w")
    u = [symbolic_pmf(2, "u"), symbolic_pmf(3, "v")]
    x = [symbolic_values(2, "x"), symbolic_values(3, "y")]
    fp, fx = flatten_two_level(w, u, x)
    total = variance(fp, fx)
    assert canonical_form(total - between_covariance(w, u, x, x)
                          - within_covariance(w, u, x, x)) == 0


def test_grouped_mean_distribution_values():
    # Deterministic per-prompt value: the group mean equals it whatever G is.
    assert grouped_mean_distribution([HALF, HALF], [[1], [1]], [[0], [2]], 3) == (
        [HALF, HALF], [0, 2])
    ps, vs = grouped_mean_distribution([1], [[HALF, HALF]], [[0, 1]], 2)
    assert sorted(zip(vs, ps, strict=True)) == [(0, sp.Rational(1, 4)), (HALF, sp.Rational(1, 4)),
                                   (HALF, sp.Rational(1, 4)), (1, sp.Rational(1, 4))]


def test_grouped_variance_formula_symbolic():
    w = symbolic_pmf(2, "w")
    u = [symbolic_pmf(2, "u"), symbolic_pmf(2, "v")]
    x = [symbolic_values(2, "x"), symbolic_values(2, "y")]
    between, within = between_covariance(w, u, x, x), within_covariance(w, u, x, x)
    G = 2
    ps, vs = grouped_mean_distribution(w, u, x, G)
    assert canonical_form(variance(ps, vs) - between - within / G) == 0


def test_product_variance_formula_values():
    assert product_variance_formula(2, 1, 3, 0, 0) == 20
    assert product_variance_formula(1, 0, 1, 5, 2) == 2
    assert product_variance_trace_formula(2, 1, 0, 0, [1, 1]) == 0
    assert product_variance_trace_formula(2, 1, 0, 3, sp.Matrix([1, 0])) == 4


def test_product_identity_concrete_zero_mean():
    # r in {0, 1, 2}, g in {-1, 0, 1} with E[g] = 0, uniform.
    probs, r, g = [THIRD] * 3, [0, 1, 2], [-1, 0, 1]
    lhs = variance(probs, [a * b for a, b in zip(r, g, strict=True)])
    rhs = product_variance_formula(variance(probs, g), variance(probs, r), expectation(probs, r),
                                   covariance(probs, [a**2 for a in r], [b**2 for b in g]),
                                   covariance(probs, r, g))
    assert lhs == rhs


def test_canonical_form():
    a, b, c = sp.symbols("a b c")
    assert canonical_form((a + b) ** 2 - a**2 - 2 * a * b - b**2) == 0
    assert canonical_form(a / (b + c) - a * (b + c) ** -1) == 0
    assert canonical_form(1 / (a + b) + 1 / (a - b) - 2 * a / (a**2 - b**2)) == 0
    assert canonical_form((a + b) ** 2) == sp.expand((a + b) ** 2)
    nonzero = canonical_form(1 / (a + b) - 1 / a)
    assert nonzero != 0
    assert sp.simplify(nonzero - (1 / (a + b) - 1 / a)) == 0
    assert canonical_form(sp.sqrt(a) ** 2 - a) == 0
    assert canonical_form(sp.sin(a) ** 2 + sp.cos(a) ** 2 - 1) == 0  # not rational: simplify
    assert canonical_form(sp.Matrix([a - a, b * 0])) == 0
    assert canonical_form(sp.Rational(3, 2) - sp.Rational(1, 2)) == 1


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_weights = st.lists(st.integers(1, 9), min_size=2, max_size=4)


def _pmf(weights: list[int]) -> list[sp.Rational]:
    total = sum(weights)
    return [sp.Rational(w, total) for w in weights]


@pytest.mark.property
@given(weights=_weights, data=st.data())
def test_product_identity_on_random_pmfs(weights, data):
    n = len(weights)
    probs = _pmf(weights)
    r = data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    raw = data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    mean = expectation(probs, raw)
    g = [x - mean for x in raw]  # centred: E[g] = 0
    lhs = variance(probs, [a * b for a, b in zip(r, g, strict=True)])
    rhs = product_variance_formula(variance(probs, g), variance(probs, r), expectation(probs, r),
                                   covariance(probs, [a**2 for a in r], [b**2 for b in g]),
                                   covariance(probs, r, g))
    assert sp.simplify(lhs - rhs) == 0


@pytest.mark.property
@given(weights=_weights, data=st.data(), B=st.integers(1, 3))
def test_batch_mean_variance_on_random_pmfs(weights, data, B):
    probs = _pmf(weights)
    x = data.draw(st.lists(st.integers(-5, 5), min_size=len(weights), max_size=len(weights)))
    ps, vs = iid_mean_distribution(probs, x, B)
    assert sp.simplify(variance(ps, vs) - variance(probs, x) / B) == 0
    assert variance(ps, vs) >= 0


@pytest.mark.property
@given(w=_weights, u1=_weights, u2=_weights, data=st.data(), Q=st.integers(1, 2),
       G=st.integers(1, 2))
def test_grouped_rollouts_on_random_two_level(w, u1, u2, data, Q, G):
    w = _pmf(w[:2] if len(w) >= 2 else w + [1])
    u = [_pmf(u1), _pmf(u2)]
    x = [data.draw(st.lists(st.integers(-4, 4), min_size=len(ui), max_size=len(ui))) for ui in u]
    between, within = between_covariance(w, u, x, x), within_covariance(w, u, x, x)
    gp, gv = grouped_mean_distribution(w, u, x, G)
    bp, bv = iid_mean_distribution(gp, gv, Q)
    assert sp.simplify(variance(bp, bv) - (between + within / G) / Q) == 0
    # Treating the QG rollouts as i.i.d. never overstates the variance.
    fp, fx = flatten_two_level(w, u, x)
    assert variance(fp, fx) / (Q * G) <= variance(bp, bv)


@pytest.mark.property
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5),
       st.lists(st.floats(-10, 10), min_size=5, max_size=5))
def test_variance_matches_numpy(weights, values):
    probs = np.asarray(weights) / np.sum(weights)
    vals = values[: len(probs)]
    mean = float(np.dot(probs, vals))
    expected = float(np.dot(probs, (np.asarray(vals) - mean) ** 2))
    assert float(variance(list(probs), vals)) == pytest.approx(expected, abs=1e-9, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_probabilities():
    with pytest.raises(ValueError, match="probs must sum to 1"):
        expectation([0.5, 0.4], [1, 2])
    with pytest.raises(ValueError, match=r"probs\[1\]"):
        expectation([1.0, -0.5], [1, 2])
    with pytest.raises(ValueError, match="probs must sum to 1 identically"):
        expectation(list(sp.symbols("a b", positive=True)), [1, 2])
    with pytest.raises(ValueError, match="probs"):
        expectation([], [])
    with pytest.raises(TypeError, match="probs"):
        expectation("ab", [1, 2])


def test_bad_values():
    with pytest.raises(ValueError, match="values must have one entry per probability"):
        expectation([HALF, HALF], [1])
    with pytest.raises(TypeError, match=r"values\[0\]"):
        expectation([1], ["x"])
    with pytest.raises(ValueError, match=r"values\[1\] must be finite"):
        expectation([HALF, HALF], [1.0, float("inf")])
    with pytest.raises(ValueError, match="values must all have the same shape"):
        variance([HALF, HALF], [sp.Matrix([1, 2]), 3])
    with pytest.raises(ValueError, match="ys must have the shape of xs"):
        covariance([HALF, HALF], [sp.Matrix([1, 2]), sp.Matrix([0, 0])], [1, 2])
    with pytest.raises(ValueError, match="rs must be scalars"):
        cross_covariance([1], [sp.Matrix([1, 2])], [sp.Matrix([1, 2])])


def test_bad_sizes():
    with pytest.raises(ValueError, match="n must be"):
        symbolic_pmf(0)
    with pytest.raises(ValueError, match="dim must be"):
        symbolic_values(2, "x", dim=0)
    with pytest.raises(ValueError, match="n must be"):
        iid_mean_distribution([1], [1], 0)
    with pytest.raises(ValueError, match="G must be"):
        grouped_mean_distribution([1], [[1]], [[1]], 0)
    with pytest.raises(TypeError, match="n must be"):
        iid_mean_distribution([1], [1], 1.5)


def test_bad_two_level():
    with pytest.raises(ValueError, match="outcome_probs must have one pmf per prompt"):
        flatten_two_level([HALF, HALF], [[1]], [[1], [2]])
    with pytest.raises(ValueError, match="values must have one list per prompt"):
        flatten_two_level([HALF, HALF], [[1], [1]], [[1]])
    with pytest.raises(ValueError, match=r"outcome_probs\[1\]"):
        within_covariance([HALF, HALF], [[1], [0.3, 0.3]], [[1], [1, 2]], [[1], [1, 2]])
    with pytest.raises(ValueError, match="prompt_probs"):
        between_covariance([0.2, 0.2], [[1], [1]], [[1], [2]], [[1], [2]])
    with pytest.raises(ValueError, match="values must have one list per prompt"):
        conditional_expectations([[1]], [[1], [2]])


def test_bad_formula_arguments():
    with pytest.raises(ValueError, match="var_g"):
        product_variance_formula(-1, 1, 0, 0, 0)
    with pytest.raises(ValueError, match="var_r"):
        product_variance_trace_formula(1, -1, 0, 0, [0, 0])
    with pytest.raises(ValueError, match="mean_r"):
        product_variance_formula(1, 1, float("nan"), 0, 0)
    with pytest.raises(TypeError, match="cov_r_g"):
        product_variance_formula(1, 1, 0, 0, "x")
    with pytest.raises(ValueError, match="cov_r_g must be a column vector"):
        product_variance_trace_formula(1, 1, 0, 0, sp.Matrix([[1, 2]]))


# ---------------------------------------------------------------------------------------------
# The claims' checks fail on deliberately wrong statements
# ---------------------------------------------------------------------------------------------


def test_product_identity_wrong_sign_is_not_proved():
    q, r, g = claims._zero_mean_joint(None)
    lhs, rhs = claims._product_identity_sides(q, r, g)
    wrong = rhs + 2 * covariance(q, r, g) ** 2  # + Cov(r, g)^2 instead of - Cov(r, g)^2
    ev = prove_identity(lhs, wrong, simplifier=canonical_form)
    assert ev.outcome is not Outcome.PROVED


def test_product_identity_needs_zero_mean_check_refutes():
    ev = claims._product_identity_needs_zero_mean()
    assert ev.outcome is Outcome.REFUTED
    assert ev.details["counterexample"]["var_rg"] == "2/3"


def test_iid_rollout_formula_is_not_an_identity():
    w, u, x = claims._two_level()
    fp, fx = flatten_two_level(w, u, x)
    gp, gv = grouped_mean_distribution(w, u, x, 2)
    bp, bv = iid_mean_distribution(gp, gv, 2)
    assert canonical_form(variance(bp, bv) - variance(fp, fx) / 4) != 0
    assert claims._rollouts_iid().outcome is Outcome.REFUTED


def test_total_covariance_within_term_not_zero_in_general():
    w = symbolic_pmf(2, "w")
    u = [symbolic_pmf(3, "u"), symbolic_pmf(3, "v")]
    a = [symbolic_values(3, "a"), symbolic_values(3, "b")]
    b = [symbolic_values(3, "c"), symbolic_values(3, "d")]
    assert canonical_form(within_covariance(w, u, a, b)) != 0


def test_bad_vector_entries():
    with pytest.raises(TypeError, match=r"values\[0\] entry"):
        variance([1], [["x", 1]])
    with pytest.raises(ValueError, match=r"values\[1\] entry must be finite"):
        variance([HALF, HALF], [[0, 1], [float("nan"), 1]])
