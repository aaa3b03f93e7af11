r"""The variance lab: Monte Carlo experiments on tabular prompt lists, beside their exact values.

Every experiment here draws in JAX, reduces to per-replicate moments, reports in numpy, and puts
the exact value of the same quantity (from :mod:`grpo_theory.exact.bandit`) in the same record.

**Prompts.** A list of softmax bandits :math:`q = 1..N`, prompt :math:`q` with logits
:math:`z_q \in \mathbb R^{K_q}` and rewards :math:`r_q`, each with its own block of parameters:
the parameter vector has size :math:`D = \sum_q K_q` and prompt :math:`q` owns the coordinates
``offsets[q] : offsets[q] + K_q`` (the layout of :func:`grpo_theory.exact.bandit.batch_moments`).
Prompts are drawn with probabilities :math:`w_q` (uniform by default). Internally the prompts are
padded to :math:`K_{\max}` arms with zero-probability arms; a sampled arm index is clamped to
:math:`K_q - 1` (implemented by clamping the 32-bit random word to :math:`2^{32} - 2`, which
leaves every real arm with the probability of
:func:`~grpo_theory.montecarlo.bandit.realised_probabilities`, within :math:`2^{-32}` of
:math:`\pi`, and never selects a padded arm).

**1. Batches** (:func:`batch_sampler`). One draw is one batch: :math:`Q` prompts i.i.d. from
:math:`w`, :math:`G` rollouts of each, and :math:`\hat g_B = \frac1Q\sum_j \hat g_{q_j}` with
:math:`\hat g_q = \frac1G\sum_i A_i (e_{a_i} - \pi_q)` in block :math:`q`. Its exact moments are
those of :func:`~grpo_theory.exact.bandit.batch_moments`.

**2. Fixed rollout budget** (:func:`budget_curve`). For :math:`B = QG` and each group size
:math:`G \mid B`: the variance :math:`V = \mathrm{tr}\,\mathrm{Cov}[\hat g_B]`, the squared bias
:math:`\|\mathbb E\hat g_B - g^*\|^2` against the target gradient :math:`g^*`, the MSE, the
SNR :math:`\|\mathbb E\hat g_B\|^2 / V`, the SNR per rollout (SNR divided by :math:`B`) and
the relative MSE at the best step size, with the definitions of
:func:`grpo_theory.exact.budget.budget_row`.

**3. Control variates** (paper v2/v3 Prop 4.1). With :math:`g^+ = e_{a^+} - \pi_q`,
:math:`a^+ \sim \pi_q^+ = \pi_q \odot r_q / p_q`, and :math:`g^- = e_{a^-} - \pi_q`,
:math:`a^- \sim \pi_q^- = \pi_q\odot(1 - r_q)/(1 - p_q)` (binary rewards), and traces for vectors:
:math:`C = \mathrm{tr}\,\mathrm{Cov}(g^+, g^-)`, :math:`V_\pm = \mathrm{tr}\,\mathrm{Cov}(g^\pm)`,
:math:`\rho = C/\sqrt{V_+V_-}`, :math:`c^* = C/V_-`, and
:math:`\mathrm{Var}(g^+ - c\,g^-) = V_+ + c^2V_- - 2cC` at :math:`c = 1` and at :math:`c^*`
(where it is :math:`(1-\rho^2)V_+`). By the law of total covariance,

.. math::

    \mathrm{Cov}(g^+, g^-) = \underbrace{\mathbb E_q\,\mathrm{Cov}(g^+, g^-\mid q)}_{\text{within}}
    + \underbrace{\mathrm{Cov}_q(\mu_q^+, \mu_q^-)}_{\text{across}}, \qquad
    \mathrm{Var}(g^\pm) = \mathbb E_q\,\mathrm{tr}\,\Sigma_q^\pm
    + \mathrm{tr}\,\mathrm{Cov}_q(\mu_q^\pm),

with :math:`\mu^\pm_q, \Sigma^\pm_q` of :func:`~grpo_theory.exact.bandit.softmax_bandit_moments`.
A positive and a negative response drawn independently make the within term zero; in the
softmax bandit its trace is zero for *any* joint law of the pair, since
:math:`\mathrm{tr}\,\mathrm{Cov}(g^+, g^-\mid q) = \sum_k \mathrm{Cov}(\mathbb 1[a^+ = k],
\mathbb 1[a^- = k])` and, arm by arm, one of the two indicators vanishes (a positive response is
a correct arm, a negative one a wrong arm) (derived). Only prompts
with :math:`0 < p_q < 1` have both kinds of response: every statistic of this part is
*conditioned* on them, that is the prompt law is :math:`w_q \mathbb 1[0 < p_q < 1]`, renormalised
(and an error is raised when no prompt of positive weight qualifies).

**Sign in the tabular model (derived).** Since :math:`\mathbb E_{\pi_q}[e_a - \pi_q] = 0`,
:math:`p_q\mu^+_q + (1 - p_q)\mu^-_q = 0`, so :math:`\mu_q^- = -\lambda_q \mu_q^+` with
:math:`\lambda_q = p_q/(1-p_q)`. With disjoint parameter blocks,
:math:`\bar\mu^+\cdot\bar\mu^- = \sum_q w_q^2\,\mu_q^+\cdot\mu_q^-`, hence

.. math::

    \mathrm{tr}\,\mathrm{Cov}_q(\mu_q^+, \mu_q^-) = \sum_q w_q(1 - w_q)\,\mu_q^+\cdot\mu_q^-
    = -\sum_q w_q (1 - w_q)\,\lambda_q\,\|\mu^+_q\|^2 \;\le\; 0:

across tabular prompts the positive and negative scores are *anti*-correlated, :math:`c^* \le 0`,
and :math:`c = 1` increases the variance over :math:`g^+` alone
(:math:`V_+ + V_- - 2C \ge V_+ + V_-`). A positive covariance, as
measured in paper v3 App. B.8, needs parameters shared between prompts.

**4. The paper's measurement** (paper v3 App. B.8, Table 2: 100 prompts, 10 responses each,
reported :math:`0.08705` against :math:`0.00128` for re-paired prompts, units unspecified).
:func:`paper_covariance_measurement` draws :math:`M` prompts i.i.d. from :math:`w` and :math:`n`
responses of each, keeps the :math:`m` prompts with both signs, forms per-prompt means
:math:`X_j = \bar g^+_j`, :math:`Y_j = \bar g^-_j` (embedded in block :math:`q_j`) and returns
the trace of their sample cross-covariance
:math:`\hat C = \frac1{m-1}\sum_j (X_j - \bar X)\cdot(Y_j - \bar Y)`, and the same with
:math:`Y_{\sigma(j)}` for a uniformly random permutation :math:`\sigma` of the kept prompts.
Given the prompt and the counts, :math:`X_j` and :math:`Y_j` are independent with means
:math:`\mu^\pm_{q_j}`, so the noise of finite :math:`n` does not bias :math:`\hat C`; the kept
prompts are i.i.d. from :math:`w''_q \propto w_q\,(1 - p_q^n - (1 - p_q)^n)`. Hence, given
:math:`m \ge 2`, :math:`\mathbb E\hat C = \mathrm{tr}\,\mathrm{Cov}_{q\sim w''}(\mu^+_q,\mu^-_q)`
exactly: the across term under the law *selected by finite* :math:`n` (prompts with :math:`p_q`
near 0 or 1 are under-represented), which tends to the across term conditioned on
:math:`0 < p_q < 1` as :math:`n \to \infty`. The permuted statistic has conditional mean exactly
zero given the data (:math:`\sum_j\sum_k (X_j - \bar X)\cdot(Y_k - \bar Y) = 0`): it is a noise
reference, not an estimate of a covariance.

**Confidence intervals.** Draws are split into :math:`R` independent replicates (replicate
:math:`r` uses ``fold_in(key, r)``; within it block :math:`b` uses ``fold_in(., b)``, exactly the
draws of :func:`~grpo_theory.montecarlo.engine.mc_moments` with that key). Each replicate is
reduced to its sample count, mean and per-coordinate sum of squared deviations in one compiled
pass. A statistic is computed from the pooled moments of all replicates (point estimate) and of
all but one (delete-one-replicate jackknife); the interval is the point estimate plus or minus
:math:`t_{R-1,(1+\gamma)/2}` times the jackknife standard error (``scipy.stats.t``). For the
paper measurement each replicate is one whole measurement and the interval is the usual
:math:`t` interval of their mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from grpo_theory._validate import check_nonnegative, check_real
from grpo_theory.exact.bandit import (
    METHODS,
    _check_bandit,
    _check_binary,
    _check_weights,
    _softmax,
    batch_moments,
)
from grpo_theory.exact.estimators import Estimator, as_estimator
from grpo_theory.montecarlo.bandit import (
    PATHS,
    JaxRule,
    _count_group,
    _rollout_group,
    arm_thresholds,
    jax_rule,
)
from grpo_theory.montecarlo.engine import DEFAULT_BLOCK_SIZE, Sampler, as_key, resolve_dtype

__all__ = [
    "MODES",
    "PAPER_TABLE2",
    "batch_sampler",
    "BudgetCurveRow",
    "budget_curve",
    "ControlVariateStats",
    "control_variate_exact",
    "pair_sampler",
    "ControlVariateEstimate",
    "control_variate_mc",
    "PaperMeasurement",
    "paper_covariance_measurement",
]

MODES = ("within", "across")
"""``within``: the conditional (per-prompt) statistics; ``across``: the unconditional ones."""

PAPER_TABLE2 = {"covariance": 0.08705, "permuted": 0.00128}
"""Paper v3 App. B.8, Table 2: the measured covariance and its re-paired baseline."""

_CAP = np.uint32(2**32 - 2)  # clamp of the random words: never reaches a padded arm


# ----------------------------------------------------------------------------------------------
# Prompt tables and validation
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """Prompts padded to ``k_max`` arms (numpy arrays)."""

    sizes: np.ndarray  # [N] arms per prompt
    offsets: np.ndarray  # [N] start of each block
    k_max: int
    dim: int
    pi: np.ndarray  # [N, k_max], zeros on padded arms
    rewards: np.ndarray  # [N, k_max]
    thresholds: np.ndarray  # [N, k_max - 1] uint32

    @property
    def n(self) -> int:
        return int(self.sizes.size)

    @property
    def p(self) -> np.ndarray:
        """Expected reward of each prompt (its success probability for binary rewards)."""
        return np.sum(self.pi * self.rewards, axis=1)


def _table(prompts: Any, *, binary: bool = False) -> _Table:
    if isinstance(prompts, str | bytes) or not isinstance(prompts, Sequence) or not prompts:
        raise ValueError("prompts must be a non-empty sequence of (logits, rewards) pairs")
    zs, rs = [], []
    for i, item in enumerate(prompts):
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(f"prompts[{i}] must be a (logits, rewards) pair")
        try:
            z, r = _check_bandit(item[0], item[1])
            if binary:
                _check_binary(r)
        except ValueError as exc:
            raise ValueError(f"prompts[{i}]: {exc}") from None
        zs.append(z)
        rs.append(r)
    sizes = np.array([z.size for z in zs])
    k_max = int(sizes.max())
    pi = np.zeros((len(zs), k_max))
    rewards = np.zeros((len(zs), k_max))
    for i, (z, r) in enumerate(zip(zs, rs, strict=True)):
        pi[i, : z.size] = _softmax(z)
        rewards[i, : z.size] = r
    thresholds = np.stack([arm_thresholds(row) for row in pi])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return _Table(sizes, offsets, k_max, int(sizes.sum()), pi, rewards, thresholds)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_confidence(confidence: Any) -> float:
    c = check_real(confidence, "confidence")
    if not 0.0 < float(c) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    return float(c)


def _check_dtype(dtype: Any) -> np.dtype:
    dt = resolve_dtype(dtype)
    if dt == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs JAX's x64 mode: "
                         "jax.config.update('jax_enable_x64', True)")
    return dt


def _check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return str(mode)


def _both_signs(p: np.ndarray, n: int) -> np.ndarray:
    r""":math:`1 - p^n - (1-p)^n`, the probability that :math:`n` responses hold both signs."""
    p = np.clip(p, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        low = -np.expm1(n * np.log1p(-np.minimum(p, 0.5))) - np.minimum(p, 0.5) ** n
        q = 1.0 - np.maximum(p, 0.5)
        high = -np.expm1(n * np.log(np.maximum(p, 0.5))) - q**n
    out = np.where(p <= 0.5, low, high)
    return np.where((p > 0.0) & (p < 1.0), np.maximum(out, 0.0), 0.0)


def _pair_weights(table: _Table, weights: Any, n_responses: int | None = None) -> np.ndarray:
    """Prompt law conditioned on both signs: ``0 < p < 1`` (and, given ``n``, on the sample)."""
    w = _check_weights(weights, table.n)
    p = table.p
    eligible = (p > 0.0) & (p < 1.0)
    v = w * eligible
    if n_responses is not None:
        v = v * _both_signs(p, n_responses)
    total = float(v.sum())
    if total <= 0.0:
        raise ValueError("prompts: no prompt of positive weight has 0 < p < 1, so none has "
                         "both a positive and a negative response")
    return v / total


def _pick(bits: jax.Array, thresholds: jax.Array) -> jax.Array:
    """Inverse-CDF index: the number of thresholds at most the (clamped) random word."""
    u = jnp.minimum(bits, _CAP)
    return jnp.sum(u[..., None] >= thresholds, axis=-1, dtype=jnp.int32)


def _flat_bits(key: jax.Array, n: int, width: int) -> jax.Array:
    """``[n, width]`` random words, drawn flat and reshaped (the same words as drawing the 2-D
    shape directly, with a much shorter compilation on CPU)."""
    return jax.random.bits(key, (n * width,), jnp.uint32).reshape(n, width)


def _embedder(table: _Table, dt: Any) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``embed(q, v)``: the local vector ``v [k_max]`` of prompt ``q`` placed in ``R^D``."""
    sizes = jnp.asarray(table.sizes, jnp.int32)
    offsets = jnp.asarray(table.offsets, jnp.int32)
    iota = jnp.arange(table.k_max, dtype=jnp.int32)
    D = table.dim

    def embed(q: jax.Array, v: jax.Array) -> jax.Array:
        local = iota < sizes[q][..., None]
        idx = jnp.where(local, offsets[q][..., None] + iota, D)
        vals = jnp.where(local, v, 0).astype(dt)
        return jnp.zeros(D, dt).at[idx.reshape(-1)].add(vals.reshape(-1), mode="drop")

    return embed


