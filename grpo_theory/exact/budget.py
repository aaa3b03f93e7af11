r"""Fixed-budget comparisons: variance, bias, MSE and SNR per rollout against the group size.

At a rollout budget :math:`B = QG` per step, a batch holds :math:`Q` prompts drawn i.i.d. from a
prompt population and :math:`G` rollouts of each. The batch estimator
:math:`\hat g_B = \frac1Q\sum_{j=1}^Q \hat g_{q_j}` has

.. math::

   \mathbb E[\hat g_B] = \mathbb E_q\,\mathbb E[\hat g \mid q], \qquad
   \mathrm{Cov}[\hat g_B] = \frac1Q\Big(\underbrace{\mathrm{Cov}_q\,\mathbb E[\hat g\mid q]}
   _{\text{between prompts}} + \underbrace{\mathbb E_q\,\mathrm{Cov}[\hat g \mid q]}
   _{\text{within prompts}}\Big).

**The logistic difficulty model.** Each prompt :math:`q` is a two-outcome policy (correct or not)
whose logit is :math:`u + v\,t_q` with the prompt feature :math:`t_q = \mathrm{logit}(p_q)`,
evaluated at :math:`(u, v) = (0, 1)`, so that its success probability is :math:`p_q`. The
parameters :math:`(u, v)` are shared by all prompts, so an update on one prompt moves the
others. The score of a response with reward :math:`r` is :math:`s = (r - p_q)(1, t_q)`, hence
:math:`\mu^+ = (1-p_q)(1, t_q)`, :math:`\mu^- = -p_q(1, t_q)` and :math:`\Sigma^\pm = 0`: all the
randomness of a group is in its number of correct responses. The target direction is the
gradient of the mean success probability,
:math:`g^* = \nabla\,\mathbb E_q[p_q] = \mathbb E_q[p_q(1-p_q)(1, t_q)]`. Every estimator's mean
is :math:`\mathbb E_q[c_G(p_q)\,p_q(1-p_q)(1, t_q)]`: when the weight :math:`c_G(p)` varies with
:math:`p` the estimator is biased in *direction*, not only in scale.

Reported per group size: variance :math:`\mathrm{tr}\,\mathrm{Cov}[\hat g_B]` (and its between /
within split), squared bias :math:`\|\mathbb E\hat g_B - g^*\|^2`, MSE, the signal-to-noise
ratio :math:`\|\mathbb E\hat g_B\|^2/\mathrm{tr}\,\mathrm{Cov}`, the SNR per rollout (SNR divided
by :math:`B`), and the MSE at the best step size
:math:`\min_\lambda \mathbb E\|\lambda\hat g_B - g^*\|^2` relative to :math:`\|g^*\|^2`, which
compares estimators whose scales differ (a learning rate absorbs a scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from grpo_theory._validate import check_group_size, check_nonnegative, check_positive
from grpo_theory.exact.binary import count_sums
from grpo_theory.exact.estimators import Estimator

__all__ = [
    "Population",
    "BudgetRow",
    "budget_row",
    "budget_table",
    "divisor_group_sizes",
    "prompt_features",
    "recommend",
    "variance_spread",
]


@dataclass(frozen=True)
class Population:
    r"""A prompt population: success rates :math:`p_q` with probabilities :math:`w_q`.

    Attributes:
        p: success rates in :math:`[0, 1]`, shape ``[N]``.
        weights: non-negative probabilities summing to 1, shape ``[N]``.
        description: how the population was made (for reports).
    """

    p: np.ndarray
    weights: np.ndarray
    description: str

    @classmethod
    def from_rates(cls, rates: Sequence[float]) -> Population:
        """An empirical population: each rate one prompt, equally likely."""
        p = np.asarray(rates, dtype=float)
        if p.ndim != 1 or p.size == 0:
            raise ValueError("rates must be a non-empty list of success rates")
        bad = ~np.isfinite(p) | (p < 0) | (p > 1)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"rates must lie in [0, 1], got {p[i]} at index {i}")
        return cls(p, np.full(p.size, 1.0 / p.size), f"{p.size} prompts with given success rates")

    @classmethod
    def from_beta(cls, a: float, b: float, nodes: int = 96) -> Population:
        r"""A difficulty distribution :math:`p \sim \mathrm{Beta}(a, b)`, discretised exactly.

        Uses Gauss-Jacobi quadrature (``scipy.special.roots_jacobi``): the ``nodes``-point rule
        integrates every polynomial in :math:`p` of degree below ``2 * nodes`` exactly against
        the Beta density.
        """
        check_positive(a, "a")
        check_positive(b, "b")
        if not isinstance(nodes, int) or nodes < 2:
            raise ValueError(f"nodes must be an integer >= 2, got {nodes!r}")
        # Jacobi weight (1-x)^alpha (1+x)^beta on [-1, 1]; p = (1+x)/2 gives p^(a-1)(1-p)^(b-1).
        with np.errstate(all="ignore"):
            x, w = special.roots_jacobi(nodes, b - 1.0, a - 1.0)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(w)) and np.all(w >= 0)
                and w.sum() > 0):
            # scipy's weights overflow for parameters in the thousands: the same rule from the
            # eigen-decomposition of the Jacobi matrix (Golub-Welsch), whose weights are the
            # squared first components of the eigenvectors.
            x, w = _gauss_jacobi_golub_welsch(nodes, b - 1.0, a - 1.0)
        p = (1.0 + x) / 2.0
        return cls(p, w / w.sum(), f"Beta({a:g}, {b:g}), {nodes}-node Gauss-Jacobi rule")


def _gauss_jacobi_golub_welsch(n: int, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and (unnormalised) weights of the :math:`n`-point Gauss-Jacobi rule for the weight
    :math:`(1-x)^\alpha(1+x)^\beta` from the monic three-term recurrence
    :math:`a_k = \frac{\beta^2-\alpha^2}{(2k+\alpha+\beta)(2k+\alpha+\beta+2)}`,
    :math:`b_k = \frac{4k(k+\alpha)(k+\beta)(k+\alpha+\beta)}{(2k+\alpha+\beta)^2
    (2k+\alpha+\beta+1)(2k+\alpha+\beta-1)}`."""
    from scipy.linalg import eigh_tridiagonal

    k = np.arange(n, dtype=float)
    s = 2.0 * k + alpha + beta
    diag = (beta**2 - alpha**2) / (s * (s + 2.0))
    diag[0] = (beta - alpha) / (alpha + beta + 2.0)
    k1 = k[1:]
    s1 = s[1:]
    off = 4.0 * k1 * (k1 + alpha) * (k1 + beta) * (k1 + alpha + beta) / (
        s1**2 * (s1 + 1.0) * (s1 - 1.0))
    x, v = eigh_tridiagonal(diag, np.sqrt(off))
    return x, v[0] ** 2


