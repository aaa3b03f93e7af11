"""The ``grpo-theory transformer`` subcommand: the headline study on a tiny transformer.

``grpo-theory transformer [--task NAME] [--config FILE] [--quick|--full] [--out DIR] [--json]``
runs :func:`grpo_theory.transformer.study.run_study` on :data:`~grpo_theory.transformer.study.
DEFAULT` (or :data:`~grpo_theory.transformer.study.QUICK`, :data:`~grpo_theory.transformer.
study.FULL`), with the fields of the JSON object in ``--config`` replacing those of the base
configuration (``task_args`` is an object of the task's fields); ``--task`` picks the task and
its default arguments for that size. Progress goes to stderr; the table in the paper's form (or,
with ``--json``, the JSON summary) to stdout. With ``--out DIR`` it writes, each atomically:
``config.json``, ``curves.json`` (per run and seed, the held-out Mean@k and Pass@k at each
evaluation with its step, rollouts and training time, and the per-step training reward and
silent-group fraction) and ``summary.json``; warm starts, finished runs and checkpoints are kept
in ``DIR/runs``, so the study started again resumes where it stopped (``--restart`` starts
over). A bad configuration exits with status 2 and a message naming the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from grpo_theory._io import ResultStore, write_atomic
from grpo_theory.transformer.study import (
    DEFAULT,
    FULL,
    QUICK,
    TASK_ARGS,
    StudyResult,
    TransformerStudy,
    format_table,
    run_study,
)

__all__ = ["add_parser", "run", "load_config", "config_dict", "curves_dict"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``transformer`` subcommand to an ``argparse`` subparsers object.

    Args:
        subparsers: the result of ``parser.add_subparsers(...)``.

    Returns:
        The new subparser (its ``func`` default is :func:`run`).
    """
    p = subparsers.add_parser(
        "transformer", help="train 2-GRPO against 16-GRPO on a tiny transformer",
        description="The paper's comparison in miniature: a tiny transformer trained with RL "
                    "from verifiable rewards; retention, time and rollout ratios over seeds.")
    p.add_argument("--task", default=None, choices=sorted(TASK_ARGS),
                   help="the task (default: the configuration's, 'add')")
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="JSON object of study fields replacing the base configuration's")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the smoke configuration (CI)")
    size.add_argument("--full", action="store_true",
                      help="the larger model and data set, 5 seeds (meant for a GPU)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write config.json, curves.json and summary.json here; keep warm starts, "
                        "finished runs and checkpoints in DIR/runs and resume from them")
    p.add_argument("--restart", action="store_true",
                   help="with --out: ignore DIR/runs and train everything again")
    p.add_argument("--json", action="store_true", help="print the JSON summary")
    p.set_defaults(func=run)
    return p


def _size(args: argparse.Namespace) -> str:
    return "quick" if args.quick else "full" if args.full else "default"


def load_config(data: dict[str, Any], base: TransformerStudy = DEFAULT) -> TransformerStudy:
    """A :class:`~grpo_theory.transformer.study.TransformerStudy` from a JSON object over
    ``base``.

    Args:
        data: study fields; ``task_args`` is an object; ``ablation_groups`` a list.
        base: the configuration whose fields are replaced.

    Returns:
        The validated configuration.

    Raises:
        ValueError: an unknown field or a bad value; the message names the field.

    Example:
        >>> load_config({"seeds": 4, "task_args": {"modulus": 50}}, DEFAULT).task_args
        (('modulus', 50),)
    """
    if not isinstance(data, dict):
        raise ValueError(f"config must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(TransformerStudy)}
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name not in names:
            raise ValueError(f"config field {name!r} is unknown; fields: "
                             f"{', '.join(sorted(names))}")
        if name in ("task_args", "warmstart"):
            if not isinstance(value, dict):
                raise ValueError(f"config field {name!r}: must be an object, got {value!r}")
            changes[name] = tuple(value.items())
        elif name == "ablation_groups":
            if not isinstance(value, list | tuple):
                raise ValueError(f"config field 'ablation_groups': must be a list, got {value!r}")
            changes[name] = tuple(value)
        else:
            changes[name] = value
    try:
        study = base.replace(**changes)
    except (ValueError, TypeError) as exc:
        bad = next((n for n in sorted(changes, key=len, reverse=True) if n in str(exc)), None)
        raise ValueError(f"config field {bad!r}: {exc}" if bad else f"config: {exc}") from exc
    try:
        study.build_task()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"config field 'task_args': {exc}") from exc
    return study


def config_dict(study: TransformerStudy) -> dict[str, Any]:
    """The configuration as a JSON-ready object (the input format of :func:`load_config`).

    Example:
        >>> config_dict(QUICK)["task_args"]
        {'n_digits': 4, 'n_prompts': 640}
    """
    d = dataclasses.asdict(study)
    d["task_args"] = dict(study.task_args)
    d["warmstart"] = dict(study.warmstart)
    return json.loads(json.dumps(d))


def curves_dict(result: StudyResult) -> dict[str, Any]:
    """Per run and seed: the evaluation curves and the per-step training reward."""
    return {"runs": [{"method": r.spec.label, "group_size": r.spec.group_size,
                      "prompts_per_step": r.spec.prompts_per_step,
                      "seeds": [{k: v.tolist() for k, v in c.items()} for c in r.curves]}
                     for r in result.runs]}


def run(args: argparse.Namespace) -> int:
    """Run the ``transformer`` subcommand; returns the exit status (2 for a bad configuration)."""
    size = _size(args)
    base = {"quick": QUICK, "full": FULL, "default": DEFAULT}[size]
    try:
        data: dict[str, Any] = {}
        if args.task is not None and args.task != base.task:
            data |= {"task": args.task, "task_args": dict(TASK_ARGS[args.task][size])}
        if args.config is not None:
            try:
                loaded = json.loads(Path(args.config).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"--config {args.config}: {exc}") from exc
            if not isinstance(loaded, dict):
                raise ValueError(f"--config {args.config}: must hold a JSON object")
            data |= loaded
        study = load_config(data, base)
    except (ValueError, TypeError) as exc:
        print(f"grpo-theory transformer: {exc}", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(f"[transformer] {line}", file=sys.stderr, flush=True)

    store = None
    if args.out is not None:
        if args.restart and (args.out / "runs").is_dir():
            for f in (args.out / "runs").glob("*.npz"):
                f.unlink()
        store = ResultStore(args.out / "runs")
    progress(f"task {study.task} {dict(study.task_args)}, {study.seeds} seeds, "
             f"{study.epochs} epochs, model d={study.d_model} layers={study.n_layers}")
    result = run_study(study, store=store, progress=progress)
    out = result.as_dict()
    if args.out is not None:
        write_atomic(args.out / "config.json", json.dumps(config_dict(study), indent=2) + "\n")
        write_atomic(args.out / "curves.json", json.dumps(curves_dict(result)) + "\n")
        write_atomic(args.out / "summary.json", json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2) if args.json else format_table(result))
    progress(f"done in {result.total_s:.1f}s")
    return 0
