r"""Numeric forms of results from related papers, and of the paper's exploration bound.

Four groups of closed forms, each with an independent way to compute it:

**Conditional baseline bias (Yang et al. 2026).** A prompt with success probability :math:`p`
gets :math:`G` i.i.d. binary rewards with :math:`R \sim \mathrm{Binomial}(G, p)` successes and
:math:`\hat p = R/G`. Training only sees the non-degenerate event
:math:`S = \{1 \le R \le G-1\}`, of probability :math:`1 - (1-p)^G - p^G`. On :math:`S` the
group mean is a biased estimate of :math:`p`:

.. math::

   \mathbb E[\hat p \mid S] = \frac{p - p^G}{1 - (1-p)^G - p^G}, \qquad
   \mathbb E[\hat p \mid S] - p = \frac{p(1-p)^G + p^{G+1} - p^G}{1 - (1-p)^G - p^G},

which is positive iff :math:`p < 1/2`. Here: :func:`nondegenerate_probability`,
:func:`conditional_mean_success` (closed form) and :func:`conditional_mean_success_sum` (binomial
sum), :func:`conditional_bias`, :func:`conditional_tail_probability` (the tail-index formula)
and :func:`conditional_tail_probability_direct` (the event tested for every :math:`R`),
:func:`overestimate_probability` and :func:`average_overestimate_probability` (its average over
an interval of :math:`p`, by quadrature split at the jumps :math:`p = k/G`).

**The group-standard-deviation identity (Bay & Yearick 2026).** A binary group with :math:`k`
correct responses has population std :math:`\sqrt{k(G-k)}/G` (:func:`binary_group_std`); it is
silent (:math:`k \in \{0, G\}`) with probability :math:`p^G + (1-p)^G`
(:func:`silent_group_rate`, :func:`silent_group_rate_enumerated`). The mean std falls short of
:math:`\sqrt{p(1-p)}` by the relative error :func:`std_attenuation_error`, about
:math:`1/(8Gp(1-p))`, whence the budget :func:`group_size_budget`; :func:`minimal_group_size` is
the group size actually needed. :func:`gradient_mass_ratio` compares GRPO's per-prompt gain
:math:`\mathbb E[\hat\sigma]` with Dr. GRPO's :math:`\mathbb E[\hat\sigma^2]`.

**Success amplification (Mroueh 2025).** With binary rewards and whitened advantages, the
KL-regularised optimum of one GRPO iteration is a tilt of the reference policy
(:func:`mroueh_optimal_policy`, maximising :func:`kl_regularised_objective`), with weights
:func:`mroueh_weights`, and its success probability follows :math:`p_n = h(p_{n-1})`,

.. math::

   h(p) = \sigma\Big(\mathrm{logit}\,p_{\mathrm{ref}}
          + \frac{1}{\beta\sqrt{p(1-p) + \varepsilon}}\Big)

(:func:`mroueh_map`, :func:`mroueh_map_derivative`, :func:`mroueh_iterate` with the mean-only
and mirror variants, :func:`mroueh_fixed_points`).

**Exploration on hard prompts (paper v2 Prop 5.4).** The probability of at least one success
among the rollouts of a sequence of policies (:func:`exploration_probability`) against
:math:`2m` rollouts of a frozen policy (:func:`frozen_exploration_probability`).
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, optimize, special
from scipy.stats import binom

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_positive,
    check_probability,
    check_real,
)
from grpo_theory.exact.binary import silent_probability
from grpo_theory.symbolic.expected_gradient import expected_group_std_numeric

__all__ = [
    "MAX_GROUP_SIZE",
    "MAX_ENUMERATED_GROUP_SIZE",
    "Side",
    "Variant",
    "FixedPoint",
    "nondegenerate_probability",
    "conditional_mean_success",
    "conditional_mean_success_sum",
    "conditional_bias",
    "conditional_tail_probability",
    "conditional_tail_probability_direct",
    "overestimate_probability",
    "average_overestimate_probability",
    "binary_group_std",
    "silent_group_rate",
    "silent_group_rate_enumerated",
    "std_attenuation_error",
    "group_size_budget",
    "minimal_group_size",
    "expected_squared_std",
    "gradient_mass_ratio",
    "mroueh_weights",
    "mroueh_map",
    "mroueh_map_derivative",
    "mroueh_logit_map",
    "mroueh_iterate",
    "mroueh_fixed_points",
    "mroueh_optimal_policy",
    "kl_regularised_objective",
    "exploration_probability",
    "frozen_exploration_probability",
]

MAX_GROUP_SIZE = 100_000
"""Largest group size of the binomial sums here (they hold one row of ``G + 1`` terms per p)."""

MAX_ENUMERATED_GROUP_SIZE = 20
"""Largest group size whose :math:`2^G` reward vectors are enumerated."""


class Side(enum.StrEnum):
    """Which deviation of :math:`\\hat p` from :math:`p` a tail probability measures."""

    OVER = "over"
    r""":math:`\Pr(\hat p - p > \epsilon \mid S)` (hard prompts: the baseline overestimates)."""
    UNDER = "under"
    r""":math:`\Pr(p - \hat p > \epsilon \mid S)` (easy prompts: the baseline underestimates)."""


class Variant(enum.StrEnum):
    """The success-probability recurrences of :func:`mroueh_iterate`."""

    GRPO = "grpo"
    """Mean and std normalisation, KL to the fixed reference: :math:`p_n = h(p_{n-1})`."""
    MEAN_ONLY = "mean-only"
    """Mean-only normalisation (weights :math:`1-p` and :math:`p`), KL to the reference."""
    MIRROR = "mirror"
    """Mean and std normalisation, KL to the previous policy (mirror descent)."""


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _as_array(p: ArrayLike, name: str, *, open_interval: bool) -> tuple[NDArray[np.float64], bool]:
    """Validate probabilities and return them as a flat float array, with a scalar flag."""
    if isinstance(p, bool) or not isinstance(p, np.ndarray | list | tuple):
        check_real(p, name)
        check_probability(p, name, open_interval=open_interval)
        return np.array([float(p)]), True
    arr = np.asarray(p, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    check_probability(arr, name, open_interval=open_interval)
    return arr.ravel(), False


def _shaped(values: NDArray[np.float64], p: ArrayLike, scalar: bool) -> Any:
    return float(values[0]) if scalar else values.reshape(np.shape(p))


def _check_group(G: Any, maximum: int = MAX_GROUP_SIZE) -> int:
    check_group_size(G, maximum=maximum)
    return int(G)


def _side(side: Any) -> Side:
    try:
        return Side(side)
    except ValueError:
        raise ValueError(
            f"side must be one of {', '.join(s.value for s in Side)}; got {side!r}"
        ) from None


def _variant(variant: Any) -> Variant:
    try:
        return Variant(variant)
    except ValueError:
        raise ValueError(
            f"variant must be one of {', '.join(v.value for v in Variant)}; got {variant!r}"
        ) from None


def _interior_pmf(G: int, p: NDArray[np.float64]) -> NDArray[np.float64]:
    r""":math:`\Pr(R = k)` for :math:`k = 1..G-1`, one row per ``p`` (log-space, no overflow)."""
    k = np.arange(1, G)
    with np.errstate(divide="ignore", under="ignore"):
        return np.exp(binom.logpmf(k[None, :], G, p[:, None]))


def _nondegenerate(G: int, p: NDArray[np.float64]) -> NDArray[np.float64]:
    r""":math:`1 - (1-p)^G - p^G` without cancellation near either end."""
    low = p <= 0.5
    out = np.empty_like(p)
    with np.errstate(divide="ignore"):
        pl, ph = p[low], p[~low]
        out[low] = -np.expm1(G * np.log1p(-pl)) - pl**G
        out[~low] = -np.expm1(G * np.log(ph)) - (1 - ph) ** G
    return out


# ----------------------------------------------------------------------------------------------
# Yang et al. 2026: the group mean given a non-degenerate group
# ----------------------------------------------------------------------------------------------


def nondegenerate_probability(G: int, p: ArrayLike) -> Any:
    r"""Probability that a binary group is not silent, :math:`\Pr(1 \le R \le G-1)`.

    .. math::

       \Pr(S) = 1 - (1-p)^G - p^G, \qquad R \sim \mathrm{Binomial}(G, p).

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> nondegenerate_probability(2, 0.5)
        0.5
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=False)
    return _shaped(_nondegenerate(n, flat), p, scalar)


