r"""Analyse a logged run: diagnostics per step and over the run, the difficulty fit, and the
counterfactual group sizes of the exact engine.

:func:`analyze_log` turns a :class:`~grpo_theory.analyze.rollouts.RolloutLog` into a
:class:`RunAnalysis`:

1. **Rewards.** Two distinct values are *binary* (the larger is a success). More are
   *continuous*: the difficulty model then needs successes, and a rollout counts as one when its
   reward is at least a threshold (by default the midpoint of the smallest and largest reward);
   the report says so. The silent fraction (groups whose rewards are all equal) is measured on
   the raw rewards and on the successes.
2. **Difficulty.** A beta-binomial fit of the successes of every group
   (:mod:`grpo_theory.analyze.difficulty`) over the whole run, with intervals, a goodness-of-fit
   test, and one fit per window of consecutive steps, since difficulty drifts as training goes.
3. **Silent groups against their expectation.** The expected silent fraction of each group is
   :math:`\mathbb E[p^n + (1-p)^n]` under its window's fit; the run's observed count is compared
   with the sum of these probabilities (a normal approximation of a Poisson-binomial count).
4. **Counterfactuals** at the run's rollout budget per step
   (:mod:`grpo_theory.analyze.counterfactual`): variance, MSE, SNR per rollout, silent fraction
   and mean expected-gradient weight for every candidate group size and convention, and the
   recommended group size, each with an interval propagated from the whole-run fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from grpo_theory._validate import check_int, check_nonnegative, check_probability, check_real
from grpo_theory.analyze.counterfactual import (
    CONVENTIONS,
    GROUP_SIZES,
    Prediction,
    Recommendation,
    predict,
    prediction_budget,
    recommend_group_size,
)
from grpo_theory.analyze.difficulty import (
    BetaBinomialFit,
    Estimate,
    expected_silent,
    fit_beta_binomial,
    goodness_of_fit,
    json_number,
    window_bounds,
    z_value,
)
from grpo_theory.analyze.rollouts import RolloutLog
from grpo_theory.exact.estimators import as_estimator

__all__ = ["RewardSummary", "Window", "RunAnalysis", "binarise", "detect_convention",
           "analyze_log", "DEFAULT_CONVENTION"]

DEFAULT_CONVENTION = "grpo-bessel"
"""The convention assumed when none is given or detected: Bessel's std, as verl and TRL."""


@dataclass(frozen=True)
class RewardSummary:
    """How the rewards were read: ``kind`` is ``binary``, ``continuous`` or ``constant``;
    a rollout is a success when its reward is ``>= threshold``."""

    kind: str
    threshold: float
    values: tuple[float, ...]
    mean: float
    minimum: float
    maximum: float

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "threshold": self.threshold, "values": list(self.values),
                "mean": self.mean, "min": self.minimum, "max": self.maximum}


def binarise(log: RolloutLog, threshold: float | None = None
             ) -> tuple[np.ndarray, RewardSummary]:
    """Successes per group and how the rewards were read (see the module docstring).

    Args:
        log: the run.
        threshold: a reward ``>= threshold`` is a success (default: the larger value of binary
            rewards, the midpoint of the range otherwise).

    Returns:
        ``(successes [M], summary)``.

    Example:
        >>> log = RolloutLog.from_rollouts([0] * 4, [0, 0, 1, 1], [0.0, 1.0, 1.0, 1.0])
        >>> k, summary = binarise(log)
        >>> k.tolist(), summary.kind
        ([1, 2], 'binary')
    """
    r = log.rewards
    values = np.unique(r)
    lo, hi = float(values[0]), float(values[-1])
    kind = "constant" if values.size == 1 else "binary" if values.size == 2 else "continuous"
    if threshold is None:
        threshold = hi if kind != "continuous" else (lo + hi) / 2.0
    else:
        check_real(threshold, "threshold")
        threshold = float(threshold)
    shown = tuple(float(v) for v in values[:2]) if values.size <= 2 else ()
    success = (r >= threshold).astype(np.int64)
    k = log.group_reduce(np.add, success)
    return k, RewardSummary(kind, float(threshold), shown, float(r.mean()), lo, hi)


@dataclass(frozen=True)
class Window:
    """A range of consecutive steps with its own difficulty fit."""

    first_step: int
    last_step: int
    groups: int
    fit: BetaBinomialFit
    silent_observed: float
    silent_expected: float
    silent_2grpo: float
    recommended_group_size: int
    mean_success: float

    def as_dict(self, level: float) -> dict[str, Any]:
        return {"first_step": self.first_step, "last_step": self.last_step,
                "groups": self.groups, "mean_success": self.mean_success,
                "fit": {"a": self.fit.a, "b": self.fit.b, "mean": self.fit.mean,
                        "overdispersion": self.fit.overdispersion,
                        "reliable": self.fit.reliable},
                "silent_fraction": self.silent_observed,
                "silent_fraction_expected": self.silent_expected,
                "silent_fraction_2grpo": self.silent_2grpo,
                "recommended_group_size": self.recommended_group_size}


