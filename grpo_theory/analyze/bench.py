r"""Benchmark of ``grpo-theory analyze``: a log of a million rollouts, read, analysed, reported.

The workload: a run of at least ``rollouts`` rollouts in whole steps of ``prompts_per_step``
prompts of ``group_size`` rollouts, per-prompt success rates drawn from
:math:`\mathrm{Beta}(0.8, 1.5)` and Bernoulli rewards
(:func:`~grpo_theory.analyze.synthetic.beta_run`), written once as a ``file_format`` table
(``csv``, ``jsonl`` or ``parquet``, :func:`~grpo_theory.analyze.formats.write_table`). Each
timed call does what the command does: :func:`~grpo_theory.analyze.formats.read_log`,
:func:`~grpo_theory.analyze.analysis.analyze_log` and
:func:`~grpo_theory.analyze.report.write_report` (three figures, Markdown, HTML, JSON).

Reported: the seconds of each stage for the fastest of ``repeats`` calls, the total, and the
machine. Run it with ``grpo-theory bench analyze``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from grpo_theory._validate import check_int
from grpo_theory.analyze.rollouts import RolloutLog
from grpo_theory.montecarlo.bench import machine_info

__all__ = ["BENCH_DEFAULTS", "FILE_FORMATS", "bench_log", "run_analyze_benchmark"]

BENCH_DEFAULTS = {"rollouts": 1_000_000, "file_format": "csv", "group_size": 16,
                  "prompts_per_step": 64, "seed": 0}
"""The documented workload: a million rollouts in CSV, 64 prompts x 16 rollouts per step."""
FILE_FORMATS = ("csv", "jsonl", "parquet")
"""File formats the benchmark can write its log in."""


def bench_log(rollouts: int, group_size: int = 16, prompts_per_step: int = 64, seed: int = 0
              ) -> RolloutLog:
    """The benchmark's run: :func:`~grpo_theory.analyze.synthetic.beta_run` with
    Beta(0.8, 1.5) success rates and enough whole steps for at least ``rollouts`` rollouts."""
    from grpo_theory.analyze.synthetic import beta_run

    check_int(rollouts, "rollouts", 2)
    check_int(group_size, "group_size", 2)
    check_int(prompts_per_step, "prompts_per_step", 1)
    steps = -(-rollouts // (group_size * prompts_per_step))
    return beta_run(seed, 0.8, 1.5, steps=steps, prompts_per_step=prompts_per_step,
                    group_size=group_size).log


def run_analyze_benchmark(rollouts: int = 1_000_000, file_format: str = "csv",
                          group_size: int = 16, prompts_per_step: int = 64, seed: int = 0,
                          repeats: int = 1) -> dict[str, Any]:
    """Time ``read_log + analyze_log + write_report`` on a generated log.

    Args:
        rollouts: rollouts in the log.
        file_format: ``csv``, ``jsonl`` or ``parquet``.
        group_size: rollouts per group.
        prompts_per_step: groups per step.
        seed: seed of the generated run.
        repeats: timed calls (``>= 1``); the fastest is reported.

    Returns:
        A JSON-ready dict: the workload, ``file_mb``, ``read_s``, ``analyze_s``, ``report_s``,
        ``total_s`` (fastest call), ``totals_s`` (every call), ``recommended_group_size`` and
        the machine.
    """
    from grpo_theory.analyze.analysis import analyze_log
    from grpo_theory.analyze.formats import read_log, write_table
    from grpo_theory.analyze.report import write_report

    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}; "
                         f"got {file_format!r}")
    check_int(repeats, "repeats", 1)
    log = bench_log(rollouts, group_size, prompts_per_step, seed)
    best: dict[str, float] | None = None
    totals = []
    with tempfile.TemporaryDirectory(prefix="grpo-theory-bench-") as tmp:
        path = write_table(log, Path(tmp) / f"run.{file_format}")
        size_mb = path.stat().st_size / 2**20
        for i in range(repeats):
            t0 = time.perf_counter()
            read = read_log(path)
            t1 = time.perf_counter()
            an = analyze_log(read)
            t2 = time.perf_counter()
            write_report(an, Path(tmp) / f"report{i}")
            t3 = time.perf_counter()
            times = {"read_s": t1 - t0, "analyze_s": t2 - t1, "report_s": t3 - t2,
                     "total_s": t3 - t0}
            totals.append(times["total_s"])
            if best is None or times["total_s"] < best["total_s"]:
                best = times
    assert best is not None
    return {"rollouts": log.n_rollouts, "groups": log.n_groups, "file_format": file_format,
            "group_size": group_size, "prompts_per_step": prompts_per_step, "seed": seed,
            "file_mb": round(size_mb, 1), **{k: round(v, 2) for k, v in best.items()},
            "totals_s": [round(t, 2) for t in totals],
            "recommended_group_size": an.recommendation.group_size, **machine_info()}
