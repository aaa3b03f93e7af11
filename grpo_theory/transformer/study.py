r"""The paper's headline comparison on a tiny transformer: 2-GRPO against 16-GRPO, over seeds.

**Runs** (:func:`study_specs`; :class:`~grpo_theory.experiments.study.RunSpec` as for the
bandits), with the reference 16-GRPO at :math:`Q_0 = 32` prompts :math:`\times` 16 rollouts,
base rate :math:`\eta` and :math:`E` epochs:

* ``16-GRPO``: the reference;
* ``2-GRPO``: :math:`8Q_0 = 256` prompts :math:`\times` 2 at rate :math:`8\eta` (the paper's
  protocol: equal rollouts per step, one eighth of the steps and of the rollouts);
* ``2-GRPO Q=32``: :math:`Q_0 \times 2` at rate :math:`\eta` (equal steps, one eighth of the
  rollouts);
* the group-size ablation :math:`G \in \{2, 4, 8, 16\}` at :math:`Q_0` prompts, rate :math:`\eta`
  (paper v3 Table 4).

Every run uses Adam with a linear warm-up, the clip range 0.2 / 0.28 and one update per step,
as the paper does. Seed :math:`s` warm-starts one model
(:func:`~grpo_theory.transformer.warmstart.supervised_warmstart` on the training prompts) that
every run of that seed starts from, so the runs of a seed are paired.

**Reported** per run, as the mean over seeds with a 95% Student interval: the held-out Mean@32
and Pass@32 after training (:func:`~grpo_theory.transformer.trainer.evaluate`), their change
from the warm start, the training time (the steps alone; compilation and evaluation excluded),
and the rollouts; and against 16-GRPO: retention (the ratio of mean Mean@32, delta-method
interval, :func:`~grpo_theory.experiments.study.ratio_interval`), the time ratio and the rollout
ratio, beside the paper's 98% (97.6% averaged), 21% and 12.5%
(:data:`~grpo_theory.experiments.study.PAPER`). The learning curves (Mean@32 against rollouts
and against training time) are kept for every run.

**Resumption.** With a store, each warm start and each finished (run, seed) is kept as soon as
it is done, and every run checkpoints during training; the study started again with the same
settings loads what is done and continues the rest.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np

from grpo_theory._io import ResultStore
from grpo_theory.experiments.study import PAPER, RunSpec, _spec_key, ratio_interval, t_interval
from grpo_theory.transformer.model import ModelConfig, Transformer, init_model
from grpo_theory.transformer.tasks import TASK_NAMES, SequenceTask, make_task
from grpo_theory.transformer.trainer import RLConfig, TrainResult, train
from grpo_theory.transformer.warmstart import (
    WARMSTART_DEFAULTS,
    WarmStartSettings,
    supervised_warmstart,
)

__all__ = [
    "TASK_ARGS",
    "TransformerStudy",
    "QUICK",
    "DEFAULT",
    "FULL",
    "RunResult",
    "StudyResult",
    "study_specs",
    "run_study",
    "format_table",
]


TASK_ARGS = {
    "add": {"quick": (("modulus", 100), ("n_prompts", 640)),
            "default": (("modulus", 100), ("n_prompts", 5120)),
            "full": (("modulus", 100), ("n_prompts", 10000))},
    "reverse": {"quick": (("n_digits", 4), ("n_prompts", 640)),
                "default": (("n_digits", 5), ("n_prompts", 5120)),
                "full": (("n_digits", 6), ("n_prompts", 10000))},
    "sort": {"quick": (("n_digits", 4), ("n_prompts", 640)),
             "default": (("n_digits", 5), ("n_prompts", 5120)),
             "full": (("n_digits", 6), ("n_prompts", 10000))},
}
"""Task arguments per task and study size (``quick``, ``default``, ``full``): 512, 4,096 and
8,000 training prompts (the first two multiples of the 256 prompts of a 2-GRPO step)."""


def _pos_int(x: Any, name: str, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or int(x) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(x)


@dataclasses.dataclass(frozen=True)
class TransformerStudy:
    """The settings of a transformer study (validated at construction; errors name the field).

    Attributes:
        task: a task name of :data:`~grpo_theory.transformer.tasks.TASK_NAMES`.
        task_args: the task spec's fields, as ``((name, value), ...)``.
        task_seed: seed of the prompts and of the train/test split.
        d_model: model width.
        n_layers: transformer blocks.
        n_heads: attention heads.
        warmstart: fields of :class:`~grpo_theory.transformer.warmstart.WarmStartSettings`
            replacing the task's defaults (:data:`~grpo_theory.transformer.warmstart.
            WARMSTART_DEFAULTS`), as ``((name, value), ...)``.
        seeds: seeds per run (each its own warm start), ``>= 2``.
        epochs: epochs :math:`E` of every run.
        learning_rate: the base rate :math:`\\eta`.
        warmup_steps: optimiser steps of linear warm-up.
        reference_group: :math:`G_0` (16).
        reference_prompts: :math:`Q_0` (32).
        small_group: the small group size (2).
        ablation_groups: the group sizes of the ablation (at :math:`Q_0` prompts).
        eval_points: evaluations per run besides the initial one.
        eval_samples: :math:`k` of Mean@k and Pass@k (32).
        checkpoint_every: steps between checkpoints of a run (with a store).
    """

    task: str = "add"
    task_args: tuple = (("modulus", 100), ("n_prompts", 5120))
    task_seed: int = 0
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    warmstart: tuple = ()
    seeds: int = 3
    epochs: int = 2
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    reference_group: int = 16
    reference_prompts: int = 32
    small_group: int = 2
    ablation_groups: tuple[int, ...] = (2, 4, 8, 16)
    eval_points: int = 4
    eval_samples: int = 32
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}; got {self.task!r}")
        for name in ("task_args", "warmstart"):
            pairs = getattr(self, name)
            if not isinstance(pairs, tuple) or not all(
                    isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str)
                    for a in pairs):
                raise ValueError(f"{name} must be a tuple of (name, value) pairs, got {pairs!r}")
        self.warmstart_settings()
        _pos_int(self.task_seed, "task_seed", 0)
        for name in ("d_model", "n_layers", "n_heads", "epochs",
                     "reference_group", "reference_prompts", "small_group", "eval_points",
                     "eval_samples"):
            _pos_int(getattr(self, name), name)
        _pos_int(self.seeds, "seeds", 2)
        _pos_int(self.warmup_steps, "warmup_steps", 0)
        _pos_int(self.checkpoint_every, "checkpoint_every", 0)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model must be a multiple of n_heads ({self.n_heads}), "
                             f"got {self.d_model}")
        v = self.learning_rate
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < np.inf:
            raise ValueError(f"learning_rate must be a finite number > 0, got {v!r}")
        if self.reference_group % self.small_group:
            raise ValueError(f"small_group must divide reference_group ({self.reference_group}),"
                             f" got {self.small_group}")
        if not isinstance(self.ablation_groups, tuple) or not self.ablation_groups:
            raise ValueError(f"ablation_groups must be a non-empty tuple of integers >= 2, "
                             f"got {self.ablation_groups!r}")
        for G in self.ablation_groups:
            _pos_int(G, "ablation_groups entry", 2)

    def warmstart_settings(self) -> WarmStartSettings:
        """The warm start: the task's defaults with the fields of ``warmstart`` replaced."""
        try:
            return dataclasses.replace(WARMSTART_DEFAULTS[self.task], **dict(self.warmstart))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"warmstart: {exc}") from exc

    def build_task(self) -> SequenceTask:
        """The task of the study."""
        return make_task(self.task, self.task_seed, **dict(self.task_args))

    def model_config(self, task: SequenceTask) -> ModelConfig:
        """The model configuration, sized for ``task``."""
        return ModelConfig(vocab_size=task.vocab_size, max_len=task.seq_len,
                           d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers)

    def rl_config(self, spec: RunSpec, task: SequenceTask) -> RLConfig:
        """The trainer configuration of ``spec`` (evaluation points spread over the run)."""
        n_steps = spec.epochs * (task.n_train // spec.prompts_per_step)
        return RLConfig(
            estimator=spec.estimator, group_size=spec.group_size,
            prompts_per_step=spec.prompts_per_step, epochs=spec.epochs,
            learning_rate=self.learning_rate * spec.lr_multiplier, lr_rule=spec.lr_rule,
            lr_reference_prompts=self.reference_prompts, warmup_steps=self.warmup_steps,
            eval_every=max(1, n_steps // self.eval_points), eval_samples=self.eval_samples,
            checkpoint_every=self.checkpoint_every)

    def replace(self, **changes: Any) -> TransformerStudy:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


QUICK = TransformerStudy(task="reverse", task_args=TASK_ARGS["reverse"]["quick"], epochs=4,
                         ablation_groups=(2, 16), eval_points=2, eval_samples=16)
"""A smoke study (CI): reversing 4 digits, 512 training prompts, 4 epochs, 3 seeds, no
ablation; Mean@16 and Pass@16."""

DEFAULT = TransformerStudy()
"""The documented study: addition modulo 100, 4,096 training prompts, 2 epochs, 3 seeds."""

FULL = TransformerStudy(task_args=TASK_ARGS["add"]["full"], d_model=128, n_layers=4, n_heads=4,
                        seeds=5, epochs=3, learning_rate=3e-4, checkpoint_every=50)
"""A larger study for a GPU: all 10,000 sums (8,000 for training), a 4-layer width-128 model,
3 epochs, 5 seeds."""


def study_specs(study: TransformerStudy) -> list[RunSpec]:
    """The runs of the study: the reference, 2-GRPO at equal rollouts per step and at equal
    steps, and the ablation (labels ``G=4`` ...; a run equal to an earlier one is one run).

    Example:
        >>> [s.label for s in study_specs(QUICK)]
        ['16-GRPO', '2-GRPO', '2-GRPO Q=32']
    """
    G0, Q0, g, E = study.reference_group, study.reference_prompts, study.small_group, study.epochs
    r = G0 // g
    specs = [
        RunSpec(f"{G0}-GRPO", "grpo", G0, Q0, E),
        RunSpec(f"{g}-GRPO", "2-grpo" if g == 2 else "grpo", g, Q0 * r, E, lr_rule="scaled"),
        RunSpec(f"{g}-GRPO Q={Q0}", "2-grpo" if g == 2 else "grpo", g, Q0, E),
    ]
    seen = {_spec_key(s) for s in specs}
    for G in study.ablation_groups:
        s = RunSpec(f"G={G}", "2-grpo" if G == 2 else "grpo", G, Q0, E)
        if _spec_key(s) not in seen:
            seen.add(_spec_key(s))
            specs.append(s)
    return specs


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One run over every seed.

    Attributes:
        spec: the run.
        steps: steps per seed.
        rollouts: rollouts per seed.
        initial: per metric (``mean_at_k``, ``pass_at_k``), per-seed values before training.
        final: per metric, per-seed values after training.
        train_time_s: per-seed training times.
        curves: per seed, the evaluation arrays of :class:`~grpo_theory.transformer.trainer.
            TrainResult` (``step``, ``rollouts``, ``train_time_s``, ``mean_at_k``,
            ``pass_at_k``) and the per-step ``mean_reward`` and ``silent_fraction``.
    """

    spec: RunSpec
    steps: int
    rollouts: int
    initial: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    train_time_s: np.ndarray
    curves: tuple[dict[str, np.ndarray], ...]

    def interval(self, metric: str, confidence: float = 0.95) -> tuple[float, float, float]:
        """Mean over seeds of the final ``metric`` with its Student interval."""
        return t_interval(self.final[metric], confidence)

    def as_dict(self, k: int) -> dict[str, Any]:
        """JSON-ready fields; metrics are named with ``k`` (``mean_at_32``, ...)."""
        out: dict[str, Any] = {
            "method": self.spec.label, "estimator": self.spec.estimator,
            "group_size": self.spec.group_size, "prompts_per_step": self.spec.prompts_per_step,
            "epochs": self.spec.epochs, "lr_multiplier": self.spec.lr_multiplier,
            "lr_rule": self.spec.lr_rule, "seeds": int(self.train_time_s.size),
            "steps": self.steps, "rollouts": self.rollouts,
            "wall_time_s": float(self.train_time_s.mean()),
            "wall_time_ci": list(t_interval(self.train_time_s)[1:]),
        }
        for m in ("mean_at_k", "pass_at_k"):
            name = m.replace("k", str(k))
            mean, lo, hi = self.interval(m)
            out[name] = mean
            out[f"{name}_ci"] = [lo, hi]
            out[f"{name}_initial"] = float(self.initial[m].mean())
            d = t_interval(self.final[m] - self.initial[m])
            out[f"{name}_gain"] = d[0]
            out[f"{name}_gain_ci"] = list(d[1:])
        return out


@dataclasses.dataclass(frozen=True)
class StudyResult:
    """Every run of :func:`run_study` and the comparisons with the reference.

    Attributes:
        study: the settings.
        runs: the runs, reference first.
        total_s: wall time of the whole study (this invocation).
    """

    study: TransformerStudy
    runs: tuple[RunResult, ...]
    total_s: float

    @property
    def reference(self) -> RunResult:
        """The 16-GRPO run."""
        return self.runs[0]

    def compare(self, run: RunResult, confidence: float = 0.95) -> dict[str, Any]:
        """Against the reference: retention (ratio of the final Mean@k, and of Pass@k), gain
        retention (ratio of the improvements over the warm start, when the reference improved),
        time and rollout ratios, and the differences of the final metrics (paired by seed)."""
        ref = self.reference
        out: dict[str, Any] = {"method": run.spec.label}
        for m in ("mean_at_k", "pass_at_k"):
            name = m.replace("k", str(self.study.eval_samples))
            r = ratio_interval(run.final[m], ref.final[m], confidence)
            out[f"retention_{name}"], out[f"retention_{name}_ci"] = r[0], list(r[1:])
            d = t_interval(run.final[m] - ref.final[m], confidence)
            out[f"delta_{name}"], out[f"delta_{name}_ci"] = d[0], list(d[1:])
            gain, ref_gain = run.final[m] - run.initial[m], ref.final[m] - ref.initial[m]
            if ref_gain.mean() != 0:
                g = ratio_interval(gain, ref_gain, confidence)
                out[f"gain_retention_{name}"], out[f"gain_retention_{name}_ci"] = g[0], list(g[1:])
        out["time_ratio"] = float(run.train_time_s.mean() / ref.train_time_s.mean())
        out["rollout_ratio"] = run.rollouts / ref.rollouts
        return out

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary: ``task``, ``rows``, ``comparisons`` and the headline next to the
        paper's numbers."""
        k = self.study.eval_samples
        head = self.compare(self.runs[1])
        return {
            "task": self.study.task,
            "task_args": dict(self.study.task_args),
            "rows": [r.as_dict(k) for r in self.runs],
            "comparisons": [self.compare(r) for r in self.runs[1:]],
            "retention": head[f"retention_mean_at_{k}"],
            "retention_ci": head[f"retention_mean_at_{k}_ci"],
            "retention_pass": head[f"retention_pass_at_{k}"],
            "gain_retention": head.get(f"gain_retention_mean_at_{k}"),
            "rollout_ratio": head["rollout_ratio"],
            "time_ratio": head["time_ratio"],
            "paper": dict(PAPER),
            "total_s": self.total_s,
        }


def _to_bytes(tree: Any) -> np.ndarray:
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def _settings(study: TransformerStudy) -> dict[str, Any]:
    """Every field that changes a run's numbers (not which runs are made)."""
    d = dataclasses.asdict(study)
    for name in ("ablation_groups", "checkpoint_every"):
        d.pop(name)
    return d


def _warm_model(study: TransformerStudy, task: SequenceTask, seed: int,
                store: ResultStore | None) -> Transformer:
    k_init, k_train = jax.random.split(jax.random.fold_in(jax.random.key(seed), 1))
    model = init_model(k_init, study.model_config(task))
    settings = {"warmstart": _settings(study), "seed": seed}
    stored = None if store is None else store.load(settings)
    if stored is not None:
        return eqx.tree_deserialise_leaves(io.BytesIO(stored[0]["model"].tobytes()), model)
    model, _ = supervised_warmstart(k_train, model, task,
                                    **dataclasses.asdict(study.warmstart_settings()))
    if store is not None:
        store.save(settings, {"model": _to_bytes(model)}, {})
    return model


def _summary_arrays(res: TrainResult) -> dict[str, np.ndarray]:
    return {**{f"eval/{k}": v for k, v in res.evals.items()},
            "mean_reward": res.history["mean_reward"],
            "silent_fraction": res.history["silent_fraction"]}


def run_study(study: TransformerStudy, *, store: ResultStore | None = None,
              progress: Callable[[str], None] | None = None,
              confidence: float = 0.95) -> StudyResult:
    """Train every run of ``study`` for every seed, and summarise.

    Args:
        study: the settings.
        store: where warm starts, finished runs and checkpoints are kept (resumption).
        progress: called with a line per evaluation and per finished run.
        confidence: level of the intervals.

    Returns:
        A :class:`StudyResult`.
    """
    if not isinstance(study, TransformerStudy):
        raise TypeError(f"study must be a TransformerStudy, got {type(study).__name__}")
    t0 = time.perf_counter()
    task = study.build_task()
    specs = study_specs(study)
    for spec in specs:
        if spec.prompts_per_step > task.n_train:
            raise ValueError(f"task_args: {task.n_train} training prompts, but run "
                             f"{spec.label!r} needs {spec.prompts_per_step} per step")
    base = _settings(study)
    per_spec: dict[str, list[dict[str, Any]]] = {s.label: [] for s in specs}
    for seed in range(study.seeds):
        model = _warm_model(study, task, seed, store)
        for spec in specs:
            settings = {"study": base, "spec": list(_spec_key(spec)), "seed": seed}
            stored = None if store is None else store.load({"result": settings})
            if stored is None:
                def line(msg: str, _s=spec, _seed=seed) -> None:
                    if progress is not None:
                        progress(f"[{_s.label} seed {_seed}] {msg}")
                res = train(jax.random.fold_in(jax.random.key(seed), 2), model, task,
                            study.rl_config(spec, task), store=store, settings=settings,
                            progress=line)
                arrays = _summary_arrays(res)
                header = {"steps": res.steps, "rollouts": res.rollouts,
                          "train_time_s": res.train_time_s}
                if store is not None:
                    store.save({"result": settings}, arrays, header)
            else:
                arrays, header = stored
            per_spec[spec.label].append({"arrays": arrays, **header})
            if progress is not None:
                ev = arrays["eval/mean_at_k"]
                progress(f"{spec.label} seed {seed}: Mean@{study.eval_samples} "
                         f"{ev[0]:.4f} -> {ev[-1]:.4f}, {header['steps']} steps, "
                         f"train time {header['train_time_s']:.1f}s"
                         + ("" if stored is None else " (loaded)"))
    runs = []
    for spec in specs:
        rows = per_spec[spec.label]
        curves = tuple({k.split("/", 1)[-1]: v for k, v in r["arrays"].items()} for r in rows)
        runs.append(RunResult(
            spec=spec, steps=int(rows[0]["steps"]), rollouts=int(rows[0]["rollouts"]),
            initial={m: np.array([c[m][0] for c in curves]) for m in ("mean_at_k", "pass_at_k")},
            final={m: np.array([c[m][-1] for c in curves]) for m in ("mean_at_k", "pass_at_k")},
            train_time_s=np.array([r["train_time_s"] for r in rows], dtype=float),
            curves=curves))
    return StudyResult(study, tuple(runs), time.perf_counter() - t0)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(c: tuple[float, float, float] | list[float], digits: int = 4) -> str:
    return f"{c[0]:.{digits}f} [{c[1]:.{digits}f}, {c[2]:.{digits}f}]"


def format_table(result: StudyResult) -> str:
    """A Markdown table in the form of the paper's Table 1: per run, time, rollouts, Mean@k and
    Pass@k with intervals, their change against 16-GRPO (paired by seed), retention, time and
    rollout ratios; and the paper's headline below the runs."""
    k = result.study.eval_samples
    lines = [
        f"| run | G | Q | steps | rollouts | time s | Mean@{k} (95% CI) | Pass@{k} (95% CI) | "
        f"Δ Mean@{k} | Δ Pass@{k} | retention (95% CI) | gain retained | time % | rollouts % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(result.runs):
        c = result.compare(run)
        ret = (c[f"retention_mean_at_{k}"], *c[f"retention_mean_at_{k}_ci"])
        gain = c.get(f"gain_retention_mean_at_{k}")
        rel = ("| (reference) | | 100% | 100% " if i == 0 else
               f"| {c[f'delta_mean_at_{k}']:+.4f} | {c[f'delta_pass_at_{k}']:+.4f} | "
               f"{_pct(ret[0])} [{_pct(ret[1])}, {_pct(ret[2])}] | "
               f"{'n/a' if gain is None else _pct(gain)} ")
        lines.append(
            f"| {run.spec.label} | {run.spec.group_size} | {run.spec.prompts_per_step} | "
            f"{run.steps} | {run.rollouts} | {run.train_time_s.mean():.1f} | "
            f"{_ci(run.interval('mean_at_k'))} | {_ci(run.interval('pass_at_k'))} "
            f"{rel}| {_pct(c['time_ratio'])} | {_pct(c['rollout_ratio'])} |")
    lines.append(f"| paper (v2/v3): 2-GRPO vs 16-GRPO | 2 | 256 | | | | | | | | "
                 f"{_pct(PAPER['retention'])} ({_pct(PAPER['retention_average'])} averaged) | | "
                 f"{_pct(PAPER['time_ratio'])} | {_pct(PAPER['rollout_ratio'])} |")
    start = result.reference.initial
    lines.append("")
    lines.append(f"Warm start (every run's start, mean over seeds): Mean@{k} "
                 f"{start['mean_at_k'].mean():.4f}, Pass@{k} {start['pass_at_k'].mean():.4f}.")
    return "\n".join(lines)