@dataclass(frozen=True)
class BudgetRow:
    """One group size at a fixed rollout budget (see the module docstring)."""

    estimator: str
    group_size: int
    prompts: int
    budget: int
    variance: float
    variance_between: float
    variance_within: float
    bias_sq: float
    mse: float
    snr: float
    snr_per_rollout: float
    relative_mse_best_step: float
    silent_fraction: float
    signal_groups: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def prompt_features(p: np.ndarray) -> np.ndarray:
    """The prompt features ``(1, logit p)``, shape ``[N, 2]``; prompts with p in {0, 1} get
    ``(1, 0)`` (they carry no gradient)."""
    interior = (p > 0) & (p < 1)
    t = np.zeros_like(p)
    t[interior] = special.logit(p[interior])
    return np.stack([np.ones_like(p), t], axis=-1)


def budget_row(
    population: Population,
    estimator: Estimator | str,
    G: int,
    budget: int,
    epsilon: float = 0.0,
) -> BudgetRow:
    """Variance, bias, MSE and SNR of the batch estimator at ``budget = Q * G`` rollouts.

    Args:
        population: the prompt population.
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2`` dividing ``budget``.
        budget: rollouts per step :math:`B`.
        epsilon: :math:`\\epsilon \\ge 0` of the std-normalised estimators.

    Returns:
        A :class:`BudgetRow`.
    """
    check_group_size(G)
    check_group_size(budget, name="budget")
    check_nonnegative(epsilon, "epsilon")
    if budget % G:
        raise ValueError(f"G must divide the budget: budget = {budget}, G = {G}")
    Q = budget // G
    p, w = population.p, population.weights
    x = prompt_features(p)  # [N, 2]
    s = count_sums(estimator, G, p, epsilon)
    mu_plus = (1.0 - p)[:, None] * x
    mu_minus = -p[:, None] * x
    mean_q = s.mean_a[:, None] * mu_plus + s.mean_b[:, None] * mu_minus  # E[g | q]
    # tr Cov(g | q); Sigma+- = 0 in this model, so only the count randomness remains.
    tr_within_q = (s.var_a * np.sum(mu_plus**2, -1) + s.var_b * np.sum(mu_minus**2, -1)
                   + 2 * s.cov_ab * np.sum(mu_plus * mu_minus, -1))
    mean = w @ mean_q
    between = float(w @ np.sum((mean_q - mean) ** 2, -1)) / Q
    within = float(w @ tr_within_q) / Q
    variance = between + within
    target = w @ ((p * (1.0 - p))[:, None] * x)
    bias_sq = float(np.sum((mean - target) ** 2))
    mean_sq = float(np.sum(mean**2))
    target_sq = float(np.sum(target**2))
    snr = mean_sq / variance if variance > 0 else float("inf")
    second_moment = variance + mean_sq
    best = (1.0 - float(mean @ target) ** 2 / (target_sq * second_moment)
            if target_sq > 0 and second_moment > 0 else float("nan"))
    silent = float(w @ s.silent)
    return BudgetRow(
        estimator=Estimator(estimator).value, group_size=G, prompts=Q, budget=budget,
        variance=variance, variance_between=between, variance_within=within, bias_sq=bias_sq,
        mse=variance + bias_sq, snr=snr, snr_per_rollout=snr / budget,
        relative_mse_best_step=best, silent_fraction=silent, signal_groups=Q * (1.0 - silent),
    )


