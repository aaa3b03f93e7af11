r"""Comparisons of group sizes on the bandit trainer: 2-GRPO against 16-GRPO, over many seeds.

**Runs.** A :class:`RunSpec` fixes an update rule (estimator), a group size :math:`G`, the
prompts per step :math:`Q`, a learning-rate multiplier (applied to the study's base rate, with
the ``constant`` or the ``scaled`` rule of :func:`~grpo_theory.experiments.bandit.
effective_learning_rate`) and a number of epochs. :func:`run_study` trains every spec on the same
task for :math:`S` seeds at once (``jax.vmap`` of :func:`~grpo_theory.experiments.bandit.
make_train`) and summarises each run (:class:`RunSummary`).

**Summaries.** For a metric :math:`m` (train or test mean success, which is also Mean@k, and
Pass@k) and seed :math:`s`: the final value :math:`m_s(T)` and the area under the curve over the
training progress :math:`u = t/T \in [0, 1]` (trapezoid rule over the initial point and every
step), :math:`\mathrm{AUC}_s = \int_0^1 m_s(uT)\,du`. Each is reported as its mean over seeds with
the 95% Student interval :math:`\bar x \pm t_{S-1,\,0.975}\, s_x/\sqrt S` (``scipy.stats.t``).
Also: rollouts consumed per seed :math:`T Q G`, and the measured wall time of the vmapped run
(compilation excluded, and setup plus compilation plus run).

**Retention.** The ratio :math:`R = \bar a / \bar b` of the mean final metric of a run
:math:`a` (2-GRPO) and of the reference :math:`b` (16-GRPO), with the delta-method standard error
for independent seeds,

.. math::

    \mathrm{se}(R) = |R|\,\sqrt{\frac{s_a^2}{S_a \bar a^2} + \frac{s_b^2}{S_b \bar b^2}},

and the normal interval :math:`R \pm z_{0.975}\,\mathrm{se}(R)`; next to it the rollout ratio
(total rollouts of :math:`a` over :math:`b`) and the time ratio (compiled run times). The paper
reports, for 2-GRPO against 16-GRPO (paper v2 Sec. 5, App. C.1): about 98% of the accuracy
(97.6% averaged), 12.5% of the rollouts and about 21% of the training time (:data:`PAPER`).

**Presets** (:func:`preset_specs`), with the reference 16-GRPO at :math:`Q_0 = 32` prompts
:math:`\times` 16 rollouts, base rate :math:`\eta` and :math:`E` epochs:

* ``paper``: 2-GRPO at :math:`8Q_0 = 256 \times 2` with the scaled rate :math:`8\eta`, :math:`E`
  epochs (equal rollouts per step, one eighth of the steps and of the rollouts);
* ``equal-total-rollouts``: the same 2-GRPO for :math:`8E` epochs (as many rollouts, and as
  many steps, as the reference);
* ``equal-steps``: 2-GRPO at :math:`Q_0 \times 2`, rate :math:`\eta`, :math:`E` epochs (as many
  steps and prompts per step; one eighth of the rollouts);
* ``equal-wall-time``: the ``paper`` 2-GRPO given the reference's measured run time: its epochs
  are chosen from its own measured time per step (:func:`wall_time_epochs`);
* ``group-size``: :math:`G \in \{2, 4, 8, 16\}` at :math:`Q_0` prompts, rate :math:`\eta`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from scipy import stats as sps

from grpo_theory._io import ResultStore, settings_key
from grpo_theory._validate import check_group_size, check_positive
from grpo_theory.experiments.bandit import (
    ESTIMATORS,
    LR_RULES,
    OPTIMISERS,
    BanditConfig,
    make_train,
    schedule,
)
from grpo_theory.experiments.bandit_env import POLICY_FAMILIES, BanditTask, TaskSpec
from grpo_theory.montecarlo.engine import as_key

__all__ = [
    "PRESETS",
    "METRICS",
    "PAPER",
    "RunSpec",
    "StudyConfig",
    "RunSummary",
    "Comparison",
    "StudyResult",
    "QUICK",
    "DEFAULT",
    "t_interval",
    "ratio_interval",
    "auc",
    "reference_spec",
    "preset_specs",
    "wall_time_epochs",
    "run_study",
    "compare",
    "run_presets",
    "format_table",
]

PRESETS = ("paper", "equal-total-rollouts", "equal-steps", "equal-wall-time", "group-size")
"""The comparisons :func:`run_presets` knows."""

METRICS = ("train_success", "test_success")
"""Scalar success metrics (mean success = Mean@k); Pass@k comes with them per :math:`k`."""

PAPER = {"retention": 0.98, "retention_average": 0.976, "rollout_ratio": 0.125,
         "time_ratio": 0.21}
"""The paper's headline for 2-GRPO against 16-GRPO (paper v2 Sec. 5 and App. C.1)."""


