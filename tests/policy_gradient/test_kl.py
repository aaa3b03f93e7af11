"""Tests of the k1, k2, k3 KL estimators: exact expectations on a categorical, positivity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.policy_gradient import kl

# float64 comes from JAX_ENABLE_X64=1, set by tests/conftest.py before jax is imported.


def test_float64_is_enabled():
    assert jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float64


def _exact_expectation(estimator, pi, ref):
    """E_{x ~ pi}[k(x)]: the estimator on every outcome, weighted by pi."""
    values = kl.kl_estimate(jnp.log(pi), jnp.log(ref), estimator)
    return float(jnp.sum(pi * values))


CASES = [
    (np.array([0.9, 0.1]), np.array([0.5, 0.5])),
    (np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.3, 0.1])),
    (np.array([0.25, 0.25, 0.25, 0.25]), np.array([0.1, 0.2, 0.3, 0.4])),
]


@pytest.mark.parametrize(("pi", "ref"), CASES)
def test_k1_and_k3_are_unbiased(pi, ref):
    exact_kl = float(np.sum(pi * np.log(pi / ref)))
    assert exact_kl > 0
    assert _exact_expectation("k1", pi, ref) == pytest.approx(exact_kl, abs=1e-14)
    assert _exact_expectation("k3", pi, ref) == pytest.approx(exact_kl, abs=1e-14)


def test_k2_is_biased_in_general():
    pi, ref = CASES[0]
    exact_kl = float(np.sum(pi * np.log(pi / ref)))  # 0.3681...
    k2_mean = _exact_expectation("k2", pi, ref)  # 0.5 * E[(log r)^2] = 0.5...
    expected_k2 = 0.5 * float(np.sum(pi * np.log(ref / pi) ** 2))
    assert k2_mean == pytest.approx(expected_k2, abs=1e-14)
    assert abs(k2_mean - exact_kl) > 0.05  # 0.285 vs 0.368
    # at pi = ref all three vanish
    for name in kl.KL_ESTIMATORS:
        assert _exact_expectation(name, ref, ref) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.property
@given(
    logp=st.lists(st.floats(-30, 0), min_size=4, max_size=4),
    ref_logp=st.lists(st.floats(-30, 0), min_size=4, max_size=4),
)
def test_k3_and_k2_are_nonnegative(logp, ref_logp):
    lp, rl = jnp.array(logp), jnp.array(ref_logp)
    assert np.all(np.asarray(kl.kl_k3(lp, rl)) >= 0.0)
    assert np.all(np.asarray(kl.kl_k2(lp, rl)) >= 0.0)


def test_hand_values_and_float32():
    lp, rl = jnp.log(jnp.array([0.5])), jnp.log(jnp.array([0.25]))
    np.testing.assert_allclose(np.asarray(kl.kl_k1(lp, rl)), [np.log(2.0)], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(kl.kl_k2(lp, rl)), [0.5 * np.log(2.0) ** 2], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(kl.kl_k3(lp, rl)), [-0.5 + np.log(2.0)], rtol=1e-14)
    # k3 stays accurate and non-negative for tiny log-ratios in float32
    tiny = jnp.array([1e-6, -1e-6, 0.0], jnp.float32)
    out = kl.kl_k3(jnp.zeros(3, jnp.float32), tiny)
    assert out.dtype == jnp.float32
    assert np.all(np.asarray(out) >= 0.0)
    np.testing.assert_allclose(
        np.asarray(out), [5e-13 + 1e-18 / 6, 5e-13 - 1e-18 / 6, 0.0], rtol=1e-6, atol=0
    )
    # the series and the direct branch agree across the switch point in float64
    u = jnp.array([-0.0100001, -0.0099999, 0.0099999, 0.0100001])
    np.testing.assert_allclose(
        np.asarray(kl.kl_k3(jnp.zeros(4), u)), np.expm1(np.asarray(u)) - np.asarray(u), rtol=1e-11
    )


def test_vmap_jit():
    lp_BxG = jnp.log(jnp.array([[0.2, 0.8], [0.5, 0.5]]))
    rl_BxG = jnp.log(jnp.array([[0.5, 0.5], [0.1, 0.9]]))
    out = jax.jit(jax.vmap(kl.kl_k3))(lp_BxG, rl_BxG)
    np.testing.assert_allclose(np.asarray(out), np.asarray(kl.kl_k3(lp_BxG, rl_BxG)), atol=1e-15)


def test_bad_input():
    with pytest.raises(ValueError, match="estimator"):
        kl.kl_estimate(jnp.zeros(2), jnp.zeros(2), "k4")
    with pytest.raises(ValueError, match="ref_logp"):
        kl.kl_k1(jnp.zeros(2), jnp.zeros(3))


def test_k3_small_log_ratio_float64_accuracy():
    us = [1e-3, -1e-3, 3e-5, -7e-9, 0.05]
    got = np.asarray(kl.kl_k3(jnp.zeros(len(us)), jnp.array(us)))
    exact = [float((sp.exp(sp.Float(u, 40)) - 1 - sp.Float(u, 40)).evalf(30)) for u in us]
    np.testing.assert_allclose(got, exact, rtol=1e-13)
