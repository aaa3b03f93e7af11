"""The ``grpo-theory figures`` subcommand: draw the named paper figures as PDF and PNG.

``grpo-theory figures [NAME ...] [--out DIR] [--smoke] [--cache DIR] [--list]`` draws the named
figures (all by default) into ``DIR`` (default ``build/figures``) and prints one line per file
written; ``--list`` prints each name with its caption; an unknown name exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_OUT", "add_parser", "run"]

DEFAULT_OUT = Path("build/figures")
"""Default output folder."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``figures`` subcommand to ``subparsers`` (of ``argparse``).

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers``.

    Returns:
        The new subparser (its default ``func`` is :func:`run`).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> sub = parser.add_subparsers(dest="command")
        >>> _ = add_parser(sub)
        >>> args = parser.parse_args(["figures", "weights", "--smoke"])
        >>> args.names, args.smoke, str(args.out)
        (['weights'], True, 'build/figures')
    """
    p = subparsers.add_parser("figures", help="draw the named paper figures (PDF and PNG)",
                              description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("names", nargs="*", metavar="NAME", help="figures to draw (default: all)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    p.add_argument("--smoke", action="store_true", help="few samples: seconds per figure")
    p.add_argument("--cache", type=Path, default=None,
                   help="folder of saved results (bandit/, transformer/) to draw from")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the ``figures`` subcommand.

    Args:
        args: parsed arguments of :func:`add_parser`.

    Returns:
        0 on success, 2 for an unknown figure name.
    """
    from grpo_theory.figures.registry import FIGURES, build, load_all

    load_all()
    if args.list:
        for fig in FIGURES.values():
            print(f"{fig.name:<20} {fig.title}")
        return 0
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        print(f"grpo-theory figures: unknown figure name(s): {', '.join(unknown)}; "
              f"valid names: {', '.join(FIGURES)}", file=sys.stderr)
        return 2

    def progress(name: str, paths: list[Path]) -> None:
        for path in paths:
            print(path, flush=True)

    build(args.names or None, args.out, smoke=args.smoke, cache_dir=args.cache,
          progress=progress)
    return 0
