r"""Softmax bandits: exact moments of group estimators for one prompt or a batch of prompts.

**One prompt.** A softmax policy :math:`\pi = \mathrm{softmax}(z)` over :math:`K` arms with logits
:math:`z`; arm :math:`a` has reward :math:`r_a`. The score of arm :math:`a` with respect to the
logits is :math:`s(a) = \nabla_z \log\pi(a) = e_a - \pi`, and the gradient of the expected reward
is :math:`\nabla_z \mathbb E_\pi[r] = \sum_a \pi_a r_a (e_a - \pi) = \pi \odot (r - \bar r)`
with :math:`\bar r = \pi^\top r`. With binary rewards the success probability is
:math:`p = \sum_a \pi_a r_a`, and the conditional policies
:math:`\pi^+ = \pi \odot r / p`, :math:`\pi^- = \pi \odot (1 - r)/(1 - p)` give the conditional
score moments

.. math::

    \mu^\pm = \pi^\pm - \pi, \qquad \Sigma^\pm = \mathrm{diag}(\pi^\pm) - \pi^\pm\pi^{\pm\top},

which feed the closed forms of :mod:`grpo_theory.exact.binary`. Any real rewards go to the
enumeration oracle (:mod:`grpo_theory.exact.enumeration`).

**Many prompts (tabular).** A list of prompts :math:`q = 1..N`, each with its own logits (its own
block of parameters, so the gradient is the concatenation of the per-prompt gradients), is
sampled with probabilities :math:`w_q` (uniform by default). A batch draws :math:`Q` prompts
i.i.d. and :math:`G` rollouts of each; with :math:`\hat g_q` embedded in the full parameter
vector, the batch estimator :math:`\frac1Q \sum_j \hat g_{q_j}` has

.. math::

    \mathbb E = \sum_q w_q\,\mathbb E[\hat g \mid q], \qquad
    \mathrm{Cov} = \underbrace{\tfrac1Q\,\mathbb E_q \mathrm{Cov}[\hat g \mid q]}_{\text{within}}
    + \underbrace{\tfrac1Q\,\mathrm{Cov}_q\,\mathbb E[\hat g \mid q]}_{\text{between}}.

The target direction is the gradient of the objective
:math:`J = \sum_q w_q\,\mathbb E_{\pi_q}[r]`, that is the concatenation of
:math:`w_q\,\pi_q \odot (r_q - \bar r_q)`.

**A continuum of difficulties.** With :math:`p \sim \mathrm{Beta}(a, b)` a tabular policy would
need one parameter block per value of :math:`p`, a continuum of parameters: the covariance
matrices are not defined (ill-posed), so the tabular model takes a *list* of prompts, for example
the Gauss-Jacobi discretisation of the Beta law (:func:`beta_prompts`). The continuous law is
well-posed for a *shared* scalar parameter: every prompt is a two-armed bandit whose correct arm
has logit :math:`\mathrm{logit}(p) + \theta` (the other arm 0), evaluated at :math:`\theta = 0`.
The score with respect to :math:`\theta` is :math:`r - p` (:math:`1 - p` for the correct arm,
:math:`-p` for the other), so :math:`\mu^+ = 1 - p`, :math:`\mu^- = -p`, :math:`\Sigma^\pm = 0`,
and the target is :math:`\frac{d}{d\theta}\mathbb E_p[p_\theta] = \mathbb E_p[p(1-p)]`
(:func:`beta_difficulty_moments`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logit, roots_jacobi
from scipy.stats import binom

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_positive,
    check_probability,
    check_real,
)
from grpo_theory.exact.binary import BinaryMoments, estimator_covariance, estimator_mean, snr
from grpo_theory.exact.enumeration import (
    PROBABILITY_ATOL,
    AdvantageRule,
    oracle_moments,
)
from grpo_theory.exact.estimators import Estimator, as_estimator, count_advantages

__all__ = [
    "METHODS",
    "SILENT_ATOL",
    "BanditMoments",
    "BatchMoments",
    "softmax",
    "score_matrix",
    "reward_gradient",
    "softmax_bandit_moments",
    "bandit_estimator_moments",
    "two_arm_prompt",
    "batch_moments",
    "beta_prompts",
    "beta_difficulty_moments",
]

METHODS = ("exact", "enumerate")
"""``exact``: closed forms for binary rewards; ``enumerate``: the enumeration oracle."""

SILENT_ATOL = 1e-12
"""A group is silent when every advantage is at most this in absolute value."""


@dataclass(frozen=True)
class BanditMoments:
    r"""Exact moments of a group estimator on one softmax bandit.

    Attributes:
        p: the expected reward :math:`\bar r = \pi^\top r` (the success probability for binary
            rewards).
        mean: :math:`\mathbb E[\hat g]`, shape ``(K,)``.
        cov: :math:`\mathrm{Cov}[\hat g]`, shape ``(K, K)``.
        cov_trace: :math:`\mathrm{tr}\,\mathrm{Cov}[\hat g]`.
        snr: :math:`\|\mathbb E\hat g\|^2 / \mathrm{tr}\,\mathrm{Cov}[\hat g]`
            (:func:`grpo_theory.exact.binary.snr`).
        silent_probability: probability that every advantage of the group is zero.
        method: ``"exact"`` or ``"enumerate"``.
        gradient: the true gradient :math:`\nabla_z \mathbb E_\pi[r] = \pi\odot(r - \bar r)`.
    """

    p: float
    mean: np.ndarray
    cov: np.ndarray
    cov_trace: float
    snr: float
    silent_probability: float
    method: str
    gradient: np.ndarray


@dataclass(frozen=True)
class BatchMoments:
    r"""Exact moments of the batch estimator :math:`\frac1Q\sum_{j=1}^Q \hat g_{q_j}`.

    Attributes:
        mean: :math:`\mathbb E_q\,\mathbb E[\hat g \mid q]`, shape ``(D,)``.
        within: :math:`\frac1Q \mathbb E_q \mathrm{Cov}[\hat g \mid q]`, shape ``(D, D)``.
        between: :math:`\frac1Q \mathrm{Cov}_q \mathbb E[\hat g \mid q]`, shape ``(D, D)``.
        target: the gradient of the objective, shape ``(D,)``.
        G: rollouts per prompt.
        Q: prompts per batch.
        weights: the prompt (or quadrature node) probabilities.
        offsets: start of each prompt's parameter block (tabular model; empty otherwise).
        prompts: the per-prompt moments (tabular model; empty otherwise).
    """

    mean: np.ndarray
    within: np.ndarray
    between: np.ndarray
    target: np.ndarray
    G: int
    Q: int
    weights: np.ndarray
    offsets: tuple[int, ...] = ()
    prompts: tuple[BanditMoments, ...] = field(default=(), repr=False)

    @property
    def cov(self) -> np.ndarray:
        """Total covariance: within plus between."""
        return self.within + self.between

    @property
    def cov_trace(self) -> float:
        """:math:`\\mathrm{tr}\\,\\mathrm{Cov}`."""
        return float(np.trace(self.cov))

    @property
    def bias_sq(self) -> float:
        """Squared bias :math:`\\|\\mathbb E - \\text{target}\\|^2`."""
        return float(np.sum((self.mean - self.target) ** 2))

    @property
    def mse(self) -> float:
        """Mean squared error against the target: squared bias plus total variance."""
        return self.bias_sq + self.cov_trace

    @property
    def snr(self) -> float:
        """:math:`\\|\\mathbb E\\|^2 / \\mathrm{tr}\\,\\mathrm{Cov}`."""
        return float(snr(self.mean, self.cov))


# ----------------------------------------------------------------------------------------------
# One prompt
# ----------------------------------------------------------------------------------------------


def _check_bandit(logits: Any, rewards: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        z = np.asarray(logits, dtype=float)
        r = np.asarray(rewards, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError("logits and rewards must be real arrays") from exc
    if z.ndim != 1 or z.size < 2:
        raise ValueError(f"logits must be one-dimensional with K >= 2 arms, got shape {z.shape}")
    if r.shape != z.shape:
        raise ValueError(
            f"rewards must have one entry per arm: logits have shape {z.shape}, rewards {r.shape}"
        )
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must be finite")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must be finite")
    return z, r


def _check_binary(r: np.ndarray) -> None:
    if not np.all((r == 0.0) | (r == 1.0)):
        raise ValueError(
            f"rewards must be binary (0 or 1) for the closed forms, got {r.tolist()}; for "
            "real-valued rewards use method='enumerate' (the enumeration oracle)"
        )


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def softmax(logits: Any) -> np.ndarray:
    r"""The softmax policy :math:`\pi_a = e^{z_a}/\sum_b e^{z_b}` (stable: shifted by the max).

    Args:
        logits: :math:`z`, shape ``(K,)``, finite, ``K >= 2``.

    Returns:
        :math:`\pi`, shape ``(K,)``.

    Example:
        >>> softmax([0.0, 0.0]).tolist()
        [0.5, 0.5]
    """
    z, _ = _check_bandit(logits, np.zeros(np.shape(logits)))
    return _softmax(z)


def score_matrix(logits: Any) -> np.ndarray:
    r"""Scores :math:`s(a) = e_a - \pi` of every arm, as rows: :math:`I - \mathbf 1 \pi^\top`.

    Args:
        logits: :math:`z`, shape ``(K,)``.

    Returns:
        Shape ``(K, K)``; row :math:`a` is :math:`\nabla_z \log\pi(a)`.

    Example:
        >>> score_matrix([0.0, 0.0]).tolist()
        [[0.5, -0.5], [-0.5, 0.5]]
    """
    pi = softmax(logits)
    return np.eye(pi.size) - pi[None, :]


def reward_gradient(logits: Any, rewards: Any) -> np.ndarray:
    r"""The true gradient :math:`\nabla_z \mathbb E_\pi[r] = \pi \odot (r - \pi^\top r)`.

    This is the softmax Jacobian :math:`(\mathrm{diag}\,\pi - \pi\pi^\top)` applied to
    :math:`r`; for binary rewards it is :math:`\nabla_z p`.

    Args:
        logits: :math:`z`, shape ``(K,)``.
        rewards: real rewards, shape ``(K,)``.

    Returns:
        Shape ``(K,)``.

    Example:
        >>> reward_gradient([0.0, 0.0], [1.0, 0.0]).tolist()
        [0.25, -0.25]
    """
    z, r = _check_bandit(logits, rewards)
    pi = _softmax(z)
    return pi * (r - pi @ r)


def softmax_bandit_moments(logits: Any, rewards: Any, *, strict: bool = False) -> BinaryMoments:
    r"""Success probability and conditional score moments of a softmax bandit, binary rewards.

    .. math::

        p = \sum_a \pi_a r_a, \quad
        \mu^+ = \pi^+ - \pi, \quad \Sigma^+ = \mathrm{diag}(\pi^+) - \pi^+\pi^{+\top}, \quad
        \pi^+ = \frac{\pi \odot r}{p},

    and the same with :math:`1 - r` and :math:`1 - p` for :math:`\mu^-, \Sigma^-`. Since
    :math:`\mathbb E_\pi[s] = 0`: :math:`p\mu^+ + (1-p)\mu^- = 0` and :math:`\nabla_z p = p\mu^+`.

    When :math:`p = 0` (no correct arm, or its probability underflows) the moments given
    :math:`r = 1` are undefined, and when :math:`p = 1` those given :math:`r = 0` are. By default
    they are returned as zeros: they enter every moment of a group estimator multiplied by the
    probability of a group containing such a response, which is zero, so the closed forms stay
    exact. With ``strict=True`` a :class:`ValueError` is raised instead.

    Args:
        logits: :math:`z`, shape ``(K,)``, finite, ``K >= 2``.
        rewards: binary rewards (0 or 1), shape ``(K,)``.
        strict: raise on :math:`p \in \{0, 1\}` instead of returning zeros for the undefined side.

    Returns:
        :class:`~grpo_theory.exact.binary.BinaryMoments` with :math:`D = K`.

    Example:
        >>> m = softmax_bandit_moments([0.0, 0.0], [1, 0])
        >>> m.p, m.mu_plus.tolist(), m.mu_minus.tolist()
        (0.5, [0.5, -0.5], [-0.5, 0.5])
    """
    z, r = _check_bandit(logits, rewards)
    _check_binary(r)
    pi = _softmax(z)
    K = pi.size
    plus_mass = pi * r
    minus_mass = pi * (1.0 - r)
    p = float(plus_mass.sum())
    q = float(minus_mass.sum())
    if strict and (p == 0.0 or q == 0.0):
        raise ValueError(
            f"p = {p} (success probability of logits {z.tolist()} with rewards {r.tolist()}): "
            "the conditional moments given r = 1 (p = 0) or r = 0 (p = 1) are undefined"
        )

    def conditional(mass: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
        if total == 0.0:
            return np.zeros(K), np.zeros((K, K))
        cond = mass / total
        return cond - pi, np.diag(cond) - np.outer(cond, cond)

    mu_plus, sigma_plus = conditional(plus_mass, p)
    mu_minus, sigma_minus = conditional(minus_mass, q)
    return BinaryMoments(min(p, 1.0), mu_plus, mu_minus, sigma_plus, sigma_minus)


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return str(method)


def _count_silent_probability(
    est: Estimator, G: int, p: float, epsilon: float, baseline: float
) -> float:
    """Probability that every advantage is zero, from the count-based advantages."""
    k = np.arange(G + 1)
    plus, minus = count_advantages(est, G, k, epsilon, baseline)
    silent = (np.abs(plus) <= SILENT_ATOL) & (np.abs(minus) <= SILENT_ATOL)
    return float(binom.pmf(k[silent], G, p).sum())


def bandit_estimator_moments(
    logits: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str | AdvantageRule = Estimator.GRPO,
    epsilon: float = 0.0,
    method: str = "exact",
    baseline: float = 0.0,
) -> BanditMoments:
    r"""Exact mean and covariance of :math:`\hat g = \frac1G\sum_i A_i (e_{a_i} - \pi)` on a bandit.

    ``method="exact"`` uses the closed forms of :mod:`grpo_theory.exact.binary` with the moments of
    :func:`softmax_bandit_moments` (binary rewards, any :math:`G`); ``method="enumerate"`` uses the
    enumeration oracle (:func:`~grpo_theory.exact.enumeration.oracle_moments`; any real rewards,
    any permutation-equivariant rule, small :math:`K` and :math:`G`).

    Args:
        logits: :math:`z`, shape ``(K,)``.
        rewards: rewards per arm, shape ``(K,)`` (binary for ``"exact"``).
        G: group size, ``>= 2``.
        estimator: an :class:`~grpo_theory.exact.estimators.Estimator` (or its name); with
            ``"enumerate"`` also any permutation-equivariant callable ``rewards -> advantages``.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        method: one of :data:`METHODS`.
        baseline: the constant baseline of ``reinforce``.

    Returns:
        :class:`BanditMoments`.

    Example:
        2-GRPO (population std) is unbiased for :math:`\nabla p`:

        >>> m = bandit_estimator_moments([0.0, 1.0, -1.0], [1, 0, 0], 2, "grpo")
        >>> bool(abs(m.mean - m.gradient).max() < 1e-15)
        True
    """
    z, r = _check_bandit(logits, rewards)
    check_group_size(G)
    method = _check_method(method)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    pi = _softmax(z)
    gradient = pi * (r - pi @ r)
    if method == "exact":
        if callable(estimator) and not isinstance(estimator, str):
            raise ValueError("estimator must be an Estimator name for method='exact'; "
                             "a callable rule needs method='enumerate'")
        est = as_estimator(estimator)
        moments = softmax_bandit_moments(z, r)
        mean = np.asarray(estimator_mean(est, G, moments, epsilon, baseline), dtype=float)
        cov = np.asarray(estimator_covariance(est, G, moments, epsilon, baseline), dtype=float)
        p = float(moments.p)
        silent = _count_silent_probability(est, int(G), p, float(epsilon),
                                           float(baseline))
    else:
        res = oracle_moments(pi, np.eye(pi.size) - pi[None, :], r, G, estimator, epsilon,
                             baseline, silent_atol=SILENT_ATOL)
        mean, cov, silent = res.mean, res.cov, res.silent_probability
        p = float(pi @ r)
    return BanditMoments(
        p=p,
        mean=mean,
        cov=cov,
        cov_trace=float(np.trace(cov)),
        snr=float(snr(mean, cov)),
        silent_probability=silent,
        method=method,
        gradient=gradient,
    )


def two_arm_prompt(p: float) -> tuple[np.ndarray, np.ndarray]:
    r"""A two-armed prompt with success probability :math:`p`: logits (logit p, 0).

    The first arm is correct (reward 1), the second is not (reward 0).

    Args:
        p: success probability in :math:`(0, 1)`.

    Returns:
        ``(logits, rewards)``, each of shape ``(2,)``.

    Example:
        >>> z, r = two_arm_prompt(0.5)
        >>> z.tolist(), r.tolist()
        ([0.0, 0.0], [1.0, 0.0])
    """
    check_probability(p, "p", open_interval=True)
    return np.array([float(logit(float(p))), 0.0]), np.array([1.0, 0.0])


# ----------------------------------------------------------------------------------------------
# Many prompts
# ----------------------------------------------------------------------------------------------


def _check_weights(weights: Any, n: int, name: str = "weights") -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array") from exc
    if w.shape != (n,):
        raise ValueError(f"{name} must have one entry per prompt ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    if abs(float(w.sum()) - 1.0) > PROBABILITY_ATOL:
        raise ValueError(f"{name} must sum to 1 (tolerance {PROBABILITY_ATOL:g}), "
                         f"got {float(w.sum())!r}")
    return w


def _split(means: np.ndarray, covs: Any, w: np.ndarray, Q: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, within and between parts from per-prompt means ``[N, D]`` and weighted covs."""
    mean = w @ means
    centred = means - mean
    between = (centred * w[:, None]).T @ centred / Q
    within = covs / Q
    return mean, 0.5 * (within + within.T), 0.5 * (between + between.T)