# ----------------------------------------------------------------------------------------------
# 1. Batches
# ----------------------------------------------------------------------------------------------


def _group_fns(estimators: Sequence[Any], G: int, epsilon: float, baseline: float, path: str):
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}; got {path!r}")
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    fns = []
    for estimator in estimators:
        is_rule = callable(estimator) and not isinstance(estimator, str)
        if is_rule:
            if path == "counts":
                raise ValueError("path='counts' needs a named estimator; a callable rule needs "
                                 "path='rollouts' or 'auto'")
            rule = estimator
        else:
            est = as_estimator(estimator)
            rule = jax_rule(est, epsilon, baseline)
        use = path if path != "auto" else ("rollouts" if is_rule or G <= 4 else "counts")
        if use == "rollouts":
            fns.append(lambda b, t, p, r, rule=rule: _rollout_group(b, t, p, r, rule)[0])
        else:
            fns.append(lambda b, t, p, r, est=est: _count_group(b, t, p, r, est, float(epsilon),
                                                                 float(baseline))[0])
    return fns


def _batch_sampler(table: _Table, G: int, Q: int, estimators: Sequence[Any], epsilon: float,
                   baseline: float, w: np.ndarray, dt: np.dtype, path: str) -> Sampler:
    """Sampler of the batch estimates of several estimators on the same rollouts, ``[n, E*D]``."""
    fns = _group_fns(estimators, G, epsilon, baseline, path)
    thr_w = jnp.asarray(arm_thresholds(w))
    thr = jnp.asarray(table.thresholds)
    pi = jnp.asarray(table.pi, dt)
    rew = jnp.asarray(table.rewards, dt)
    embed = _embedder(table, dt)

    def one(bits: jax.Array) -> jax.Array:
        q = _pick(bits[:Q], thr_w)
        arm_bits = jnp.minimum(bits[Q:].reshape(Q, G), _CAP)
        thr_q, pi_q, r_q = thr[q], pi[q], rew[q]
        outs = [embed(q, jax.vmap(fn)(arm_bits, thr_q, pi_q, r_q) / Q) for fn in fns]
        return jnp.concatenate(outs)

    def sampler(key: jax.Array, n: int) -> jax.Array:
        return jax.vmap(one)(_flat_bits(key, n, Q * (G + 1)))

    return sampler


