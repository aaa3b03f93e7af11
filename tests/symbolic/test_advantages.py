"""Group advantages: known values, properties over many reward vectors, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.symbolic.advantages import (
    Convention,
    binary_advantages,
    group_advantages,
    population_std,
)

rewards_st = st.lists(st.integers(min_value=-5, max_value=5), min_size=2, max_size=8)


def _floats(xs):
    return np.array([float(x) for x in xs])


def test_known_values():
    assert group_advantages([1, 0], "grpo") == [1, -1]
    assert group_advantages([1, 0], "dr-grpo") == [sp.Rational(1, 2), -sp.Rational(1, 2)]
    assert group_advantages([1, 0], "rloo") == [1, -1]
    assert group_advantages([1, 0, 0], "rloo") == [1, -sp.Rational(1, 2), -sp.Rational(1, 2)]
    a = group_advantages([1, 0, 0], "grpo")
    assert sp.simplify(a[0] - sp.sqrt(2)) == 0 and sp.simplify(a[1] + sp.sqrt(2) / 2) == 0
    eps = sp.Symbol("epsilon", nonnegative=True)
    assert sp.simplify(group_advantages([1, 0], "grpo", eps)[0] - 1 / (1 + 2 * eps)) == 0


def test_decimal_rewards_are_exact():
    assert group_advantages([0.1, 0.3], "dr-grpo") == [-sp.Rational(1, 10), sp.Rational(1, 10)]
    assert group_advantages(np.array([0.5, 0.25]), "grpo") == [1, -1]


def test_silent_group_is_zero_for_every_convention():
    for conv in Convention:
        assert group_advantages([0.7, 0.7, 0.7], conv) == [0, 0, 0]


def test_population_std():
    assert population_std([1, 0]) == sp.Rational(1, 2)
    assert sp.simplify(population_std([1, 0, 0]) - sp.sqrt(2) / 3) == 0


@pytest.mark.property
@given(rewards_st, st.sampled_from(list(Convention)))
def test_sum_zero_and_shift_invariance(rewards, conv):
    a = np.array([float(x) for x in group_advantages(rewards, conv)])
    assert abs(a.sum()) < 1e-9
    shifted = np.array([float(x) for x in group_advantages([r + 3 for r in rewards], conv)])
    np.testing.assert_allclose(shifted, a, atol=1e-12)


@pytest.mark.property
@given(rewards_st)
def test_unit_variance_and_numpy_agreement(rewards):
    r = _floats(rewards)
    a = np.array([float(x) for x in group_advantages(rewards, "grpo")])
    b = np.array([float(x) for x in group_advantages(rewards, "grpo-bessel")])
    if r.std() == 0:
        assert not a.any() and not b.any()
        return
    np.testing.assert_allclose(a, (r - r.mean()) / r.std(), rtol=1e-12)
    np.testing.assert_allclose(b, (r - r.mean()) / r.std(ddof=1), rtol=1e-12)
    assert np.mean(a**2) == pytest.approx(1.0)


@pytest.mark.property
@given(st.integers(min_value=2, max_value=12).flatmap(
    lambda G: st.tuples(st.just(G), st.integers(min_value=0, max_value=G))),
    st.sampled_from(list(Convention)))
def test_binary_matches_general(Gk, conv):
    G, k = Gk
    general = group_advantages([1] * k + [0] * (G - k), conv)
    plus, minus = binary_advantages(k, G, conv)
    if k > 0:
        assert sp.simplify(general[0] - plus) == 0
    if k < G:
        assert sp.simplify(general[-1] - minus) == 0


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: group_advantages([1], "grpo"), ValueError, "rewards must have at least 2"),
        (lambda: group_advantages([1, float("nan")], "grpo"), ValueError, "rewards must be finite"),
        (lambda: group_advantages([[1, 0]], "grpo"), ValueError, "one-dimensional"),
        (lambda: group_advantages([1, 0], "bessel"), ValueError, "convention must be one of"),
        (lambda: group_advantages([1, 0], "grpo", -0.1), ValueError, "epsilon must be >= 0"),
        (lambda: binary_advantages(1, 1), ValueError, "G must be an integer >= 2"),
        (lambda: binary_advantages(-1, 4), ValueError, r"k must be an integer in 0\.\.4"),
        (lambda: binary_advantages(1, 2.0), TypeError, "G must be an integer"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