def divisor_group_sizes(budget: int, max_group_size: int | None = None) -> list[int]:
    """Every group size ``G >= 2`` that divides ``budget`` (at most ``max_group_size``)."""
    check_group_size(budget, name="budget")
    top = budget if max_group_size is None else min(budget, max_group_size)
    return [G for G in range(2, top + 1) if budget % G == 0]


def budget_table(
    population: Population,
    budget: int,
    group_sizes: Sequence[int] | None = None,
    estimators: Sequence[Estimator | str] = (Estimator.GRPO,),
    epsilon: float = 0.0,
) -> list[BudgetRow]:
    """:func:`budget_row` for every estimator and group size (default: divisors of the budget)."""
    sizes = list(group_sizes) if group_sizes is not None else divisor_group_sizes(budget, 64)
    if not sizes:
        raise ValueError(f"no group size >= 2 divides the budget {budget}")
    return [budget_row(population, est, G, budget, epsilon) for est in estimators for G in sizes]


def recommend(rows: Sequence[BudgetRow]) -> dict[str, dict[str, Any]]:
    """For each estimator, the group size of least MSE at the best step size, of least raw MSE,
    and of largest SNR per rollout."""
    out: dict[str, dict[str, Any]] = {}
    for est in dict.fromkeys(r.estimator for r in rows):
        mine = [r for r in rows if r.estimator == est]
        out[est] = {
            "min_mse_best_step": min(mine, key=lambda r: r.relative_mse_best_step).group_size,
            "min_mse": min(mine, key=lambda r: r.mse).group_size,
            "max_snr_per_rollout": max(mine, key=lambda r: r.snr_per_rollout).group_size,
        }
    return out


def variance_spread(rows: Sequence[BudgetRow], rtol: float = 0.1) -> dict[str, dict[str, Any]]:
    """Does the variance depend on the group size at this budget (paper v2 Lemma 5.3, §5.3)?

    For each estimator: the ratio of the largest to the smallest batch variance over the group
    sizes in ``rows``, and whether it is within ``1 + rtol`` ("batch size, not group size").
    """
    check_nonnegative(rtol, "rtol")
    out: dict[str, dict[str, Any]] = {}
    for est in dict.fromkeys(r.estimator for r in rows):
        var = np.array([r.variance for r in rows if r.estimator == est])
        ratio = float(var.max() / var.min()) if var.min() > 0 else float("inf")
        out[est] = {"variance_ratio": ratio, "holds_within": rtol,
                    "holds": bool(ratio <= 1.0 + rtol)}
    return out