def conditional_mean_success(G: int, p: ArrayLike) -> Any:
    r"""Closed form of :math:`\mathbb E[\hat p \mid S]` (Yang et al. 2026, App. D.1).

    .. math::

       \mathbb E[\hat p \mid S] = \frac{p - p^G}{1 - (1-p)^G - p^G}.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(conditional_mean_success(2, 0.1), 12)
        0.5
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    numerator = -flat * np.expm1((n - 1) * np.log(flat))  # p - p^G = p (1 - p^(G-1))
    return _shaped(numerator / _nondegenerate(n, flat), p, scalar)


def conditional_mean_success_sum(G: int, p: ArrayLike) -> Any:
    r""":math:`\mathbb E[\hat p \mid S]` as a conditional binomial sum.

    .. math::

       \mathbb E[\hat p \mid S] = \frac{\sum_{k=1}^{G-1} \frac kG \Pr(R = k)}
                                      {\sum_{k=1}^{G-1} \Pr(R = k)},

    with log-space binomial probabilities (independent of :func:`conditional_mean_success`).

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(conditional_mean_success_sum(3, 0.5), 12)
        0.5
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    pmf = _interior_pmf(n, flat)
    values = np.arange(1, n) / n
    return _shaped(pmf @ values / pmf.sum(axis=1), p, scalar)


