"""``grpo-theory analyze FILE_OR_DIR``: analyse a logged GRPO run.

Reads the log (:mod:`grpo_theory.analyze.formats`), analyses it
(:func:`grpo_theory.analyze.analysis.analyze_log`) and prints a summary, or with ``--json`` the
numbers of :meth:`~grpo_theory.analyze.analysis.RunAnalysis.as_dict`. With ``--out DIR`` it also
writes ``DIR/report.md``, ``DIR/report.html``, ``DIR/analysis.json`` and ``DIR/figures``.
Progress goes to stderr. A log that cannot be read gives exit status 2 and a message naming the
file, line and column.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from grpo_theory._validate import check_int, check_nonnegative, check_probability
from grpo_theory.analyze.counterfactual import CONVENTIONS, GROUP_SIZES

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``analyze`` subcommand to an ``argparse`` subparsers object.

    Returns:
        The new subparser (its ``func`` default is :func:`run`).
    """
    from grpo_theory.analyze.formats import FORMATS

    p = subparsers.add_parser(
        "analyze", help="analyse a logged GRPO run (table, verl or TRL rewards)",
        description="Read the per-rollout rewards of a GRPO run, fit its difficulty "
                    "distribution and predict, with the exact engine, what other group sizes "
                    "would have done at the same rollout budget.")
    p.add_argument("path", type=Path, metavar="FILE_OR_DIR", help="the log file or directory")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="log format (default: detect it)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write report.md, report.html, analysis.json and figures here")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip malformed rows and groups of one rollout (counted in the report)")
    p.add_argument("--convention", default=None, choices=CONVENTIONS,
                   help="the run's advantage convention (default: detected from logged "
                        "advantages, else grpo-bessel as verl and TRL compute)")
    p.add_argument("--group-sizes", type=int, nargs="+", default=list(GROUP_SIZES),
                   metavar="G", help="candidate group sizes (default 2 4 8 16 32)")
    p.add_argument("--windows", type=int, default=8,
                   help="windows of steps with their own difficulty fit (default 8)")
    p.add_argument("--threshold", type=float, default=None,
                   help="a reward >= THRESHOLD is a success (continuous rewards; default: the "
                        "midpoint of the range)")
    p.add_argument("--reward-column", action="append", default=None, metavar="NAME",
                   help="TRL: a reward-function column to sum (repeat; default: every one)")
    p.add_argument("--epsilon", type=float, default=0.0,
                   help="epsilon added to the std by the run (default 0)")
    p.add_argument("--level", type=float, default=0.95,
                   help="confidence level of the intervals (default 0.95)")
    p.set_defaults(func=run)
    return p


def _progress(line: str) -> None:
    print(f"[analyze] {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run ``grpo-theory analyze``; returns the exit status."""
    from grpo_theory.analyze.analysis import analyze_log
    from grpo_theory.analyze.formats import read_log
    from grpo_theory.analyze.report import summary, write_report

    # Options first, so that a typo does not cost the time of reading a large log.
    check_int(args.windows, "windows", 1)
    check_probability(args.level, "level", open_interval=True)
    check_nonnegative(args.epsilon, "epsilon")
    for G in args.group_sizes:
        check_int(G, "group_sizes", 2)
    start = time.perf_counter()
    _progress(f"reading {args.path} ({args.format})")
    log = read_log(args.path, args.format, skip_bad=args.skip_bad,
                   reward_columns=args.reward_column)
    _progress(f"read {log.n_rollouts:,} rollouts in {log.n_groups:,} groups "
              f"({time.perf_counter() - start:.1f} s); fitting and predicting")
    an = analyze_log(log, convention=args.convention, group_sizes=tuple(args.group_sizes),
                     windows=args.windows, threshold=args.threshold, epsilon=args.epsilon,
                     level=args.level)
    if args.out is not None:
        _progress(f"writing the report to {args.out}")
        write_report(an, args.out)
    _progress(f"done in {time.perf_counter() - start:.1f} s")
    if args.json:
        print(json.dumps(an.as_dict(), indent=2))
    else:
        print(summary(an))
        if args.out is not None:
            print(f"report: {args.out / 'report.html'}")
    return 0
