"""Tests of the DPO loss: autodiff against the closed form, the 2-GRPO link, online DPO."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from grpo_theory.policy_gradient import advantages as adv
from grpo_theory.policy_gradient import dpo
from grpo_theory.symbolic import dpo as sdpo

# float64 comes from JAX_ENABLE_X64=1, set by tests/conftest.py before jax is imported.

K = 4


def test_float64_is_enabled():
    assert jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float64


def _pair_loss(theta, phi, w, l, beta):
    logp, ref = jax.nn.log_softmax(theta), jax.nn.log_softmax(phi)
    return dpo.dpo_loss(logp[w], logp[l], ref[w], ref[l], beta)


@pytest.mark.parametrize(("w", "l", "beta"), [(0, 1, 0.1), (2, 0, 1.0), (3, 2, 2.5)])
def test_autodiff_gradient_matches_symbolic_closed_form(w, l, beta):
    key_t, key_p = jax.random.split(jax.random.key(w + 10 * l))
    theta = jax.random.normal(key_t, (K,), jnp.float64)
    phi = jax.random.normal(key_p, (K,), jnp.float64)
    grad = np.asarray(jax.grad(_pair_loss)(theta, phi, w, l, beta))

    th, ph = sdpo.softmax_policy(K), sdpo.softmax_policy(K, "phi")
    point = dict(zip(th.params, np.asarray(theta).tolist(), strict=True))
    point |= dict(zip(ph.params, np.asarray(phi).tolist(), strict=True))
    closed = sdpo.dpo_gradient_closed_form(th, ph, w, l, sp.Float(beta, 30))
    closed = np.array([float(e.subs(point).evalf(30)) for e in closed], dtype=np.float64)
    np.testing.assert_allclose(grad, closed, rtol=1e-10, atol=1e-14)

    # independent numpy closed form: -beta sigma(r_l - r_w) (e_w - e_l) on a softmax
    log_pi = np.asarray(jax.nn.log_softmax(theta))
    log_ref = np.asarray(jax.nn.log_softmax(phi))
    margin = beta * ((log_pi[l] - log_ref[l]) - (log_pi[w] - log_ref[w]))
    e = np.eye(K)
    np.testing.assert_allclose(grad, -beta / (1 + np.exp(-margin)) * (e[w] - e[l]), atol=1e-14)


@pytest.mark.parametrize("beta", [0.1, 1.0, 3.0])
def test_at_reference_dpo_gradient_is_minus_beta_two_grpo_gradient(beta):
    theta = jax.random.normal(jax.random.key(7), (K,), jnp.float64)
    w, l = 1, 3
    dpo_grad = jax.grad(_pair_loss)(theta, theta, w, l, beta)

    def two_grpo_objective(th):
        a = adv.two_grpo_advantages(jnp.array([1.0, 0.0]))  # paper convention: +-1
        logp = jax.nn.log_softmax(th)
        return 0.5 * (a[0] * logp[w] + a[1] * logp[l])

    grpo_grad = jax.grad(two_grpo_objective)(theta)
    np.testing.assert_allclose(np.asarray(dpo_grad), -beta * np.asarray(grpo_grad), atol=1e-14)
    assert np.max(np.abs(np.asarray(grpo_grad))) > 0.1


def test_online_dpo_averages_disagreeing_pairs():
    logp = jnp.array([-1.0, -2.0, -0.5, -3.0])
    ref = jnp.array([-1.5, -1.0, -1.0, -2.0])
    rewards = jnp.array([1, 0, 1, 0])
    beta = 0.7
    pairs = [
        (i, j)
        for i, j in itertools.product(range(4), repeat=2)
        if rewards[i] == 1 and rewards[j] == 0
    ]
    assert len(pairs) == 4
    expected = np.mean(
        [float(dpo.dpo_loss(logp[i], logp[j], ref[i], ref[j], beta)) for i, j in pairs]
    )
    got = dpo.online_dpo_loss(logp, ref, rewards, beta)
    assert float(got) == pytest.approx(expected, abs=1e-14)
    # G = 2 with one correct response: the plain DPO loss of the pair
    pair = dpo.online_dpo_loss(logp[:2], ref[:2], jnp.array([1.0, 0.0]), beta)
    assert float(pair) == pytest.approx(float(dpo.dpo_loss(-1.0, -2.0, -1.5, -1.0, beta)))


@pytest.mark.parametrize("rewards", [[1, 1, 1], [0, 0, 0]])
def test_online_dpo_is_zero_without_disagreement(rewards):
    r = jnp.array(rewards, jnp.float64)
    logp = jnp.array([-1.0, -2.0, -0.5])
    assert float(dpo.online_dpo_loss(logp, logp - 0.3, r, 1.0)) == 0.0
    grad = jax.grad(dpo.online_dpo_loss)(logp, logp - 0.3, r, 1.0)
    assert np.all(np.asarray(grad) == 0.0)


def test_online_dpo_jit_vmap():
    logp_BxG = jnp.array([[-1.0, -2.0, -0.5], [-0.1, -0.2, -3.0]])
    rewards_BxG = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    fn = jax.jit(jax.vmap(lambda lp, r: dpo.online_dpo_loss(lp, lp * 0.9, r, 0.5)))
    eager = [
        float(dpo.online_dpo_loss(lp, lp * 0.9, r, 0.5))
        for lp, r in zip(logp_BxG, rewards_BxG, strict=True)
    ]
    np.testing.assert_allclose(np.asarray(fn(logp_BxG, rewards_BxG)), eager, atol=1e-14)


def test_implicit_reward_and_float32():
    assert float(dpo.implicit_reward(jnp.array(0.0), jnp.array(-1.0), 0.5)) == 0.5
    out = dpo.dpo_loss(*(jnp.zeros((), jnp.float32),) * 4, 1.0)
    assert out.dtype == jnp.float32
    assert float(out) == pytest.approx(np.log(2.0), rel=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="beta"):
        dpo.dpo_loss(0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="beta"):
        dpo.online_dpo_loss(jnp.zeros(2), jnp.zeros(2), jnp.array([1, 0]), -1.0)
    with pytest.raises(ValueError, match="rewards"):
        dpo.online_dpo_loss(jnp.zeros(2), jnp.zeros(2), jnp.array([0.5, 0.0]), 1.0)
    with pytest.raises(ValueError, match="rewards"):
        dpo.online_dpo_loss(jnp.zeros(2), jnp.zeros(2), jnp.array([1.0, 0.0, 0.0]), 1.0)
    with pytest.raises(ValueError, match="logp"):
        dpo.online_dpo_loss(jnp.zeros(1), jnp.zeros(1), jnp.array([1.0]), 1.0)
    with pytest.raises(ValueError, match="ref_logp"):
        dpo.online_dpo_loss(jnp.zeros(2), jnp.zeros(3), jnp.array([1.0, 0.0]), 1.0)
