"""Tests of the softmax-bandit samplers: draws, paths, thresholds and validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grpo_theory.exact.bandit import bandit_estimator_moments
from grpo_theory.exact.estimators import Estimator, advantages
from grpo_theory.montecarlo.bandit import (
    TABLE_MAX,
    arm_thresholds,
    bandit_sampler,
    group_gradient,
    jax_rule,
    mc_bandit_moments,
    random_words,
    realised_probabilities,
)
from grpo_theory.policy_gradient.advantages import preset_advantages


def _draw(sampler, key, n):
    return np.asarray(jax.jit(sampler, static_argnums=1)(key, n))


LOGITS = np.array([0.4, -0.3, 1.2, 0.0, -1.0])
REWARDS = np.array([1.0, 0.0, 1.0, 0.0, 0.0])


def _draw_reference(bits_row, logits, rewards, estimator, epsilon=0.0, baseline=0.0):
    """g_hat of one group, from its random words, with numpy and the exact layer's rules."""
    pi = np.exp(logits - logits.max())
    pi /= pi.sum()
    arms = np.searchsorted(arm_thresholds(pi).astype(np.int64), bits_row.astype(np.int64),
                           side="right")
    adv = advantages(estimator, rewards[arms], epsilon, baseline)
    K = logits.size
    g = np.zeros(K)
    for a, A in zip(arms, adv, strict=True):
        g += A * (np.eye(K)[a] - pi)
    return g / len(arms)


@pytest.mark.parametrize("estimator", list(Estimator))
@pytest.mark.parametrize("G", [2, 3, 8])
@pytest.mark.parametrize("path", ["rollouts", "counts", "table"])
def test_draws_match_a_numpy_reference(estimator, G, path):
    key = jax.random.key(4)
    if path == "table" and LOGITS.size**G > TABLE_MAX:
        with pytest.raises(ValueError, match="table"):
            bandit_sampler(LOGITS, REWARDS, G, estimator, path=path)
        return
    sampler = bandit_sampler(LOGITS, REWARDS, G, estimator, baseline=0.3, path=path)
    draws = _draw(sampler, key, 64)
    bits = np.asarray(random_words(key, 64, G))
    ref = np.stack([_draw_reference(b, LOGITS, REWARDS, estimator.value, baseline=0.3)
                    for b in bits])
    np.testing.assert_allclose(draws, ref, atol=1e-13)


def test_group_gradient_is_one_row_of_the_sampler():
    key = jax.random.key(9)
    g = group_gradient(key, LOGITS, REWARDS, 4, "rloo")
    bits = np.asarray(random_words(key, 1, 4))[0]
    np.testing.assert_allclose(np.asarray(g), _draw_reference(bits, LOGITS, REWARDS, "rloo"),
                               atol=1e-14)
    assert g.shape == (5,) and g.dtype == jnp.float64


def test_thresholds_and_realised_probabilities():
    p = np.array([0.1, 0.0, 0.6, 0.3])
    t = arm_thresholds(p)
    assert t.dtype == np.uint32 and t.shape == (3,) and np.all(np.diff(t.astype(int)) >= 0)
    q = realised_probabilities(p)
    assert np.max(np.abs(q - p)) <= 2.0**-32 and q[1] == 0.0
    assert q.sum() == pytest.approx(1.0, abs=1e-15)


def test_zero_probability_arm_is_never_drawn():
    logits = np.array([0.0, -800.0, 0.0])
    draws = _draw(bandit_sampler(logits, [1.0, 1.0, 0.0], 4, "dr-grpo"), jax.random.key(0),
                  4096)
    # Arm 1 is never drawn, so its coordinate is only ever -pi_1 * sum(A) / G = 0.
    assert np.all(draws[:, 1] == 0.0)


def test_silent_column():
    draws = _draw(bandit_sampler(LOGITS, REWARDS, 2, "grpo", with_silent=True),
                  jax.random.key(1), 2048)
    silent = draws[:, -1]
    assert set(np.unique(silent)) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.all(draws[:, :-1] == 0.0, axis=1), silent == 1.0)


def test_callable_rule_matches_named_estimator():
    key = jax.random.key(2)
    named = _draw(bandit_sampler(LOGITS, REWARDS, 4, "grpo-bessel"), key, 256)
    preset = _draw(bandit_sampler(LOGITS, REWARDS, 4,
                                  lambda r: preset_advantages(r, "paper-grpo")), key, 256)
    pop = _draw(bandit_sampler(LOGITS, REWARDS, 4, "grpo"), key, 256)
    np.testing.assert_allclose(preset, pop, atol=1e-14)
    np.testing.assert_allclose(named * np.sqrt(4 / 3), pop, atol=1e-14)


def test_float32_draws_follow_float64():
    key = jax.random.key(5)
    d32 = _draw(bandit_sampler(LOGITS, REWARDS, 8, "grpo", dtype="float32"), key, 512)
    d64 = _draw(bandit_sampler(LOGITS, REWARDS, 8, "grpo", dtype="float64"), key, 512)
    assert d32.dtype == np.float32
    np.testing.assert_allclose(d32, d64, atol=2e-6)


def test_jax_rule_matches_numpy_rules():
    r = np.array([0.2, 0.9, 0.4, 0.4])
    for est in Estimator:
        np.testing.assert_allclose(np.asarray(jax_rule(est, 0.1, 0.5)(jnp.asarray(r))),
                                   advantages(est, r, 0.1, 0.5), atol=1e-14)


@pytest.mark.statistical
def test_moments_agree_with_exact_engine_and_detect_a_wrong_std():
    """N = 2**18 groups, G = 4, K = 5: every mean coordinate within 5.7 standard errors.

    Per coordinate the normal tail beyond 5.7 sigma is 1.2e-8, so the 5 coordinates give a
    false-positive probability below 1e-7 (the claims use non-asymptotic bounds instead). Power:
    Bessel's std, tested against the population-std exact moments, fails the same check.
    """
    exact = bandit_estimator_moments(LOGITS, REWARDS, 4, "grpo")
    m = mc_bandit_moments(0, LOGITS, REWARDS, 4, "grpo", 1 << 18)
    sd = np.sqrt(np.diag(exact.cov) / m.n)
    assert np.all(np.abs(m.mean - exact.mean) <= 5.7 * sd)
    wrong = mc_bandit_moments(0, LOGITS, REWARDS, 4, "grpo-bessel", 1 << 18)
    assert np.any(np.abs(wrong.mean - exact.mean) > 5.7 * sd)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"G": 1}, "G"),
        ({"estimator": "ppo"}, "estimator"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"dtype": "float16"}, "dtype"),
        ({"path": "fast"}, "path"),
        ({"rewards": [1.0, 0.0]}, "rewards"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"logits": LOGITS, "rewards": REWARDS, "G": 2, "estimator": "grpo", **kwargs}
    with pytest.raises(ValueError, match=match):
        bandit_sampler(args.pop("logits"), args.pop("rewards"), args.pop("G"),
                       args.pop("estimator"), **args)


def test_counts_path_needs_a_named_estimator():
    with pytest.raises(ValueError, match="path"):
        bandit_sampler(LOGITS, REWARDS, 4, lambda r: r - r.mean(), path="counts")


def test_float64_needs_x64_mode():
    with jax.enable_x64(False), pytest.raises(ValueError, match="x64"):
        bandit_sampler(LOGITS, REWARDS, 2, "grpo", dtype="float64")