def _count(x: Any, name: str, minimum: int) -> int:
    return int(check_group_size(x, name, minimum=minimum))


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of a study (validated at construction; errors name the field).

    Attributes:
        label: a name for reports.
        estimator: an estimator of :data:`~grpo_theory.experiments.bandit.ESTIMATORS`.
        group_size: rollouts per prompt :math:`G`.
        prompts_per_step: prompts per step :math:`Q`.
        epochs: passes over the training prompts.
        lr_multiplier: the learning rate is the study's base rate times this.
        lr_rule: ``"constant"`` or ``"scaled"`` (times :math:`Q / Q_{\\mathrm{ref}}`).

    Example:
        >>> RunSpec("2-GRPO", "2-grpo", 2, 256, 10, lr_rule="scaled").rollouts_per_step
        512
    """

    label: str
    estimator: str = "grpo"
    group_size: int = 16
    prompts_per_step: int = 32
    epochs: int = 10
    lr_multiplier: float = 1.0
    lr_rule: str = "constant"

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"label must be a non-empty string, got {self.label!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}; "
                             f"got {self.estimator!r}")
        G = _count(self.group_size, "group_size", 2)
        if self.estimator == "2-grpo" and G != 2:
            raise ValueError(f"group_size must be 2 for estimator '2-grpo', got {G}")
        _count(self.prompts_per_step, "prompts_per_step", 1)
        _count(self.epochs, "epochs", 1)
        check_positive(self.lr_multiplier, "lr_multiplier")
        if self.lr_rule not in LR_RULES:
            raise ValueError(f"lr_rule must be one of {', '.join(LR_RULES)}; "
                             f"got {self.lr_rule!r}")

    @property
    def rollouts_per_step(self) -> int:
        """:math:`QG`."""
        return self.prompts_per_step * self.group_size

    def config(self, study: StudyConfig) -> BanditConfig:
        """The trainer configuration of this run within ``study``."""
        return BanditConfig(
            task=study.task, policy=study.policy, estimator=self.estimator,
            group_size=self.group_size, prompts_per_step=self.prompts_per_step,
            epochs=self.epochs, learning_rate=study.learning_rate * self.lr_multiplier,
            lr_rule=self.lr_rule, lr_reference_prompts=study.reference_prompts,
            optimiser=study.optimiser, eval_k=study.eval_k, dtype=study.dtype,
        )


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """The shared settings of a study (validated at construction; errors name the field).

    Attributes:
        task: the data set.
        policy: ``"tabular"`` or ``"shared"``.
        learning_rate: the base rate :math:`\\eta` (of the reference run).
        optimiser: ``"adam"`` or ``"sgd"``.
        epochs: the reference's epochs :math:`E`.
        seeds: seeds per run :math:`S \\ge 2`.
        reference_group: the reference group size (16).
        reference_prompts: the reference prompts per step :math:`Q_0` (32).
        small_group: the small group size (2).
        ablation_groups: group sizes of the ``group-size`` preset.
        presets: the comparisons to run (:data:`PRESETS`).
        metric: the headline metric (:data:`METRICS`).
        eval_k: the :math:`k` of Pass@k.
        dtype: ``"float32"`` or ``"float64"``.
        seed: the study's seed (run keys ``split(key(seed), S)``, shared by every run).
        max_epochs: a cap on the epochs of ``equal-wall-time``.
        timing_repeats: compiled runs per spec; the fastest gives the run time.
    """

    task: TaskSpec = TaskSpec(n_prompts=1280, n_arms=16, difficulty=("beta", 1.0, 3.0),
                              test_fraction=0.2)
    policy: str = "shared"
    learning_rate: float = 0.05
    optimiser: str = "adam"
    epochs: int = 5
    seeds: int = 64
    reference_group: int = 16
    reference_prompts: int = 32
    small_group: int = 2
    ablation_groups: tuple[int, ...] = (2, 4, 8, 16)
    presets: tuple[str, ...] = PRESETS
    metric: str = "test_success"
    eval_k: tuple[int, ...] = (1, 8)
    dtype: str = "float32"
    seed: int = 0
    max_epochs: int = 1000
    timing_repeats: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.task, TaskSpec):
            raise TypeError(f"task must be a TaskSpec, got {type(self.task).__name__}")
        if self.policy not in POLICY_FAMILIES:
            raise ValueError(f"policy must be one of {', '.join(POLICY_FAMILIES)}; "
                             f"got {self.policy!r}")
        check_positive(self.learning_rate, "learning_rate")
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"optimiser must be one of {', '.join(OPTIMISERS)}; "
                             f"got {self.optimiser!r}")
        _count(self.epochs, "epochs", 1)
        _count(self.seeds, "seeds", 2)
        G0 = _count(self.reference_group, "reference_group", 2)
        _count(self.reference_prompts, "reference_prompts", 1)
        g = _count(self.small_group, "small_group", 2)
        if G0 % g:
            raise ValueError(f"small_group must divide reference_group ({G0}), got {g}")
        if not isinstance(self.ablation_groups, tuple) or not self.ablation_groups:
            raise ValueError(f"ablation_groups must be a non-empty tuple of integers >= 2, "
                             f"got {self.ablation_groups!r}")
        for G in self.ablation_groups:
            _count(G, "ablation_groups entry", 2)
        if not isinstance(self.presets, tuple) or not self.presets:
            raise ValueError(f"presets must be a non-empty tuple of names from "
                             f"{', '.join(PRESETS)}; got {self.presets!r}")
        for p in self.presets:
            if p not in PRESETS:
                raise ValueError(f"presets entry must be one of {', '.join(PRESETS)}; got {p!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {self.metric!r}")
        if not isinstance(self.eval_k, tuple) or not self.eval_k:
            raise ValueError(f"eval_k must be a non-empty tuple of integers >= 1, "
                             f"got {self.eval_k!r}")
        for k in self.eval_k:
            _count(k, "eval_k entry", 1)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64; got {self.dtype!r}")
        _count(self.seed, "seed", 0)
        _count(self.max_epochs, "max_epochs", 1)
        _count(self.timing_repeats, "timing_repeats", 1)

    @property
    def small_prompts(self) -> int:
        """Prompts per step of the small group at equal rollouts per step."""
        return self.reference_prompts * self.reference_group // self.small_group

    @property
    def ratio(self) -> int:
        """:math:`G_0 / g` (8 for 16 against 2)."""
        return self.reference_group // self.small_group

    def replace(self, **changes: Any) -> StudyConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


QUICK = StudyConfig(
    task=TaskSpec(n_prompts=320, n_arms=8, difficulty=("beta", 1.0, 2.0), test_fraction=0.2),
    epochs=4, seeds=64, ablation_groups=(2, 4, 8, 16),
)
"""A small study (every preset) for smoke runs: 256 training prompts, 4 epochs, 64 seeds."""

DEFAULT = StudyConfig()
"""The documented study: 1024 training prompts, 16 arms, Beta(1, 3) rates, 5 epochs, 64 seeds."""


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """A trained spec over :math:`S` seeds.

    Attributes:
        spec: the run.
        n_steps: steps per seed.
        seeds: :math:`S`.
        learning_rate: the effective learning rate.
        rollouts: rollouts consumed per seed.
        compile_s: setup plus compilation (seconds).
        wall_time_s: the compiled run of every seed at once (compilation excluded; the
            fastest of ``timing_repeats`` runs).
        wall_time_with_compile_s: setup, compilation and the first run.
        final: per metric name, ``(mean, low, high)`` of the final value over seeds.
        auc: the same for the area under the curve.
        final_values: per metric name, the per-seed final values ``[S]``.
        auc_values: per metric name, the per-seed areas under the curve ``[S]``.
        curves: per metric name, the mean over seeds at each step ``[T + 1]`` (initial first).
        silent_fraction: mean over seeds of the silent-group fraction at each step ``[T]``.
    """

    spec: RunSpec
    n_steps: int
    seeds: int
    learning_rate: float
    rollouts: int
    compile_s: float
    wall_time_s: float
    wall_time_with_compile_s: float
    final: dict[str, tuple[float, float, float]]
    auc: dict[str, tuple[float, float, float]]
    final_values: dict[str, np.ndarray] = dataclasses.field(repr=False)
    auc_values: dict[str, np.ndarray] = dataclasses.field(repr=False)
    curves: dict[str, np.ndarray] = dataclasses.field(repr=False)
    silent_fraction: np.ndarray = dataclasses.field(repr=False)

    @property
    def time_per_step_s(self) -> float:
        """Compiled run time per step (all seeds at once)."""
        return self.wall_time_s / self.n_steps

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (no per-step arrays)."""
        return {
            "label": self.spec.label,
            "estimator": self.spec.estimator,
            "group_size": self.spec.group_size,
            "prompts_per_step": self.spec.prompts_per_step,
            "epochs": self.spec.epochs,
            "lr_multiplier": self.spec.lr_multiplier,
            "lr_rule": self.spec.lr_rule,
            "learning_rate": self.learning_rate,
            "n_steps": self.n_steps,
            "seeds": self.seeds,
            "rollouts": self.rollouts,
            "compile_s": self.compile_s,
            "wall_time_s": self.wall_time_s,
            "wall_time_with_compile_s": self.wall_time_with_compile_s,
            "final": {k: list(v) for k, v in self.final.items()},
            "auc": {k: list(v) for k, v in self.auc.items()},
        }

    def to_stored(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, header)`` for a :class:`~grpo_theory._io.ResultStore` entry."""
        arrays = {"silent_fraction": self.silent_fraction}
        for field in _ARRAY_FIELDS:
            arrays |= {f"{field}/{k}": v for k, v in getattr(self, field).items()}
        header = {f: getattr(self, f) for f in _SCALAR_FIELDS}
        header |= {"final": {k: list(v) for k, v in self.final.items()},
                   "auc": {k: list(v) for k, v in self.auc.items()}}
        return arrays, header

    @classmethod
    def from_stored(cls, spec: RunSpec, arrays: dict[str, np.ndarray],
                    header: dict[str, Any]) -> RunSummary:
        """The inverse of :meth:`to_stored`, for ``spec``."""
        fields = {f: {k.split("/", 1)[1]: v for k, v in arrays.items()
                      if k.startswith(f"{f}/")} for f in _ARRAY_FIELDS}
        return cls(spec=spec, **{f: header[f] for f in _SCALAR_FIELDS},
                   final={k: tuple(v) for k, v in header["final"].items()},
                   auc={k: tuple(v) for k, v in header["auc"].items()},
                   silent_fraction=arrays["silent_fraction"], **fields)


_SCALAR_FIELDS = ("n_steps", "seeds", "learning_rate", "rollouts", "compile_s", "wall_time_s",
                  "wall_time_with_compile_s")
_ARRAY_FIELDS = ("final_values", "auc_values", "curves")


def t_interval(values: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Mean and Student interval :math:`\bar x \pm t_{n-1,(1+\gamma)/2}\,s/\sqrt n`.

    Args:
        values: at least two finite values.
        confidence: :math:`\gamma \in (0, 1)`.

    Returns:
        ``(mean, low, high)``.

    Example:
        >>> m, lo, hi = t_interval([1.0, 2.0, 3.0])
        >>> m, round(hi - m, 4)
        (2.0, 2.4841)
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"values must hold at least 2 entries, got {x.size}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    m = float(x.mean())
    half = float(sps.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def ratio_interval(a: Any, b: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Ratio of means :math:`\bar a/\bar b` with a delta-method normal interval (independent).

    Args:
        a: per-seed values of the numerator run (at least 2).
        b: per-seed values of the denominator run (at least 2, non-zero mean).
        confidence: :math:`\gamma \in (0, 1)`.

    Returns:
        ``(ratio, low, high)``.

    Example:
        >>> r, lo, hi = ratio_interval([1.0, 1.0], [2.0, 2.0])
        >>> r, lo, hi
        (0.5, 0.5, 0.5)
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.size < 2 or b.size < 2:
        raise ValueError("a and b must hold at least 2 values each")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    ma, mb = float(a.mean()), float(b.mean())
    if mb == 0.0:
        raise ValueError("b must have a non-zero mean")
    r = ma / mb
    rel = (a.var(ddof=1) / (a.size * ma**2) if ma else 0.0) + b.var(ddof=1) / (b.size * mb**2)
    half = float(sps.norm.ppf(0.5 + confidence / 2)) * abs(r) * math.sqrt(rel)
    return r, r - half, r + half


def auc(curve: Any, initial: Any) -> np.ndarray:
    r"""Area under a curve over training progress :math:`u = t/T`, by the trapezoid rule.

    Args:
        curve: ``[..., T]`` values after each step.
        initial: ``[...]`` the value before training.

    Returns:
        ``[...]`` :math:`\frac1T\big(\tfrac12 m_0 + m_1 + \dots + m_{T-1} + \tfrac12 m_T\big)`.

    Example:
        >>> float(auc(np.array([1.0, 1.0]), np.array(0.0)))
        0.75
    """
    c = np.asarray(curve, dtype=float)
    full = np.concatenate([np.asarray(initial, dtype=float)[..., None], c], axis=-1)
    T = c.shape[-1]
    return (full.sum(axis=-1) - 0.5 * (full[..., 0] + full[..., -1])) / T


def _spec_key(spec: RunSpec) -> tuple:
    """The spec without its label; ``2-grpo`` is ``grpo`` at :math:`G = 2`."""
    est = "grpo" if spec.estimator == "2-grpo" else spec.estimator
    return dataclasses.astuple(dataclasses.replace(spec, label="-", estimator=est))


def _metric_values(metrics: dict, initial: dict, ks: tuple[int, ...]
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric name: ``(curve [S, T], initial [S])`` as float64 numpy."""
    out = {}
    for split in ("train", "test"):
        out[f"{split}_success"] = (np.asarray(metrics[f"{split}_success"], float),
                                   np.asarray(initial[f"{split}_success"], float))
        passes = np.asarray(metrics[f"{split}_pass_at_k"], float)
        init = np.asarray(initial[f"{split}_pass_at_k"], float)
        for j, k in enumerate(ks):
            out[f"{split}_pass@{k}"] = (passes[..., j], init[..., j])
    return out


