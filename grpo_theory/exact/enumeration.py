r"""The enumeration oracle: exact moments of any group estimator for a small categorical policy.

A policy draws :math:`G` i.i.d. outcomes :math:`o_1, \dots, o_G` from a categorical distribution
:math:`\pi` over :math:`K` outcomes. Outcome :math:`k` has a real reward :math:`r_k` and a score
vector :math:`s_k \in \mathbb R^D`. A group estimator with a permutation-equivariant advantage rule
:math:`A: \mathbb R^G \to \mathbb R^G` is

.. math::

    \hat g = \frac1G \sum_{i=1}^G A_i(r_{o_1}, \dots, r_{o_G})\, s_{o_i}.

Because the rule is permutation-equivariant, :math:`\hat g` depends on the group only through the
*multiset* of outcomes, that is through the counts :math:`n = (n_1, \dots, n_K)` with
:math:`\sum_k n_k = G`. There are :math:`\binom{G+K-1}{K-1}` such multisets (stars and bars),
far fewer than the :math:`K^G` ordered groups, and each has the multinomial probability

.. math::

    w(n) = \frac{G!}{\prod_k n_k!} \prod_k \pi_k^{n_k}.

Writing :math:`\hat g(n) = \sum_k c_k(n)\, s_k` with :math:`c_k(n) = \frac1G \sum_{i: o_i = k} A_i`,
the exact moments are

.. math::

    \mathbb E[\hat g] = S^\top \bar c, \qquad
    \mathrm{Cov}[\hat g] = \sum_n w(n)\, S^\top (c(n) - \bar c)(c(n) - \bar c)^\top S,

with :math:`\bar c = \sum_n w(n)\, c(n)` and :math:`S` the :math:`K \times D` matrix of scores.
This is the ground truth for the closed forms of :mod:`grpo_theory.exact.binary` and the only exact
tool here for non-binary rewards.

Cost: the advantage rule is called once per distinct multiset of *rewards* (at most
:math:`G + 1` calls for binary rewards), and the rest is vectorised over the multisets. Jobs with
more than :data:`MAX_MULTISETS` multisets, or more than :data:`MAX_ENTRIES` multiset entries
(multisets times :math:`G`), are refused.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln, xlogy

from grpo_theory._validate import check_group_size, check_nonnegative, check_real
from grpo_theory.exact.estimators import Estimator, advantages

__all__ = [
    "MAX_MULTISETS",
    "MAX_ENTRIES",
    "PROBABILITY_ATOL",
    "AdvantageRule",
    "OracleMoments",
    "multiset_count",
    "multisets",
    "multinomial_log_weights",
    "advantage_rule",
    "oracle_moments",
]

MAX_MULTISETS = 2_000_000
"""Largest number of outcome multisets :math:`\\binom{G+K-1}{K-1}` the oracle accepts."""

MAX_ENTRIES = 50_000_000
"""Largest number of multiset entries (multisets times :math:`G`) the oracle accepts."""

PROBABILITY_ATOL = 1e-9
"""Tolerance on :math:`|\\sum_k \\pi_k - 1|` for a probability vector."""

AdvantageRule = Callable[[np.ndarray], Any]
"""A map from a group's reward vector, shape ``(G,)``, to its advantages, shape ``(G,)``."""


@dataclass(frozen=True)
class OracleMoments:
    """Exact moments of a group estimator, from the multiset enumeration.

    Attributes:
        mean: :math:`\\mathbb E[\\hat g]`, shape ``(D,)``.
        cov: :math:`\\mathrm{Cov}[\\hat g]`, shape ``(D, D)``.
        silent_probability: probability that every advantage of the group is zero.
        n_multisets: number of multisets summed over, :math:`\\binom{G+K-1}{K-1}`.
        weight_sum: the sum of the multinomial weights (1 up to rounding).
    """

    mean: np.ndarray
    cov: np.ndarray
    silent_probability: float
    n_multisets: int
    weight_sum: float

    @property
    def cov_trace(self) -> float:
        """:math:`\\mathrm{tr}\\,\\mathrm{Cov}[\\hat g]`, the total variance."""
        return float(np.trace(self.cov))