def conditional_bias(G: int, p: ArrayLike) -> Any:
    r"""Bias of the group mean on non-degenerate groups (Yang et al. 2026, Lemma 2).

    .. math::

       \mathbb E[\hat p \mid S] - p = \frac{p(1-p)^G + p^{G+1} - p^G}{1 - (1-p)^G - p^G}.

    For a group-relative advantage :math:`\hat A = r - \hat p` and :math:`A = r - p` this is
    :math:`A - \mathbb E[\hat A \mid S]`. It equals :math:`\tfrac12 - p` for :math:`G = 2`.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(conditional_bias(2, 0.2), 12)
        0.3
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    numerator = flat * (1 - flat) ** n + flat ** (n + 1) - flat**n
    return _shaped(numerator / _nondegenerate(n, flat), p, scalar)


def _tail_bounds(G: int, p: NDArray[np.float64], eps: float, side: Side) -> tuple[Any, Any]:
    if side is Side.OVER:
        return np.floor(G * (p + eps)) + 1, np.full(p.shape, G - 1.0)
    return np.ones(p.shape), np.ceil(G * (p - eps)) - 1


def conditional_tail_probability(
    G: int, p: ArrayLike, epsilon: float, side: Side | str = Side.OVER
) -> Any:
    r"""Tail probability of the group mean on non-degenerate groups (Yang et al. 2026, Thm 2).

    .. math::

       \Pr(\hat p - p > \epsilon \mid S) =
       \frac{\sum_{k=\lfloor G(p+\epsilon)\rfloor + 1}^{G-1}\binom Gk p^k(1-p)^{G-k}}
            {1 - (1-p)^G - p^G}, \qquad
       \Pr(p - \hat p > \epsilon \mid S) =
       \frac{\sum_{k=1}^{\lceil G(p-\epsilon)\rceil - 1}\binom Gk p^k(1-p)^{G-k}}
            {1 - (1-p)^G - p^G}

    (``side="over"`` and ``"under"``). The theorem states the first for hard prompts and
    :math:`0 < \epsilon < \mathbb E[\hat p\mid S] - p`; the formula holds for every
    :math:`\epsilon \ge 0`. An empty index range gives 0, and the ratio is clipped to
    :math:`[0, 1]` against rounding. The floor and ceiling are taken in
    floating point, so values of :math:`G(p \pm \epsilon)` within rounding of an integer may
    land on either side.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).
        epsilon: deviation :math:`\epsilon \ge 0`.
        side: ``"over"`` or ``"under"`` (:class:`Side`).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> conditional_tail_probability(2, 0.2, 0.1)
        1.0
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    check_nonnegative(epsilon, "epsilon")
    s = _side(side)
    lo, hi = _tail_bounds(n, flat, float(epsilon), s)
    k = np.arange(1, n)[None, :]
    mask = (k >= lo[:, None]) & (k <= hi[:, None])
    pmf = _interior_pmf(n, flat)
    tail = (pmf * mask).sum(axis=1) / _nondegenerate(n, flat)
    return _shaped(np.clip(tail, 0.0, 1.0), p, scalar)


def conditional_tail_probability_direct(
    G: int, p: ArrayLike, epsilon: float, side: Side | str = Side.OVER
) -> Any:
    r"""The same tail probability, testing the event for every count :math:`R = 1..G-1`.

    .. math::

       \Pr(\hat p - p > \epsilon \mid S) =
       \frac{\sum_{k=1}^{G-1} \mathbb 1[k/G - p > \epsilon]\,\Pr(R = k)}
            {\sum_{k=1}^{G-1} \Pr(R = k)}

    (and :math:`\mathbb 1[p - k/G > \epsilon]` for ``side="under"``): no index bounds, so it
    checks the floor and ceiling of :func:`conditional_tail_probability`.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).
        epsilon: deviation :math:`\epsilon \ge 0`.
        side: ``"over"`` or ``"under"`` (:class:`Side`).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> conditional_tail_probability_direct(2, 0.2, 0.1)
        1.0
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    check_nonnegative(epsilon, "epsilon")
    s = _side(side)
    p_hat = np.arange(1, n)[None, :] / n
    dev = p_hat - flat[:, None] if s is Side.OVER else flat[:, None] - p_hat
    pmf = _interior_pmf(n, flat)
    return _shaped((pmf * (dev > float(epsilon))).sum(axis=1) / pmf.sum(axis=1), p, scalar)


def overestimate_probability(G: int, p: ArrayLike) -> Any:
    r""":math:`\Pr(\hat p > p \mid S)`: how often the group mean overestimates :math:`p`.

    Equivalently :math:`\Pr(\hat A < A \mid S)` for :math:`\hat A = r - \hat p`,
    :math:`A = r - p` (Yang et al. 2026, Cor. 1). It is
    :func:`conditional_tail_probability` at :math:`\epsilon = 0` and jumps at :math:`p = k/G`.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> overestimate_probability(4, 0.2)
        1.0
    """
    return conditional_tail_probability(G, p, 0.0, Side.OVER)


def average_overestimate_probability(
    G: int, lower: float, upper: float, side: Side | str = Side.OVER
) -> float:
    r"""Average of :math:`\Pr(\hat p > p \mid S)` over :math:`p \sim U(\mathrm{lower},
    \mathrm{upper})` (Yang et al. 2026, Cor. 1: their :math:`P(G, a, b)`).

    .. math::

       \bar P(G; a, b) = \frac{1}{b-a}\int_a^b \Pr(\hat p > p \mid S)\,dp,

    by adaptive quadrature on each piece between consecutive jump points :math:`k/G` (the
    integrand is smooth on each piece). ``side="under"`` averages
    :math:`\Pr(\hat p < p \mid S)` instead (easy prompts).

    Args:
        G: group size, ``2..1000``.
        lower: :math:`a \in [0, 1)`.
        upper: :math:`b \in (a, 1]`.
        side: ``"over"`` or ``"under"`` (:class:`Side`).

    Returns:
        The average, a float in :math:`[0, 1]`.

    Example:
        >>> round(average_overestimate_probability(8, 0.0, 0.25), 4)
        0.7811
    """
    n = _check_group(G, maximum=1000)
    check_probability(lower, "lower")
    check_probability(upper, "upper")
    a, b = float(lower), float(upper)
    if not a < b:
        raise ValueError(f"upper must exceed lower, got lower={lower!r}, upper={upper!r}")
    s = _side(side)
    cuts = [a] + [k / n for k in range(1, n) if a < k / n < b] + [b]
    total = 0.0
    for left, right in itertools.pairwise(cuts):
        value, _ = integrate.quad(
            lambda x: conditional_tail_probability(n, x, 0.0, s), left, right,
            epsabs=1e-13, epsrel=1e-12, limit=200)
        total += value
    return total / (b - a)


# ----------------------------------------------------------------------------------------------
# Bay & Yearick 2026: the group std of binary rewards
# ----------------------------------------------------------------------------------------------


def binary_group_std(k: ArrayLike, G: int) -> Any:
    r"""Population std of a binary group with :math:`k` of :math:`G` correct.

    .. math::

       \hat\sigma_k = \sqrt{\tfrac kG\big(1 - \tfrac kG\big)} = \frac{\sqrt{k(G-k)}}{G}.

    Args:
        k: number(s) of correct responses, integers in ``0..G`` (scalar or array).
        G: group size, ``2..MAX_GROUP_SIZE``.

    Returns:
        A float for scalar ``k``, otherwise an array of the shape of ``k``.

    Example:
        >>> binary_group_std(1, 2)
        0.5
    """
    n = _check_group(G)
    arr = np.asarray(k)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"k must be integers in 0..{n}, got {k!r}")
    if np.any(arr < 0) or np.any(arr > n):
        raise ValueError(f"k must be integers in 0..{n} (G = {n}), got {k!r}")
    kf = arr.astype(float)
    out = np.sqrt(kf * (n - kf)) / n
    return float(out) if out.ndim == 0 else out


def silent_group_rate(G: int, p: ArrayLike) -> Any:
    r"""Probability that a binary group is silent (all correct or all wrong).

    .. math::

       \Pr(k \in \{0, G\}) = p^G + (1-p)^G.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> silent_group_rate(2, 0.5)
        0.5
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=False)
    return _shaped(np.asarray(silent_probability(n, flat), dtype=float), p, scalar)