def _train_one(spec: RunSpec, study: StudyConfig, task: BanditTask, keys: jax.Array,
               confidence: float) -> RunSummary:
    t0 = time.perf_counter()
    config = spec.config(study)
    sched = schedule(config, task)
    fn = jax.jit(jax.vmap(make_train(config, task)))
    compiled = fn.lower(keys).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t2 = time.perf_counter()
    run_s = t2 - t1
    for _ in range(study.timing_repeats - 1):  # the fastest of the repeats: less noise
        t3 = time.perf_counter()
        jax.block_until_ready(compiled(keys))
        run_s = min(run_s, time.perf_counter() - t3)
    values = _metric_values(out["metrics"], out["initial"], tuple(study.eval_k))
    final, area, finals, areas, curves = {}, {}, {}, {}, {}
    for name, (curve, init) in values.items():
        if np.all(np.isnan(curve)):  # an empty split
            continue
        last = curve[:, -1]
        finals[name] = last
        final[name] = t_interval(last, confidence)
        areas[name] = auc(curve, init)
        area[name] = t_interval(areas[name], confidence)
        curves[name] = np.concatenate([[init.mean()], curve.mean(axis=0)])
    return RunSummary(
        spec=spec, n_steps=sched.n_steps, seeds=int(keys.shape[0]),
        learning_rate=sched.learning_rate, rollouts=sched.n_steps * sched.rollouts_per_step,
        compile_s=t1 - t0, wall_time_s=run_s, wall_time_with_compile_s=t2 - t0,
        final=final, auc=area, final_values=finals, auc_values=areas, curves=curves,
        silent_fraction=np.asarray(out["metrics"]["silent_fraction"], float).mean(axis=0),
    )


