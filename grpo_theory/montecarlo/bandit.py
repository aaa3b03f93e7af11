r"""Monte Carlo draws of group gradient estimators on a softmax bandit.

One group: :math:`G` arms :math:`a_1..a_G` drawn i.i.d. from :math:`\pi = \mathrm{softmax}(z)`,
rewards :math:`r_{a_i}`, advantages :math:`A = \mathrm{rule}(r_{a_1..a_G})`, and the estimate

.. math::

    \hat g = \frac1G \sum_{i=1}^G A_i\,(e_{a_i} - \pi) \in \mathbb R^K,

the same quantity whose exact moments :func:`grpo_theory.exact.bandit.bandit_estimator_moments`
computes. This module draws it in JAX; :func:`grpo_theory.montecarlo.engine.mc_moments` turns the
draws into moments.

**Sampling arms.** Each rollout uses one 32-bit random word :math:`u` and inverse-CDF sampling
against integer thresholds :math:`T_j = \mathrm{round}(2^{32} F_j)` with
:math:`F_j = \sum_{a\le j}\pi_a`: the arm is the number of thresholds :math:`\le u`. Arm :math:`a`
is then drawn with probability
:math:`(T_a - T_{a-1})/2^{32}`, within :math:`2^{-32}` of :math:`\pi_a` (float32 uniforms
would be coarser, :math:`2^{-24}`). :func:`realised_probabilities` gives the realised law.

**Two equivalent paths.** ``"rollouts"`` evaluates the rule on the :math:`G` rewards and adds
:math:`A_i` into arm :math:`a_i` (any rule, including the callables of
:mod:`grpo_theory.policy_gradient.advantages`). ``"counts"`` uses the arm counts
:math:`n_a` and the fact that every named estimator's advantage is affine in the rollout's own
reward given the group, :math:`A_i = \alpha\, r_{a_i} + \beta`, so that
:math:`\hat g = \frac1G\,(c - \pi\,\mathbf 1^\top c)` with :math:`c_a = n_a(\alpha r_a + \beta)`.
``"table"`` evaluates the rollout path once for each of the :math:`K^G` ordered groups of arms
(when :math:`K^G \le` :data:`TABLE_MAX`) and looks the draws up. All give the same draws for the
same key (to rounding); ``"auto"`` takes ``"table"`` when it applies, else ``"rollouts"`` for
:math:`G \le 4` or a callable rule and ``"counts"`` otherwise, the faster choices on CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from grpo_theory._validate import check_group_size, check_nonnegative, check_real
from grpo_theory.exact.bandit import _check_bandit, _softmax
from grpo_theory.exact.estimators import Estimator, as_estimator
from grpo_theory.montecarlo.engine import MCMoments, Sampler, mc_moments, resolve_dtype
from grpo_theory.policy_gradient.advantages import (
    default_silence_tolerance,
    dr_grpo_advantages,
    grpo_advantages,
    reinforce_advantages,
    rloo_advantages,
)

__all__ = [
    "PATHS",
    "TABLE_MAX",
    "JaxRule",
    "arm_thresholds",
    "random_words",
    "realised_probabilities",
    "jax_rule",
    "group_gradient",
    "bandit_sampler",
    "mc_bandit_moments",
]

JaxRule = Callable[[jax.Array], jax.Array]
"""A JAX advantage rule: rewards ``[G]`` to advantages ``[G]``, permutation-equivariant."""

PATHS = ("auto", "rollouts", "counts", "table")
"""Sampler paths: per rollout, per arm count, by table lookup (small :math:`K^G`), or chosen
automatically; they draw the same groups (claim ``mc.paths-agree``)."""

TABLE_MAX = 4096
"""The ``table`` path tabulates every ordered group when :math:`K^G` is at most this."""

_UNROLL_MAX = 64  # sum over the group with a Python loop up to this G (fuses better on CPU)


def arm_thresholds(probs: Any) -> np.ndarray:
    r"""Integer inverse-CDF thresholds :math:`T_j = \mathrm{round}(2^{32}F_j)`, :math:`j < K-1`.

    Args:
        probs: arm probabilities, shape ``(K,)``, non-negative, summing to 1.

    Returns:
        ``uint32`` array of shape ``(K - 1,)``, non-decreasing.

    Example:
        >>> arm_thresholds([0.25, 0.5, 0.25]).tolist()
        [1073741824, 3221225472]
    """
    p = np.asarray(probs, dtype=np.float64)
    cdf = np.cumsum(p)[:-1]
    return np.minimum(np.round(cdf * 2.0**32), 2.0**32 - 1).astype(np.uint32)


def realised_probabilities(probs: Any) -> np.ndarray:
    """The arm probabilities that :func:`arm_thresholds` realises (multiples of ``2**-32``).

    Example:
        >>> float(abs(realised_probabilities([1/3, 2/3]) - [1/3, 2/3]).max()) < 2.0**-32
        True
    """
    t = np.concatenate([[0.0], arm_thresholds(probs).astype(np.float64), [2.0**32]])
    return np.diff(t) / 2.0**32


def jax_rule(estimator: Estimator | str, epsilon: float = 0.0, baseline: float = 0.0) -> JaxRule:
    """The JAX advantage rule of a named estimator (see :mod:`grpo_theory.exact.estimators`).

    Example:
        >>> [round(a, 6) for a in jax_rule("rloo")(jnp.array([1.0, 0.0, 0.0])).tolist()]
        [1.0, -0.5, -0.5]
    """
    est = as_estimator(estimator)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    if est is Estimator.GRPO:
        return lambda r: grpo_advantages(r, epsilon=epsilon, ddof=0)
    if est is Estimator.GRPO_BESSEL:
        return lambda r: grpo_advantages(r, epsilon=epsilon, ddof=1)
    if est is Estimator.DR_GRPO:
        return dr_grpo_advantages
    if est is Estimator.RLOO:
        return rloo_advantages
    return lambda r: reinforce_advantages(r, baseline)


def _count_above(bits_G: jax.Array, thresholds: jax.Array) -> jax.Array:
    """``above[j]`` = number of rollouts whose arm exceeds ``j``, shape ``[K-1]``."""
    G = bits_G.shape[0]
    if G <= _UNROLL_MAX:
        return sum((bits_G[g] >= thresholds).astype(jnp.int32) for g in range(G))
    return jnp.sum(bits_G[:, None] >= thresholds, axis=0, dtype=jnp.int32)


def _silent(adv: jax.Array, scale: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(adv)) <= default_silence_tolerance(adv.dtype) * scale


def _rollout_group(bits_G, thresholds, pi_K, r_K, rule: JaxRule):
    """``(g_hat [K], silent)`` of one group from its random words, evaluating ``rule``."""
    G, K = bits_G.shape[0], pi_K.shape[0]
    arms_G = jnp.sum(bits_G[:, None] >= thresholds, axis=-1, dtype=jnp.int32)
    rew_G = r_K[arms_G]
    adv_G = rule(rew_G).astype(pi_K.dtype)
    iota_K = jnp.arange(K)
    if G <= _UNROLL_MAX:
        c_K = sum(jnp.where(arms_G[g] == iota_K, adv_G[g], 0) for g in range(G))
    else:
        c_K = adv_G @ (arms_G[:, None] == iota_K).astype(pi_K.dtype)
    g_hat = (c_K - pi_K * jnp.sum(adv_G)) / G
    return g_hat, _silent(adv_G, jnp.maximum(1.0, jnp.max(jnp.abs(rew_G))))


def _affine_coefficients(est: Estimator, G: int, mean, var, spread, scale, epsilon, baseline):
    """``(alpha, beta)`` with ``A = alpha * r + beta`` for the named estimators."""
    if est is Estimator.DR_GRPO:
        return jnp.ones_like(mean), -mean
    if est is Estimator.RLOO:
        f = G / (G - 1)
        return jnp.full_like(mean, f), -mean * f
    if est is Estimator.REINFORCE:
        return jnp.ones_like(mean), jnp.full_like(mean, -baseline)
    ddof = 1 if est is Estimator.GRPO_BESSEL else 0
    silent = spread <= default_silence_tolerance(mean.dtype) * scale
    sigma = jnp.sqrt(jnp.where(silent, 1.0, var * G / (G - ddof)))
    alpha = jnp.where(silent, 0.0, 1.0 / (sigma + epsilon))
    return alpha, -alpha * mean


def _count_group(bits_G, thresholds, pi_K, r_K, est: Estimator, epsilon: float,
                 baseline: float):
    """``(g_hat [K], silent)`` of one group from its arm counts (named estimators)."""
    G = bits_G.shape[0]
    dtype = pi_K.dtype
    above = _count_above(bits_G, thresholds)
    n_K = jnp.concatenate([G - above[:1], above[:-1] - above[1:], above[-1:]]).astype(dtype)
    present = n_K > 0
    mean = n_K @ r_K / G
    dev_K = r_K - mean
    var = n_K @ (dev_K * dev_K) / G
    spread = jnp.max(jnp.where(present, jnp.abs(dev_K), 0))
    scale = jnp.maximum(1.0, jnp.max(jnp.where(present, jnp.abs(r_K), 0)))
    alpha, beta = _affine_coefficients(est, G, mean, var, spread, scale, epsilon, baseline)
    adv_K = alpha * r_K + beta
    c_K = n_K * adv_K
    g_hat = (c_K - pi_K * jnp.sum(c_K)) / G
    return g_hat, _silent(jnp.where(present, adv_K, 0), scale)


def _prepare(logits: Any, rewards: Any, G: int, dtype: Any):
    z, r = _check_bandit(logits, rewards)
    check_group_size(G)
    dt = resolve_dtype(dtype)
    if dt == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs JAX's x64 mode: "
                         "jax.config.update('jax_enable_x64', True)")
    pi = _softmax(z)
    return jnp.asarray(arm_thresholds(pi)), jnp.asarray(pi, dt), jnp.asarray(r, dt), dt


def _group_fn(estimator: Any, G: int, epsilon: float, baseline: float, path: str,
              thresholds, pi, r):
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}; got {path!r}")
    is_rule = callable(estimator) and not isinstance(estimator, str)
    if is_rule:
        if path == "counts":
            raise ValueError("path='counts' needs a named estimator; a callable rule needs "
                             "path='rollouts' or 'auto'")
        rule = estimator
    else:
        est = as_estimator(estimator)
        check_nonnegative(epsilon, "epsilon")
        check_real(baseline, "baseline")
        rule = jax_rule(est, epsilon, baseline)
    K = int(pi.shape[0])
    if path == "auto":
        if K**G <= TABLE_MAX:
            path = "table"
        else:
            path = "rollouts" if is_rule or G <= 4 else "counts"
    if path == "rollouts":
        return lambda bits: _rollout_group(bits, thresholds, pi, r, rule)
    if path == "table":
        if K**G > TABLE_MAX:
            raise ValueError(f"path='table' needs K**G <= {TABLE_MAX}; got K = {K}, G = {G}")
        return _table_group(lambda bits: _rollout_group(bits, thresholds, pi, r, rule), G,
                            thresholds, K)
    return lambda bits: _count_group(bits, thresholds, pi, r, est, float(epsilon),
                                     float(baseline))


def _table_group(fn, G: int, thresholds: jax.Array, K: int):
    """The rollout path evaluated once for every ordered group of arms, then looked up.

    Arm :math:`a` is drawn exactly for the words in :math:`[T_{a-1}, T_a)`, so the word
    :math:`T_{a-1}` stands for it (an arm of probability zero is never drawn, and its rows are
    never read).
    """
    lows = jnp.concatenate([jnp.zeros(1, jnp.uint32), thresholds])
    grid = jnp.stack(jnp.meshgrid(*([jnp.arange(K)] * G), indexing="ij"), -1).reshape(-1, G)
    table_x, table_silent = jax.jit(jax.vmap(fn))(lows[grid])
    weights = K ** jnp.arange(G - 1, -1, -1)

    def lookup(bits_G: jax.Array) -> tuple[jax.Array, jax.Array]:
        arms_G = jnp.sum(bits_G[:, None] >= thresholds, axis=-1, dtype=jnp.int32)
        index = jnp.sum(arms_G * weights)
        return table_x[index], table_silent[index]

    return lookup


def random_words(key: jax.Array, n: int, G: int) -> jax.Array:
    """``[n, G]`` random words: ``jax.random.bits(key, (n G,))`` with JAX's non-partitionable
    threefry, about twice as fast on CPU as the partitionable one (sharding is over blocks, each
    drawn whole on one device, so nothing needs partitioning)."""
    with jax.threefry_partitionable(False):
        return jax.random.bits(key, (n * G,), jnp.uint32).reshape(n, G)


def group_gradient(
    key: jax.Array,
    logits: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str | JaxRule = Estimator.GRPO,
    *,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    dtype: Any = "float64",
    path: str = "auto",
) -> jax.Array:
    r"""One draw of :math:`\hat g = \frac1G\sum_i A_i (e_{a_i} - \pi)`: one group, key first.

    Args:
        key: a JAX PRNG key.
        logits: :math:`z`, shape ``(K,)``.
        rewards: rewards per arm, shape ``(K,)``.
        G: group size, ``>= 2``.
        estimator: an estimator name or a JAX rule ``rewards [G] -> advantages [G]``.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.
        dtype: ``"float32"`` or ``"float64"``.
        path: one of :data:`PATHS` (module docstring).

    Returns:
        ``Float[Array, "K"]``.

    Example:
        >>> import jax
        >>> g = group_gradient(jax.random.key(0), [0.0, 0.0], [1.0, 0.0], 2, "grpo",
        ...                    dtype="float32")
        >>> sorted(g.tolist()) in ([-0.5, 0.5], [0.0, 0.0])
        True
    """
    thresholds, pi, r, _ = _prepare(logits, rewards, G, dtype)
    fn = _group_fn(estimator, int(G), epsilon, baseline, path, thresholds, pi, r)
    return fn(random_words(key, 1, int(G))[0])[0]


def bandit_sampler(
    logits: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str | JaxRule = Estimator.GRPO,
    *,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    dtype: Any = "float64",
    path: str = "auto",
    with_silent: bool = False,
) -> Sampler:
    r"""A :data:`~grpo_theory.montecarlo.engine.Sampler` of :math:`\hat g` for the engine.

    ``sampler(key, n)`` draws the random words ``[n, G]`` at once (row ``i`` holds words
    ``i G .. i G + G - 1`` of ``jax.random.bits(key, (n G,))`` under non-partitionable threefry)
    and maps each row to one group
    with :func:`jax.vmap`. With ``with_silent=True`` a last column holds 1.0 for a silent group
    (every advantage zero) and 0.0 otherwise, so that its mean estimates the silent probability.

    Args:
        logits, rewards, G, estimator, epsilon, baseline, dtype, path: as in
            :func:`group_gradient`.
        with_silent: append the silent indicator as column ``K``.

    Returns:
        ``sampler(key, n) -> Float[Array, "n K"]`` (``"n K+1"`` with ``with_silent``).
    """
    thresholds, pi, r, dt = _prepare(logits, rewards, G, dtype)
    G = int(G)
    fn = _group_fn(estimator, G, epsilon, baseline, path, thresholds, pi, r)

    def one(bits_G: jax.Array) -> jax.Array:
        g_hat, silent = fn(bits_G)
        if with_silent:
            return jnp.concatenate([g_hat, silent.astype(dt)[None]])
        return g_hat

    def sampler(key: jax.Array, n: int) -> jax.Array:
        # Drawn flat and reshaped: the same words as shape (n, G), and much faster to compile.
        return jax.vmap(one)(random_words(key, n, G))

    return sampler


def mc_bandit_moments(
    key: Any,
    logits: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str | JaxRule = Estimator.GRPO,
    n_samples: int = 1_000_000,
    *,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    dtype: Any = "float64",
    path: str = "auto",
    with_silent: bool = False,
    **engine: Any,
) -> MCMoments:
    r"""Monte Carlo moments of :math:`\hat g` on a softmax bandit from ``n_samples`` groups.

    The Monte Carlo counterpart of :func:`grpo_theory.exact.bandit.bandit_estimator_moments`.

    Args:
        key: a JAX PRNG key or an int seed.
        logits, rewards, G, estimator: as in :func:`group_gradient`.
        n_samples: number of groups, ``>= 2``.
        epsilon, baseline, dtype, path, with_silent: as in :func:`bandit_sampler`.
        **engine: passed to :func:`~grpo_theory.montecarlo.engine.mc_moments` (``cov``,
            ``block_size``, ``chunk_size``, ``devices``, ``progress``).

    Returns:
        :class:`~grpo_theory.montecarlo.engine.MCMoments` over ``K`` (or ``K + 1``) coordinates.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> m = mc_bandit_moments(0, [0.0, 0.0], [1.0, 0.0], 2, "grpo", 200_000)
        >>> bool(abs(m.mean - [0.25, -0.25]).max() < 5 * m.mean_stderr.max())
        True
    """
    z, r = _check_bandit(logits, rewards)
    sampler = _cached_sampler(tuple(z.tolist()), tuple(r.tolist()), G, estimator, float(epsilon),
                              float(baseline), str(resolve_dtype(dtype)), path, bool(with_silent),
                              bool(jax.config.jax_enable_x64))
    return mc_moments(key, sampler, n_samples, **engine)


@functools.lru_cache(maxsize=64)
def _cached_sampler(logits: tuple, rewards: tuple, G: int, estimator: Any, epsilon: float,
                    baseline: float, dtype: str, path: str, with_silent: bool,
                    x64: bool) -> Sampler:
    """One sampler per distinct bandit and options, so that its compiled program is reused."""
    return bandit_sampler(np.array(logits), np.array(rewards), G, estimator, epsilon=epsilon,
                          baseline=baseline, dtype=dtype, path=path, with_silent=with_silent)