def _check_K(K: Any) -> int:
    if isinstance(K, bool) or not isinstance(K, int | np.integer):
        raise TypeError(f"K must be an integer >= 2 (number of outcomes), got {K!r}")
    if int(K) < 2:
        raise ValueError(f"K must be an integer >= 2 (number of outcomes), got {K!r}")
    return int(K)


def multiset_count(K: int, G: int) -> int:
    r"""Number of multisets of size :math:`G` from :math:`K` outcomes: :math:`\binom{G+K-1}{K-1}`.

    Args:
        K: number of outcomes, ``>= 2``.
        G: group size, ``>= 2``.

    Returns:
        The count, an exact integer.

    Example:
        >>> multiset_count(3, 3), 3**3
        (10, 27)
    """
    K = _check_K(K)
    check_group_size(G)
    return math.comb(int(G) + K - 1, K - 1)


def _check_size(K: int, G: int) -> int:
    count = math.comb(G + K - 1, K - 1)
    if count > MAX_MULTISETS:
        raise ValueError(
            f"the oracle would sum C(G+K-1, K-1) = {count} multisets for K={K} outcomes and "
            f"G={G}; the limit is MAX_MULTISETS = {MAX_MULTISETS}: use fewer outcomes or a "
            "smaller group (or the closed forms for binary rewards)"
        )
    if count * G > MAX_ENTRIES:
        raise ValueError(
            f"the oracle would hold {count} multisets of G={G} outcomes ({count * G} entries) "
            f"for K={K} outcomes; the limit is MAX_ENTRIES = {MAX_ENTRIES}: use a smaller group"
        )
    return count


@functools.lru_cache(maxsize=64)
def _sorted_groups(K: int, G: int) -> np.ndarray:
    """Every multiset as a sorted outcome tuple, shape ``(M, G)`` (read-only, cached)."""
    count = _check_size(K, G)
    flat = itertools.chain.from_iterable(itertools.combinations_with_replacement(range(K), G))
    groups = np.fromiter(flat, dtype=np.int32, count=count * G).reshape(count, G)
    groups.setflags(write=False)
    return groups


@functools.lru_cache(maxsize=64)
def _counts(K: int, G: int) -> np.ndarray:
    groups = _sorted_groups(K, G)
    counts = np.zeros((groups.shape[0], K), dtype=np.int64)
    np.add.at(counts, (np.arange(groups.shape[0])[:, None], groups), 1)
    counts.setflags(write=False)
    return counts


def multisets(K: int, G: int) -> np.ndarray:
    r"""Every outcome multiset of size :math:`G` over :math:`K` outcomes, as counts.

    Args:
        K: number of outcomes, ``>= 2``.
        G: group size, ``>= 2``.

    Returns:
        Integer array of shape ``(M, K)``, :math:`M = \binom{G+K-1}{K-1}`: row :math:`m` holds the
        counts :math:`n_k` of a multiset (non-negative, summing to :math:`G`), each multiset once.

    Raises:
        ValueError: if :math:`M` exceeds :data:`MAX_MULTISETS` (the message names ``K`` and ``G``).

    Example:
        >>> multisets(2, 3).tolist()
        [[3, 0], [2, 1], [1, 2], [0, 3]]
    """
    K = _check_K(K)
    check_group_size(G)
    return _counts(K, int(G)).copy()


def _check_probs(probs: Any, name: str = "probs") -> np.ndarray:
    try:
        arr = np.asarray(probs, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a one-dimensional array of probabilities") from exc
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"{name} must be one-dimensional with K >= 2 entries, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative, got {float(arr.min())}")
    total = float(arr.sum())
    if abs(total - 1.0) > PROBABILITY_ATOL:
        raise ValueError(
            f"{name} must sum to 1 (tolerance {PROBABILITY_ATOL:g}), got sum {total!r}"
        )
    return arr