def batch_moments(
    prompts: Sequence[tuple[Any, Any]],
    G: int,
    Q: int,
    estimator: Estimator | str | AdvantageRule = Estimator.GRPO,
    epsilon: float = 0.0,
    method: str = "exact",
    baseline: float = 0.0,
    weights: Any = None,
) -> BatchMoments:
    r"""Moments of the batch estimator over a list of prompts with separate parameter blocks.

    Each prompt :math:`q` is a softmax bandit ``(logits_q, rewards_q)`` with :math:`K_q` arms and
    its own logits; the parameter vector is the concatenation, of size :math:`D = \sum_q K_q`.
    A batch draws :math:`Q` prompts i.i.d. with probabilities ``weights`` (uniform by default) and
    :math:`G` rollouts of each. See the module docstring for the within/between split.

    Args:
        prompts: a non-empty sequence of ``(logits, rewards)`` pairs.
        G: rollouts per prompt, ``>= 2``.
        Q: prompts per batch, ``>= 1``.
        estimator: as in :func:`bandit_estimator_moments`.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        method: one of :data:`METHODS`.
        baseline: the constant baseline of ``reinforce``.
        weights: prompt probabilities (non-negative, summing to 1), or ``None`` for uniform.

    Returns:
        :class:`BatchMoments` (with ``offsets`` and per-prompt ``prompts``).

    Example:
        >>> prompts = [([0.0, 0.0], [1, 0]), ([1.0, 0.0, 0.0], [0, 1, 1])]
        >>> b = batch_moments(prompts, G=4, Q=2, estimator="rloo")
        >>> bool(abs(b.mean - b.target).max() < 1e-15), b.offsets
        (True, (0, 2))
    """
    if isinstance(prompts, str | bytes) or not isinstance(prompts, Sequence) or not prompts:
        raise ValueError("prompts must be a non-empty sequence of (logits, rewards) pairs")
    check_group_size(G)
    check_group_size(Q, "Q", minimum=1)
    w = _check_weights(weights, len(prompts))
    per_prompt = []
    for i, item in enumerate(prompts):
        if not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(f"prompts[{i}] must be a (logits, rewards) pair")
        per_prompt.append(
            bandit_estimator_moments(item[0], item[1], G, estimator, epsilon, method, baseline)
        )
    sizes = [m.mean.size for m in per_prompt]
    offsets = tuple(int(x) for x in np.cumsum([0, *sizes[:-1]]))
    D = int(sum(sizes))
    means = np.zeros((len(prompts), D))
    target = np.zeros(D)
    covs = np.zeros((D, D))
    for i, (m, start) in enumerate(zip(per_prompt, offsets, strict=True)):
        block = slice(start, start + m.mean.size)
        means[i, block] = m.mean
        target[block] = w[i] * m.gradient
        covs[block, block] = w[i] * m.cov
    mean, within, between = _split(means, covs, w, int(Q))
    return BatchMoments(mean, within, between, target, int(G), int(Q), w, offsets,
                        tuple(per_prompt))