class _Runs:
    """Trains each distinct spec once over the same seed keys; with a store, a spec trained
    before under the same settings is loaded instead."""

    def __init__(self, study: StudyConfig, keys: jax.Array, confidence: float,
                 store: ResultStore | None, progress: Callable[[str], None] | None) -> None:
        if store is not None and not isinstance(store, ResultStore):
            raise TypeError(f"store must be a ResultStore or None, got {type(store).__name__}")
        self.study, self.keys, self.confidence = study, keys, confidence
        self.store, self.progress = store, progress
        self.task = study.task.build()
        self.done: dict[tuple, RunSummary] = {}
        # Every study field that changes a run's numbers; which runs a study makes is in the spec.
        fields = dataclasses.asdict(study)
        for name in ("presets", "ablation_groups", "metric", "max_epochs"):
            fields.pop(name)
        self.settings = {"study": fields, "confidence": confidence,
                         "keys": settings_key(np.asarray(jax.random.key_data(keys)).tolist())}

    def __call__(self, spec: RunSpec) -> RunSummary:
        k = _spec_key(spec)
        if k not in self.done:
            settings = self.settings | {"spec": list(k)}
            stored = None if self.store is None else self.store.load(settings)
            if stored is not None:
                self.done[k] = RunSummary.from_stored(spec, *stored)
                how = f"loaded from {self.store.path(settings)}"
            else:
                self.done[k] = _train_one(spec, self.study, self.task, self.keys,
                                          self.confidence)
                if self.store is not None:
                    self.store.save(settings, *self.done[k].to_stored())
                how = "trained"
            if self.progress is not None:
                r = self.done[k]
                self.progress(f"{spec.label}: G={spec.group_size} Q={spec.prompts_per_step} "
                              f"E={spec.epochs} steps={r.n_steps} compile {r.compile_s:.1f}s "
                              f"run {r.wall_time_s:.2f}s ({how})")
        return dataclasses.replace(self.done[k], spec=spec)


