r"""Does the analyser recover the truth? Checks of :func:`~grpo_theory.analyze.analysis.analyze_log`
on synthetic runs with known success rates.

A :class:`~grpo_theory.analyze.synthetic.SyntheticRun` knows the true success probability
:math:`p_j` of every logged group. The *true* difficulty distribution is then
:math:`\mathrm{Beta}(a, b)` when the rates were drawn from one, and otherwise the empirical
distribution of the :math:`p_j` (each logged group one prompt, equally weighted: the population
the analyser's fit describes). Every prediction of the analyser (variance, relative MSE at the best
step size, SNR per rollout and silent fraction, for every convention and candidate group size) has
a true value: the same exact-engine quantity (:func:`grpo_theory.exact.budget.budget_row`) on the
true distribution. :func:`recovery` checks that each true value lies in the analyser's interval.

**Error control.** With :math:`K` compared quantities each interval is taken at level
:math:`1 - \delta/K`, so by the union bound all of them cover the truth with probability at least
:math:`1 - \delta` *under the normal approximation of the maximum-likelihood fit*, when the rates
are Beta-distributed; for other distributions the check measures how far the Beta model carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grpo_theory._validate import check_probability
from grpo_theory.analyze.analysis import analyze_log
from grpo_theory.analyze.counterfactual import CONVENTIONS, GROUP_SIZES, prediction_budget
from grpo_theory.analyze.synthetic import SyntheticRun
from grpo_theory.exact.budget import Population, budget_row

__all__ = ["QUANTITIES", "Recovery", "true_population", "recovery"]

QUANTITIES = ("variance", "relative_mse_best_step", "snr_per_rollout", "silent_fraction")
"""The predicted quantities compared with the truth."""


def true_population(run: SyntheticRun, nodes: int = 96) -> Population:
    """The run's true difficulty distribution: its Beta law if it has one, else the empirical
    distribution of the groups' true success rates."""
    if run.truth_beta is not None:
        return Population.from_beta(*run.truth_beta, nodes=nodes)
    return Population.from_rates(run.truth_p)


@dataclass(frozen=True)
class Recovery:
    """The outcome of :func:`recovery`.

    Attributes:
        rows: one dict per compared quantity: ``name``, ``convention``, ``group_size``,
            ``truth``, ``estimate``, ``low``, ``high``, ``covered``, ``relative_error``.
        level: the level of each interval, :math:`1 - \\delta/K`.
        delta: the overall false-positive probability (normal approximation).
        mean: ``(truth, estimate, low, high)`` of the mean success rate.
        fit_contains_truth: whether the fit's confidence ellipse contains the true
            :math:`(a, b)` (``None`` without a Beta truth).
    """

    rows: list[dict[str, Any]]
    level: float
    delta: float
    mean: tuple[float, float, float, float]
    fit_contains_truth: bool | None

    @property
    def covered(self) -> bool:
        """Whether every true value lies in its interval (and the mean, and the ellipse)."""
        mean_ok = self.mean[2] <= self.mean[0] <= self.mean[3]
        return (all(r["covered"] for r in self.rows) and mean_ok
                and self.fit_contains_truth is not False)

    @property
    def worst(self) -> dict[str, Any]:
        """The row with the largest relative error."""
        return max(self.rows, key=lambda r: r["relative_error"])

    def as_dict(self) -> dict[str, Any]:
        return {"covered": self.covered, "level": self.level, "delta": self.delta,
                "mean": list(self.mean), "fit_contains_truth": self.fit_contains_truth,
                "quantities": len(self.rows), "uncovered": [r for r in self.rows
                                                             if not r["covered"]],
                "worst": self.worst}


def recovery(
    run: SyntheticRun,
    *,
    delta: float = 1e-6,
    group_sizes: Sequence[int] = GROUP_SIZES,
    conventions: Sequence[str] = CONVENTIONS,
    truth: Population | None = None,
) -> Recovery:
    r"""Compare the analyser's predictions on ``run`` with the truth (see the module docstring).

    Args:
        run: a synthetic run.
        delta: overall false-positive probability, in (0, 1).
        group_sizes: candidate group sizes.
        conventions: advantage conventions.
        truth: the true difficulty distribution (default :func:`true_population`); a wrong one
            here is how the check's power is tested.

    Returns:
        A :class:`Recovery`.
    """
    check_probability(delta, "delta", open_interval=True)
    pop = true_population(run) if truth is None else truth
    n_quantities = len(QUANTITIES) * len(group_sizes) * len(conventions) + 1
    level = 1.0 - delta / n_quantities
    an = analyze_log(run.log, group_sizes=tuple(group_sizes), conventions=tuple(conventions),
                     convention=conventions[0], windows=1, level=level, draws=0)
    budget = prediction_budget(an.budget, group_sizes)
    rows = []
    for p in an.predictions:
        row = budget_row(pop, p.convention, p.group_size, budget)
        for name in QUANTITIES:
            est = getattr(p, name)
            true = float(getattr(row, name))
            rows.append({"name": name, "convention": p.convention, "group_size": p.group_size,
                         "truth": true, "estimate": est.value, "low": est.low, "high": est.high,
                         "covered": bool(est.low <= true <= est.high),
                         "relative_error": abs(est.value - true) / abs(true) if true else 0.0})
    fit = an.fit
    m = fit.interval(lambda a, b: a / (a + b), level, "logit")
    true_mean = float(pop.weights @ pop.p)
    contains = None
    if truth is None and run.truth_beta is not None:
        contains = fit.contains(*run.truth_beta, 1.0 - delta / n_quantities)
    return Recovery(rows, level, delta, (true_mean, m.value, m.low, m.high), contains)