def beta_prompts(a: float, b: float, n: int) -> tuple[list[tuple[np.ndarray, np.ndarray]],
                                                          np.ndarray]:
    r"""A Beta(:math:`a, b`) law of difficulties discretised by :math:`n`-point Gauss-Jacobi.

    The nodes :math:`p_j` and normalised weights :math:`w_j` satisfy
    :math:`\sum_j w_j f(p_j) = \mathbb E_{p \sim \mathrm{Beta}(a,b)}[f(p)]` for every polynomial
    :math:`f` of degree at most :math:`2n - 1`. Each node becomes a two-armed prompt
    (:func:`two_arm_prompt`), to be passed to :func:`batch_moments` with ``weights``.

    Args:
        a: first Beta shape parameter, ``> 0``.
        b: second Beta shape parameter, ``> 0``.
        n: number of nodes, ``>= 1``.

    Returns:
        ``(prompts, weights)``: a list of ``(logits, rewards)`` pairs and the weights ``(n,)``.

    Example:
        >>> prompts, w = beta_prompts(1.0, 1.0, 1)
        >>> prompts[0][0].tolist(), w.tolist()
        ([0.0, 0.0], [1.0])
    """
    nodes, w = _beta_nodes(a, b, n)
    return [two_arm_prompt(float(p)) for p in nodes], w


