"""The ``grpo-theory bandit`` subcommand: run the group-size study and write its results.

``grpo-theory bandit [--config FILE] [--quick] [--out DIR] [--json]`` runs
:func:`grpo_theory.experiments.study.run_presets` on :data:`~grpo_theory.experiments.study.
DEFAULT` (or :data:`~grpo_theory.experiments.study.QUICK` with ``--quick``), with the fields of
the JSON object in ``--config`` replacing those of the base configuration (``task`` is an object
of :class:`~grpo_theory.experiments.bandit_env.TaskSpec` fields). Progress goes to stderr; the
Markdown tables (or, with ``--json``, a JSON summary) to stdout. With ``--out DIR`` it writes,
each atomically (a temporary file renamed into place): ``config.json`` (the configuration used),
``metrics.json`` (per run, the mean over seeds of every metric at each step, initial value first,
and of the silent-group fraction) and ``summary.json`` (the JSON summary). Each finished run is
also kept in ``DIR/runs`` (a :class:`~grpo_theory._io.ResultStore`) as soon as it is trained, so a
study that is interrupted and started again with the same configuration loads the finished runs
and trains only the rest (``--restart`` trains everything again). A bad configuration exits with
status 2 and a message naming the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from grpo_theory._io import ResultStore, write_atomic
from grpo_theory.experiments.bandit_env import TaskSpec
from grpo_theory.experiments.study import (
    DEFAULT,
    QUICK,
    StudyConfig,
    StudyResult,
    format_table,
    run_presets,
)

__all__ = ["add_parser", "run", "load_config", "config_dict", "summary", "metrics_dict"]

_TUPLE_FIELDS = {"ablation_groups", "presets", "eval_k"}
_TASK_TUPLE_FIELDS = {"difficulty"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``bandit`` subcommand to an ``argparse`` subparsers object.

    Args:
        subparsers: the result of ``parser.add_subparsers(...)``.

    Returns:
        The new subparser (its ``func`` default is :func:`run`).
    """
    p = subparsers.add_parser(
        "bandit", help="train 2-GRPO against 16-GRPO on bandit prompts (many seeds)",
        description="Compare group sizes on the bandit trainer: retention, rollout and time "
                    "ratios with 95% intervals over seeds.")
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="JSON object of study fields replacing the base configuration's")
    p.add_argument("--quick", action="store_true",
                   help="start from the small configuration (well under 2 minutes)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write config.json, metrics.json and summary.json here; finished runs "
                        "are kept in DIR/runs, and a study started again resumes from them")
    p.add_argument("--restart", action="store_true",
                   help="with --out: train every run again instead of loading DIR/runs")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)
    return p


def _field_error(name: str, exc: Exception) -> ValueError:
    return ValueError(f"config field {name!r}: {exc}")


def load_config(data: dict[str, Any], base: StudyConfig = DEFAULT) -> StudyConfig:
    """A :class:`~grpo_theory.experiments.study.StudyConfig` from a JSON object over ``base``.

    Args:
        data: study fields; ``task`` is an object of TaskSpec fields; lists become tuples.
        base: the configuration whose fields are replaced.

    Returns:
        The validated configuration.

    Raises:
        ValueError: an unknown field or a bad value; the message names the field.

    Example:
        >>> load_config({"seeds": 8, "task": {"n_prompts": 320}}, QUICK).task.n_prompts
        320
    """
    if not isinstance(data, dict):
        raise ValueError(f"config must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(StudyConfig)}
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name not in names:
            raise ValueError(f"config field {name!r} is unknown; fields: "
                             f"{', '.join(sorted(names))}")
        if name == "task":
            changes["task"] = _load_task(value, base.task)
        elif name in _TUPLE_FIELDS:
            if not isinstance(value, list | tuple):
                raise _field_error(name, ValueError(f"must be a list, got {value!r}"))
            changes[name] = tuple(value)
        else:
            changes[name] = value
    try:
        study = base.replace(**changes)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        bad = next((n for n in sorted(changes, key=len, reverse=True) if n in msg), None)
        raise ValueError(f"config field {bad!r}: {exc}" if bad else f"config: {exc}") from exc
    try:
        task = study.task.build()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"config field 'task': {exc}") from exc
    _check_fits(study, task.n_train)
    return study