def run_study(
    specs: Sequence[RunSpec],
    task_spec: TaskSpec | StudyConfig,
    seeds: int,
    key: Any = 0,
    *,
    study: StudyConfig | None = None,
    confidence: float = 0.95,
    progress: Callable[[str], None] | None = None,
    store: ResultStore | None = None,
) -> list[RunSummary]:
    """Train every spec over ``seeds`` seeds (one vmapped, jitted run each) and summarise.

    Every spec uses the same seed keys ``split(key, seeds)``; a spec equal to an earlier one up
    to its label is trained once.

    Args:
        specs: the runs.
        task_spec: the data set (or a :class:`StudyConfig`, whose task is used).
        seeds: seeds per run, ``>= 2``.
        key: a PRNG key or an int seed.
        study: shared settings (policy, base rate, optimiser, metrics); default
            :data:`DEFAULT` with ``task_spec``'s task.
        confidence: level of the Student intervals.
        progress: called with one line per finished run.
        store: where finished runs are kept; a run stored there with the same settings is
            loaded instead of trained (an interrupted study resumes).

    Returns:
        One :class:`RunSummary` per spec, in order.

    Example:
        >>> st = StudyConfig(task=TaskSpec(n_prompts=16, n_arms=4, test_fraction=0.25),
        ...                  epochs=1, reference_prompts=4)
        >>> runs = run_study([RunSpec("a", "grpo", 4, 4, 1)], st, 2, study=st)
        >>> runs[0].n_steps, runs[0].rollouts
        (3, 48)
    """
    if isinstance(task_spec, StudyConfig):
        study = task_spec if study is None else study
        task_spec = task_spec.task
    if not isinstance(task_spec, TaskSpec):
        raise TypeError(f"task_spec must be a TaskSpec, got {type(task_spec).__name__}")
    study = (DEFAULT if study is None else study).replace(task=task_spec)
    seeds = _count(seeds, "seeds", 2)
    if not specs:
        raise ValueError("specs must hold at least one RunSpec")
    for s in specs:
        if not isinstance(s, RunSpec):
            raise TypeError(f"specs entries must be RunSpec, got {type(s).__name__}")
    train = _Runs(study, jax.random.split(as_key(key), seeds), confidence, store, progress)
    return [train(spec) for spec in specs]