def silent_group_rate_enumerated(G: int, p: ArrayLike) -> Any:
    r"""The silent-group rate by enumerating all :math:`2^G` reward vectors.

    .. math::

       \sum_{r \in \{0,1\}^G} \mathbb 1[\hat\sigma(r) = 0] \prod_{i=1}^G p^{r_i}(1-p)^{1-r_i},

    where :math:`\hat\sigma(r)` is the population std of the vector (computed from the vector,
    not from its count).

    Args:
        G: group size, ``2..MAX_ENUMERATED_GROUP_SIZE``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> silent_group_rate_enumerated(3, 0.5)
        0.25
    """
    n = _check_group(G, maximum=MAX_ENUMERATED_GROUP_SIZE)
    flat, scalar = _as_array(p, "p", open_interval=False)
    vectors = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    silent = vectors.std(axis=1) == 0
    probs = np.prod(np.where(vectors[None, :, :] == 1.0, flat[:, None, None],
                             1 - flat[:, None, None]), axis=2)
    return _shaped(probs[:, silent].sum(axis=1), p, scalar)


def std_attenuation_error(G: int, p: ArrayLike) -> Any:
    r"""Relative shortfall of the mean group std, :math:`1 - \mathbb E[\hat\sigma_G]/\sqrt{p(1-p)}`.

    .. math::

       e_G(p) = 1 - \frac{\mathbb E[\hat\sigma_G]}{\sqrt{p(1-p)}}
              = \frac{1}{8Gp(1-p)} + O(G^{-2})

    (Bay & Yearick 2026), with :math:`\mathbb E[\hat\sigma_G]` a log-space binomial sum.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(std_attenuation_error(2, 0.5), 12)
        0.5
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    mean_std = np.asarray(expected_group_std_numeric(n, flat), dtype=float)
    return _shaped(1 - mean_std / np.sqrt(flat * (1 - flat)), p, scalar)


def group_size_budget(p: ArrayLike, epsilon: float) -> Any:
    r"""The first-order group-size budget for a relative attenuation :math:`\epsilon`.

    .. math::

       G_\epsilon = \frac{1}{8\epsilon\,p(1-p)},

    obtained by solving :math:`1/(8Gp(1-p)) = \epsilon` (Bay & Yearick 2026). Not rounded.

    Args:
        p: success probabilities in :math:`(0, 1)` (scalar or array).
        epsilon: relative error :math:`\epsilon > 0`.

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> group_size_budget(0.5, 0.01)
        50.0
    """
    flat, scalar = _as_array(p, "p", open_interval=True)
    check_positive(epsilon, "epsilon")
    return _shaped(1 / (8 * float(epsilon) * flat * (1 - flat)), p, scalar)


def minimal_group_size(p: float, epsilon: float, maximum: int = MAX_GROUP_SIZE) -> int:
    r"""Smallest :math:`G \ge 2` with :math:`e_G(p) \le \epsilon` (scanning :math:`G` upwards).

    Scans :math:`G = 2, 3, \dots` in blocks, evaluating :func:`std_attenuation_error`, and
    returns the first :math:`G` with :math:`e_G(p) \le \epsilon`.

    Args:
        p: success probability in :math:`(0, 1)`.
        epsilon: relative error, :math:`0 < \epsilon < 1`.
        maximum: largest group size to try (``2..MAX_GROUP_SIZE``).

    Returns:
        The group size.

    Raises:
        ValueError: if no :math:`G \le` ``maximum`` reaches the target.

    Example:
        >>> minimal_group_size(0.5, 0.01)
        51
    """
    check_probability(p, "p", open_interval=True)
    check_probability(epsilon, "epsilon", open_interval=True)
    top = _check_group(maximum)
    q = float(p) * (1 - float(p))
    for G in range(2, top + 1):
        mean_std = float(expected_group_std_numeric(G, float(p)))
        if 1 - mean_std / math.sqrt(q) <= float(epsilon):
            return G
    raise ValueError(f"no G <= maximum = {top} reaches epsilon = {epsilon!r} at p = {p!r}")


def expected_squared_std(G: int, p: ArrayLike) -> Any:
    r""":math:`\mathbb E[\hat\sigma_k^2]`, Dr. GRPO's expected per-prompt gain, as a binomial sum.

    .. math::

       \mathbb E[\hat\sigma_k^2] = \sum_{k=0}^{G} \Pr(k)\,\frac{k(G-k)}{G^2}
                                 = \frac{G-1}{G}\,p(1-p).

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(expected_squared_std(2, 0.5), 12)
        0.125
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=False)
    pmf = _interior_pmf(n, flat)
    k = np.arange(1, n, dtype=float)
    return _shaped(pmf @ (k * (n - k) / n**2), p, scalar)