@dataclass(frozen=True)
class RunAnalysis:
    """Everything :func:`analyze_log` finds; :meth:`as_dict` is the ``--json`` output."""

    log: RolloutLog
    rewards: RewardSummary
    successes: np.ndarray
    fit: BetaBinomialFit
    goodness: dict[str, Any]
    windows: list[Window]
    silent_observed: Estimate
    silent_binarised: float
    silent_expected: Estimate
    silent_z: float
    budget: int
    prediction_budget: int
    convention: str
    convention_source: str
    convention_detection: dict[str, Any] | None
    epsilon: float
    level: float
    predictions: list[Prediction]
    recommendation: Recommendation
    silent_2grpo: Estimate
    per_step: dict[str, np.ndarray]
    notes: tuple[str, ...] = field(default=())

    @property
    def group_size(self) -> int:
        """The most common group size."""
        return _modal(self.log.sizes)

    @property
    def silent_consistent(self) -> bool:
        """Whether the observed silent count is within the ``level`` band of its expectation."""
        return bool(abs(self.silent_z) <= z_value(self.level))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (the schema of ``grpo-theory analyze --json``); a number
        that is not finite (an interval the fit cannot give) is ``None``."""
        return _jsonable(self._dict())

    def _dict(self) -> dict[str, Any]:
        sizes, counts = np.unique(self.log.sizes, return_counts=True)
        return {
            "source": self.log.source, "format": self.log.format,
            "rollouts": self.log.n_rollouts, "steps": int(self.log.steps.size),
            "groups": self.log.n_groups, "group_size": self.group_size,
            "group_sizes": {str(int(s)): int(c) for s, c in zip(sizes, counts, strict=True)},
            "prompts_per_step": float(np.median(self.per_step["groups"])),
            "rollouts_per_step": self.budget,
            "reward": self.rewards.as_dict(),
            "skipped": dict(self.log.skipped), "notes": list(self.log.notes + self.notes),
            "level": self.level,
            "silent_fraction": self.silent_observed.value,
            "silent_fraction_interval": [self.silent_observed.low, self.silent_observed.high],
            "silent_fraction_binarised": self.silent_binarised,
            "silent_fraction_expected": json_number(self.silent_expected.value),
            "silent_fraction_expected_interval": [json_number(self.silent_expected.low),
                                                  json_number(self.silent_expected.high)],
            "silent_z": json_number(self.silent_z), "silent_consistent": self.silent_consistent,
            "difficulty_fit": {**self.fit.as_dict(self.level), "goodness_of_fit": self.goodness},
            "windows": [w.as_dict(self.level) for w in self.windows],
            "convention": self.convention, "convention_source": self.convention_source,
            "convention_detected": self.convention_detection, "epsilon": self.epsilon,
            "prediction_budget": self.prediction_budget,
            "recommended_group_size": self.recommendation.group_size,
            "recommended_group_size_interval": (list(self.recommendation.interval)
                                                if self.recommendation.interval else None),
            "recommendation": self.recommendation.as_dict(),
            "silent_fraction_2grpo": json_number(self.silent_2grpo.value),
            "silent_fraction_2grpo_interval": [json_number(self.silent_2grpo.low),
                                               json_number(self.silent_2grpo.high)],
            "predictions": [p.as_dict() for p in self.predictions],
            "per_step": {k: v.tolist() for k, v in self.per_step.items()},
        }


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        return json_number(x)
    return x


def _modal(x: np.ndarray) -> int:
    values, counts = np.unique(x, return_counts=True)
    return int(values[np.argmax(counts)])


def _per_step(log: RolloutLog, k: np.ndarray, silent: np.ndarray, expected: np.ndarray
              ) -> dict[str, np.ndarray]:
    steps, starts, groups = np.unique(log.group_step, return_index=True, return_counts=True)
    sizes = log.sizes

    def per(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values.astype(float), starts)

    rollouts = _rollouts_per_step(log.group_step, sizes)
    out = {
        "step": steps, "groups": groups, "rollouts": rollouts,
        "group_size": np.array([_modal(sizes[s:s + g]) for s, g in zip(starts, groups,
                                                                         strict=True)]),
        "silent_fraction": per(silent) / groups,
        "silent_fraction_expected": per(expected) / groups,
        "success_rate": per(k) / rollouts,
        "mean_reward": per(log.group_reduce(np.add)) / rollouts,
    }
    if log.completion_length is not None:
        out["completion_length"] = per(log.group_reduce(np.add, log.completion_length)) / rollouts
    return out


def analyze_log(
    log: RolloutLog,
    *,
    convention: str | None = None,
    group_sizes: tuple[int, ...] = GROUP_SIZES,
    conventions: tuple[str, ...] = CONVENTIONS,
    windows: int = 8,
    threshold: float | None = None,
    epsilon: float = 0.0,
    level: float = 0.95,
    draws: int = 200,
) -> RunAnalysis:
    r"""Diagnostics, difficulty fit and counterfactual group sizes of a logged run.

    Args:
        log: the run.
        convention: the run's advantage convention (the recommendation is for it); by default
            the one :func:`detect_convention` finds in the logged advantages, else
            :data:`DEFAULT_CONVENTION`.
        group_sizes: candidate group sizes of the counterfactuals.
        conventions: conventions of the prediction table.
        windows: at most this many windows of consecutive steps get their own fit.
        threshold: success threshold of the rewards (see :func:`binarise`).
        epsilon: :math:`\epsilon \ge 0` of the std-normalised conventions.
        level: confidence level of every interval, in (0, 1).
        draws: parameter draws for the recommendation's spread.

    Returns:
        A :class:`RunAnalysis`.
    """
    detection = detect_convention(log)
    if convention is not None:
        convention, source = as_estimator(convention).value, "given"
    elif detection is not None and detection["estimator"] is not None:
        convention, source = detection["estimator"], "detected from the logged advantages"
    else:
        convention, source = DEFAULT_CONVENTION, "default"
    conventions = tuple(as_estimator(c).value for c in conventions)
    if convention not in conventions:
        conventions = (*conventions, convention)
    check_int(windows, "windows", 1)
    check_nonnegative(epsilon, "epsilon")
    check_probability(level, "level", open_interval=True)
    sizes = log.sizes
    k, rewards = binarise(log, threshold)
    fit = fit_beta_binomial(k, sizes)
    goodness = goodness_of_fit(fit, k, sizes)
    silent_raw = log.silent()
    silent_bin = (k == 0) | (k == sizes)
    notes: list[str] = []
    if rewards.kind == "continuous":
        notes.append(f"continuous rewards: a rollout counts as a success when its reward is "
                     f">= {rewards.threshold:g}; the difficulty fit and predictions use these "
                     "successes")
    if not fit.reliable:
        notes.append("the difficulty fit is unreliable (on a bound or singular): the rates show "
                     "no overdispersion, or every group is solved or failed alike")

    # Windows: a fit each, the expected silent probability of each group under its window.
    # Each window's fit gives its groups' silent probabilities; the uncertainty of the expected
    # count adds up over windows (independent fits, delta method; 0 for an unreliable fit).
    steps = log.steps
    rollouts_per_step = _rollouts_per_step(log.group_step, sizes)
    expected = np.empty(log.n_groups)
    fit_var_count = 0.0
    wins: list[Window] = []
    for first, last in window_bounds(steps, log.group_step, windows):
        mine = (log.group_step >= first) & (log.group_step <= last)
        wfit = fit_beta_binomial(k[mine], sizes[mine])
        expected[mine] = expected_silent(wfit.a, wfit.b, sizes[mine])
        se = wfit.standard_error(lambda a, b, n=sizes[mine]: np.sum(expected_silent(a, b, n)))
        fit_var_count += float(se[0]) ** 2 if np.isfinite(se[0]) else 0.0
        in_window = (steps >= first) & (steps <= last)
        wbudget = prediction_budget(_modal(rollouts_per_step[in_window]), group_sizes)
        rec = recommend_group_size(wfit, wbudget, convention, group_sizes, epsilon=epsilon,
                                   draws=0)
        wins.append(Window(first, last, int(mine.sum()), wfit, float(silent_bin[mine].mean()),
                           float(expected[mine].mean()),
                           float(expected_silent(wfit.a, wfit.b, 2)), rec.group_size,
                           float(k[mine].sum() / sizes[mine].sum())))

    M = log.n_groups
    observed = int(silent_raw.sum())
    ci = stats.binomtest(observed, M).proportion_ci(level, method="wilson")
    silent_observed = Estimate(observed / M, float(ci.low), float(ci.high), level)
    # Expected count: the sum of the groups' silent probabilities; its spread is the
    # Poisson-binomial variance plus the windows' fit uncertainty.
    mean_count = float(expected.sum())
    sd = np.sqrt(float(np.sum(expected * (1 - expected))) + fit_var_count)
    silent_z = float((int(silent_bin.sum()) - mean_count) / sd) if sd > 0 else 0.0
    half = z_value(level) * sd / M
    silent_expected = Estimate(mean_count / M, max(0.0, mean_count / M - half),
                               min(1.0, mean_count / M + half), level)

    budget = _modal(rollouts_per_step)
    pbudget = prediction_budget(budget, group_sizes)
    if pbudget != budget:
        notes.append(f"the run's budget of {budget} rollouts per step is not divisible by every "
                     f"candidate group size; predictions are made at {pbudget}")
    predictions = predict(fit, pbudget, group_sizes, conventions, epsilon=epsilon, level=level)
    recommendation = recommend_group_size(fit, pbudget, convention, group_sizes,
                                          epsilon=epsilon, draws=draws)
    silent_2grpo = fit.interval(lambda a, b: float(expected_silent(a, b, 2)), level, "logit")
    return RunAnalysis(
        log=log, rewards=rewards, successes=k, fit=fit, goodness=goodness, windows=wins,
        silent_observed=silent_observed, silent_binarised=float(silent_bin.mean()),
        silent_expected=silent_expected, silent_z=silent_z, budget=budget,
        prediction_budget=pbudget, convention=convention, convention_source=source,
        convention_detection=detection, epsilon=float(epsilon), level=level,
        predictions=predictions, recommendation=recommendation, silent_2grpo=silent_2grpo,
        per_step=_per_step(log, k, silent_raw, expected), notes=tuple(notes))


_DETECTABLE = ("grpo-bessel", "grpo", "dr-grpo", "rloo", "batch-std")
"""Advantage rules :func:`detect_convention` can recognise; ``batch-std`` is the group-centred
reward divided by the step's reward std (TRL ``scale_rewards="batch"``)."""