def multinomial_log_weights(probs: Any, counts: Any) -> np.ndarray:
    r"""Log multinomial probabilities :math:`\log w(n)` of count vectors.

    .. math::

        \log w(n) = \log G! - \sum_k \log n_k! + \sum_k n_k \log \pi_k,

    with :math:`0 \log 0 = 0` (an outcome of probability zero that does not occur) and
    :math:`-\infty` for a multiset using an outcome of probability zero.

    Args:
        probs: the probabilities :math:`\pi`, shape ``(K,)``, summing to 1.
        counts: count vectors, shape ``(M, K)`` (or ``(K,)``), non-negative integers.

    Returns:
        The log weights, shape ``(M,)`` (or a scalar array for one count vector).

    Example:
        >>> import numpy as np
        >>> np.exp(multinomial_log_weights([0.5, 0.5], [[2, 0], [1, 1]])).tolist()
        [0.25, 0.5]
    """
    pi = _check_probs(probs)
    n = np.asarray(counts)
    if not np.issubdtype(n.dtype, np.integer):
        raise TypeError("counts must be an integer array")
    if n.shape[-1:] != pi.shape or n.ndim not in (1, 2):
        raise ValueError(
            f"counts must have shape (M, K) with K = {pi.size} (the length of probs), "
            f"got {n.shape}"
        )
    if np.any(n < 0):
        raise ValueError("counts must be non-negative")
    G = n.sum(axis=-1)
    return gammaln(G + 1.0) - gammaln(n + 1.0).sum(axis=-1) + xlogy(n, pi).sum(axis=-1)


def advantage_rule(
    estimator: Estimator | str | AdvantageRule,
    epsilon: float = 0.0,
    baseline: float = 0.0,
) -> AdvantageRule:
    """The advantage rule of a named estimator (or a callable, returned unchanged).

    Args:
        estimator: an :class:`~grpo_theory.exact.estimators.Estimator` (or its name), or a
            callable mapping a reward vector ``(G,)`` to advantages ``(G,)``.
        epsilon: :math:`\\epsilon \\ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.

    Returns:
        A callable ``rule(rewards) -> advantages``.

    Example:
        >>> advantage_rule("dr-grpo")([1.0, 0.0, 0.0]).round(4).tolist()
        [0.6667, -0.3333, -0.3333]
    """
    if callable(estimator) and not isinstance(estimator, str):
        return estimator
    try:
        est = Estimator(estimator)
    except ValueError:
        valid = ", ".join(e.value for e in Estimator)
        raise ValueError(
            f"estimator must be one of {valid} or a callable; got {estimator!r}"
        ) from None
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    return functools.partial(advantages, est, epsilon=epsilon, baseline=baseline)


def _apply_rule(rule: AdvantageRule, r: np.ndarray) -> np.ndarray:
    out = np.asarray(rule(r), dtype=float)
    if out.shape != r.shape:
        raise ValueError(
            f"estimator must map rewards of shape {r.shape} to advantages of the same shape, "
            f"got {out.shape}"
        )
    if not np.all(np.isfinite(out)):
        raise ValueError(f"estimator returned non-finite advantages {out.tolist()} for {r}")
    return out


def _check_equivariant(rule: AdvantageRule, r: np.ndarray, a: np.ndarray) -> None:
    """Reject a rule whose advantages do not follow a permutation of the group."""
    perm = np.roll(np.arange(r.size), 1)[::-1]
    a_perm = _apply_rule(rule, r[perm])
    scale = max(1.0, float(np.max(np.abs(a))))
    if np.max(np.abs(a_perm - a[perm])) > 1e-9 * scale:
        raise ValueError(
            "estimator must be permutation-equivariant (A(r[perm]) = A(r)[perm]); it is not at "
            f"rewards {r.tolist()}: the oracle sums over unordered groups"
        )