def batch_sampler(
    prompts: Sequence[tuple[Any, Any]],
    G: int,
    Q: int,
    estimator: Estimator | str | JaxRule = Estimator.GRPO,
    *,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    weights: Any = None,
    dtype: Any = "float64",
    path: str = "auto",
) -> Sampler:
    r"""An engine :data:`~grpo_theory.montecarlo.engine.Sampler` of batch estimates on prompts.

    One draw is one batch: prompt indices :math:`q_1..q_Q` i.i.d. from ``weights``, :math:`G`
    rollouts of each, and

    .. math::

        \hat g_B = \frac1Q \sum_{j=1}^Q \iota_{q_j}\!\Big(\frac1G\sum_{i=1}^G
        A_{j,i}\,(e_{a_{j,i}} - \pi_{q_j})\Big) \in \mathbb R^D, \qquad D = \sum_q K_q,

    where :math:`\iota_q` places a :math:`K_q`-vector in block ``offsets[q]`` (as
    :func:`grpo_theory.exact.bandit.batch_moments`, its exact counterpart:
    :math:`\mathbb E\hat g_B = \sum_q w_q\,\iota_q \mathbb E[\hat g\mid q]`,
    :math:`\mathrm{Cov}\,\hat g_B = \frac1Q(\mathbb E_q\mathrm{Cov}[\hat g\mid q] +
    \mathrm{Cov}_q\mathbb E[\hat g\mid q])`). Advantages come from
    :func:`~grpo_theory.montecarlo.bandit.jax_rule` through the group kernels of
    :mod:`grpo_theory.montecarlo.bandit`; each draw uses :math:`Q(G + 1)` random words.

    Args:
        prompts: non-empty sequence of ``(logits, rewards)`` pairs (:math:`K_q \ge 2` may differ).
        G: rollouts per prompt, ``>= 2``.
        Q: prompts per batch, ``>= 1``.
        estimator: an estimator name or a JAX rule ``rewards [G] -> advantages [G]``.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.
        weights: prompt probabilities (non-negative, summing to 1), ``None`` for uniform.
        dtype: ``"float32"`` or ``"float64"`` (the latter needs JAX's x64 mode).
        path: ``"auto"``, ``"rollouts"`` or ``"counts"``
            (see :mod:`grpo_theory.montecarlo.bandit`).

    Returns:
        ``sampler(key, n) -> Float[Array, "n D"]``.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> s = batch_sampler([([0.0, 0.0], [1, 0]), ([0.0, 1.0, 2.0], [0, 0, 1])], 4, 2)
        >>> s(jax.random.key(0), 3).shape
        (3, 5)
    """
    table = _table(prompts)
    G = _check_int(G, "G", 2)
    Q = _check_int(Q, "Q", 1)
    w = _check_weights(weights, table.n)
    dt = _check_dtype(dtype)
    return _batch_sampler(table, G, Q, [estimator], epsilon, baseline, w, dt, path)


# ----------------------------------------------------------------------------------------------
# Replicates and intervals
# ----------------------------------------------------------------------------------------------


