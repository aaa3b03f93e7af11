"""Argument validation: each bad input names the parameter and its valid range."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory._validate import (
    check_count,
    check_group_size,
    check_nonnegative,
    check_positive,
    check_probability,
    check_rewards,
)
from grpo_theory.symbolic.advantages import binary_advantages, group_advantages


@pytest.mark.parametrize("G", [1, 0, -3])
def test_group_size_too_small(G):
    with pytest.raises(ValueError, match=r"G must be an integer >= 2"):
        check_group_size(G)


@pytest.mark.parametrize("G", [2.5, "4", True, None])
def test_group_size_wrong_type(G):
    with pytest.raises(TypeError, match="G must be an integer"):
        check_group_size(G)


def test_group_size_maximum_and_symbols():
    with pytest.raises(ValueError, match=r"<= 64"):
        check_group_size(65, maximum=64)
    G = sp.Symbol("G", positive=True, integer=True)
    assert check_group_size(G) is G
    assert check_group_size(np.int64(4)) == 4


@pytest.mark.parametrize("k", [-1, 5])
def test_count_outside_range(k):
    with pytest.raises(ValueError, match=r"k must be an integer in 0\.\.4"):
        check_count(k, 4)


def test_count_interior():
    with pytest.raises(ValueError, match=r"1\.\.3"):
        check_count(0, 4, interior=True)
    assert check_count(2, 4, interior=True) == 2


@pytest.mark.parametrize("p", [-0.1, 1.1, float("nan"), float("inf")])
def test_probability_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"p must (lie in \[0, 1\]|be finite)"):
        check_probability(p)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_probability_open_interval(p):
    assert check_probability(p) == p
    with pytest.raises(ValueError, match=r"p must lie in \(0, 1\)"):
        check_probability(p, open_interval=True)


def test_probability_arrays_name_the_index():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got 1\.5 at index \(1,\)"):
        check_probability(np.array([0.2, 1.5, 0.3]))


def test_epsilon_and_beta():
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        check_nonnegative(-1e-6, "epsilon")
    assert check_nonnegative(0.0, "epsilon") == 0.0
    with pytest.raises(ValueError, match="beta must be > 0"):
        check_positive(0, "beta")
    with pytest.raises(TypeError, match="beta must be a real number"):
        check_positive("0.1", "beta")


@pytest.mark.parametrize(
    ("rewards", "match"),
    [
        ([1.0], "at least 2 entries"),
        ([[1.0, 0.0]], "one-dimensional"),
        ([1.0, float("nan")], r"must be finite, got nan at index 1"),
        ([1.0, float("inf"), 0.0], "must be finite"),
    ],
)
def test_bad_rewards(rewards, match):
    with pytest.raises(ValueError, match=match):
        check_rewards(rewards)


def test_public_functions_validate_and_change_nothing():
    rewards = [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="epsilon"):
        group_advantages(rewards, "grpo", epsilon=-1)
    with pytest.raises(ValueError, match="convention must be one of"):
        group_advantages(rewards, "grpo-typo")
    with pytest.raises(ValueError, match="rewards must have at least 2"):
        group_advantages([1.0], "grpo")
    assert rewards == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="G must be"):
        binary_advantages(1, 1)
    with pytest.raises(ValueError, match="k must be"):
        binary_advantages(3, 2)


@pytest.mark.property
@given(st.floats(min_value=0, max_value=1))
def test_every_probability_in_the_closed_interval_is_accepted(p):
    assert check_probability(p) == p