def gradient_mass_ratio(G: int, p: ArrayLike) -> Any:
    r"""GRPO's expected per-prompt gain over Dr. GRPO's, :math:`\mathbb E[\hat\sigma]/
    \mathbb E[\hat\sigma^2]`.

    .. math::

       \rho_G(p) = \frac{\mathbb E[\hat\sigma_k]}{\mathbb E[\hat\sigma_k^2]}
                 \to \frac{1}{\sqrt{p(1-p)}} \quad (G \to \infty).

    It is :math:`2` for :math:`G = 2` and :math:`3/\sqrt2` for :math:`G = 3` at every
    :math:`p`; a ratio that falls as :math:`p` moves towards :math:`\tfrac12` means GRPO moves
    gradient mass towards extreme prompts relative to Dr. GRPO.

    Args:
        G: group size, ``2..MAX_GROUP_SIZE``.
        p: success probabilities in :math:`(0, 1)` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(gradient_mass_ratio(2, 0.3), 12)
        2.0
    """
    n = _check_group(G)
    flat, scalar = _as_array(p, "p", open_interval=True)
    mean_std = np.asarray(expected_group_std_numeric(n, flat), dtype=float)
    return _shaped(mean_std / np.asarray(expected_squared_std(n, flat)), p, scalar)


# ----------------------------------------------------------------------------------------------
# Mroueh 2025: success amplification
# ----------------------------------------------------------------------------------------------


def _check_mroueh(p_ref: Any, beta: Any, epsilon: Any) -> tuple[float, float, float]:
    check_probability(p_ref, "p_ref", open_interval=True)
    check_positive(beta, "beta")
    check_nonnegative(epsilon, "epsilon")
    return float(p_ref), float(beta), float(epsilon)


def _variance_term(p: NDArray[np.float64], eps: float, name: str = "p") -> NDArray[np.float64]:
    v = p * (1 - p) + eps
    if np.any(v <= 0):
        raise ValueError(f"{name} must lie in (0, 1) when epsilon = 0 (p(1-p) + epsilon must be "
                         "> 0)")
    return v


def mroueh_weights(p: ArrayLike, epsilon: float) -> tuple[Any, Any]:
    r"""Weights of correct and incorrect responses under whitened advantages (Mroueh 2025).

    .. math::

       \omega_{+}(p) = \frac{1-p}{\sqrt{p(1-p)+\varepsilon}}, \qquad
       \omega_{-}(p) = \frac{p}{\sqrt{p(1-p)+\varepsilon}},

    so that :math:`(r - p)/\sqrt{p(1-p)+\varepsilon} = \omega_+\mathbb 1_{r=1} -
    \omega_-\mathbb 1_{r=0}`.

    Args:
        p: success probabilities in :math:`[0, 1]` (in :math:`(0, 1)` if
            :math:`\varepsilon = 0`), scalar or array.
        epsilon: smoothing :math:`\varepsilon \ge 0`.

    Returns:
        ``(omega_plus, omega_minus)``, floats for scalar ``p``, otherwise arrays.

    Example:
        >>> mroueh_weights(0.5, 0.0)
        (1.0, 1.0)
    """
    flat, scalar = _as_array(p, "p", open_interval=False)
    check_nonnegative(epsilon, "epsilon")
    root = np.sqrt(_variance_term(flat, float(epsilon)))
    return _shaped((1 - flat) / root, p, scalar), _shaped(flat / root, p, scalar)


def _increment(p: NDArray[np.float64], beta: float, eps: float) -> NDArray[np.float64]:
    return 1 / (beta * np.sqrt(_variance_term(p, eps)))


def mroueh_map(p: ArrayLike, p_ref: float, beta: float, epsilon: float) -> Any:
    r"""One step of the success-probability recurrence, :math:`p_n = h(p_{n-1})` (Mroueh 2025).

    .. math::

       h(p) = \frac{1}{1 + \frac{1-p_{\mathrm{ref}}}{p_{\mathrm{ref}}}
                    \exp\!\big(-\frac{1}{\beta\sqrt{p(1-p)+\varepsilon}}\big)}
            = \sigma\Big(\mathrm{logit}\,p_{\mathrm{ref}}
                         + \frac{1}{\beta\sqrt{p(1-p)+\varepsilon}}\Big).

    Args:
        p: previous success probabilities in :math:`[0, 1]` (in :math:`(0, 1)` if
            :math:`\varepsilon = 0`), scalar or array.
        p_ref: success probability of the reference policy, in :math:`(0, 1)`.
        beta: KL coefficient :math:`\beta > 0`.
        epsilon: smoothing :math:`\varepsilon \ge 0`.

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(mroueh_map(0.5, 0.5, 1.0, 0.0), 6)
        0.880797
    """
    flat, scalar = _as_array(p, "p", open_interval=False)
    pr, b, e = _check_mroueh(p_ref, beta, epsilon)
    return _shaped(special.expit(special.logit(pr) + _increment(flat, b, e)), p, scalar)