def _check_outcome_arrays(probs: Any, scores: Any, rewards: Any) -> tuple[np.ndarray, ...]:
    pi = _check_probs(probs)
    K = pi.size
    try:
        s = np.asarray(scores, dtype=float)
        r = np.asarray(rewards, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError("scores and rewards must be real arrays") from exc
    if s.ndim != 2 or s.shape[0] != K:
        raise ValueError(f"scores must have shape (K, D) with K = {K} (the length of probs), "
                         f"got {s.shape}")
    if r.shape != (K,):
        raise ValueError(f"rewards must have shape ({K},) (one per outcome, like probs), "
                         f"got {r.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must be finite")
    return pi, s, r


def oracle_moments(
    probs: Any,
    scores: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str | AdvantageRule = Estimator.GRPO,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    silent_atol: float = 1e-12,
) -> OracleMoments:
    r"""Exact mean and covariance of :math:`\hat g = \frac1G \sum_i A_i s_{o_i}` by enumeration.

    Sums over the :math:`\binom{G+K-1}{K-1}` outcome multisets with multinomial weights (computed in
    log space); see the module docstring for the formulas.

    Args:
        probs: outcome probabilities :math:`\pi`, shape ``(K,)``, ``K >= 2``, non-negative and
            summing to 1 (to :data:`PROBABILITY_ATOL`).
        scores: score vectors :math:`s_k`, shape ``(K, D)``.
        rewards: real rewards :math:`r_k`, shape ``(K,)``.
        G: group size, ``>= 2``.
        estimator: an :class:`~grpo_theory.exact.estimators.Estimator` (or its name), or any
            permutation-equivariant callable mapping a reward vector ``(G,)`` to advantages.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.
        silent_atol: a group is silent when every :math:`|A_i| \le` ``silent_atol``.

    Returns:
        :class:`OracleMoments`.

    Raises:
        ValueError: bad shapes or values, a non-equivariant rule, or too many multisets.

    Example:
        Two arms, the first one correct, and 2-GRPO: :math:`\mathbb E[\hat g] = \nabla p`.

        >>> import numpy as np
        >>> pi = np.array([0.25, 0.75]); scores = np.eye(2) - pi
        >>> m = oracle_moments(pi, scores, [1.0, 0.0], 2, "grpo")
        >>> np.round(m.mean, 12).tolist(), m.n_multisets, round(m.silent_probability, 4)
        ([0.1875, -0.1875], 3, 0.625)
    """
    pi, s, r = _check_outcome_arrays(probs, scores, rewards)
    check_group_size(G)
    check_nonnegative(silent_atol, "silent_atol")
    rule = advantage_rule(estimator, epsilon, baseline)
    K, G = pi.size, int(G)
    groups = _sorted_groups(K, G)
    counts = _counts(K, G)
    M = groups.shape[0]

    log_w = multinomial_log_weights(pi, counts)
    w = np.exp(log_w)

    # One call of the rule per distinct multiset of rewards, in sorted reward order.
    group_rewards = r[groups]
    order = np.argsort(group_rewards, axis=1, kind="stable")
    sorted_rewards = np.take_along_axis(group_rewards, order, axis=1)
    unique_rewards, inverse = np.unique(sorted_rewards, axis=0, return_inverse=True)
    unique_adv = np.empty_like(unique_rewards)
    for u, row in enumerate(unique_rewards):
        unique_adv[u] = _apply_rule(rule, row.copy())
    if not isinstance(estimator, str) and callable(estimator):
        checked = 0
        for u, row in enumerate(unique_rewards):
            if np.ptp(row) > 0:
                _check_equivariant(rule, row.copy(), unique_adv[u])
                checked += 1
                if checked == 3:
                    break
    adv = np.empty_like(group_rewards)
    np.put_along_axis(adv, order, unique_adv[inverse.reshape(-1)], axis=1)

    # c_k(n) = (1/G) sum_{i: o_i = k} A_i, then the weighted mean and covariance of c.
    coef = np.zeros((M, K))
    np.add.at(coef, (np.arange(M)[:, None], groups), adv / G)
    c_bar = w @ coef
    mean = s.T @ c_bar
    deviations = (coef - c_bar) @ s  # ghat(n) - E[ghat], shape (M, D)
    cov = (deviations * w[:, None]).T @ deviations
    cov = 0.5 * (cov + cov.T)
    silent = np.all(np.abs(adv) <= silent_atol, axis=1)
    return OracleMoments(
        mean=mean,
        cov=cov,
        silent_probability=float(w[silent].sum()),
        n_multisets=int(M),
        weight_sum=float(w.sum()),
    )