def _load_task(value: Any, base: TaskSpec) -> TaskSpec:
    if not isinstance(value, dict):
        raise _field_error("task", ValueError(f"must be an object, got {value!r}"))
    names = {f.name for f in dataclasses.fields(TaskSpec)}
    changes = {}
    for name, v in value.items():
        if name not in names:
            raise ValueError(f"config field 'task.{name}' is unknown; fields: "
                             f"{', '.join(sorted(names))}")
        changes[name] = tuple(v) if name in _TASK_TUPLE_FIELDS and isinstance(v, list) else v
        if name == "n_correct" and isinstance(v, list):
            changes[name] = tuple(v)
    return dataclasses.replace(base, **changes)


def _check_fits(study: StudyConfig, n_train: int) -> None:
    need = study.small_prompts if {"paper", "equal-total-rollouts", "equal-wall-time"} & set(
        study.presets) else study.reference_prompts
    if need > n_train:
        raise ValueError(f"config field 'task': {n_train} training prompts, but the study needs "
                         f"{need} prompts per step (reference_prompts * reference_group / "
                         f"small_group); raise task.n_prompts")


def config_dict(study: StudyConfig) -> dict[str, Any]:
    """The configuration as a JSON-ready object (the input format of :func:`load_config`).

    Example:
        >>> config_dict(QUICK)["task"]["n_prompts"]
        320
    """
    d = dataclasses.asdict(study)
    return json.loads(json.dumps(d))


def summary(result: StudyResult) -> dict[str, Any]:
    """The JSON summary: ``runs`` (estimator, group size, prompts per step, seeds, rollouts,
    wall time, final success with its interval, ...), ``comparisons``, and the headline
    ``retention``, ``retention_ci``, ``rollout_ratio``, ``time_ratio`` with the paper's."""
    return result.as_dict()


def metrics_dict(result: StudyResult) -> dict[str, Any]:
    """Per run: the mean over seeds of every metric at each step (initial value first) and of
    the silent-group fraction (the content of ``metrics.json``)."""
    return {"runs": [{"label": r.spec.label, "group_size": r.spec.group_size,
                      "prompts_per_step": r.spec.prompts_per_step, "epochs": r.spec.epochs,
                      "rollouts_per_step": r.spec.rollouts_per_step,
                      "curves": {k: v.tolist() for k, v in r.curves.items()},
                      "silent_fraction": r.silent_fraction.tolist()} for r in result.runs]}


def run(args: argparse.Namespace) -> int:
    """Run the ``bandit`` subcommand; returns the exit status (2 for a bad configuration)."""
    base = QUICK if args.quick else DEFAULT
    try:
        data = {}
        if args.config is not None:
            try:
                data = json.loads(Path(args.config).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"--config {args.config}: {exc}") from exc
        study = load_config(data, base)
    except (ValueError, TypeError) as exc:
        print(f"grpo-theory bandit: {exc}", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(f"[bandit] {line}", file=sys.stderr, flush=True)

    progress(f"{len(study.presets)} presets, {study.seeds} seeds, task "
             f"{study.task.n_prompts} prompts x {study.task.n_arms} arms")
    store = None
    if args.out is not None:
        if args.restart and (args.out / "runs").is_dir():
            for f in (args.out / "runs").glob("*.npz"):
                f.unlink()
        store = ResultStore(args.out / "runs")
    result = run_presets(study, progress=progress, store=store)
    out = summary(result)
    if args.out is not None:
        write_atomic(args.out / "config.json", json.dumps(config_dict(study), indent=2) + "\n")
        write_atomic(args.out / "metrics.json", json.dumps(metrics_dict(result)) + "\n")
        write_atomic(args.out / "summary.json", json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(format_table(result))
    progress(f"done in {result.total_s:.1f}s")
    return 0