def mroueh_map_derivative(p: ArrayLike, p_ref: float, beta: float, epsilon: float) -> Any:
    r"""Derivative of the recurrence map :func:`mroueh_map`.

    .. math::

       h'(p) = -\,h(p)\big(1 - h(p)\big)\,\frac{1 - 2p}{2\beta\,(p(1-p)+\varepsilon)^{3/2}},

    negative on :math:`(0, \tfrac12)` and positive on :math:`(\tfrac12, 1)`.

    Args:
        p: success probabilities (as for :func:`mroueh_map`), scalar or array.
        p_ref: reference success probability in :math:`(0, 1)`.
        beta: KL coefficient :math:`\beta > 0`.
        epsilon: smoothing :math:`\varepsilon \ge 0`.

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> mroueh_map_derivative(0.5, 0.3, 1.0, 0.0)
        -0.0
    """
    flat, scalar = _as_array(p, "p", open_interval=False)
    pr, b, e = _check_mroueh(p_ref, beta, epsilon)
    v = _variance_term(flat, e)
    x = special.logit(pr) + 1 / (b * np.sqrt(v))
    hh = special.expit(x) * special.expit(-x)  # h (1 - h) without cancellation
    return _shaped(-hh * (1 - 2 * flat) / (2 * b * v**1.5), p, scalar)


def mroueh_logit_map(x: ArrayLike, p_ref: float, beta: float, epsilon: float) -> Any:
    r"""The recurrence in logit coordinates, :math:`x \mapsto \mathrm{logit}\,h(\sigma(x))`.

    .. math::

       \phi(x) = \mathrm{logit}\,p_{\mathrm{ref}}
                 + \frac{1}{\beta\sqrt{\sigma(x)\sigma(-x) + \varepsilon}},

    with :math:`\sigma(x)\sigma(-x) = p(1-p)` computed without cancellation, so that iterates
    whose probability rounds to 1 keep their resolution. :math:`\phi` is conjugate to :math:`h`
    (:func:`mroueh_map`) through the logit, so both have the same fixed points and slopes there.

    Args:
        x: logits (finite reals), scalar or array.
        p_ref: reference success probability in :math:`(0, 1)`.
        beta: KL coefficient :math:`\beta > 0`.
        epsilon: smoothing :math:`\varepsilon > 0`.

    Returns:
        A float for scalar ``x``, otherwise an array of the shape of ``x``.

    Example:
        >>> round(mroueh_logit_map(0.0, 0.5, 1.0, 0.25), 6)
        1.414214
    """
    pr, b, e = _check_mroueh(p_ref, beta, epsilon)
    check_positive(epsilon, "epsilon")
    if not isinstance(x, np.ndarray | list | tuple):
        check_real(x, "x")
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError("x must be finite")
    image, _ = _logit_map_parts(arr.ravel(), float(special.logit(pr)), b, e)
    return float(image[0]) if arr.ndim == 0 else image.reshape(arr.shape)


def mroueh_iterate(
    p_ref: float,
    beta: float,
    epsilon: float,
    steps: int,
    variant: Variant | str = Variant.GRPO,
    p0: float | None = None,
    *,
    logits: bool = False,
) -> NDArray[np.float64]:
    r"""Iterate a success-probability recurrence, from :math:`p_0 = p_{\mathrm{ref}}` by default.

    .. math::

       \text{grpo:}\quad & \mathrm{logit}\,p_n = \mathrm{logit}\,p_{\mathrm{ref}}
           + \frac{1}{\beta\sqrt{p_{n-1}(1-p_{n-1})+\varepsilon}} \\
       \text{mean-only:}\quad & \mathrm{logit}\,p_n = \mathrm{logit}\,p_{\mathrm{ref}}
           + \frac1\beta \\
       \text{mirror:}\quad & \mathrm{logit}\,p_n = \mathrm{logit}\,p_{n-1}
           + \frac{1}{\beta\sqrt{p_{n-1}(1-p_{n-1})+\varepsilon}}

    computed in logit space (so that iterates near 1 keep their resolution).

    Args:
        p_ref: reference success probability in :math:`(0, 1)`.
        beta: KL coefficient :math:`\beta > 0`.
        epsilon: smoothing :math:`\varepsilon \ge 0` (``> 0`` for ``mirror``, whose iterates
            approach 1).
        steps: number of steps :math:`n \ge 0`.
        variant: ``"grpo"``, ``"mean-only"`` or ``"mirror"`` (:class:`Variant`).
        p0: starting success probability in :math:`(0, 1)`; ``None`` for :math:`p_{\mathrm{ref}}`.
        logits: return :math:`\mathrm{logit}\,p_n` instead of :math:`p_n`.

    Returns:
        Array of length ``steps + 1``: :math:`p_0, \dots, p_n` (or their logits).

    Example:
        >>> mroueh_iterate(0.5, 1.0, 0.0, 2, "mean-only").round(6).tolist()
        [0.5, 0.731059, 0.731059]
    """
    pr, b, e = _check_mroueh(p_ref, beta, epsilon)
    v = _variant(variant)
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"steps must be an integer >= 0, got {steps!r}")
    if steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if v is Variant.MIRROR and e <= 0:
        raise ValueError("epsilon must be > 0 for the mirror variant (its iterates approach 1)")
    start = pr if p0 is None else p0
    check_probability(start, "p0", open_interval=True)
    x = np.empty(int(steps) + 1)
    x[0] = special.logit(float(start))
    anchor = special.logit(pr)
    for n in range(1, int(steps) + 1):
        prev = x[n - 1]
        q = special.expit(prev) * special.expit(-prev)  # p(1-p) from the logit, no cancellation
        if v is Variant.MEAN_ONLY:
            x[n] = anchor + 1 / b
        elif q + e <= 0:
            raise ValueError("an iterate reached p(1-p) + epsilon = 0; use epsilon > 0")
        elif v is Variant.GRPO:
            x[n] = anchor + 1 / (b * math.sqrt(q + e))
        else:
            x[n] = prev + 1 / (b * math.sqrt(q + e))
    return x if logits else special.expit(x)