def detect_convention(log: RolloutLog, rtol: float = 2e-3, agreement: float = 0.99
                      ) -> dict[str, Any] | None:
    r"""The advantage convention that reproduces the logged advantages, if any.

    Only groups whose rewards differ and whose advantages were all logged count. For each rule
    of :data:`_DETECTABLE` the advantages it gives to those rewards are compared with the logged
    ones, within ``rtol`` of :math:`\max(1, |A|)` (so an :math:`\epsilon` up to about
    :math:`10^{-4}` added to a std still matches; Bessel's and the population std differ by at
    least :math:`\sqrt{G/(G-1)} - 1 > 0.8\%` for :math:`G \le 64`).

    Args:
        log: the run; without logged advantages there is nothing to detect.
        rtol: relative tolerance of a match.
        agreement: fraction of the compared rollouts a rule must match.

    Returns:
        ``None`` without logged advantages, else ``{"rule", "estimator", "matched", "groups"}``:
        the matching rule (``None`` if none matches), the exact-engine estimator used for it
        (``dr-grpo`` for ``batch-std``, whose scale is the same for every group of a step), the
        fraction of rollouts each rule matched, and the number of groups compared.

    Example:
        >>> log = RolloutLog.from_rollouts([0] * 4, [0, 0, 1, 1], [1.0, 0.0, 0.0, 1.0],
        ...                                advantages=[0.5, -0.5, -0.5, 0.5])
        >>> detect_convention(log)["rule"]
        'dr-grpo'
    """
    if log.advantages is None:
        return None
    sizes = log.sizes
    logged = log.advantages
    finite = log.group_reduce(np.logical_and, np.isfinite(logged))
    use = finite & ~log.silent()
    if not use.any():
        return {"rule": None, "estimator": None, "matched": {}, "groups": 0}
    rows = np.repeat(use, sizes)
    n = np.repeat(sizes, sizes).astype(float)
    mean = np.repeat(log.group_means(), sizes)
    centred = log.rewards - mean
    pop_sd = np.sqrt(np.repeat(log.group_reduce(np.add, centred**2), sizes) / n)
    # Rollouts are ordered by step (groups are), so each step is one slice of the rewards.
    _, first = np.unique(log.group_step, return_index=True)
    starts = log.offsets[first]
    count = np.diff(np.r_[starts, log.n_rollouts]).astype(float)
    total = np.add.reduceat(log.rewards, starts)
    square = np.add.reduceat(log.rewards**2, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.maximum(square - total**2 / count, 0.0) / (count - 1)
    step_sd = np.repeat(np.sqrt(var), count.astype(np.int64))
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = {
            "grpo-bessel": centred / (pop_sd * np.sqrt(n / (n - 1))),
            "grpo": centred / pop_sd,
            "dr-grpo": centred,
            "rloo": centred * n / (n - 1),
            "batch-std": centred / step_sd,
        }
    matched = {}
    for rule, values in predicted.items():
        ok = np.abs(values[rows] - logged[rows]) <= rtol * np.maximum(1.0, np.abs(logged[rows]))
        matched[rule] = float(ok.mean())
    best = max(matched, key=matched.get)
    rule = best if matched[best] >= agreement else None
    estimator = None if rule is None else ("dr-grpo" if rule == "batch-std" else rule)
    return {"rule": rule, "estimator": estimator, "matched": matched, "groups": int(use.sum())}


def _rollouts_per_step(group_step: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    _, first = np.unique(group_step, return_index=True)
    return np.add.reduceat(sizes, first)
