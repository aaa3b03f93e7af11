r"""The arithmetic behind the paper's headline numbers, recomputed from its tables.

The paper (arXiv 2510.00977) summarises its experiments in a few numbers: 2-GRPO uses 12.5% of
16-GRPO's rollouts, 21% of its training time and keeps 98.1% (v2) or 97.6% (v3) of its
performance. This module recomputes such numbers from the tables in :mod:`grpo_theory.paper.tables`.

Rollouts
    With :math:`P` training prompts, group size :math:`G` and :math:`E` epochs a run generates
    :math:`P\,G\,E` rollouts (paper v2 App. C.2): :func:`rollout_count`, :func:`rollout_fraction`.

Ratios
    A ratio of totals, :math:`\sum_i a_i / \sum_i b_i`, and a mean of ratios,
    :math:`\frac1n \sum_i a_i / b_i`, differ in general (:func:`ratio_of_sums`,
    :func:`mean_of_ratios`); the paper does not say which one it reports, so
    :func:`retention_aggregations` computes every natural choice.

Printed differences
    :func:`compare_v2_deltas` and :func:`compare_v3_gaps` set every printed difference next to the
    one recomputed from the printed scores and say whether they agree to the printed precision
    (:func:`printed_agreement`).

Discard rate of 2-GRPO
    A pair of rollouts of a prompt with success probability :math:`r` carries no signal when both
    rewards agree, which happens with probability

    .. math::

       D(r) = r^2 + (1-r)^2 = \tfrac12 + \tfrac12 (2r-1)^2 \ \ge\ \tfrac12 .

    The paper's printed estimate (v3 App. D.3) is :math:`1 - r^2 - (1-r)^2 = 2r(1-r) \le \tfrac12`,
    the probability of the complementary event (a kept pair). Inverting :math:`D(r) = P` gives
    :math:`r = (1 \pm \sqrt{2P-1})/2` for :math:`P \ge \tfrac12`. When prompts differ, plugging
    the batch mean :math:`\bar r = \mathbb E_q\, p_q` into :math:`D` underestimates the discard
    rate:

    .. math::

       \mathbb E_q\, D(p_q) - D(\bar r) = 2\,\mathrm{Var}_q(p_q) \ \ge\ 0 .

All functions are pure. The discard-rate functions accept numbers (returning floats) or sympy
expressions (returning sympy expressions), so the same code is proved symbolically.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import sympy as sp

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_positive,
    check_probability,
)
from grpo_theory.paper.tables import (
    BENCHMARKS,
    METRICS,
    PerBenchmark,
    PrintedNumber,
    Setting,
    V2PrintedDeltaRow,
    V2Table1Row,
    V3PrintedGapRow,
    V3Table1Row,
    V3Table4Row,
    _TwoMetrics,
    find_row,
)
from grpo_theory.symbolic._derivation import Derivation, Step, derivation

__all__ = [
    "TRAIN_PROMPTS",
    "EPOCHS",
    "rollout_count",
    "rollout_fraction",
    "ratio_of_sums",
    "mean_of_ratios",
    "relative_change_pct",
    "time_ratios",
    "Aggregation",
    "METRIC_SELECTIONS",
    "performance_retention",
    "RetentionResult",
    "retention_aggregations",
    "qwen_settings",
    "DeltaRow",
    "recompute_deltas",
    "printed_agreement",
    "Comparison",
    "compare_v2_deltas",
    "compare_v3_gaps",
    "mismatches",
    "rounding_explains",
    "row_mean",
    "compare_averages",
    "CellDifference",
    "compare_rows",
    "printed_discard_formula",
    "kept_pair_probability",
    "discard_probability",
    "mean_reward_from_discard",
    "expected_discard_rate",
    "discard_jensen_gap",
    "weighted_variance",
    "discard_rate_derivation",
]

TRAIN_PROMPTS = 7500
"""Training prompts per epoch: the MATH train split, and the DAPO-Math-Sub subset of equal size."""

EPOCHS = 10
"""Training epochs of every run of the paper."""


# ----------------------------------------------------------------------------------------------
# Rollouts and ratios
# ----------------------------------------------------------------------------------------------


def rollout_count(group_size: int, prompts: int = TRAIN_PROMPTS, epochs: int = EPOCHS) -> int:
    r"""Number of rollouts a run generates, :math:`P\,G\,E`.

    Args:
        group_size: rollouts per prompt :math:`G \ge 1`.
        prompts: training prompts per epoch :math:`P \ge 1`.
        epochs: number of epochs :math:`E \ge 1`.

    Returns:
        The exact count.

    Example:
        >>> rollout_count(16), rollout_count(2)
        (1200000, 150000)
    """
    check_group_size(group_size, "group_size", minimum=1)
    check_group_size(prompts, "prompts", minimum=1)
    check_group_size(epochs, "epochs", minimum=1)
    return int(prompts) * int(group_size) * int(epochs)


def rollout_fraction(
    group_size: int,
    reference_group_size: int,
    prompts: int = TRAIN_PROMPTS,
    epochs: int = EPOCHS,
) -> Fraction:
    r"""Exact fraction of rollouts of a run relative to a reference run with the same data.

    .. math::

       \frac{P\,G\,E}{P\,G_{\mathrm{ref}}\,E} = \frac{G}{G_{\mathrm{ref}}}

    Args:
        group_size: group size :math:`G \ge 1` of the run.
        reference_group_size: group size :math:`G_{\mathrm{ref}} \ge 1` of the reference run.
        prompts: training prompts per epoch, ``>= 1``.
        epochs: epochs, ``>= 1``.

    Returns:
        The ratio as a :class:`fractions.Fraction`.

    Example:
        >>> rollout_fraction(2, 16)
        Fraction(1, 8)
    """
    check_group_size(reference_group_size, "reference_group_size", minimum=1)
    return Fraction(rollout_count(group_size, prompts, epochs),
                    rollout_count(reference_group_size, prompts, epochs))


def _pair_arrays(numerators: Iterable[Any], denominators: Iterable[Any]) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    try:
        a = np.asarray(list(numerators), dtype=float)
        b = np.asarray(list(denominators), dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError("numerators and denominators must be sequences of real numbers") from exc
    for arr, name in ((a, "numerators"), (b, "denominators")):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"{name} must not be empty")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
    if a.size != b.size:
        raise ValueError(f"numerators and denominators must have the same length, got {a.size} "
                         f"and {b.size}")
    if np.any(a < 0):
        raise ValueError(f"numerators must be >= 0, got {a[a < 0][0]!r}")
    if np.any(b <= 0):
        raise ValueError(f"denominators must be > 0, got {b[b <= 0][0]!r}")
    return a, b


def ratio_of_sums(numerators: Iterable[float], denominators: Iterable[float]) -> float:
    r"""Ratio of totals :math:`\sum_i a_i \,/\, \sum_i b_i`.

    Args:
        numerators: :math:`a_i \ge 0`, non-empty.
        denominators: :math:`b_i > 0`, same length.

    Returns:
        The ratio.

    Example:
        >>> ratio_of_sums([1, 3], [2, 2])
        1.0
    """
    a, b = _pair_arrays(numerators, denominators)
    return float(a.sum() / b.sum())


def mean_of_ratios(numerators: Iterable[float], denominators: Iterable[float]) -> float:
    r"""Mean of the ratios :math:`\frac1n \sum_i a_i / b_i`.

    Args:
        numerators: :math:`a_i \ge 0`, non-empty.
        denominators: :math:`b_i > 0`, same length.

    Returns:
        The mean ratio.

    Example:
        >>> mean_of_ratios([1, 3], [1, 4])
        0.875
    """
    a, b = _pair_arrays(numerators, denominators)
    return float(np.mean(a / b))


def relative_change_pct(new: float, old: float) -> float:
    r"""Relative change in percent, :math:`100\,(x - x_{\mathrm{old}})/x_{\mathrm{old}}`.

    Args:
        new: the new value :math:`x` (finite).
        old: the reference value :math:`x_{\mathrm{old}} > 0`.

    Returns:
        The change in percent.

    Example:
        >>> relative_change_pct(2.0, 8.0)
        -75.0
    """
    if isinstance(new, bool) or not isinstance(new, numbers.Real):
        raise TypeError(f"new must be a real number, got {type(new).__name__} {new!r}")
    if not math.isfinite(float(new)):
        raise ValueError(f"new must be finite, got {new!r}")
    check_positive(old, "old")
    return 100.0 * (float(new) - float(old)) / float(old)


def _settings_with(rows: Sequence[V2Table1Row], small: str, large: str) -> list[Setting]:
    """Settings (in printed order) with both a ``small`` and a ``large`` row."""
    if not rows:
        raise ValueError("rows must not be empty")
    out: list[Setting] = []
    for r in rows:
        if r.group_size == small and r.setting not in out:
            if any(x.setting == r.setting and x.group_size == large for x in rows):
                out.append(r.setting)
    if not out:
        raise ValueError(f"rows have no setting with both group sizes {small!r} and {large!r}")
    return out


def time_ratios(
    rows: Sequence[V2Table1Row | V3Table1Row], small: str = "2", large: str = "16"
) -> dict[Setting, float]:
    r"""Per-setting ratio of training times :math:`t_{\mathrm{small}} / t_{\mathrm{large}}`.

    Args:
        rows: rows of paper v2 or v3 Table 1.
        small: group size label of the numerator run.
        large: group size label of the denominator run.

    Returns:
        ``{setting: ratio}`` in printed order.

    Example:
        >>> from grpo_theory.paper.tables import load_v2_table1
        >>> round(time_ratios(load_v2_table1())[Setting("MATH", "DS-1.5B")], 4)
        0.1841
    """
    out = {}
    for s in _settings_with(rows, small, large):  # type: ignore[arg-type]
        t_small = find_row(rows, s, small).time_h
        t_large = find_row(rows, s, large).time_h
        if t_small is None or t_large is None:
            raise ValueError(f"rows: setting {s.label} lacks a training time")
        out[s] = ratio_of_sums([t_small], [t_large])
    return out


class Aggregation(enum.StrEnum):
    r"""How per-cell scores of two runs are turned into one retention ratio.

    A *cell* is one (setting, metric, benchmark) score; a *block* is the five benchmark scores
    of one setting and metric.
    """

    RATIO_OF_SUMS = "ratio-of-sums"
    """Sum of all selected cells of the small run over the same sum for the large run."""
    MEAN_OF_SETTING_RATIOS = "mean-of-setting-ratios"
    """Mean over blocks (setting, metric) of the ratio of benchmark averages."""
    MEAN_OF_CELL_RATIOS = "mean-of-cell-ratios"
    """Mean over cells of the per-cell ratio."""


METRIC_SELECTIONS: tuple[tuple[str, ...], ...] = (("mean@32",), ("pass@32",),
                                                  ("mean@32", "pass@32"))
"""The metric selections considered: Mean@32 only, Pass@32 only, both."""


def _metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one of " + ", ".join(METRICS))
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"metrics must be among {', '.join(METRICS)}; got {m!r}")
    return metrics


def _aggregation(aggregation: Any) -> Aggregation:
    try:
        return Aggregation(aggregation)
    except ValueError:
        valid = ", ".join(a.value for a in Aggregation)
        raise ValueError(f"aggregation must be one of {valid}; got {aggregation!r}") from None


def performance_retention(
    rows: Sequence[V2Table1Row],
    metrics: Sequence[str] = ("mean@32",),
    aggregation: Aggregation | str = Aggregation.RATIO_OF_SUMS,
    settings: Sequence[Setting] | None = None,
    small: str = "2",
    large: str = "16",
) -> float:
    r"""Performance of the ``small`` run relative to the ``large`` run, aggregated over cells.

    With cells :math:`c` (setting, metric, benchmark), scores :math:`x_c` (small run) and
    :math:`y_c` (large run), and blocks :math:`k` (setting, metric) of five benchmarks:

    .. math::

       \text{ratio of sums} = \frac{\sum_c x_c}{\sum_c y_c},\quad
       \text{mean of setting ratios} = \frac1K \sum_k \frac{\sum_{c \in k} x_c}
       {\sum_{c \in k} y_c},\quad
       \text{mean of cell ratios} = \frac1C \sum_c \frac{x_c}{y_c}.

    Args:
        rows: rows of paper v2 Table 1 (or any rows with ``mean32`` and ``pass32``).
        metrics: a non-empty selection of ``"mean@32"``, ``"pass@32"``.
        aggregation: one of :class:`Aggregation`.
        settings: the settings to include (all settings with both runs by default).
        small: group size label of the numerator run.
        large: group size label of the denominator run.

    Returns:
        The retention ratio (1 means equal performance).

    Example:
        >>> from grpo_theory.paper.tables import load_v2_table1
        >>> round(performance_retention(load_v2_table1(), ("mean@32", "pass@32"),
        ...                             "mean-of-cell-ratios"), 4)
        0.9818
    """
    metrics = _metrics(metrics)
    agg = _aggregation(aggregation)
    available = _settings_with(rows, small, large)
    if settings is None:
        chosen = available
    else:
        chosen = list(settings)
        if not chosen:
            raise ValueError("settings must not be empty")
        for s in chosen:
            if s not in available:
                raise ValueError(f"settings: {s!r} has no rows for both group sizes {small!r} "
                                 f"and {large!r}")
    blocks = []
    for s in chosen:
        x_row, y_row = find_row(rows, s, small), find_row(rows, s, large)
        for m in metrics:
            blocks.append((list(x_row.metric(m)), list(y_row.metric(m))))
    if agg is Aggregation.RATIO_OF_SUMS:
        return ratio_of_sums([sum(x) for x, _ in blocks], [sum(y) for _, y in blocks])
    if agg is Aggregation.MEAN_OF_SETTING_RATIOS:
        return mean_of_ratios([sum(x) for x, _ in blocks], [sum(y) for _, y in blocks])
    return mean_of_ratios([v for x, _ in blocks for v in x], [v for _, y in blocks for v in y])


class RetentionResult(NamedTuple):
    """One aggregation of a performance table and its value."""

    metrics: tuple[str, ...]
    aggregation: Aggregation
    settings: str
    """Label of the setting selection (e.g. ``"all 5 settings"``)."""
    value: float

    @property
    def label(self) -> str:
        """Readable description of the aggregation."""
        return f"{' + '.join(self.metrics)}, {self.aggregation.value}, {self.settings}"


def qwen_settings(rows: Sequence[V2Table1Row], small: str = "2", large: str = "16"
                  ) -> list[Setting]:
    """The settings of ``rows`` whose model is a Qwen model (those of paper v3 Table 1).

    Example:
        >>> from grpo_theory.paper.tables import load_v2_table1
        >>> len(qwen_settings(load_v2_table1()))
        4
    """
    return [s for s in _settings_with(rows, small, large) if s.model.startswith("Qwen")]


def retention_aggregations(
    rows: Sequence[V2Table1Row],
    setting_groups: Mapping[str, Sequence[Setting]] | None = None,
    small: str = "2",
    large: str = "16",
) -> tuple[RetentionResult, ...]:
    """Every aggregation of :func:`performance_retention`: metrics x aggregation x settings.

    Args:
        rows: rows of paper v2 Table 1.
        setting_groups: labelled setting selections; by default all settings with both runs and
            the Qwen settings.
        small: group size label of the numerator run.
        large: group size label of the denominator run.

    Returns:
        One :class:`RetentionResult` per combination of :data:`METRIC_SELECTIONS`,
        :class:`Aggregation` and setting group.
    """
    if setting_groups is None:
        everything = _settings_with(rows, small, large)
        qwen = qwen_settings(rows, small, large)
        setting_groups = {f"all {len(everything)} settings": everything}
        if qwen and len(qwen) < len(everything):
            setting_groups[f"{len(qwen)} Qwen settings"] = qwen
    if not setting_groups:
        raise ValueError("setting_groups must not be empty")
    return tuple(
        RetentionResult(ms, agg, label,
                        performance_retention(rows, ms, agg, group, small, large))
        for label, group in setting_groups.items()
        for ms in METRIC_SELECTIONS
        for agg in Aggregation
    )


# ----------------------------------------------------------------------------------------------
# Printed differences
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeltaRow(_TwoMetrics):
    """Recomputed differences small minus large run for one setting."""

    setting: Setting
    time_pct: float
    """Relative change of the training time, in percent."""
    mean32: PerBenchmark[float]
    pass32: PerBenchmark[float]


def _diff(x: float, y: float) -> float:
    # Scores carry two decimals: round away the binary noise of the subtraction.
    return round(x - y, 10)


def recompute_deltas(
    rows: Sequence[V2Table1Row], small: str = "2", large: str = "16"
) -> tuple[DeltaRow, ...]:
    r"""Differences :math:`x_{\mathrm{small}} - x_{\mathrm{large}}` of all scores, and time change.

    Args:
        rows: rows of paper v2 Table 1.
        small: group size label of the first run.
        large: group size label of the reference run.

    Returns:
        One :class:`DeltaRow` per setting, in printed order.

    Example:
        >>> from grpo_theory.paper.tables import load_v2_table1
        >>> recompute_deltas(load_v2_table1())[2].pass32.minerva
        0.05
    """
    out = []
    for s in _settings_with(rows, small, large):
        x, y = find_row(rows, s, small), find_row(rows, s, large)
        if x.time_h is None or y.time_h is None:
            raise ValueError(f"rows: setting {s.label} lacks a training time")
        out.append(DeltaRow(
            s, relative_change_pct(x.time_h, y.time_h),
            PerBenchmark(*(_diff(a, b) for a, b in zip(x.mean32, y.mean32, strict=True))),
            PerBenchmark(*(_diff(a, b) for a, b in zip(x.pass32, y.pass32, strict=True))),
        ))
    return tuple(out)


def printed_agreement(computed: float, printed: PrintedNumber, *,
                      allow_truncation: bool = False) -> str:
    r"""How a printed number agrees with a computed one: ``"rounded"``, ``"truncated"`` or ``""``.

    ``"rounded"``: :math:`|x - v| \le \tfrac12 10^{-d}` (``v`` printed with ``d`` decimals).
    ``"truncated"`` (only with ``allow_truncation``): ``v`` is ``x`` with the digits after the
    ``d``-th decimal dropped, :math:`|v| \le |x| < |v| + 10^{-d}` with equal signs. A tolerance of
    :math:`10^{-9}` absorbs binary floating-point noise.

    Args:
        computed: the recomputed value :math:`x`.
        printed: the printed value.
        allow_truncation: also accept truncation.

    Returns:
        ``"rounded"``, ``"truncated"`` or ``""`` (no agreement).

    Example:
        >>> from grpo_theory.paper.tables import parse_printed
        >>> printed_agreement(-75.967, parse_printed("-75.96"), allow_truncation=True)
        'truncated'
    """
    if not isinstance(printed, PrintedNumber):
        raise TypeError(f"printed must be a PrintedNumber, got {type(printed).__name__}")
    x = float(computed)
    if not math.isfinite(x):
        raise ValueError(f"computed must be finite, got {computed!r}")
    tol = 1e-9
    if abs(x - printed.value) <= printed.unit / 2 + tol:
        return "rounded"
    same_sign = printed.value == 0 or (x > 0) == (printed.value > 0)
    if (allow_truncation and same_sign
            and abs(printed.value) - tol <= abs(x) < abs(printed.value) + printed.unit + tol):
        return "truncated"
    return ""


class Comparison(NamedTuple):
    """A printed number next to its recomputed value."""

    label: str
    """Where: setting, column and metric."""
    printed: PrintedNumber
    computed: float
    agreement: str
    """``"rounded"``, ``"truncated"`` or ``""`` (see :func:`printed_agreement`)."""

    @property
    def agrees(self) -> bool:
        """Whether the printed value agrees with the computed one."""
        return bool(self.agreement)


def _compare(label: str, printed: PrintedNumber, computed: float, truncation: bool) -> Comparison:
    return Comparison(label, printed, computed,
                      printed_agreement(computed, printed, allow_truncation=truncation))


def compare_v2_deltas(
    printed: Sequence[V2PrintedDeltaRow],
    rows: Sequence[V2Table1Row],
    *,
    include_scores: bool = True,
    include_time: bool = False,
) -> tuple[Comparison, ...]:
    r"""Compare the printed :math:`\Delta` rows of paper v2 Table 1 with recomputed ones.

    Scores must agree by rounding; time changes (in percent) by rounding or truncation.

    Args:
        printed: the printed rows (:func:`~grpo_theory.paper.tables.load_v2_table1_printed_deltas`).
        rows: the table the differences are recomputed from.
        include_scores: compare the score differences (50 cells for the paper's table).
        include_time: compare the time changes.

    Returns:
        The comparisons, in printed order.
    """
    if not printed:
        raise ValueError("printed must not be empty")
    computed = {d.setting: d for d in recompute_deltas(rows)}
    out = []
    for p in printed:
        if p.setting not in computed:
            raise ValueError(f"printed: setting {p.setting.label} is not in rows")
        c = computed[p.setting]
        if include_time:
            out.append(_compare(f"{p.setting.label}, time %", p.time_pct, c.time_pct, True))
        if include_scores:
            for m in METRICS:
                for b, pv, cv in zip(BENCHMARKS, p.metric(m), c.metric(m), strict=True):
                    out.append(_compare(f"{p.setting.label}, {b} {m}", pv, cv, False))
    return tuple(out)


def compare_v3_gaps(
    printed: Sequence[V3PrintedGapRow],
    rows: Sequence[V3Table1Row],
    *,
    include_scores: bool = True,
    include_time: bool = False,
    reference: str = "16",
) -> tuple[Comparison, ...]:
    """Compare the printed gaps of paper v3 Table 1 with gaps recomputed from its scores.

    Score and Avg gaps must agree by rounding; time gaps (in percent) by rounding or truncation.

    Args:
        printed: the printed gaps (:func:`~grpo_theory.paper.tables.load_v3_table1_printed_gaps`).
        rows: paper v3 Table 1.
        include_scores: compare the benchmark and Avg gaps.
        include_time: compare the time gaps.
        reference: group size label of the reference run.

    Returns:
        The comparisons, in printed order.
    """
    if not printed:
        raise ValueError("printed must not be empty")
    out = []
    for p in printed:
        x, y = find_row(rows, p.setting, p.group_size), find_row(rows, p.setting, reference)
        where = f"{p.setting.label}, {p.group_size}"
        if include_time:
            if x.time_h is None or y.time_h is None:
                raise ValueError(f"rows: {where} lacks a training time")
            out.append(_compare(f"{where}, time %", p.time_pct,
                                relative_change_pct(x.time_h, y.time_h), True))
        if include_scores:
            for b, pv, a, r in zip(BENCHMARKS, p.mean32, x.mean32, y.mean32, strict=True):
                out.append(_compare(f"{where}, {b} mean@32", pv, _diff(a, r), False))
            out.append(_compare(f"{where}, Avg mean@32", p.avg_mean32,
                                _diff(x.avg_mean32, y.avg_mean32), False))
    return tuple(out)


def mismatches(comparisons: Iterable[Comparison]) -> list[Comparison]:
    """The comparisons whose printed value does not agree with the computed one."""
    return [c for c in comparisons if not c.agrees]


def rounding_explains(comparison: Comparison, input_decimals: int = 2, terms: int = 2) -> bool:
    r"""Whether a mismatch could come from computing the printed value before rounding the inputs.

    A difference of ``terms`` printed inputs, each rounded to ``input_decimals`` decimals, is off
    from the difference of the unrounded inputs by at most :math:`\text{terms}\cdot\tfrac12
    10^{-d_{\mathrm{in}}}`; rounding the result adds half a printed unit. A printed value within
    that bound of the recomputed one is a last-digit discrepancy, not an error.

    Args:
        comparison: a comparison of a printed difference.
        input_decimals: decimals of the printed inputs, ``>= 0``.
        terms: number of rounded inputs the value is computed from, ``>= 1``.

    Returns:
        ``True`` if the discrepancy is within the rounding bound.

    Example:
        >>> from grpo_theory.paper.tables import parse_printed
        >>> c = Comparison("AMC", parse_printed("-1.71"), -1.72, "")
        >>> rounding_explains(c)
        True
    """
    if isinstance(input_decimals, bool) or not isinstance(input_decimals, int) or (
            input_decimals < 0):
        raise ValueError(f"input_decimals must be an integer >= 0, got {input_decimals!r}")
    check_group_size(terms, "terms", minimum=1)
    bound = terms * 0.5 * 10.0 ** (-input_decimals) + comparison.printed.unit / 2
    return abs(comparison.printed.value - comparison.computed) <= bound + 1e-9


# ----------------------------------------------------------------------------------------------
# Averages and consistency between tables
# ----------------------------------------------------------------------------------------------


def row_mean(values: Iterable[float]) -> float:
    r"""Arithmetic mean :math:`\frac1n \sum_i x_i` of a non-empty row of finite numbers.

    Example:
        >>> row_mean([1.0, 2.0, 6.0])
        3.0
    """
    arr = np.asarray(list(values), dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("values must be a non-empty one-dimensional sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite")
    return float(arr.mean())


def compare_averages(rows: Sequence[V3Table1Row | V3Table4Row],
                     decimals: int = 2) -> tuple[Comparison, ...]:
    """Compare every printed average of paper v3 Table 1 or Table 4 with the mean of its row.

    Args:
        rows: rows of paper v3 Table 1 (Avg Mean@32) or Table 4 (Average Mean@32 and Pass@32).
        decimals: printed decimals of the averages (two in the paper).

    Returns:
        One comparison per printed average; agreement by rounding.
    """
    if not rows:
        raise ValueError("rows must not be empty")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be an integer >= 0, got {decimals!r}")
    out = []
    for r in rows:
        where = f"{r.setting.label}, {r.group_size}"
        pairs: list[tuple[str, float, PerBenchmark[float]]] = [("mean@32", r.avg_mean32,
                                                                 r.mean32)]
        if isinstance(r, V3Table4Row):
            pairs.append(("pass@32", r.avg_pass32, r.pass32))
        for m, avg, scores in pairs:
            printed = PrintedNumber(avg, decimals, f"{avg:.{decimals}f}")
            out.append(_compare(f"{where}, average {m}", printed, row_mean(scores), False))
    return tuple(out)


class CellDifference(NamedTuple):
    """A cell whose value differs between two tables."""

    setting: Setting
    group_size: str
    benchmark: str
    metric: str
    first: float
    second: float


def compare_rows(
    first: Sequence[V2Table1Row | V3Table1Row | V3Table4Row],
    second: Sequence[V2Table1Row | V3Table1Row | V3Table4Row],
    group_sizes: Sequence[tuple[str, str]],
    metrics: Sequence[str] = ("mean@32",),
    settings: Sequence[Setting] | None = None,
) -> list[CellDifference]:
    """Cells that differ between matching rows of two tables.

    Args:
        first: rows of the first table.
        second: rows of the second table.
        group_sizes: pairs ``(label in first, label in second)`` of rows to match.
        metrics: metrics to compare (both tables must have them).
        settings: settings to compare (those of ``first`` present in ``second`` by default).

    Returns:
        Every :class:`CellDifference` (exact comparison of the printed two-decimal values).
    """
    metrics = _metrics(metrics)
    if not group_sizes:
        raise ValueError("group_sizes must name at least one pair of rows")
    if settings is None:
        seen = {r.setting for r in second}
        settings = list(dict.fromkeys(r.setting for r in first if r.setting in seen))
    out = []
    for s in settings:
        for g1, g2 in group_sizes:
            a, b = find_row(first, s, g1), find_row(second, s, g2)
            for m in metrics:
                va = a.mean32 if m == "mean@32" else getattr(a, "pass32", None)
                vb = b.mean32 if m == "mean@32" else getattr(b, "pass32", None)
                if va is None or vb is None:
                    raise ValueError(f"metrics: {m} is not in both tables")
                for bench, x, y in zip(BENCHMARKS, va, vb, strict=True):
                    if abs(x - y) > 1e-9:
                        out.append(CellDifference(s, g1, bench, m, x, y))
    return out


# ----------------------------------------------------------------------------------------------
# Discard rate of 2-GRPO
# ----------------------------------------------------------------------------------------------


def _is_sympy(*xs: Any) -> bool:
    return any(isinstance(x, sp.Basic) for x in xs)


def printed_discard_formula(r: Any) -> Any:
    r"""The paper's printed discard estimate :math:`1 - r^2 - (1-r)^2` (paper v3 App. D.3).

    It equals :math:`2r(1-r) \le \tfrac12`, the probability that a pair is *kept*.

    Args:
        r: mean reward :math:`r \in [0, 1]` (number or sympy expression).

    Returns:
        The value (float for numeric input, sympy expression otherwise).

    Example:
        >>> printed_discard_formula(0.5)
        0.5
    """
    check_probability(r, "r")
    value = 1 - r**2 - (1 - r) ** 2
    return value if _is_sympy(r) else float(value)


def kept_pair_probability(r: Any) -> Any:
    r"""Probability :math:`2r(1-r)` that a pair of rollouts disagrees (carries signal).

    Args:
        r: success probability :math:`r \in [0, 1]` (number or sympy expression).

    Returns:
        The probability.

    Example:
        >>> kept_pair_probability(0.25)
        0.375
    """
    check_probability(r, "r")
    value = 2 * r * (1 - r)
    return value if _is_sympy(r) else float(value)


def discard_probability(r: Any) -> Any:
    r"""Probability :math:`r^2 + (1-r)^2` that a pair of rollouts agrees and is discarded.

    Args:
        r: success probability :math:`r \in [0, 1]` (number or sympy expression).

    Returns:
        The probability, at least :math:`\tfrac12`.

    Example:
        >>> discard_probability(0.25)
        0.625
    """
    check_probability(r, "r")
    value = r**2 + (1 - r) ** 2
    return value if _is_sympy(r) else float(value)


def mean_reward_from_discard(P: Any) -> tuple[Any, Any]:
    r"""Invert :math:`r^2 + (1-r)^2 = P`: the two solutions :math:`r = (1 \mp \sqrt{2P-1})/2`.

    Args:
        P: discard probability, :math:`\tfrac12 \le P \le 1` (number, or sympy number/expression).

    Returns:
        ``(r_low, r_high)`` with ``r_low = 1 - r_high``, floats for numeric input.

    Raises:
        ValueError: if ``P`` is outside ``[1/2, 1]`` (no real solution below 1/2).

    Example:
        >>> mean_reward_from_discard(0.625)
        (0.25, 0.75)
    """
    check_probability(P, "P")
    symbolic = _is_sympy(P)
    if not (symbolic and sp.sympify(P).free_symbols) and float(P) < 0.5:
        raise ValueError(f"P must be >= 1/2 (a pair's discard probability r^2 + (1-r)^2 is never "
                         f"below 1/2), got {P!r}")
    if symbolic:
        root = sp.sqrt(2 * P - 1)
        return (1 - root) / 2, (1 + root) / 2
    root = math.sqrt(max(2.0 * float(P) - 1.0, 0.0))
    return (1.0 - root) / 2.0, (1.0 + root) / 2.0


def _distribution(probabilities: Sequence[Any], weights: Sequence[Any] | None
                  ) -> tuple[list[Any], list[Any], bool]:
    if isinstance(probabilities, np.ndarray):
        probabilities = probabilities.tolist()
    p = list(probabilities)
    if not p:
        raise ValueError("probabilities must not be empty")
    for i, x in enumerate(p):
        check_probability(x, f"probabilities[{i}]")
    if weights is None:
        w: list[Any] = [sp.Rational(1, len(p)) if _is_sympy(*p) else 1.0 / len(p)] * len(p)
    else:
        if isinstance(weights, np.ndarray):
            weights = weights.tolist()
        w = list(weights)
        if len(w) != len(p):
            raise ValueError(f"weights must have the same length as probabilities, got {len(w)} "
                             f"and {len(p)}")
        for i, x in enumerate(w):
            check_nonnegative(x, f"weights[{i}]")
        if not _is_sympy(*w) and abs(sum(float(x) for x in w) - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got {sum(float(x) for x in w)!r}")
    return p, w, _is_sympy(*p, *w)


def expected_discard_rate(probabilities: Sequence[Any],
                          weights: Sequence[Any] | None = None) -> Any:
    r"""Discard rate of a batch of prompts, :math:`\mathbb E_q[p_q^2 + (1-p_q)^2]`.

    Args:
        probabilities: per-prompt success probabilities :math:`p_q \in [0, 1]`, non-empty.
        weights: prompt probabilities :math:`w_q \ge 0` summing to 1 (uniform by default;
            symbolic weights are not checked for their sum).

    Returns:
        :math:`\sum_q w_q\,(p_q^2 + (1-p_q)^2)`.

    Example:
        >>> expected_discard_rate([0.0, 1.0])
        1.0
    """
    p, w, symbolic = _distribution(probabilities, weights)
    value = sum((wi * discard_probability(pi) for wi, pi in zip(w, p, strict=True)),
                sp.Integer(0) if symbolic else 0.0)
    return value if symbolic else float(value)


def weighted_variance(probabilities: Sequence[Any], weights: Sequence[Any] | None = None) -> Any:
    r"""Variance :math:`\sum_q w_q (p_q - \bar r)^2` with :math:`\bar r = \sum_q w_q p_q`.

    Args:
        probabilities: values :math:`p_q \in [0, 1]`, non-empty.
        weights: probabilities :math:`w_q \ge 0` summing to 1 (uniform by default).

    Returns:
        The variance.

    Example:
        >>> weighted_variance([0.0, 1.0])
        0.25
    """
    p, w, symbolic = _distribution(probabilities, weights)
    zero: Any = sp.Integer(0) if symbolic else 0.0
    mean = sum((wi * pi for wi, pi in zip(w, p, strict=True)), zero)
    value = sum((wi * (pi - mean) ** 2 for wi, pi in zip(w, p, strict=True)), zero)
    return value if symbolic else float(value)


def discard_jensen_gap(probabilities: Sequence[Any], weights: Sequence[Any] | None = None) -> Any:
    r"""Underestimate of the discard rate when the batch mean reward is plugged in.

    .. math::

       \mathbb E_q\big[p_q^2 + (1-p_q)^2\big] - \big(\bar r^2 + (1-\bar r)^2\big),
       \qquad \bar r = \mathbb E_q\, p_q ,

    which equals :math:`2\,\mathrm{Var}_q(p_q) \ge 0`.

    Args:
        probabilities: per-prompt success probabilities :math:`p_q \in [0, 1]`, non-empty.
        weights: prompt probabilities :math:`w_q \ge 0` summing to 1 (uniform by default).

    Returns:
        The gap.

    Example:
        >>> discard_jensen_gap([0.0, 1.0])
        0.5
    """
    p, w, symbolic = _distribution(probabilities, weights)
    zero: Any = sp.Integer(0) if symbolic else 0.0
    mean = sum((wi * pi for wi, pi in zip(w, p, strict=True)), zero)
    if not symbolic:
        mean = min(max(float(mean), 0.0), 1.0)  # clamp rounding noise into [0, 1]
    value = expected_discard_rate(p, w) - discard_probability(mean)
    return value if symbolic else float(value)


@derivation("paper-discard-rate", "The discard rate of 2-GRPO and the paper's printed estimate")
def discard_rate_derivation() -> Derivation:
    """Step-by-step derivation of the discard-rate identities (paper v3 App. D.3)."""
    r = sp.Symbol("r", real=True)
    P = sp.Symbol("P", real=True)
    p1, p2, w = sp.symbols("p_1 p_2 w", real=True)
    rbar = w * p1 + (1 - w) * p2
    return Derivation(
        name="paper-discard-rate",
        title="The discard rate of 2-GRPO and the paper's printed estimate",
        steps=[
            Step("A pair of rollouts with success probability r is discarded when both rewards "
                 "agree (both 1 or both 0):", sp.Symbol("D(r)"), discard_probability(r)),
            Step("Completing the square, D(r) is at least 1/2, with equality at r = 1/2:",
                 discard_probability(r),
                 sp.Rational(1, 2) + (2 * r - 1) ** 2 / 2),
            Step("The paper's printed estimate is the complement, the probability of a kept "
                 "(disagreeing) pair:", printed_discard_formula(r),
                 kept_pair_probability(r)),
            Step("which is at most 1/2, so it cannot produce the printed values 0.53 to 0.77:",
                 kept_pair_probability(r), sp.Rational(1, 2) - (2 * r - 1) ** 2 / 2),
            Step("Solving D(r) = P for P >= 1/2 recovers the mean reward, up to the symmetry "
                 "r -> 1 - r (the other root is one minus this one):",
                 sp.Symbol("r"), sp.Rational(1, 2) + sp.sqrt(2 * P - 1) / 2),
            Step("With two prompts of success probabilities p_1, p_2 in proportions w, 1 - w and "
                 "mean reward rbar = w p_1 + (1 - w) p_2, the batch discard rate minus D(rbar) "
                 "is twice the variance of the p_q:",
                 w * sp.Symbol("D(p_1)") + (1 - w) * sp.Symbol("D(p_2)") - sp.Symbol("D(rbar)"),
                 2 * (w * (p1 - sp.Symbol("rbar")) ** 2
                      + (1 - w) * (p2 - sp.Symbol("rbar")) ** 2)),
            Step("Expanding both sides with rbar substituted gives one and the same polynomial, "
                 "nonnegative for 0 <= w <= 1 (Jensen's inequality for the convex D):",
                 sp.factor(sp.expand(w * discard_probability(p1)
                                     + (1 - w) * discard_probability(p2)
                                     - discard_probability(rbar))),
                 2 * w * (1 - w) * (p1 - p2) ** 2),
        ],
        claims=["paper.discard-formula-as-printed", "paper.discard-formula-corrected",
                "paper.discard-jensen"],
    )