@dataclass(frozen=True)
class FixedPoint:
    r"""A fixed point :math:`p^* = h(p^*)` of the recurrence.

    Attributes:
        p: the fixed point :math:`p^*` (may round to 1.0 in floating point).
        logit: :math:`\mathrm{logit}\,p^*` (keeps the resolution that ``p`` loses near 1).
        slope: :math:`h'(p^*)`.
    """

    p: float
    logit: float
    slope: float

    @property
    def stable(self) -> bool:
        """Whether :math:`|h'(p^*)| < 1` (locally attracting)."""
        return abs(self.slope) < 1


def _logit_map_parts(x: NDArray[np.float64], anchor: float, beta: float, eps: float):
    q = special.expit(x) * special.expit(-x)
    v = q + eps
    image = anchor + 1 / (beta * np.sqrt(v))
    slope = -q * (1 - 2 * special.expit(x)) / (2 * beta * v**1.5)
    return image, slope


def mroueh_fixed_points(
    p_ref: float, beta: float, epsilon: float, resolution: int = 200_000
) -> list[FixedPoint]:
    r"""All fixed points of :math:`h` (:func:`mroueh_map`), found in logit coordinates.

    With :math:`x = \mathrm{logit}\,p`, a fixed point solves
    :math:`F(x) = \mathrm{logit}\,p_{\mathrm{ref}} + 1/(\beta\sqrt{\sigma(x)\sigma(-x) +
    \varepsilon}) - x = 0`. Since :math:`p(1-p) \in [0, \tfrac14]`, every root lies in

    .. math::

       \Big[\mathrm{logit}\,p_{\mathrm{ref}} + \frac{2}{\beta\sqrt{1+4\varepsilon}},\;
            \mathrm{logit}\,p_{\mathrm{ref}} + \frac{1}{\beta\sqrt{\varepsilon}}\Big]

    (so :math:`p^* > p_{\mathrm{ref}}`). Sign changes of :math:`F` on a uniform grid of that
    interval are refined with ``scipy.optimize.brentq``. The slope :math:`h'(p^*)` is computed in
    the same coordinates (the map in :math:`x` is conjugate to :math:`h`, with the same
    derivative at a fixed point).

    Args:
        p_ref: reference success probability in :math:`(0, 1)`.
        beta: KL coefficient :math:`\beta > 0`.
        epsilon: smoothing :math:`\varepsilon > 0` (bounds the bracket).
        resolution: grid points of the sign scan, ``>= 100``.

    Returns:
        The fixed points in increasing order, as :class:`FixedPoint`.

    Example:
        >>> [round(f.p, 6) for f in mroueh_fixed_points(0.5, 1.0, 0.1)]
        [0.914377]
    """
    pr, b, e = _check_mroueh(p_ref, beta, epsilon)
    check_positive(epsilon, "epsilon")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 100:
        raise ValueError(f"resolution must be an integer >= 100, got {resolution!r}")
    anchor = float(special.logit(pr))
    lo = anchor + 2 / (b * math.sqrt(1 + 4 * e))
    hi = anchor + 1 / (b * math.sqrt(e))

    def F(x: Any) -> Any:
        return _logit_map_parts(np.asarray(x, dtype=float), anchor, b, e)[0] - x

    grid = np.linspace(lo, hi, resolution)
    values = F(grid)
    roots = [float(x) for x, v in zip(grid, values, strict=True) if v == 0]
    change = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    for i in change:
        roots.append(optimize.brentq(lambda x: float(F(x)), grid[i], grid[i + 1],
                                     xtol=1e-14, rtol=4 * np.finfo(float).eps))
    out = []
    for x in sorted(roots):
        _, slope = _logit_map_parts(np.array([x]), anchor, b, e)
        out.append(FixedPoint(p=float(special.expit(x)), logit=x, slope=float(slope[0])))
    return out