def reference_spec(study: StudyConfig) -> RunSpec:
    """The reference run: ``grpo`` at :math:`Q_0 \\times G_0`, base rate, :math:`E` epochs."""
    return RunSpec(f"{study.reference_group}-GRPO", "grpo", study.reference_group,
                   study.reference_prompts, study.epochs)


def _small(study: StudyConfig, label: str, prompts: int, epochs: int, scaled: bool) -> RunSpec:
    est = "2-grpo" if study.small_group == 2 else "grpo"
    return RunSpec(label, est, study.small_group, prompts, epochs,
                   lr_rule="scaled" if scaled else "constant")


def preset_specs(name: str, study: StudyConfig, wall_epochs: int | None = None
                 ) -> list[RunSpec]:
    """The runs of one preset: the reference first, then the compared runs.

    Args:
        name: one of :data:`PRESETS`.
        study: the study settings.
        wall_epochs: the epochs of the ``equal-wall-time`` run (required for that preset).

    Returns:
        A list of :class:`RunSpec`.

    Example:
        >>> [(s.group_size, s.prompts_per_step, s.epochs) for s in preset_specs("paper", DEFAULT)]
        [(16, 32, 5), (2, 256, 5)]
    """
    if name not in PRESETS:
        raise ValueError(f"name must be one of {', '.join(PRESETS)}; got {name!r}")
    ref = reference_spec(study)
    g, E, big = study.small_group, study.epochs, study.small_prompts
    if name == "paper":
        return [ref, _small(study, f"{g}-GRPO", big, E, True)]
    if name == "equal-total-rollouts":
        return [ref, _small(study, f"{g}-GRPO x{study.ratio} epochs", big, E * study.ratio,
                            True)]
    if name == "equal-steps":
        return [ref, _small(study, f"{g}-GRPO Q={study.reference_prompts}",
                            study.reference_prompts, E, False)]
    if name == "equal-wall-time":
        if wall_epochs is None:
            raise ValueError("wall_epochs is required for the equal-wall-time preset")
        return [ref, _small(study, f"{g}-GRPO equal time", big,
                            _count(wall_epochs, "wall_epochs", 1), True)]
    return [ref, *(RunSpec(f"G={G}", "grpo", G, study.reference_prompts, E)
                   for G in study.ablation_groups)]


