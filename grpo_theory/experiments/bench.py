r"""Benchmark of the bandit trainer: many seeds of a tabular bandit trained at once.

The workload: a tabular policy on a :class:`~grpo_theory.experiments.bandit_env.BanditTask` of
``n_prompts`` prompts (all used for training) with ``n_arms`` arms, one correct arm each and
initial success rates from :math:`\mathrm{Beta}(1, 1)`, trained by 2-GRPO (Adam, rate 0.1) at
``prompts_per_step`` prompts :math:`\times` 2 rollouts for ``steps`` steps, every seed of ``seeds``
in one ``jax.vmap`` of :func:`~grpo_theory.experiments.bandit.make_train` under ``jax.jit``. Each
step includes the trainer's exact evaluation of every prompt (success and Pass@k).

Reported: the time of the first call (tracing, compilation and the run, which is what a user
waits for), the best of ``repeats`` further calls (the compiled run alone), the throughput in
seed-steps and rollouts per second, the mean train success before and after training (a check
that the agents learned), and the machine.

Run it with ``grpo-theory bench bandit`` or ``python -m grpo_theory.experiments.bench``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jax
import numpy as np

from grpo_theory._validate import check_group_size
from grpo_theory.experiments.bandit import BanditConfig, make_train, schedule
from grpo_theory.experiments.bandit_env import TaskSpec
from grpo_theory.montecarlo.bench import machine_info

__all__ = ["BENCH_DEFAULTS", "run_bandit_benchmark", "main"]

BENCH_DEFAULTS = {"seeds": 1024, "n_prompts": 64, "n_arms": 16, "steps": 500,
                  "prompts_per_step": 16, "seed": 0}
"""The documented workload: 1,024 seeds, 64 prompts, 16 arms, 500 steps of 2-GRPO at 16 x 2."""


def run_bandit_benchmark(seeds: int = 1024, n_prompts: int = 64, n_arms: int = 16,
                         steps: int = 500, prompts_per_step: int = 16, seed: int = 0,
                         repeats: int = 1) -> dict[str, Any]:
    """Train ``seeds`` tabular 2-GRPO agents at once and time it.

    ``steps`` must be a multiple of the steps per epoch ``n_prompts // prompts_per_step``.

    Args:
        seeds: agents trained at once (``>= 1``).
        n_prompts: training prompts (``>= 1``).
        n_arms: arms per prompt (``>= 2``).
        steps: training steps per agent.
        prompts_per_step: prompts per step :math:`Q` (at most ``n_prompts``).
        seed: the task's and the agents' seed.
        repeats: timed calls after the first (``>= 1``); the fastest is reported.

    Returns:
        A JSON-ready dict: the workload, ``seconds_with_compile`` (first call),
        ``seconds_compiled`` (best later call), ``seed_steps_per_second``,
        ``rollouts_per_second`` (of the compiled run), ``initial_success``,
        ``final_success`` (means over agents) and :func:`~grpo_theory.montecarlo.bench.
        machine_info`.

    Example:
        >>> r = run_bandit_benchmark(seeds=2, n_prompts=4, n_arms=4, steps=4, prompts_per_step=2)
        >>> r["steps"], r["rollouts"]
        (4, 16)
    """
    seeds = int(check_group_size(seeds, "seeds", minimum=1))
    n_prompts = int(check_group_size(n_prompts, "n_prompts", minimum=1))
    n_arms = int(check_group_size(n_arms, "n_arms", minimum=2))
    Q = int(check_group_size(prompts_per_step, "prompts_per_step", minimum=1,
                             maximum=n_prompts))
    per_epoch = n_prompts // Q
    steps = int(check_group_size(steps, "steps", minimum=1))
    if steps % per_epoch:
        raise ValueError(f"steps must be a multiple of n_prompts // prompts_per_step = "
                         f"{per_epoch}, got {steps}")
    seed = int(check_group_size(seed, "seed", minimum=0))
    repeats = int(check_group_size(repeats, "repeats", minimum=1))

    t0 = time.perf_counter()
    spec = TaskSpec(n_prompts=n_prompts, n_arms=n_arms, test_fraction=0.0, seed=seed)
    config = BanditConfig(task=spec, policy="tabular", estimator="2-grpo", group_size=2,
                          prompts_per_step=Q, epochs=steps // per_epoch, learning_rate=0.1)
    task = spec.build()
    sched = schedule(config, task)
    keys = jax.random.split(jax.random.key(seed), seeds)
    train = jax.jit(jax.vmap(make_train(config, task)))
    out = jax.block_until_ready(train(keys))
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t1 = time.perf_counter()
        jax.block_until_ready(train(keys))
        best = min(best, time.perf_counter() - t1)
    rollouts = sched.n_steps * sched.rollouts_per_step
    return {
        "workload": "tabular 2-GRPO, every seed in one vmap",
        "seeds": seeds, "n_prompts": n_prompts, "n_arms": n_arms, "steps": sched.n_steps,
        "prompts_per_step": Q, "group_size": 2, "rollouts": rollouts, "repeats": repeats,
        "seconds_with_compile": first, "seconds_compiled": best,
        "seed_steps_per_second": seeds * sched.n_steps / best,
        "rollouts_per_second": seeds * rollouts / best,
        "initial_success": float(np.mean(out["initial"]["train_success"])),
        "final_success": float(np.mean(out["metrics"]["train_success"][:, -1])),
    } | machine_info()


def main(argv: list[str] | None = None) -> int:
    """``python -m grpo_theory.experiments.bench [--seeds N] ... [--json]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in BENCH_DEFAULTS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=value)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run_bandit_benchmark(repeats=args.repeats,
                                  **{k: getattr(args, k) for k in BENCH_DEFAULTS})
    print(json.dumps(result, indent=2) if args.json
          else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
