"""The ``grpo-theory`` command.

Subcommands:

* ``grpo-theory claims [--json] [--only PREFIX ...] [--format text|markdown] [--out FILE]``:
  run the claims and print the report; exit status 1 if any claim failed.
* ``grpo-theory derive NAME [--latex]`` prints a derivation step by step;
  ``grpo-theory derive --list`` lists the names.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``grpo-theory`` command."""
    parser = argparse.ArgumentParser(
        prog="grpo-theory",
        description="Theory and verification toolkit for GRPO, 2-GRPO and their relatives.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    claims = sub.add_parser("claims", help="run the claims registry and print the report")
    claims.add_argument("--json", action="store_true", help="print JSON instead of a table")
    claims.add_argument(
        "--only", nargs="+", metavar="PREFIX", default=None,
        help="run only the claims whose id starts with one of these prefixes",
    )
    claims.add_argument(
        "--format", choices=["text", "markdown"], default="text",
        help="report format when --json is not given (default: text)",
    )
    claims.add_argument("--out", type=Path, default=None,
                        help="also write the report to this file (written atomically)")
    claims.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    derive = sub.add_parser("derive", help="print a derivation step by step")
    derive.add_argument("name", nargs="?", help="derivation name (see --list)")
    derive.add_argument("--latex", action="store_true", help="LaTeX instead of pretty text")
    derive.add_argument("--list", action="store_true", help="list the derivations")
    return parser


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cmd_claims(args: argparse.Namespace) -> int:
    from grpo_theory.claims import run_claims, select
    from grpo_theory.claims.report import format_json, format_markdown, format_table

    try:
        select(args.only)
    except ValueError as exc:
        print(f"grpo-theory claims: --only: {exc}", file=sys.stderr)
        return 2

    def progress(i: int, n: int, result) -> None:
        if not args.quiet:
            print(f"[{i:>3}/{n}] {result.outcome.value:<8} {result.claim.id} "
                  f"({result.seconds:.2f}s)", file=sys.stderr, flush=True)

    results = run_claims(args.only, progress=progress)
    if args.json:
        text = format_json(results)
    elif args.format == "markdown":
        text = format_markdown(results)
    else:
        text = format_table(results)
    print(text)
    if args.out is not None:
        _write_atomic(args.out, text + "\n")
    return 0 if all(r.passed for r in results) else 1


def _cmd_derive(args: argparse.Namespace) -> int:
    from grpo_theory.symbolic import derivations, get_derivation

    if args.list or not args.name:
        for name, title in derivations().items():
            print(f"{name:<28} {title}")
        return 0 if args.list else 2
    try:
        d = get_derivation(args.name)
    except KeyError as exc:
        print(f"grpo-theory derive: {exc.args[0]}", file=sys.stderr)
        return 2
    print(d.render(latex=args.latex))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "claims":
        return _cmd_claims(args)
    return _cmd_derive(args)
