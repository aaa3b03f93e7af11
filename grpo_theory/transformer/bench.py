r"""Benchmark of the tiny transformer: rollout tokens per second, and RL steps per second.

The workload: a model of the study's shape (:data:`~grpo_theory.transformer.study.DEFAULT` by
default: width 32, 2 layers) on a task, :math:`Q \times G` rollouts of :math:`L` tokens drawn by
:func:`~grpo_theory.transformer.sampling.sample_completions` (one compiled call), and one full
16-GRPO training step (:func:`~grpo_theory.transformer.trainer.make_step`: sampling, rewards,
advantages, a forward and backward pass and an Adam update). The first call of each is timed
apart (compilation); then the best of ``repeats`` calls.

*Rollout tokens* count :math:`Q G L` sampled positions per call (positions after an EOS are
still computed, since the decode runs to :math:`L`).

Run it with ``grpo-theory bench transformer`` or ``python -m grpo_theory.transformer.bench``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jax
import jax.numpy as jnp

from grpo_theory.montecarlo.bench import machine_info
from grpo_theory.transformer.model import init_model, param_count
from grpo_theory.transformer.sampling import sample_completions
from grpo_theory.transformer.study import DEFAULT, TASK_ARGS
from grpo_theory.transformer.tasks import make_task
from grpo_theory.transformer.trainer import RLConfig, make_step

__all__ = ["BENCH_DEFAULTS", "run_transformer_benchmark", "main"]

BENCH_DEFAULTS = {"task": "add", "d_model": 32, "n_layers": 2, "prompts": 32, "group_size": 16}
"""The documented workload: the default study's model on addition, 32 prompts x 16 rollouts."""


def _best(fn: Any, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(0))
    first = time.perf_counter() - t0
    best = float("inf")
    for i in range(repeats):
        t1 = time.perf_counter()
        jax.block_until_ready(fn(i + 1))
        best = min(best, time.perf_counter() - t1)
    return first, best


def run_transformer_benchmark(task: str = "add", d_model: int = 32, n_layers: int = 2,
                              prompts: int = 32, group_size: int = 16,
                              repeats: int = 5) -> dict[str, Any]:
    """Time sampling and one RL step of a tiny transformer.

    Args:
        task: a task name of :data:`~grpo_theory.transformer.study.TASK_ARGS` (its default-size
            arguments are used).
        d_model: model width (a multiple of 4, the number of heads).
        n_layers: transformer blocks.
        prompts: prompts per call :math:`Q` (at most the training prompts).
        group_size: rollouts per prompt :math:`G \\ge 2`.
        repeats: timed calls after the first, ``>= 1``.

    Returns:
        A JSON-ready dict: the workload, ``params``, ``sample_first_s``, ``sample_s``,
        ``rollout_tokens_per_second``, ``rollouts_per_second``, ``step_first_s``, ``step_s``,
        ``steps_per_second``, and :func:`~grpo_theory.montecarlo.bench.machine_info`.

    Example:
        >>> r = run_transformer_benchmark(d_model=16, n_layers=1, prompts=4, group_size=2,
        ...                               repeats=1)
        >>> r["rollouts_per_call"], r["tokens_per_call"]
        (8, 24)
    """
    if task not in TASK_ARGS:
        raise ValueError(f"task must be one of {', '.join(TASK_ARGS)}; got {task!r}")
    for name, value, lo in (("prompts", prompts, 1), ("group_size", group_size, 2),
                            ("repeats", repeats, 1), ("n_layers", n_layers, 1),
                            ("d_model", d_model, 4)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    t = make_task(task, 0, **dict(TASK_ARGS[task]["default"]))
    if prompts > t.n_train:
        raise ValueError(f"prompts must be at most {t.n_train} (training prompts), got {prompts}")
    study = DEFAULT.replace(task=task, d_model=d_model, n_layers=n_layers)
    config = study.model_config(t)
    model = init_model(jax.random.key(0), config)
    P = jnp.asarray(t.prompts[t.train_idx[:prompts]])
    A = jnp.asarray(t.answers[t.train_idx[:prompts]])
    L = t.completion_len
    sample = jax.jit(lambda k: sample_completions(k, model, P, n_rollouts=group_size,
                                                  completion_len=L)["tokens"])
    s_first, s_best = _best(lambda i: sample(jax.random.key(i)), repeats)
    cfg = RLConfig(estimator="grpo", group_size=group_size, prompts_per_step=prompts)
    step, params, opt_state = make_step(cfg, t, model)
    st_first, st_best = _best(lambda i: step(params, opt_state, jax.random.key(i), P, A)[2],
                              repeats)
    rollouts = prompts * group_size
    return {
        "workload": f"{task}: sampling and one 16-GRPO-style step of a tiny transformer",
        "task": task, "d_model": d_model, "n_layers": n_layers, "params": param_count(config),
        "prompts": prompts, "group_size": group_size, "completion_len": L,
        "rollouts_per_call": rollouts, "tokens_per_call": rollouts * L, "repeats": repeats,
        "sample_first_s": s_first, "sample_s": s_best,
        "rollout_tokens_per_second": rollouts * L / s_best,
        "rollouts_per_second": rollouts / s_best,
        "step_first_s": st_first, "step_s": st_best, "steps_per_second": 1.0 / st_best,
    } | machine_info()


def main(argv: list[str] | None = None) -> int:
    """``python -m grpo_theory.transformer.bench [--task T] [--d-model D] ... [--json]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in BENCH_DEFAULTS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run_transformer_benchmark(repeats=args.repeats,
                                       **{k: getattr(args, k) for k in BENCH_DEFAULTS})
    print(json.dumps(result, indent=2) if args.json
          else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
