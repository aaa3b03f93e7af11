r"""Counterfactual group sizes for a logged run, from the exact engine and the fitted difficulty.

Given the run's difficulty distribution :math:`p \sim \mathrm{Beta}(\hat a, \hat b)`
(:mod:`grpo_theory.analyze.difficulty`) and its rollout budget :math:`B` per step, every group
size :math:`G` in the candidates and every advantage convention gets the exact fixed-budget
moments of :func:`grpo_theory.exact.budget.budget_row` (the logistic difficulty model: a batch of
:math:`Q = B/G` prompts, :math:`G` rollouts each):

* the variance :math:`\mathrm{tr}\,\mathrm{Cov}[\hat g_B]`, the MSE against
  :math:`\nabla\,\mathbb E_q[p_q]`, the SNR per rollout, and the MSE at the best step size
  relative to :math:`\|g^*\|^2` (the fair comparison across conventions whose scales differ);
* the fraction of silent groups :math:`\mathbb E[p^G + (1-p)^G]`;
* the mean expected-gradient weight :math:`\mathbb E_p[c_G(p)]`
  (:func:`grpo_theory.exact.binary.expected_gradient_weight`).

Each number carries a delta-method interval propagated from the fit's covariance
(:meth:`~grpo_theory.analyze.difficulty.BetaBinomialFit.interval`). The recommended group size is
the candidate of least relative MSE at the best step size; its uncertainty is the spread of the
recommendation over parameter draws from the fit's normal approximation.

The budget is the run's when every candidate divides it; otherwise the nearest positive multiple
of their least common multiple (the report says so), so that every candidate gets whole groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grpo_theory._validate import check_int, check_nonnegative, check_probability
from grpo_theory.analyze.difficulty import BetaBinomialFit, Estimate, json_number
from grpo_theory.exact.binary import expected_gradient_weight
from grpo_theory.exact.budget import Population, budget_row, recommend
from grpo_theory.exact.estimators import as_estimator

__all__ = [
    "GROUP_SIZES",
    "CONVENTIONS",
    "Prediction",
    "Recommendation",
    "prediction_budget",
    "predict",
    "recommend_group_size",
]

GROUP_SIZES = (2, 4, 8, 16, 32)
"""Default candidate group sizes."""
CONVENTIONS = ("grpo", "grpo-bessel", "dr-grpo", "rloo")
"""Advantage conventions compared: population std, Bessel's std (verl, TRL), mean-centred
(Dr. GRPO), leave-one-out."""
NODES = 64
"""Gauss-Jacobi nodes of the fitted Beta distribution."""

_POSITIVE = ("variance", "mse", "snr_per_rollout", "weight_mean")
_UNIT = ("relative_mse_best_step", "silent_fraction")


def prediction_budget(budget: int, group_sizes: Sequence[int]) -> int:
    """The budget at which every candidate group size makes whole groups: ``budget`` itself if
    they all divide it, else the nearest positive multiple of their least common multiple.

    Example:
        >>> prediction_budget(1024, (2, 4, 8, 16, 32)), prediction_budget(1000, (2, 4, 8, 16, 32))
        (1024, 992)
    """
    check_int(budget, "budget", 1)
    lcm = math.lcm(*[check_int(G, "group_sizes", 2) for G in group_sizes])
    if budget % lcm == 0:
        return budget
    return max(lcm, lcm * round(budget / lcm))


@dataclass(frozen=True)
class Prediction:
    """Predicted fixed-budget moments of one convention at one group size (with intervals)."""

    group_size: int
    convention: str
    prompts: int
    budget: int
    variance: Estimate
    mse: Estimate
    snr_per_rollout: Estimate
    relative_mse_best_step: Estimate
    silent_fraction: Estimate
    weight_mean: Estimate
    bias_sq: float

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group_size": self.group_size, "convention": self.convention,
                               "prompts": self.prompts, "budget": self.budget}
        for name in (*_POSITIVE, *_UNIT):
            est: Estimate = getattr(self, name)
            out[name] = json_number(est.value)
            out[name + "_interval"] = [json_number(est.low), json_number(est.high)]
        out["bias_sq"] = self.bias_sq
        return out


def _values(a: float, b: float, convention: str, G: int, budget: int, epsilon: float,
            names: Sequence[str]) -> np.ndarray:
    pop = Population.from_beta(a, b, nodes=NODES)
    row = budget_row(pop, convention, G, budget, epsilon)
    weight = float(pop.weights @ expected_gradient_weight(convention, G, pop.p, epsilon))
    values = {**row.as_dict(), "weight_mean": weight}
    return np.array([values[n] for n in names], dtype=float)


def predict(
    fit: BetaBinomialFit,
    budget: int,
    group_sizes: Sequence[int] = GROUP_SIZES,
    conventions: Sequence[str] = CONVENTIONS,
    *,
    epsilon: float = 0.0,
    level: float = 0.95,
) -> list[Prediction]:
    r"""Exact fixed-budget predictions for every convention and candidate group size.

    Args:
        fit: the run's difficulty fit.
        budget: rollouts per step; every group size must divide it (see
            :func:`prediction_budget`).
        group_sizes: candidate group sizes, each ``>= 2``.
        conventions: advantage conventions (names of
            :class:`~grpo_theory.exact.estimators.Estimator`).
        epsilon: :math:`\epsilon \ge 0` added to the std by the std-normalised conventions.
        level: confidence level of the intervals.

    Returns:
        One :class:`Prediction` per convention and group size, conventions outermost.
    """
    check_int(budget, "budget", 2)
    check_nonnegative(epsilon, "epsilon")
    check_probability(level, "level", open_interval=True)
    sizes = _dividing_sizes(group_sizes, budget)
    names = (*_POSITIVE, *_UNIT, "bias_sq")
    scales = ["log"] * len(_POSITIVE) + ["logit"] * len(_UNIT) + ["linear"]
    out = []
    for conv in conventions:
        conv = as_estimator(conv).value
        for G in sizes:
            est = fit.interval(lambda a, b, c=conv, g=G: _values(a, b, c, g, budget, epsilon,
                                                                names), level, scales)
            named = dict(zip(names, est, strict=True))
            bias = named.pop("bias_sq").value
            out.append(Prediction(group_size=G, convention=conv, prompts=budget // G,
                                  budget=budget, bias_sq=bias, **named))
    return out


def _dividing_sizes(group_sizes: Sequence[int], budget: int) -> list[int]:
    """The group sizes as ints, each ``>= 2`` and dividing ``budget`` (else a ValueError)."""
    sizes = [check_int(G, "group_sizes", 2) for G in group_sizes]
    for G in sizes:
        if budget % G:
            raise ValueError(f"every group size must divide the budget {budget}; got {G}")
    return sizes


@dataclass(frozen=True)
class Recommendation:
    """The group size of least relative MSE at the best step size, for one convention.

    Attributes:
        convention: the advantage convention.
        group_size: the recommendation at the fitted parameters.
        interval: the 2.5% and 97.5% quantiles of the recommendation over ``draws`` parameter
            draws from the fit's normal approximation (``None`` when the fit is unreliable).
        support: group size -> fraction of the draws recommending it.
        by_criterion: the choice under each criterion of
            :func:`grpo_theory.exact.budget.recommend` at the fitted parameters.
        draws: number of parameter draws.
    """

    convention: str
    group_size: int
    interval: tuple[int, int] | None
    support: dict[int, float]
    by_criterion: dict[str, int]
    draws: int

    def as_dict(self) -> dict[str, Any]:
        return {"convention": self.convention, "group_size": self.group_size,
                "interval": list(self.interval) if self.interval else None,
                "support": {str(k): v for k, v in self.support.items()},
                "by_criterion": self.by_criterion, "draws": self.draws}


def _choice(a: float, b: float, convention: str, sizes: Sequence[int], budget: int,
            epsilon: float) -> dict[str, int]:
    pop = Population.from_beta(a, b, nodes=NODES)
    rows = [budget_row(pop, convention, G, budget, epsilon) for G in sizes]
    return recommend(rows)[convention]


def recommend_group_size(
    fit: BetaBinomialFit,
    budget: int,
    convention: str = "grpo-bessel",
    group_sizes: Sequence[int] = GROUP_SIZES,
    *,
    epsilon: float = 0.0,
    draws: int = 200,
    seed: int = 0,
) -> Recommendation:
    """The recommended group size at ``budget`` and its spread over the fit's uncertainty.

    Args:
        fit: the run's difficulty fit.
        budget: rollouts per step, divisible by every group size.
        convention: the advantage convention of the run.
        group_sizes: the candidates.
        epsilon: the std's :math:`\\epsilon`.
        draws: parameter draws for the spread (``0``: none).
        seed: seed of the draws (the result is deterministic).

    Returns:
        A :class:`Recommendation`.
    """
    conv = as_estimator(convention).value
    check_int(draws, "draws", 0)
    sizes = _dividing_sizes(group_sizes, budget)
    best = _choice(fit.a, fit.b, conv, sizes, budget, epsilon)
    interval, support = None, {}
    if draws and fit.reliable:
        rng = np.random.default_rng(seed)
        theta = rng.multivariate_normal(np.log([fit.a, fit.b]), fit.cov_log, size=draws)
        picks = np.array([_choice(*np.exp(t), conv, sizes, budget, epsilon)["min_mse_best_step"]
                          for t in theta])
        lo, hi = np.quantile(picks, [0.025, 0.975], method="inverted_cdf")
        interval = (int(lo), int(hi))
        support = {G: float(np.mean(picks == G)) for G in sizes if np.any(picks == G)}
    return Recommendation(conv, best["min_mse_best_step"], interval, support, best, draws)