def _replicate_moments(key: Any, sampler: Sampler, n_samples: int, replicates: int,
                       block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per replicate: count ``[R]``, mean ``[R, D]``, sum of squared deviations ``[R, D]``.

    Replicate ``r`` holds ``n_samples // R`` draws (one more for the first ``n_samples % R``),
    drawn as ``mc_moments(fold_in(key, r), sampler, n_r, block_size=...)`` would draw them.
    Blocks are merged with the pairwise update of the mean and the squared deviations
    (Chan, Golub and LeVeque), in float64 when JAX's x64 mode is on. One compilation serves
    every replicate.
    """
    key = as_key(key)
    R = replicates
    sizes = np.full(R, n_samples // R, dtype=np.int64)
    sizes[: n_samples % R] += 1
    bs = int(block_size)
    n_blocks = -(-int(sizes.max()) // bs)
    shape = jax.eval_shape(lambda k: sampler(k, bs), key)
    if len(shape.shape) != 2 or shape.shape[0] != bs:
        raise ValueError(f"sampler(key, {bs}) must return shape [{bs}, D]; got {shape.shape}")
    if shape.dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"sampler must return float32 or float64; got {shape.dtype}")
    D = int(shape.shape[1])
    acc = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    ints = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32

    def one_replicate(key: jax.Array, r: jax.Array, n_r: jax.Array):
        rkey = jax.random.fold_in(key, r)

        def body(carry, b):
            cnt, mean, m2 = carry
            x = sampler(jax.random.fold_in(rkey, b), bs).astype(acc)
            valid = b.astype(ints) * bs + jnp.arange(bs, dtype=ints) < n_r
            nb = jnp.sum(valid, dtype=ints)
            xm = jnp.sum(jnp.where(valid[:, None], x, 0), axis=0) / jnp.maximum(nb, 1)
            dev = jnp.where(valid[:, None], x - xm, 0)
            tot = cnt + nb
            frac = nb / jnp.maximum(tot, 1).astype(acc)
            delta = xm - mean
            return (tot, mean + delta * frac, m2 + jnp.sum(dev * dev, axis=0)
                    + delta * delta * cnt.astype(acc) * frac), None

        init = (jnp.zeros((), ints), jnp.zeros(D, acc), jnp.zeros(D, acc))
        (cnt, mean, m2), _ = jax.lax.scan(body, init, jnp.arange(n_blocks, dtype=jnp.uint32))
        return cnt, mean, m2

    @jax.jit
    def run(key, ids, ns):
        return jax.lax.map(lambda a: one_replicate(key, a[0], a[1]), (ids, ns))

    cnt, mean, m2 = run(key, jnp.arange(R, dtype=jnp.uint32), jnp.asarray(sizes, ints))
    return (np.asarray(cnt, np.float64), np.asarray(mean, np.float64),
            np.asarray(m2, np.float64))


def _pooled(cnt: np.ndarray, mean: np.ndarray, m2: np.ndarray
            ) -> tuple[float, np.ndarray, np.ndarray]:
    """Pooled count, mean and unbiased per-coordinate variance of several replicates."""
    n = float(cnt.sum())
    m = cnt @ mean / n
    ss = m2.sum(axis=0) + cnt @ (mean - m) ** 2
    return n, m, ss / (n - 1.0)


def _jackknife(stat: Callable[[float, np.ndarray, np.ndarray], np.ndarray], cnt: np.ndarray,
               mean: np.ndarray, m2: np.ndarray, confidence: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate, lower and upper bounds: delete-one-replicate jackknife with t quantile."""
    R = cnt.size
    with np.errstate(divide="ignore", invalid="ignore"):
        full = np.asarray(stat(*_pooled(cnt, mean, m2)), dtype=float)
        keep = ~np.eye(R, dtype=bool)
        loo = np.array([stat(*_pooled(cnt[k], mean[k], m2[k])) for k in keep], dtype=float)
        se = np.sqrt((R - 1) / R * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    half = float(stats.t.ppf(0.5 + confidence / 2, R - 1)) * se
    return full, full - half, full + half


def _check_sampling(n_samples: Any, replicates: Any, confidence: Any, block_size: Any
                    ) -> tuple[int, int, float, int]:
    R = _check_int(replicates, "replicates", 2)
    n = _check_int(n_samples, "n_samples", 2 * R)
    return n, R, _check_confidence(confidence), _check_int(block_size, "block_size", 1)


def _record_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, tuple):
            v = [float(x) for x in v]
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif hasattr(v, "as_dict"):
            v = v.as_dict()
        out[f.name] = v
    return out


def _covers(obj: Any, names: Sequence[str]) -> dict[str, bool]:
    """Interval membership, with a rounding slack of ``1e-12`` relative (an interval of zero
    width, such as that of a statistic that is identically zero, still holds its value)."""
    out = {}
    for name in names:
        lo, hi = getattr(obj, f"{name}_ci")
        exact = getattr(obj, f"exact_{name}")
        tol = 1e-12 * max(1.0, abs(lo), abs(hi), abs(exact))
        out[name] = bool(lo - tol <= exact <= hi + tol)
    return out


# ----------------------------------------------------------------------------------------------
# 2. Fixed rollout budget
# ----------------------------------------------------------------------------------------------

_CURVE_STATS = ("variance", "bias_sq", "mse", "snr", "snr_per_rollout", "relative_mse_best_step")


@dataclass(frozen=True)
class BudgetCurveRow:
    r"""Monte Carlo and exact statistics of one (estimator, group size) at a rollout budget.

    Monte Carlo values come with ``(low, high)`` intervals at level ``confidence``; the exact
    values of :func:`~grpo_theory.exact.bandit.batch_moments` sit beside them (``exact_*``).
    Definitions (those of :func:`grpo_theory.exact.budget.budget_row`): :math:`V =
    \mathrm{tr}\,\mathrm{Cov}\,\hat g_B`; ``bias_sq`` :math:`= \|\mathbb E\hat g_B - g^*\|^2`;
    ``mse`` = bias_sq + :math:`V`; ``snr`` :math:`= \|\mathbb E\hat g_B\|^2/V`;
    ``snr_per_rollout`` = snr / budget; ``relative_mse_best_step``
    :math:`= 1 - (\mathbb E\hat g_B\cdot g^*)^2 / (\|g^*\|^2\,\mathbb E\|\hat g_B\|^2)`.

    Attributes:
        estimator: estimator name.
        group_size: :math:`G`.
        prompts: :math:`Q = B/G`.
        budget: :math:`B`.
        samples: Monte Carlo batches drawn (shared by every estimator of the same ``G``).
        replicates: :math:`R`.
        confidence: level of the intervals.
        variance, bias_sq, mse, snr, snr_per_rollout, relative_mse_best_step: Monte Carlo
            estimates; each has a ``*_ci`` interval.
        exact_variance, exact_variance_between, exact_variance_within, exact_bias_sq,
        exact_mse, exact_snr, exact_snr_per_rollout, exact_relative_mse_best_step: exact values.
    """

    estimator: str
    group_size: int
    prompts: int
    budget: int
    samples: int
    replicates: int
    confidence: float
    variance: float
    variance_ci: tuple[float, float]
    bias_sq: float
    bias_sq_ci: tuple[float, float]
    mse: float
    mse_ci: tuple[float, float]
    snr: float
    snr_ci: tuple[float, float]
    snr_per_rollout: float
    snr_per_rollout_ci: tuple[float, float]
    relative_mse_best_step: float
    relative_mse_best_step_ci: tuple[float, float]
    exact_variance: float
    exact_variance_between: float
    exact_variance_within: float
    exact_bias_sq: float
    exact_mse: float
    exact_snr: float
    exact_snr_per_rollout: float
    exact_relative_mse_best_step: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (intervals as ``[low, high]`` lists)."""
        return _record_dict(self)

    def covers_exact(self) -> dict[str, bool]:
        """For each statistic, whether its interval contains the exact value (to a rounding
        slack of 1e-12 relative; ``False`` where either is ``nan``)."""
        return _covers(self, _CURVE_STATS)


def _exact_curve(prompts: Any, G: int, Q: int, budget: int, est: Estimator, epsilon: float,
                 method: str, baseline: float, weights: Any) -> tuple[dict[str, float], Any]:
    b = batch_moments(prompts, G, Q, est, epsilon, method, baseline, weights)
    mean_sq = float(b.mean @ b.mean)
    target_sq = float(b.target @ b.target)
    second = b.cov_trace + mean_sq
    best = (1.0 - float(b.mean @ b.target) ** 2 / (target_sq * second)
            if target_sq > 0 and second > 0 else float("nan"))
    snr = mean_sq / b.cov_trace if b.cov_trace > 0 else float("inf")
    return {
        "exact_variance": b.cov_trace,
        "exact_variance_between": float(np.trace(b.between)),
        "exact_variance_within": float(np.trace(b.within)),
        "exact_bias_sq": b.bias_sq,
        "exact_mse": b.mse,
        "exact_snr": snr,
        "exact_snr_per_rollout": snr / budget,
        "exact_relative_mse_best_step": best,
    }, b.target


def budget_curve(
    key: Any,
    prompts: Sequence[tuple[Any, Any]],
    budget: int,
    group_sizes: Sequence[int],
    estimators: Sequence[Estimator | str],
    n_samples: int,
    *,
    weights: Any = None,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    method: str = "exact",
    dtype: Any = "float64",
    replicates: int = 32,
    confidence: float = 0.95,
    block_size: int = DEFAULT_BLOCK_SIZE,
    path: str = "auto",
) -> list[BudgetCurveRow]:
    r"""Variance, bias, MSE and SNR per rollout against :math:`G` at a fixed budget, with CIs.

    For each :math:`G` in ``group_sizes`` (each must divide ``budget``), :math:`Q = B/G`, and
    ``n_samples`` batches of :func:`batch_sampler` are drawn once and shared by every estimator
    (common random numbers: the same prompts and rollouts, so differences between estimators
    are measured more precisely than their levels). From the pooled mean :math:`\bar x` and the
    unbiased per-coordinate variances of :math:`N` batches:

    .. math::

        \hat V = \sum_d \hat\sigma_d^2, \qquad
        \widehat{\mathrm{bias}^2} = \|\bar x - g^*\|^2 - \hat V/N, \qquad
        \widehat{\|\mu\|^2} = \|\bar x\|^2 - \hat V / N,

    all three unbiased (:math:`\mathbb E\|\bar x - g^*\|^2 = \|\mu - g^*\|^2 + V/N`);
    :math:`\widehat{\mathrm{MSE}} = \widehat{\mathrm{bias}^2} + \hat V`,
    :math:`\widehat{\mathrm{SNR}} = \widehat{\|\mu\|^2}/\hat V` (ratio estimator) and the
    relative MSE at the best step size by plug-in. Only the per-coordinate variances are kept
    (the covariance matrix is never formed), so memory is :math:`O(D)` for any :math:`D`.
    Intervals: the delete-one-replicate jackknife of the module docstring. The draws for
    :math:`G` use the key ``fold_in(key, G)``, replicate ``r`` of it ``fold_in(fold_in(key, G),
    r)``; the target :math:`g^*` and the ``exact_*`` values come from
    :func:`~grpo_theory.exact.bandit.batch_moments`.

    Args:
        key: a JAX PRNG key or an int seed.
        prompts: non-empty sequence of ``(logits, rewards)`` pairs.
        budget: rollouts per batch :math:`B`, ``>= 2``.
        group_sizes: group sizes :math:`G \ge 2`, each dividing ``budget``.
        estimators: estimator names (non-empty).
        n_samples: batches per group size, ``>= 2 * replicates``.
        weights: prompt probabilities, ``None`` for uniform.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.
        method: exact method of :func:`~grpo_theory.exact.bandit.batch_moments` (``"exact"``
            for binary rewards, ``"enumerate"`` for any rewards and small groups).
        dtype: ``"float32"`` or ``"float64"``.
        replicates: :math:`R \ge 2` independent replicates for the intervals.
        confidence: interval level in :math:`(0, 1)`.
        block_size: draws per block (the unit of key derivation).
        path: group kernel path (see :mod:`grpo_theory.montecarlo.bandit`).

    Returns:
        One :class:`BudgetCurveRow` per (estimator, group size), estimators outermost.

    Raises:
        ValueError: a group size that does not divide the budget, or any invalid argument.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> rows = budget_curve(0, [([0.0, 0.0], [1, 0])], 4, [2, 4], ["rloo"], 4096,
        ...                     replicates=8)
        >>> [(r.group_size, r.prompts) for r in rows]
        [(2, 2), (4, 1)]
    """
    table = _table(prompts)
    budget = _check_int(budget, "budget", 2)
    if isinstance(group_sizes, str | bytes) or not isinstance(group_sizes, Sequence) \
            or not group_sizes:
        raise ValueError("group_sizes must be a non-empty sequence of integers >= 2")
    sizes = [_check_int(G, "group_sizes", 2) for G in group_sizes]
    for G in sizes:
        if budget % G:
            raise ValueError(f"each of group_sizes must divide the budget: budget = {budget}, "
                             f"G = {G}")
    if isinstance(estimators, str) or not isinstance(estimators, Sequence) or not estimators:
        raise ValueError("estimators must be a non-empty sequence of estimator names")
    ests = [as_estimator(e) for e in estimators]
    if len(set(ests)) != len(ests):
        raise ValueError(f"estimators must not repeat; got {[e.value for e in ests]}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    n_samples, R, confidence, block_size = _check_sampling(n_samples, replicates, confidence,
                                                           block_size)
    w = _check_weights(weights, table.n)
    dt = _check_dtype(dtype)
    key = as_key(key)
    D = table.dim

    rows_by_est: dict[Estimator, list[BudgetCurveRow]] = {e: [] for e in ests}
    for G in sizes:
        Q = budget // G
        exact, targets = [], []
        for est in ests:
            values, target = _exact_curve(prompts, G, Q, budget, est, float(epsilon), method,
                                          float(baseline), w)
            exact.append(values)
            targets.append(target)
        sampler = _batch_sampler(table, G, Q, ests, float(epsilon), float(baseline), w, dt,
                                 path)
        moments = _replicate_moments(jax.random.fold_in(key, G), sampler, n_samples, R,
                                     block_size)

        def stat(n: float, m: np.ndarray, var: np.ndarray, targets=targets) -> np.ndarray:
            out = []
            for e, t in enumerate(targets):
                me = m[e * D:(e + 1) * D]
                V = np.float64(var[e * D:(e + 1) * D].sum())  # numpy floats: x / 0 is inf/nan
                mean_sq = me @ me - V / n
                bias_sq = (me - t) @ (me - t) - V / n
                snr = mean_sq / V
                best = 1.0 - (me @ t) ** 2 / ((t @ t) * (V + mean_sq))
                out.append([V, bias_sq, bias_sq + V, snr, snr / budget, best])
            return np.asarray(out).ravel()

        point, low, high = _jackknife(stat, *moments, confidence)
        k = len(_CURVE_STATS)
        for e, est in enumerate(ests):
            mc: dict[str, Any] = {}
            for j, name in enumerate(_CURVE_STATS):
                mc[name] = float(point[e * k + j])
                mc[f"{name}_ci"] = (float(low[e * k + j]), float(high[e * k + j]))
            rows_by_est[est].append(BudgetCurveRow(
                estimator=est.value, group_size=G, prompts=Q, budget=budget, samples=n_samples,
                replicates=R, confidence=confidence, **mc, **exact[e]))
    return [row for est in ests for row in rows_by_est[est]]


# ----------------------------------------------------------------------------------------------
# 3. Control variates (Prop 4.1)
# ----------------------------------------------------------------------------------------------

_CV_STATS = ("covariance", "var_plus", "var_minus", "rho", "c_star", "one_minus_rho_sq",
             "var_c1", "var_c_star")


def _derived(cov: float, vp: float, vm: float) -> dict[str, float]:
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = float(np.float64(cov) / np.sqrt(np.float64(vp) * vm))
        c_star = float(np.float64(cov) / vm)
    return {
        "covariance": float(cov), "var_plus": float(vp), "var_minus": float(vm),
        "rho": rho, "c_star": c_star, "one_minus_rho_sq": 1.0 - rho * rho,
        "var_c1": float(vp + vm - 2.0 * cov),
        "var_c_star": float(vp - c_star * cov) if np.isfinite(c_star) else float("nan"),
    }


@dataclass(frozen=True)
class ControlVariateStats:
    r"""Exact control-variate statistics of :math:`(g^+, g^-)` (traces for vectors).

    Attributes:
        mode: ``"within"`` (the conditional, per-prompt statistics averaged over prompts) or
            ``"across"`` (the unconditional statistics over prompts drawn from the law).
        covariance: :math:`C = \mathrm{tr}\,\mathrm{Cov}(g^+, g^-)`.
        var_plus: :math:`V_+ = \mathrm{tr}\,\mathrm{Cov}(g^+)`.
        var_minus: :math:`V_- = \mathrm{tr}\,\mathrm{Cov}(g^-)`.
        rho: :math:`C/\sqrt{V_+V_-}`.
        c_star: :math:`c^* = C/V_-`.
        one_minus_rho_sq: :math:`1 - \rho^2`.
        var_c1: :math:`\mathrm{Var}(g^+ - g^-) = V_+ + V_- - 2C`.
        var_c_star: :math:`\mathrm{Var}(g^+ - c^*g^-) = V_+ - C^2/V_- = (1-\rho^2)V_+`.
        covariance_between: the across-prompt term :math:`\mathrm{tr}\,\mathrm{Cov}_q(\mu^+_q,
            \mu^-_q)` (0 in ``within`` mode).
        var_plus_between: :math:`\mathrm{tr}\,\mathrm{Cov}_q(\mu^+_q)` (0 in ``within`` mode).
        var_minus_between: :math:`\mathrm{tr}\,\mathrm{Cov}_q(\mu^-_q)` (0 in ``within`` mode).
        weights: the conditioned prompt law used (zero for prompts without both signs).
    """

    mode: str
    covariance: float
    var_plus: float
    var_minus: float
    rho: float
    c_star: float
    one_minus_rho_sq: float
    var_c1: float
    var_c_star: float
    covariance_between: float
    var_plus_between: float
    var_minus_between: float
    weights: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return _record_dict(self)


def _conditional_laws(table: _Table) -> tuple[np.ndarray, np.ndarray]:
    """Padded :math:`\\pi^+` and :math:`\\pi^-` ``[N, k_max]``; zero rows where undefined."""
    p = table.p
    with np.errstate(divide="ignore", invalid="ignore"):
        plus = np.where((p > 0)[:, None], table.pi * table.rewards / p[:, None], 0.0)
        minus = np.where((p < 1)[:, None], table.pi * (1 - table.rewards) / (1 - p)[:, None],
                         0.0)
    return plus, minus


def _conditional_moments(table: _Table) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """Padded :math:`\\mu^\\pm` ``[N, k_max]`` and :math:`\\mathrm{tr}\\,\\Sigma^\\pm` ``[N]``.

    :math:`\\mathrm{tr}\\,\\Sigma^\\pm = \\sum_a \\pi^\\pm_a(1 - \\pi^\\pm_a)`; rows of prompts
    without the corresponding sign are zero.
    """
    plus, minus = _conditional_laws(table)
    mu_plus = np.where(plus.sum(1, keepdims=True) > 0, plus - table.pi, 0.0)
    mu_minus = np.where(minus.sum(1, keepdims=True) > 0, minus - table.pi, 0.0)
    tr_plus = np.maximum(np.sum(plus * (1 - plus), 1), 0.0)  # clip rounding below zero
    tr_minus = np.maximum(np.sum(minus * (1 - minus), 1), 0.0)
    return mu_plus, mu_minus, tr_plus, tr_minus


def _embed_rows(table: _Table, local: np.ndarray) -> np.ndarray:
    out = np.zeros((table.n, table.dim))
    for q in range(table.n):
        k = int(table.sizes[q])
        out[q, table.offsets[q]:table.offsets[q] + k] = local[q, :k]
    return out


def control_variate_exact(
    prompts: Sequence[tuple[Any, Any]],
    mode: str = "across",
    *,
    weights: Any = None,
    n_responses: int | None = None,
) -> ControlVariateStats:
    r"""Exact control-variate statistics of Prop 4.1 on tabular prompts (binary rewards).

    With :math:`\tilde w_q \propto w_q\,\mathbb 1[0 < p_q < 1]` (or, given ``n_responses``
    :math:`= n`, :math:`\propto w_q(1 - p_q^n - (1-p_q)^n)`: the law of the prompts whose
    :math:`n` responses hold both signs), :math:`\mu^\pm_q` and :math:`\Sigma^\pm_q` of
    :func:`~grpo_theory.exact.bandit.softmax_bandit_moments` placed in block :math:`q`:

    * ``within``: :math:`C = \mathbb E_q\,\mathrm{tr}\,\mathrm{Cov}(g^+, g^-\mid q) = 0`
      (independent draws), :math:`V_\pm = \sum_q \tilde w_q\,\mathrm{tr}\,\Sigma^\pm_q`;
    * ``across``: the law of total covariance,

      .. math::

          C = 0 + \sum_q \tilde w_q (\mu^+_q - \bar\mu^+)\cdot(\mu^-_q - \bar\mu^-), \qquad
          V_\pm = \sum_q \tilde w_q\,\mathrm{tr}\,\Sigma^\pm_q
          + \sum_q \tilde w_q \|\mu^\pm_q - \bar\mu^\pm\|^2,

      with :math:`\bar\mu^\pm = \sum_q \tilde w_q \mu^\pm_q`; in this tabular model
      :math:`C = -\sum_q \tilde w_q(1-\tilde w_q)\frac{p_q}{1-p_q}\|\mu^+_q\|^2 \le 0`
      (module docstring).

    The derived :math:`\rho`, :math:`c^*`, :math:`1-\rho^2`, :math:`\mathrm{Var}(g^+ - g^-)` and
    :math:`\mathrm{Var}(g^+ - c^*g^-)` follow (``nan`` where :math:`V_- = 0`).

    Args:
        prompts: non-empty sequence of ``(logits, rewards)`` pairs with binary rewards.
        mode: one of :data:`MODES`.
        weights: prompt probabilities, ``None`` for uniform.
        n_responses: condition on both signs among this many responses (``>= 2``), or ``None``
            to condition on :math:`0 < p_q < 1` only.

    Returns:
        :class:`ControlVariateStats`.

    Raises:
        ValueError: no prompt of positive weight with :math:`0 < p_q < 1`, or invalid input.

    Example:
        >>> s = control_variate_exact([([0.0, 0.0], [1, 0]), ([0.0, 0.0], [0, 1])])
        >>> round(s.covariance, 12), round(s.rho, 12)
        (-0.25, -1.0)
    """
    table = _table(prompts, binary=True)
    mode = _check_mode(mode)
    if n_responses is not None:
        n_responses = _check_int(n_responses, "n_responses", 2)
    w = _pair_weights(table, weights, n_responses)
    mu_plus, mu_minus, tr_plus, tr_minus = _conditional_moments(table)
    within_plus = float(w @ tr_plus)
    within_minus = float(w @ tr_minus)
    if mode == "within":
        cov_b = vp_b = vm_b = 0.0
    else:
        ep = _embed_rows(table, mu_plus)
        em = _embed_rows(table, mu_minus)
        cp = ep - w @ ep
        cm = em - w @ em
        cov_b = float(w @ np.sum(cp * cm, axis=1))
        vp_b = float(w @ np.sum(cp * cp, axis=1))
        vm_b = float(w @ np.sum(cm * cm, axis=1))
    d = _derived(cov_b, within_plus + vp_b, within_minus + vm_b)
    return ControlVariateStats(mode=mode, **d, covariance_between=cov_b, var_plus_between=vp_b,
                               var_minus_between=vm_b, weights=w)


def _pair_sampler(table: _Table, w: np.ndarray, mode: str, dt: np.dtype) -> Sampler:
    plus, minus = _conditional_laws(table)
    # Prompts without both signs are never drawn (weight 0); give them a valid law anyway.
    plus = np.where(plus.sum(1, keepdims=True) > 0, plus, table.pi)
    minus = np.where(minus.sum(1, keepdims=True) > 0, minus, table.pi)
    thr_plus = jnp.asarray(np.stack([arm_thresholds(row / row.sum()) for row in plus]))
    thr_minus = jnp.asarray(np.stack([arm_thresholds(row / row.sum()) for row in minus]))
    thr_w = jnp.asarray(arm_thresholds(w))
    pi = jnp.asarray(table.pi, dt)
    iota = jnp.arange(table.k_max, dtype=jnp.int32)
    embed = _embedder(table, dt)
    within = mode == "within"
    words = 5 if within else 3
    half = math.sqrt(0.5)

    def one(bits: jax.Array) -> jax.Array:
        q = _pick(bits[0], thr_w)
        if within:
            a = _pick(bits[1:3], thr_plus[q])
            b = _pick(bits[3:5], thr_minus[q])
            gp = ((iota == a[0]).astype(dt) - (iota == a[1]).astype(dt)) * half
            gm = ((iota == b[0]).astype(dt) - (iota == b[1]).astype(dt)) * half
        else:
            gp = (iota == _pick(bits[1], thr_plus[q])).astype(dt) - pi[q]
            gm = (iota == _pick(bits[2], thr_minus[q])).astype(dt) - pi[q]
        return jnp.concatenate([embed(q, gp), embed(q, gm)])

    def sampler(key: jax.Array, n: int) -> jax.Array:
        return jax.vmap(one)(_flat_bits(key, n, words))

    return sampler


def pair_sampler(
    prompts: Sequence[tuple[Any, Any]],
    mode: str = "across",
    *,
    weights: Any = None,
    dtype: Any = "float64",
) -> Sampler:
    r"""An engine sampler of a positive and a negative score: ``[g^+, g^-]``, shape ``[n, 2D]``.

    Prompt :math:`q` is drawn from :math:`\tilde w_q \propto w_q\mathbb 1[0<p_q<1]` (prompts
    without both signs are never drawn), then

    * ``across``: :math:`g^+ = \iota_q(e_{a^+} - \pi_q)`, :math:`a^+\sim\pi^+_q`, and
      :math:`g^- = \iota_q(e_{a^-} - \pi_q)`, :math:`a^-\sim\pi^-_q`, independent given
      :math:`q`: the draws of the unconditional (law of total covariance) statistics;
    * ``within``: two independent pairs :math:`(a^+_1, a^-_1), (a^+_2, a^-_2)` from the same
      :math:`q`, and the half-differences :math:`u = \iota_q(e_{a^+_1} - e_{a^+_2})/\sqrt2`,
      :math:`v = \iota_q(e_{a^-_1} - e_{a^-_2})/\sqrt2`. Given :math:`q` they have mean 0 and
      :math:`\mathrm{Cov}(u\mid q) = \Sigma^+_q`, :math:`\mathrm{Cov}(v\mid q) = \Sigma^-_q`,
      :math:`\mathrm{Cov}(u, v\mid q) = \mathrm{Cov}(g^+, g^-\mid q)`, so their moments are the
      within-prompt term :math:`\mathbb E_q\mathrm{Cov}(\cdot\mid q)` of the law of total
      covariance (for one prompt: that prompt's covariances).

    Args:
        prompts: non-empty sequence of ``(logits, rewards)`` pairs with binary rewards.
        mode: one of :data:`MODES`.
        weights: prompt probabilities, ``None`` for uniform.
        dtype: ``"float32"`` or ``"float64"``.

    Returns:
        ``sampler(key, n) -> Float[Array, "n 2D"]``: columns ``0:D`` hold :math:`g^+` (or
        :math:`u`), columns ``D:2D`` hold :math:`g^-` (or :math:`v`).

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> s = pair_sampler([([0.0, 0.0, 0.0], [1, 1, 0])], "across")
        >>> s(jax.random.key(0), 4).shape
        (4, 6)
    """
    table = _table(prompts, binary=True)
    mode = _check_mode(mode)
    w = _pair_weights(table, weights)
    return _pair_sampler(table, w, mode, _check_dtype(dtype))


@dataclass(frozen=True)
class ControlVariateEstimate:
    r"""Monte Carlo control-variate statistics with intervals, and their exact values.

    Attributes:
        mode: ``"within"`` or ``"across"``.
        samples: pairs drawn (each ``within`` draw holds two pairs).
        replicates: :math:`R`.
        confidence: level of the intervals.
        covariance, var_plus, var_minus, rho, c_star, one_minus_rho_sq, var_c1, var_c_star:
            Monte Carlo estimates (see :class:`ControlVariateStats`), each with ``*_ci``.
        exact_covariance, ..., exact_var_c_star: the exact values of
            :func:`control_variate_exact`.
    """

    mode: str
    samples: int
    replicates: int
    confidence: float
    covariance: float
    covariance_ci: tuple[float, float]
    var_plus: float
    var_plus_ci: tuple[float, float]
    var_minus: float
    var_minus_ci: tuple[float, float]
    rho: float
    rho_ci: tuple[float, float]
    c_star: float
    c_star_ci: tuple[float, float]
    one_minus_rho_sq: float
    one_minus_rho_sq_ci: tuple[float, float]
    var_c1: float
    var_c1_ci: tuple[float, float]
    var_c_star: float
    var_c_star_ci: tuple[float, float]
    exact_covariance: float
    exact_var_plus: float
    exact_var_minus: float
    exact_rho: float
    exact_c_star: float
    exact_one_minus_rho_sq: float
    exact_var_c1: float
    exact_var_c_star: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (intervals as ``[low, high]`` lists)."""
        return _record_dict(self)

    def covers_exact(self) -> dict[str, bool]:
        """For each statistic, whether its interval contains the exact value (to a rounding
        slack of 1e-12 relative; ``False`` where either is ``nan``)."""
        return _covers(self, _CV_STATS)


def control_variate_mc(
    key: Any,
    prompts: Sequence[tuple[Any, Any]],
    n_samples: int,
    mode: str = "across",
    *,
    weights: Any = None,
    dtype: Any = "float64",
    replicates: int = 32,
    confidence: float = 0.95,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> ControlVariateEstimate:
    r"""Monte Carlo control-variate statistics of Prop 4.1, within or across prompts, with CIs.

    Draws ``n_samples`` rows of :func:`pair_sampler` extended by :math:`g^+ - g^-`; from the
    pooled unbiased per-coordinate variances,

    .. math::

        \hat V_\pm = \sum_d \hat\sigma^2_{\pm,d}, \quad
        \hat V_{c=1} = \sum_d \hat\sigma^2_{-,d}(g^+ - g^-), \quad
        \hat C = \tfrac12(\hat V_+ + \hat V_- - \hat V_{c=1}),

    all unbiased, and :math:`\hat\rho`, :math:`\hat c^*`, :math:`1-\hat\rho^2`,
    :math:`\hat V_+ - \hat C^2/\hat V_-` by plug-in. Intervals: delete-one-replicate jackknife
    with :math:`t_{R-1}` (module docstring). The exact values of
    :func:`control_variate_exact` (same ``mode`` and ``weights``) are attached.

    Args:
        key: a JAX PRNG key or an int seed.
        prompts: non-empty sequence of ``(logits, rewards)`` pairs with binary rewards.
        n_samples: draws, ``>= 2 * replicates``.
        mode: one of :data:`MODES`.
        weights: prompt probabilities, ``None`` for uniform (conditioned on
            :math:`0 < p_q < 1`).
        dtype: ``"float32"`` or ``"float64"``.
        replicates: :math:`R \ge 2`.
        confidence: interval level in :math:`(0, 1)`.
        block_size: draws per block.

    Returns:
        :class:`ControlVariateEstimate`.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> mirrored = [([0.0, 0.0], [1, 0]), ([0.0, 0.0], [0, 1])]
        >>> e = control_variate_mc(0, mirrored, 16384, "across", replicates=4)
        >>> e.exact_covariance, bool(abs(e.covariance - e.exact_covariance) < 0.02)
        (-0.25, True)
    """
    table = _table(prompts, binary=True)
    mode = _check_mode(mode)
    n_samples, R, confidence, block_size = _check_sampling(n_samples, replicates, confidence,
                                                           block_size)
    w = _pair_weights(table, weights)
    dt = _check_dtype(dtype)
    exact = control_variate_exact(prompts, mode, weights=weights)
    base = _pair_sampler(table, w, mode, dt)
    D = table.dim

    def sampler(key: jax.Array, n: int) -> jax.Array:
        x = base(key, n)
        return jnp.concatenate([x, x[:, :D] - x[:, D:]], axis=1)

    moments = _replicate_moments(key, sampler, n_samples, R, block_size)

    def stat(n: float, m: np.ndarray, var: np.ndarray) -> np.ndarray:
        vp, vm, vd = (float(var[i * D:(i + 1) * D].sum()) for i in range(3))
        d = _derived(0.5 * (vp + vm - vd), vp, vm)
        d["var_c1"] = vd
        return np.array([d[name] for name in _CV_STATS])

    point, low, high = _jackknife(stat, *moments, confidence)
    mc: dict[str, Any] = {}
    for j, name in enumerate(_CV_STATS):
        mc[name] = float(point[j])
        mc[f"{name}_ci"] = (float(low[j]), float(high[j]))
        mc[f"exact_{name}"] = float(getattr(exact, name))
    return ControlVariateEstimate(mode=mode, samples=n_samples, replicates=R,
                                  confidence=confidence, **mc)


# ----------------------------------------------------------------------------------------------
# 4. The paper's measurement (v3 App. B.8)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperMeasurement:
    r"""The across-prompt covariance measurement of paper v3 App. B.8, replicated.

    Attributes:
        n_prompts: prompts per measurement :math:`M`.
        n_responses: responses per prompt :math:`n`.
        replicates: independent measurements (those with at least two usable prompts).
        confidence: level of the intervals.
        covariance: mean over the measurements of :math:`\hat C` (module docstring).
        covariance_ci: :math:`t` interval of that mean.
        covariance_sd: standard deviation of one measurement :math:`\hat C`.
        permuted: mean of the re-paired statistic; ``permuted_ci``, ``permuted_sd`` likewise.
        prompts_used: mean number of prompts with both signs per measurement.
        dropped: measurements with fewer than two usable prompts (left out).
        exact_covariance: :math:`\mathrm{tr}\,\mathrm{Cov}_{q\sim w''}(\mu^+_q, \mu^-_q)`, what
            :math:`\hat C` estimates without bias (prompts selected by having both signs among
            :math:`n` responses).
        exact_covariance_interior: the same under :math:`\tilde w \propto w\,\mathbb 1[0<p<1]`,
            the limit :math:`n \to \infty` (the across term of :func:`control_variate_exact`).
        values: :math:`\hat C` of each measurement.
        permuted_values: the re-paired statistic of each measurement.
    """

    n_prompts: int
    n_responses: int
    replicates: int
    confidence: float
    covariance: float
    covariance_ci: tuple[float, float]
    covariance_sd: float
    permuted: float
    permuted_ci: tuple[float, float]
    permuted_sd: float
    prompts_used: float
    dropped: int
    exact_covariance: float
    exact_covariance_interior: float
    values: np.ndarray
    permuted_values: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (arrays and intervals as lists)."""
        return _record_dict(self)


def _t_interval(x: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """Mean, standard deviation and the t interval of the mean of ``x``."""
    n = x.size
    if n < 2:
        m = float(x.mean()) if n else float("nan")
        return m, float("nan"), float("nan"), float("nan")
    m = float(x.mean())
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return m, sd, m - half, m + half


def paper_covariance_measurement(
    key: Any,
    prompts: Sequence[tuple[Any, Any]],
    n_prompts: int = 100,
    n_responses: int = 10,
    *,
    weights: Any = None,
    replicates: int = 64,
    confidence: float = 0.95,
    dtype: Any = "float64",
) -> PaperMeasurement:
    r"""Replicate the covariance measurement of paper v3 App. B.8 (Table 2) on tabular prompts.

    One measurement: :math:`M` prompts i.i.d. from ``weights`` (binary rewards), :math:`n`
    responses :math:`a_{j,i}\sim\pi_{q_j}` of each; for the :math:`m` prompts with both signs,
    :math:`X_j = \iota_{q_j}\big(\frac1{n^+_j}\sum_{i: r=1}(e_{a_{j,i}} - \pi_{q_j})\big)` and
    :math:`Y_j` likewise over the negatives, and

    .. math::

        \hat C = \frac1{m-1}\sum_{j}(X_j - \bar X)\cdot(Y_j - \bar Y), \qquad
        \hat C_\sigma = \frac1{m-1}\sum_{j}(X_j - \bar X)\cdot(Y_{\sigma(j)} - \bar Y),

    with :math:`\sigma` a uniformly random permutation of the kept prompts (the re-paired
    baseline; the ranks of independent random 32-bit words, ties, of probability below
    :math:`M^2/2^{33}`, keeping their order). Given :math:`m \ge 2`: :math:`\mathbb E\hat C =
    \mathrm{tr}\,\mathrm{Cov}_{q\sim w''}(\mu^+_q,\mu^-_q)`,
    :math:`w''_q\propto w_q(1 - p_q^n - (1-p_q)^n)`, and
    :math:`\mathbb E[\hat C_\sigma\mid\text{data}] = 0` (module docstring). Dot products between
    different prompts vanish (disjoint blocks), so only the pairs drawn from the same prompt
    enter, and no :math:`D`-vector is formed. The units are those of a trace of a
    cross-covariance of logit scores; the paper does not state its units.

    ``replicates`` independent measurements (replicate :math:`r` with key ``fold_in(key, r)``)
    give the mean, the spread of a single measurement, and :math:`t` intervals.

    Args:
        key: a JAX PRNG key or an int seed.
        prompts: non-empty sequence of ``(logits, rewards)`` pairs with binary rewards.
        n_prompts: prompts per measurement :math:`M \ge 2` (the paper: 100).
        n_responses: responses per prompt :math:`n \ge 2` (the paper: 10).
        weights: prompt probabilities, ``None`` for uniform.
        replicates: number of independent measurements, ``>= 2``.
        confidence: interval level in :math:`(0, 1)`.
        dtype: ``"float32"`` or ``"float64"``.

    Returns:
        :class:`PaperMeasurement`.

    Example:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> prompts = [([0.0, 0.0, 0.0], [1, 0, 0]), ([1.0, 0.0, 0.0], [1, 1, 0])]
        >>> m = paper_covariance_measurement(0, prompts, 20, 8, replicates=8)
        >>> m.exact_covariance < 0, m.values.shape
        (True, (8,))
    """
    table = _table(prompts, binary=True)
    M = _check_int(n_prompts, "n_prompts", 2)
    n = _check_int(n_responses, "n_responses", 2)
    R = _check_int(replicates, "replicates", 2)
    confidence = _check_confidence(confidence)
    w = _check_weights(weights, table.n)
    dt = _check_dtype(dtype)
    key = as_key(key)
    exact = control_variate_exact(prompts, "across", weights=w, n_responses=n)
    interior = control_variate_exact(prompts, "across", weights=w)

    thr_w = jnp.asarray(arm_thresholds(w))
    thr = jnp.asarray(table.thresholds)
    pi = jnp.asarray(table.pi, dt)
    rew = jnp.asarray(table.rewards, dt)
    iota = jnp.arange(table.k_max, dtype=jnp.int32)

    def one(key: jax.Array, r: jax.Array):
        bits = _flat_bits(jax.random.fold_in(key, r), M, n + 2)
        q = _pick(bits[:, 0], thr_w)
        arms = _pick(bits[:, 2:], thr[q][:, None, :])  # [M, n]
        r_resp = jnp.take_along_axis(rew[q], arms, axis=1)  # [M, n]
        hit = (arms[..., None] == iota).astype(dt)  # [M, n, K]
        c_plus = jnp.sum(hit * r_resp[..., None], axis=1)
        c_minus = jnp.sum(hit, axis=1) - c_plus
        n_plus = jnp.sum(r_resp, axis=1)
        n_minus = n - n_plus
        x = c_plus / jnp.maximum(n_plus, 1)[:, None] - pi[q]
        y = c_minus / jnp.maximum(n_minus, 1)[:, None] - pi[q]
        return q, x, y, (n_plus > 0) & (n_minus > 0), bits[:, 1]

    run = jax.jit(jax.vmap(one, in_axes=(None, 0)))
    q, x, y, valid, u = (np.asarray(a) for a in run(key, jnp.arange(R, dtype=jnp.uint32)))
    values, permuted, used = [], [], []
    for i in range(R):
        keep = np.flatnonzero(valid[i])
        m = keep.size
        used.append(m)
        if m < 2:
            continue
        qq = q[i, keep]
        xy = (x[i, keep] @ y[i, keep].T) * (qq[:, None] == qq[None, :])
        total = float(xy.sum()) / m
        sigma = np.argsort(u[i, keep], kind="stable")
        values.append((float(np.trace(xy)) - total) / (m - 1))
        permuted.append((float(xy[np.arange(m), sigma].sum()) - total) / (m - 1))
    vals = np.asarray(values)
    perm = np.asarray(permuted)
    c, c_sd, c_lo, c_hi = _t_interval(vals, confidence)
    pm, p_sd, p_lo, p_hi = _t_interval(perm, confidence)
    return PaperMeasurement(
        n_prompts=M, n_responses=n, replicates=int(vals.size), confidence=confidence,
        covariance=c, covariance_ci=(c_lo, c_hi), covariance_sd=c_sd,
        permuted=pm, permuted_ci=(p_lo, p_hi), permuted_sd=p_sd,
        prompts_used=float(np.mean(used)), dropped=R - int(vals.size),
        exact_covariance=exact.covariance, exact_covariance_interior=interior.covariance,
        values=vals, permuted_values=perm,
    )