def _beta_nodes(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss-Jacobi nodes in :math:`(0, 1)` and weights (summing to 1) for Beta(:math:`a, b`).

    With :math:`p = (1 + x)/2`, the Beta density is proportional to
    :math:`(1 - x)^{b-1}(1 + x)^{a-1}` on :math:`[-1, 1]`: Jacobi weight with
    :math:`\alpha = b - 1`, :math:`\beta = a - 1`.
    """
    check_positive(a, "a")
    check_positive(b, "b")
    check_group_size(n, "n", minimum=1)
    x, w = roots_jacobi(int(n), float(b) - 1.0, float(a) - 1.0)
    return (1.0 + x) / 2.0, w / w.sum()


def beta_difficulty_moments(
    a: float,
    b: float,
    G: int,
    Q: int,
    estimator: Estimator | str = Estimator.GRPO,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    nodes: int | None = None,
) -> BatchMoments:
    r"""Batch moments for :math:`p \sim \mathrm{Beta}(a, b)` and one shared scalar parameter.

    Every prompt is two-armed with correct-arm logit :math:`\mathrm{logit}(p) + \theta`; the score
    with respect to :math:`\theta` is :math:`r - p`, so :math:`\mu^+ = 1 - p`, :math:`\mu^- = -p`,
    :math:`\Sigma^\pm = 0`. Given :math:`p`, the mean and variance of :math:`\hat g` are
    polynomials in :math:`p` of degree at most :math:`2G + 2` (binomial weights times the
    advantages, which depend only on the count of correct responses), so Gauss-Jacobi quadrature
    with :math:`n \ge G + 2` nodes integrates the within and between parts *exactly* (up to
    rounding); the default is :math:`n = G + 2`.

    .. math::

        \text{within} = \tfrac1Q\,\mathbb E_p \mathrm{Var}[\hat g \mid p], \quad
        \text{between} = \tfrac1Q\,\mathrm{Var}_p\,\mathbb E[\hat g \mid p], \quad
        \text{target} = \mathbb E_p[p(1 - p)].

    (A tabular policy over a continuum of prompts is ill-posed; see the module docstring and
    :func:`beta_prompts` for its discretised version.)

    Args:
        a: first Beta shape parameter, ``> 0``.
        b: second Beta shape parameter, ``> 0``.
        G: rollouts per prompt, ``>= 2``.
        Q: prompts per batch, ``>= 1``.
        estimator: an :class:`~grpo_theory.exact.estimators.Estimator` (or its name).
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.
        nodes: number of quadrature nodes (default :math:`G + 2`).

    Returns:
        :class:`BatchMoments` with :math:`D = 1` (``offsets`` and ``prompts`` empty).

    Example:
        Dr. GRPO's mean is :math:`\frac{G-1}G` of the target for any law of :math:`p`:

        >>> m = beta_difficulty_moments(2.0, 3.0, G=4, Q=8, estimator="dr-grpo")
        >>> round(float(m.mean[0] / m.target[0]), 12)
        0.75
    """
    check_group_size(G)
    check_group_size(Q, "Q", minimum=1)
    n = int(G) + 2 if nodes is None else nodes
    p_nodes, w = _beta_nodes(a, b, n)
    means = np.empty((p_nodes.size, 1))
    variances = np.empty(p_nodes.size)
    for j, p in enumerate(p_nodes):
        moments = BinaryMoments(float(p), np.array([1.0 - p]), np.array([-p]),
                                np.zeros((1, 1)), np.zeros((1, 1)))
        means[j] = np.asarray(estimator_mean(estimator, G, moments, epsilon, baseline))
        variances[j] = np.asarray(
            estimator_covariance(estimator, G, moments, epsilon, baseline)).reshape(())
    target = np.array([float(w @ (p_nodes * (1.0 - p_nodes)))])
    mean, within, between = _split(means, np.array([[w @ variances]]), w, int(Q))
    return BatchMoments(mean, within, between, target, int(G), int(Q), w)