def wall_time_epochs(reference: RunSummary, small: RunSummary, steps_per_epoch: int,
                     max_epochs: int = 1000) -> int:
    r"""Epochs giving ``small``'s spec the compiled run time of ``reference``.

    :math:`E' = \max(1, \mathrm{round}(T_{\mathrm{ref}} / (\tau\,S_e)))` with :math:`\tau` the
    measured time per step of ``small`` and :math:`S_e` its steps per epoch, capped at
    ``max_epochs``.

    Example:
        >>> import types
        >>> ref = types.SimpleNamespace(wall_time_s=2.0)
        >>> sm = types.SimpleNamespace(time_per_step_s=0.1)
        >>> wall_time_epochs(ref, sm, 4)
        5
    """
    _count(steps_per_epoch, "steps_per_epoch", 1)
    per_epoch = small.time_per_step_s * steps_per_epoch
    return int(min(max(1, round(reference.wall_time_s / max(per_epoch, 1e-12))), max_epochs))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A compared run against the reference, in the form of the paper's headline.

    Attributes:
        preset: the preset name.
        label: the compared run's label.
        metric: the metric of the retention.
        retention: ``(ratio, low, high)`` of final metric means (:func:`ratio_interval`).
        auc_retention: the same for the area under the curve.
        rollout_ratio: total rollouts, compared over reference.
        time_ratio: compiled run time, compared over reference.
        step_ratio: steps, compared over reference.
    """

    preset: str
    label: str
    metric: str
    retention: tuple[float, float, float]
    auc_retention: tuple[float, float, float]
    rollout_ratio: float
    time_ratio: float
    step_ratio: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"preset": self.preset, "label": self.label, "metric": self.metric,
                "retention": self.retention[0], "retention_ci": list(self.retention[1:]),
                "auc_retention": self.auc_retention[0],
                "auc_retention_ci": list(self.auc_retention[1:]),
                "rollout_ratio": self.rollout_ratio, "time_ratio": self.time_ratio,
                "step_ratio": self.step_ratio}


def compare(preset: str, run: RunSummary, reference: RunSummary, metric: str,
            confidence: float = 0.95) -> Comparison:
    """The retention, rollout ratio and time ratio of ``run`` against ``reference``.

    Args:
        preset: the preset name (for the record).
        run: the compared run.
        reference: the reference run.
        metric: a metric both runs have.
        confidence: level of the interval.

    Returns:
        A :class:`Comparison`.
    """
    if metric not in run.final_values or metric not in reference.final_values:
        raise ValueError(f"metric {metric!r} is not available for both runs")
    ret = ratio_interval(run.final_values[metric], reference.final_values[metric], confidence)
    auc_ret = ratio_interval(run.auc_values[metric], reference.auc_values[metric], confidence)
    return Comparison(preset, run.spec.label, metric, ret, auc_ret,
                      run.rollouts / reference.rollouts,
                      run.wall_time_s / reference.wall_time_s, run.n_steps / reference.n_steps)


@dataclasses.dataclass(frozen=True)
class StudyResult:
    """Every run and comparison of :func:`run_presets`.

    Attributes:
        study: the settings.
        runs: distinct runs, in order of first use.
        comparisons: one per compared run of each preset.
        total_s: wall time of the whole study.
    """

    study: StudyConfig
    runs: tuple[RunSummary, ...]
    comparisons: tuple[Comparison, ...]
    total_s: float

    def headline(self) -> Comparison | None:
        """The ``paper`` preset's comparison, if run."""
        return next((c for c in self.comparisons if c.preset == "paper"), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: runs, comparisons and the headline next to :data:`PAPER`."""
        head = self.headline()
        return {
            "runs": [r.as_dict() | {"final_success": r.final[self.study.metric][0],
                                    "final_success_ci": list(r.final[self.study.metric][1:])}
                     for r in self.runs],
            "comparisons": [c.as_dict() for c in self.comparisons],
            "retention": head.retention[0] if head else None,
            "retention_ci": list(head.retention[1:]) if head else None,
            "rollout_ratio": head.rollout_ratio if head else None,
            "time_ratio": head.time_ratio if head else None,
            "metric": self.study.metric,
            "paper": dict(PAPER),
            "total_s": self.total_s,
        }


def run_presets(study: StudyConfig, *, confidence: float = 0.95,
                progress: Callable[[str], None] | None = None,
                store: ResultStore | None = None) -> StudyResult:
    """Run the presets of ``study`` (shared runs trained once) and compare against 16-GRPO.

    The ``equal-wall-time`` preset trains the ``paper`` 2-GRPO run first (if not yet trained)
    to measure its time per step.

    Args:
        study: the settings.
        confidence: level of the intervals.
        progress: called with one line per finished run.
        store: where finished runs are kept (see :func:`run_study`); a study interrupted
            after some runs resumes from the last finished run.

    Returns:
        A :class:`StudyResult`.
    """
    if not isinstance(study, StudyConfig):
        raise TypeError(f"study must be a StudyConfig, got {type(study).__name__}")
    t0 = time.perf_counter()
    train = _Runs(study, jax.random.split(as_key(study.seed), study.seeds), confidence, store,
                  progress)
    runs: list[RunSummary] = []
    comparisons = []
    for preset in study.presets:
        wall = None
        if preset == "equal-wall-time":
            ref_r = train(reference_spec(study))
            paper_small = train(preset_specs("paper", study)[1])
            per_epoch = schedule(paper_small.spec.config(study), train.task).steps_per_epoch
            wall = wall_time_epochs(ref_r, paper_small, per_epoch, study.max_epochs)
        specs = preset_specs(preset, study, wall)
        ref = train(specs[0])
        if all(r.spec != ref.spec for r in runs):
            runs.append(ref)
        for spec in specs[1:]:
            r = train(spec)
            if all(x.spec != spec for x in runs):
                runs.append(r)
            comparisons.append(compare(preset, r, ref, study.metric, confidence=confidence))
    return StudyResult(study, tuple(runs), tuple(comparisons), time.perf_counter() - t0)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def format_table(result: StudyResult) -> str:
    """A Markdown table of the runs and one of the comparisons beside the paper's numbers.

    Args:
        result: a :class:`StudyResult`.

    Returns:
        Markdown text.
    """
    m = result.study.metric
    lines = [f"| run | G | Q | epochs | steps | rollouts | lr | {m} (95% CI) | AUC | "
             "time s | with compile s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result.runs:
        f, a = r.final[m], r.auc[m]
        lines.append(f"| {r.spec.label} | {r.spec.group_size} | {r.spec.prompts_per_step} | "
                     f"{r.spec.epochs} | {r.n_steps} | {r.rollouts} | {r.learning_rate:.3g} | "
                     f"{f[0]:.4f} [{f[1]:.4f}, {f[2]:.4f}] | {a[0]:.4f} | "
                     f"{r.wall_time_s:.2f} | {r.wall_time_with_compile_s:.1f} |")
    lines += ["", "| preset | run | retention (95% CI) | AUC ratio | rollout ratio | "
              "time ratio | step ratio |", "|---|---|---|---|---|---|---|"]
    for c in result.comparisons:
        lines.append(f"| {c.preset} | {c.label} | {_pct(c.retention[0])} "
                     f"[{_pct(c.retention[1])}, {_pct(c.retention[2])}] | "
                     f"{_pct(c.auc_retention[0])} | {_pct(c.rollout_ratio)} | "
                     f"{_pct(c.time_ratio)} | {_pct(c.step_ratio)} |")
    lines.append(f"| paper (v2) | 2-GRPO vs 16-GRPO | {_pct(PAPER['retention'])} "
                 f"({_pct(PAPER['retention_average'])} averaged) | | "
                 f"{_pct(PAPER['rollout_ratio'])} | {_pct(PAPER['time_ratio'])} | 12.5% |")
    return "\n".join(lines)
