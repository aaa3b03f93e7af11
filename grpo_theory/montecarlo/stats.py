r"""Non-asymptotic agreement tests between Monte Carlo moments and exact ones, and intervals.

A statistical check must have a false-positive probability that holds *by design*, at the sample
size used, not only as :math:`N\to\infty`. The estimators of this toolkit are bounded, so
concentration inequalities give such guarantees without a normal approximation.

**Mean (Bernstein).** For i.i.d. :math:`X_i` with variance :math:`\sigma^2` and
:math:`|X_i - \mu| \le b`,
:math:`P(|\bar X - \mu| \ge t) \le 2\exp\!\big(-\frac{N t^2}{2\sigma^2 + 2bt/3}\big)`; the radius
at level :math:`\delta` solves the equality:

.. math::

    t = \frac{bL}{3N} + \sqrt{\Big(\frac{bL}{3N}\Big)^2 + \frac{2\sigma^2 L}{N}},\qquad
    L = \log(2/\delta).

Under the null hypothesis the exact layer supplies :math:`\sigma^2 = \Sigma_{jj}`.

**Covariance trace (empirical Bernstein).** With :math:`Y_i = \|x_i - \mu\|^2 \in [0, R]` and
:math:`\mathbb E Y = \mathrm{tr}\,\Sigma` under the null, Maurer and Pontil (2009, Thm. 4) give,
for the sample variance :math:`V_N` of :math:`Y`, applied to both tails,

.. math::

    P\Big(|\bar Y - \mathbb E Y| \ge \sqrt{\tfrac{2 V_N L}{N}} + \tfrac{7 R L}{3(N-1)}\Big)
    \le \delta,\qquad L = \log(4/\delta).

:func:`check_against_exact` runs the :math:`D` coordinate tests and the trace test with the level
split evenly (a union bound), so that the probability of rejecting a correct estimator is at most
``delta`` in total. When the draws come from a law within total variation :math:`\tau` of the
exact one (the :math:`2^{-32}` quantisation of arm probabilities,
:func:`quantisation_total_variation`), the radii grow by the largest possible bias: :math:`2 b_j
\tau` for coordinate :math:`j` with
:math:`|x_j| \le b_j`, and :math:`R\tau` for the trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from grpo_theory._validate import check_group_size, check_nonnegative, check_real
from grpo_theory.exact.estimators import Estimator, as_estimator, count_advantages
from grpo_theory.montecarlo.engine import MCMoments

__all__ = [
    "DEFAULT_DELTA",
    "bernstein_radius",
    "empirical_bernstein_radius",
    "mean_abs_advantage_bound",
    "score_bounds",
    "quantisation_total_variation",
    "AgreementCheck",
    "check_against_exact",
    "normal_interval",
    "bandit_agreement",
]

DEFAULT_DELTA = 1e-6
"""The false-positive probability of one agreement check (all its coordinates together)."""


def _check_level(delta: Any) -> float:
    d = float(delta)
    if not 0.0 < d < 1.0:
        raise ValueError(f"delta must be in (0, 1); got {delta!r}")
    return d


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    return int(n)


def bernstein_radius(variance: float, bound: float, n: int, delta: float) -> float:
    r"""Bernstein radius :math:`t` with :math:`P(|\bar X - \mu| \ge t) \le \delta`.

    Args:
        variance: :math:`\sigma^2 \ge 0` of one draw.
        bound: :math:`b \ge 0` with :math:`|X - \mu| \le b` almost surely.
        n: number of draws, ``>= 2``.
        delta: level in :math:`(0, 1)`.

    Returns:
        The radius :math:`t`.

    Example:
        >>> round(bernstein_radius(1.0, 0.0, 10_000, 1e-6), 5)
        0.05387
    """
    check_nonnegative(variance, "variance")
    check_nonnegative(bound, "bound")
    n = _check_n(n)
    L = math.log(2.0 / _check_level(delta))
    a = bound * L / (3.0 * n)
    return a + math.sqrt(a * a + 2.0 * variance * L / n)


def empirical_bernstein_radius(sample_variance: float, value_range: float, n: int,
                               delta: float) -> float:
    r"""Two-sided empirical Bernstein radius (Maurer and Pontil 2009, Thm. 4).

    Args:
        sample_variance: the unbiased sample variance :math:`V_N` of the draws.
        value_range: :math:`R` with every draw in an interval of length :math:`R`.
        n: number of draws, ``>= 2``.
        delta: level in :math:`(0, 1)`.

    Returns:
        :math:`\sqrt{2 V_N L / N} + 7 R L / (3(N-1))` with :math:`L = \log(4/\delta)`.

    Example:
        >>> round(empirical_bernstein_radius(0.0, 1.0, 1001, 1e-6), 6)
        0.035471
    """
    check_nonnegative(sample_variance, "sample_variance")
    check_nonnegative(value_range, "value_range")
    n = _check_n(n)
    L = math.log(4.0 / _check_level(delta))
    return math.sqrt(2.0 * sample_variance * L / n) + 7.0 * value_range * L / (3.0 * (n - 1))


def mean_abs_advantage_bound(
    estimator: Estimator | str,
    G: int,
    rewards: Any,
    epsilon: float = 0.0,
    baseline: float = 0.0,
) -> float:
    r"""An upper bound on :math:`\frac1G\sum_i |A_i|` over every group of rewards from ``rewards``.

    Binary rewards (``rewards`` within :math:`\{0, 1\}`): the exact maximum over the number of
    correct responses, from :func:`~grpo_theory.exact.estimators.count_advantages`. Otherwise,
    with :math:`\Delta = \max r - \min r`: GRPO :math:`\le 1` (population std; Bessel
    :math:`\sqrt{(G-1)/G}`) by Cauchy-Schwarz, Dr. GRPO :math:`\le \Delta/2`, RLOO
    :math:`\le \frac{G}{G-1}\Delta/2`, REINFORCE :math:`\le \max|r - b|`.

    Args:
        estimator: an estimator name.
        G: group size, ``>= 2``.
        rewards: the possible reward values (for example the arms' rewards).
        epsilon: :math:`\epsilon \ge 0`.
        baseline: REINFORCE's constant baseline.

    Returns:
        The bound.

    Example:
        >>> mean_abs_advantage_bound("grpo", 2, [1.0, 0.0])
        1.0
    """
    est = as_estimator(estimator)
    check_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    r = np.asarray(rewards, dtype=float).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)):
        raise ValueError("rewards must be a non-empty array of finite values")
    if np.all((r == 0.0) | (r == 1.0)):
        k = np.arange(G + 1)
        plus, minus = count_advantages(est, G, k, epsilon, baseline)
        return float(np.max((k * np.abs(plus) + (G - k) * np.abs(minus)) / G))
    spread = float(r.max() - r.min())
    if est is Estimator.GRPO:
        return 1.0
    if est is Estimator.GRPO_BESSEL:
        return math.sqrt((G - 1) / G)
    if est is Estimator.DR_GRPO:
        return spread / 2.0
    if est is Estimator.RLOO:
        return G / (G - 1) * spread / 2.0
    return float(np.max(np.abs(r - baseline)))


def score_bounds(probs: Any) -> tuple[np.ndarray, float]:
    r"""Bounds on the score :math:`e_a - \pi` of a softmax bandit.

    Returns:
        ``(coordinate, norm)``: :math:`\max_a |(e_a - \pi)_j| = \max(\pi_j, 1 - \pi_j)` per
        coordinate, and :math:`\max_a \|e_a - \pi\| = \max_a\sqrt{1 - 2\pi_a + \|\pi\|^2}`.

    Example:
        >>> c, n = score_bounds([0.5, 0.5])
        >>> c.tolist(), round(n, 6)
        ([0.5, 0.5], 0.707107)
    """
    pi = np.asarray(probs, dtype=float)
    return np.maximum(pi, 1.0 - pi), float(np.sqrt(np.max(1.0 - 2.0 * pi + pi @ pi)))


def quantisation_total_variation(G: int, K: int) -> float:
    r"""Total-variation bound :math:`G K 2^{-33}` of the group law's :math:`2^{-32}` quantisation.

    Each arm probability is realised within :math:`2^{-32}`, so one rollout's law is within
    :math:`K 2^{-33}` in total variation and a group's within :math:`G K 2^{-33}`; an expectation
    of a quantity bounded by :math:`M` moves by at most :math:`2 M` times this.
    """
    return G * K * 2.0**-33


@dataclass(frozen=True)
class AgreementCheck:
    r"""Outcome of :func:`check_against_exact`.

    Attributes:
        agrees: no coordinate and not the trace exceeded its radius.
        n: Monte Carlo draws.
        delta: the total false-positive probability.
        mean_error: :math:`|\bar x_j - \mu_j|` per coordinate.
        mean_radius: the Bernstein radius per coordinate.
        trace_mc: :math:`\bar Y`, the mean of :math:`\|x_i - \mu\|^2`.
        trace_exact: :math:`\mathrm{tr}\,\Sigma`.
        trace_radius: the empirical Bernstein radius of :math:`\bar Y`.
        worst_ratio: the largest error-to-radius ratio (``> 1`` means rejection).
    """

    agrees: bool
    n: int
    delta: float
    mean_error: np.ndarray
    mean_radius: np.ndarray
    trace_mc: float
    trace_exact: float
    trace_radius: float
    worst_ratio: float

    @property
    def mean_agrees(self) -> bool:
        """Every coordinate of the mean within its radius."""
        return bool(np.all(self.mean_error <= self.mean_radius))

    @property
    def trace_agrees(self) -> bool:
        """The covariance trace within its radius."""
        return abs(self.trace_mc - self.trace_exact) <= self.trace_radius

    def summary(self) -> str:
        """One line: the verdict and the worst error-to-radius ratio."""
        verdict = "agrees" if self.agrees else "rejected"
        return (f"{verdict} at total false-positive probability {self.delta:g} with N = {self.n}: "
                f"worst error/radius {self.worst_ratio:.3g} (mean max "
                f"{float(np.max(self.mean_error / self.mean_radius)):.3g}, trace "
                f"{abs(self.trace_mc - self.trace_exact) / self.trace_radius:.3g})")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"agrees": self.agrees, "mean_agrees": self.mean_agrees,
                "trace_agrees": self.trace_agrees, "n": self.n, "delta": self.delta,
                "mean_error": self.mean_error.tolist(), "mean_radius": self.mean_radius.tolist(),
                "trace_mc": self.trace_mc, "trace_exact": self.trace_exact,
                "trace_radius": self.trace_radius, "worst_ratio": self.worst_ratio}


def check_against_exact(
    mc: MCMoments,
    exact_mean: Any,
    exact_cov: Any,
    *,
    coordinate_bound: Any,
    norm_bound: float,
    delta: float = DEFAULT_DELTA,
    total_variation: float = 0.0,
) -> AgreementCheck:
    r"""Test Monte Carlo moments against exact ones with total false-positive probability ``delta``.

    Args:
        mc: Monte Carlo moments of :math:`x` (``cov="full"``).
        exact_mean: :math:`\mu`, shape ``[D]``.
        exact_cov: :math:`\Sigma`, shape ``[D, D]``.
        coordinate_bound: :math:`|x_j| \le` this almost surely (scalar or ``[D]``).
        norm_bound: :math:`\|x\| \le` this almost surely.
        delta: total level in :math:`(0, 1)`, split over the :math:`D` coordinates and the trace.
        total_variation: a bound :math:`\tau` on the total-variation distance between the law
            the draws come from and the exact one (module docstring).

    Returns:
        :class:`AgreementCheck`.
    """
    mu = np.asarray(exact_mean, dtype=float)
    cov = np.asarray(exact_cov, dtype=float)
    D = mu.size
    if mu.shape != (mc.dim,) or cov.shape != (D, D):
        raise ValueError(f"exact_mean must have shape ({mc.dim},) and exact_cov ({mc.dim}, "
                         f"{mc.dim}); got {mu.shape} and {cov.shape}")
    delta = _check_level(delta)
    check_nonnegative(total_variation, "total_variation")
    check_nonnegative(norm_bound, "norm_bound")
    cb = np.broadcast_to(np.asarray(coordinate_bound, dtype=float), (D,))
    if np.any(cb < 0):
        raise ValueError("coordinate_bound must be non-negative")
    each = delta / (D + 1)
    var = np.maximum(np.diag(cov), 0.0)
    radius = np.array([bernstein_radius(var[j], cb[j] + abs(mu[j]), mc.n, each)
                       for j in range(D)]) + 2.0 * cb * total_variation
    error = np.abs(mc.mean - mu)
    y_mean, y_var = mc.squared_deviation(mu)
    y_range = (norm_bound + float(np.linalg.norm(mu))) ** 2
    t_radius = empirical_bernstein_radius(y_var, y_range, mc.n, each) + y_range * total_variation
    t_exact = float(np.trace(cov))
    ratios = np.concatenate([error / radius, [abs(y_mean - t_exact) / t_radius]])
    worst = float(np.max(ratios))
    return AgreementCheck(
        agrees=worst <= 1.0, n=mc.n, delta=delta, mean_error=error, mean_radius=radius,
        trace_mc=y_mean, trace_exact=t_exact, trace_radius=t_radius, worst_ratio=worst,
    )


def normal_interval(estimate: Any, stderr: Any, level: float = 0.95) -> tuple[Any, Any]:
    r"""The normal confidence interval :math:`\hat\theta \pm z_{(1+\ell)/2}\,\mathrm{se}`.

    Args:
        estimate: point estimate(s).
        stderr: standard error(s), non-negative.
        level: confidence level in :math:`(0, 1)`.

    Returns:
        ``(low, high)``.

    Example:
        >>> lo, hi = normal_interval(1.0, 0.1)
        >>> round(lo, 4), round(hi, 4)
        (0.804, 1.196)
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    se = np.asarray(stderr, dtype=float)
    if np.any(se < 0):
        raise ValueError("stderr must be non-negative")
    z = float(sps.norm.ppf(0.5 + level / 2.0))
    est = np.asarray(estimate, dtype=float)
    lo, hi = est - z * se, est + z * se
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def bandit_agreement(
    key: Any,
    logits: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str,
    n_samples: int,
    *,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    draw_estimator: Estimator | str | None = None,
    draw_baseline: float | None = None,
    dtype: Any = "float64",
    delta: float = DEFAULT_DELTA,
    path: str = "auto",
) -> AgreementCheck:
    r"""Monte Carlo draws of an estimator on a softmax bandit against its exact moments.

    The exact side is :func:`grpo_theory.exact.bandit.bandit_estimator_moments`, with the closed
    forms for binary rewards and the enumeration oracle otherwise. The draws use the same
    estimator unless ``draw_estimator`` / ``draw_baseline`` say otherwise (a power check: a
    wrong estimator must be rejected). The bounds of :func:`check_against_exact` come from
    :func:`mean_abs_advantage_bound` (of the drawn estimator) and :func:`score_bounds`, the
    total-variation allowance from :func:`quantisation_total_variation`.

    Args:
        key: a JAX PRNG key or an int seed.
        logits, rewards, G, estimator, epsilon, baseline: the bandit and the exact estimator.
        n_samples: Monte Carlo groups, ``>= 2``.
        draw_estimator: the estimator the draws use (default ``estimator``).
        draw_baseline: the REINFORCE baseline of the draws (default ``baseline``).
        dtype: ``"float32"`` or ``"float64"`` for the draws.
        delta: total false-positive probability.
        path: the sampling path of :func:`~grpo_theory.montecarlo.bandit.bandit_sampler`.

    Returns:
        :class:`AgreementCheck`.
    """
    from grpo_theory.exact.bandit import _check_bandit, _softmax, bandit_estimator_moments
    from grpo_theory.montecarlo.bandit import mc_bandit_moments

    z, r = _check_bandit(logits, rewards)
    binary = bool(np.all((r == 0.0) | (r == 1.0)))
    exact = bandit_estimator_moments(z, r, G, estimator, epsilon,
                                     "exact" if binary else "enumerate", baseline)
    drawn = estimator if draw_estimator is None else draw_estimator
    b_draw = baseline if draw_baseline is None else draw_baseline
    mc = mc_bandit_moments(key, z, r, G, drawn, n_samples, epsilon=epsilon, baseline=b_draw,
                           dtype=dtype, path=path)
    pi = _softmax(z)
    m_abs = mean_abs_advantage_bound(drawn, G, r, epsilon, b_draw)
    coord, norm = score_bounds(pi)
    return check_against_exact(mc, exact.mean, exact.cov, coordinate_bound=m_abs * coord,
                               norm_bound=m_abs * norm, delta=delta,
                               total_variation=quantisation_total_variation(G, pi.size))