def _policy_inputs(
    reference: ArrayLike, correct: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or ref.size < 2:
        raise ValueError(f"reference must be a 1-d distribution over >= 2 outcomes, got shape "
                         f"{ref.shape}")
    if not np.all(np.isfinite(ref)) or np.any(ref <= 0):
        raise ValueError("reference must have finite entries > 0")
    if not math.isclose(float(ref.sum()), 1.0, rel_tol=0, abs_tol=1e-9):
        raise ValueError(f"reference must sum to 1, got {float(ref.sum())!r}")
    mask = np.asarray(correct)
    if mask.shape != ref.shape:
        raise ValueError(f"correct must have the shape of reference {ref.shape}, got {mask.shape}")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("correct must hold 0/1 (or boolean) rewards")
    return ref, mask.astype(bool)


def mroueh_optimal_policy(
    reference: ArrayLike,
    correct: ArrayLike,
    omega_plus: float,
    omega_minus: float,
    beta: float,
) -> NDArray[np.float64]:
    r"""Closed-form maximiser of the KL-regularised weighted objective on a finite outcome set.

    .. math::

       \pi^*(o) = \frac{\pi_{\mathrm{ref}}(o)}{Z}
       \exp\Big(\frac{\omega_+\mathbb 1_{r(o)=1} - \omega_-\mathbb 1_{r(o)=0}}{\beta}\Big),
       \qquad
       Z = p_{\mathrm{ref}}e^{\omega_+/\beta} + (1-p_{\mathrm{ref}})e^{-\omega_-/\beta},

    the maximiser of :func:`kl_regularised_objective` (Mroueh 2025), computed with a log-sum-exp.

    Args:
        reference: reference distribution :math:`\pi_{\mathrm{ref}}` (entries > 0, sum 1).
        correct: 0/1 reward of each outcome, same shape.
        omega_plus: weight :math:`\omega_+` of correct outcomes (finite).
        omega_minus: weight :math:`\omega_-` of incorrect outcomes (finite).
        beta: KL coefficient :math:`\beta > 0`.

    Returns:
        The distribution :math:`\pi^*`, shape of ``reference``.

    Example:
        >>> mroueh_optimal_policy([0.5, 0.5], [1, 0], 1.0, 1.0, 2.0).round(6).tolist()
        [0.731059, 0.268941]
    """
    ref, mask = _policy_inputs(reference, correct)
    check_real(omega_plus, "omega_plus")
    check_real(omega_minus, "omega_minus")
    check_positive(beta, "beta")
    reward = np.where(mask, float(omega_plus), -float(omega_minus))
    log_w = np.log(ref) + reward / float(beta)
    return np.exp(log_w - special.logsumexp(log_w))


def kl_regularised_objective(
    policy: ArrayLike,
    reference: ArrayLike,
    correct: ArrayLike,
    omega_plus: float,
    omega_minus: float,
    beta: float,
) -> float:
    r"""The weighted objective of one iteration, with its KL penalty.

    .. math::

       L(\pi) = \omega_+ \Pr_\pi(r = 1) - \omega_- \Pr_\pi(r = 0)
                - \beta\,\mathrm{KL}(\pi \,\|\, \pi_{\mathrm{ref}}).

    Args:
        policy: distribution :math:`\pi` (entries >= 0, sum 1), shape of ``reference``.
        reference: reference distribution (entries > 0, sum 1).
        correct: 0/1 reward of each outcome.
        omega_plus: weight of correct outcomes.
        omega_minus: weight of incorrect outcomes.
        beta: KL coefficient :math:`\beta > 0`.

    Returns:
        :math:`L(\pi)`.

    Example:
        >>> kl_regularised_objective([0.5, 0.5], [0.5, 0.5], [1, 0], 1.0, 1.0, 2.0)
        0.0
    """
    ref, mask = _policy_inputs(reference, correct)
    pi = np.asarray(policy, dtype=float)
    if pi.shape != ref.shape:
        raise ValueError(f"policy must have the shape of reference {ref.shape}, got {pi.shape}")
    if not np.all(np.isfinite(pi)) or np.any(pi < 0):
        raise ValueError("policy must have finite entries >= 0")
    if not math.isclose(float(pi.sum()), 1.0, rel_tol=0, abs_tol=1e-9):
        raise ValueError(f"policy must sum to 1, got {float(pi.sum())!r}")
    check_real(omega_plus, "omega_plus")
    check_real(omega_minus, "omega_minus")
    check_positive(beta, "beta")
    reward = np.where(mask, float(omega_plus), -float(omega_minus))
    kl = float(np.sum(special.xlogy(pi, pi) - special.xlogy(pi, ref)))
    return float(pi @ reward) - float(beta) * kl


# ----------------------------------------------------------------------------------------------
# Paper v2 Prop 5.4: exploration on hard prompts
# ----------------------------------------------------------------------------------------------


def exploration_probability(success_probabilities: Sequence[float] | ArrayLike,
                            rollouts_per_policy: int = 2) -> float:
    r"""Probability of at least one success when each policy :math:`\pi_i` draws :math:`n`
    rollouts.

    .. math::

       P = 1 - \prod_{i} (1 - p_i)^{n}

    (paper v2 Eq. 20 with :math:`n = 2`; 16-GRPO's schedule with :math:`n = 16`), computed as
    :math:`-\mathrm{expm1}(n\sum_i \log(1-p_i))`.

    Args:
        success_probabilities: :math:`p_0, \dots, p_{m-1}` in :math:`[0, 1]` (at least one).
        rollouts_per_policy: :math:`n \ge 1`.

    Returns:
        The probability.

    Example:
        >>> round(exploration_probability([0.1, 0.2]), 6)
        0.4816
    """
    arr = np.asarray(success_probabilities, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("success_probabilities must be a non-empty 1-d sequence")
    check_probability(arr, "success_probabilities")
    n = rollouts_per_policy
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"rollouts_per_policy must be an integer >= 1, got {n!r}")
    if n < 1:
        raise ValueError(f"rollouts_per_policy must be an integer >= 1, got {n!r}")
    if np.any(arr == 1):
        return 1.0
    return float(-np.expm1(int(n) * np.sum(np.log1p(-arr))))


def frozen_exploration_probability(p0: float, rollouts: int) -> float:
    r"""Probability of at least one success among :math:`N` rollouts of one frozen policy.

    .. math::

       P_N = 1 - (1 - p_0)^N

    (paper v2 Eq. 19 with :math:`N = 2m`).

    Args:
        p0: success probability in :math:`[0, 1]`.
        rollouts: :math:`N \ge 1`.

    Returns:
        The probability.

    Example:
        >>> frozen_exploration_probability(0.5, 2)
        0.75
    """
    check_probability(p0, "p0")
    if isinstance(rollouts, bool) or not isinstance(rollouts, int | np.integer):
        raise TypeError(f"rollouts must be an integer >= 1, got {rollouts!r}")
    if rollouts < 1:
        raise ValueError(f"rollouts must be an integer >= 1, got {rollouts!r}")
    return exploration_probability([float(p0)], rollouts_per_policy=int(rollouts))
