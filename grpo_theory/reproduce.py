"""The main job: every claim, the exact tables, both studies and every figure, in one report.

``grpo-theory reproduce [--out DIR] [--fresh] [--skip STAGE ...]`` (what ``make reproduce``
runs) works through its stages in order, each writing its result under ``DIR`` (default
``build``) as soon as it is done:

1. ``claims``: every claim of the registry (``DIR/reproduce/claims.json``); the Monte Carlo
   checks against the exact engine are among them;
2. ``exact``: exact tables of the theory: the expected-gradient weights :math:`c_G(p)` and the
   silent-group probabilities for several :math:`G`, and the fixed-budget comparison of group
   sizes for prompts of difficulty :math:`p \\sim \\mathrm{Beta}(2, 8)` at 512 rollouts per step
   (``DIR/reproduce/exact.md``);
3. ``bandit``: the default bandit study (``DIR/reproduce/bandit``, as ``grpo-theory bandit
   --out``);
4. ``transformer``: the default transformer study (``DIR/reproduce/transformer``, as
   ``grpo-theory transformer --out``);
5. ``figures``: every figure of :mod:`grpo_theory.figures`, from the results above
   (``DIR/figures``);

and writes ``DIR/report.md`` and ``DIR/report.html`` (tables and figures inline). A stage whose
result is on disk is not run again, and the studies resume from their finished runs, so an
interrupted job started again continues where it stopped; ``--fresh`` runs every stage again.
Progress goes to stderr. The exit status is 1 if a claim failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grpo_theory._io import ResultStore, write_atomic

__all__ = ["STAGES", "add_parser", "run", "exact_tables", "render_html"]

STAGES = ("claims", "exact", "bandit", "transformer", "figures")
"""The stages of the main job, in order."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``reproduce`` subcommand to an ``argparse`` subparsers object.

    Args:
        subparsers: the result of ``parser.add_subparsers(...)``.

    Returns:
        The new subparser (its ``func`` default is :func:`run`).
    """
    p = subparsers.add_parser(
        "reproduce", help="run every claim, study and figure and write build/report.md",
        description="The main job: claims, exact tables, the default bandit and transformer "
                    "studies and every figure, in one Markdown and HTML report; resumable.")
    p.add_argument("--out", type=Path, default=Path("build"), metavar="DIR",
                   help="where results and the report go (default build)")
    p.add_argument("--fresh", action="store_true", help="run every stage again")
    p.add_argument("--skip", nargs="+", default=[], choices=STAGES, metavar="STAGE",
                   help=f"stages to leave out ({', '.join(STAGES)})")
    p.set_defaults(func=run)
    return p


def _progress(line: str) -> None:
    print(f"[reproduce] {line}", file=sys.stderr, flush=True)


def exact_tables() -> str:
    """Markdown tables of the exact engine: weights, silent-group probabilities, and the
    fixed-budget comparison for Beta(2, 8) difficulty at 512 rollouts per step.

    Example:
        >>> "| p |" in exact_tables()
        True
    """
    from grpo_theory.exact.binary import expected_gradient_weight, silent_probability
    from grpo_theory.exact.budget import Population, budget_table, recommend

    ps = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9)
    Gs = (2, 3, 4, 8, 16, 64)
    lines = ["### Expected-gradient weights $c_G(p)$ (GRPO, population std)", "",
             "| p | " + " | ".join(f"G = {G}" for G in Gs) + " | $1/\\sqrt{p(1-p)}$ |",
             "|---|" + "---|" * (len(Gs) + 1)]
    for p in ps:
        row = [f"{float(expected_gradient_weight('grpo', G, p)):.4f}" for G in Gs]
        lines.append(f"| {p} | " + " | ".join(row) + f" | {1 / np.sqrt(p * (1 - p)):.4f} |")
    lines += ["", "### Silent-group probability $p^G + (1-p)^G$", "",
              "| p | " + " | ".join(f"G = {G}" for G in Gs) + " |", "|---|" + "---|" * len(Gs)]
    for p in ps:
        lines.append(f"| {p} | " + " | ".join(f"{float(silent_probability(G, p)):.4f}"
                                              for G in Gs) + " |")
    pop = Population.from_beta(2.0, 8.0)
    rows = budget_table(pop, 512, None, ["grpo", "rloo"], 0.0)
    lines += ["", f"### Group size at a budget of 512 rollouts per step ({pop.description})", "",
              "| estimator | G | Q | variance | bias² | MSE | SNR per rollout | silent |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.estimator} | {r.group_size} | {r.prompts} | {r.variance:.4e} | "
                     f"{r.bias_sq:.4e} | {r.mse:.4e} | {r.snr_per_rollout:.4e} | "
                     f"{r.silent_fraction:.3f} |")
    for est, rec in recommend(rows).items():
        lines.append(f"\n{est}: least MSE at the best step size with G = "
                     f"{rec['min_mse_best_step']}; largest SNR per rollout with G = "
                     f"{rec['max_snr_per_rollout']}.")
    return "\n".join(lines)


def render_html(markdown: str, title: str = "grpo-theory report") -> str:
    """The report as a standalone HTML page (markdown-it with tables).

    Example:
        >>> "<table>" in render_html("| a |\\n|---|\\n| 1 |")
        True
    """
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    style = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
             "padding:2px 6px}img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")


def _stage_claims(out: Path, fresh: bool) -> tuple[str, bool]:
    from grpo_theory.claims import run_claims
    from grpo_theory.claims.report import format_json, format_markdown

    path = out / "reproduce" / "claims.json"
    if fresh or not path.is_file():
        def line(i: int, n: int, result: Any) -> None:
            _progress(f"claims [{i:>3}/{n}] {result.outcome.value:<8} {result.claim.id} "
                      f"({result.seconds:.2f}s)")

        results = run_claims(progress=line)
        write_atomic(path, format_json(results) + "\n")
        write_atomic(out / "reproduce" / "claims.md", format_markdown(results, 2) + "\n")
    payload = json.loads(path.read_text(encoding="utf-8"))
    ok = all(c["outcome"] == c["expected"] for c in payload["claims"])
    return (out / "reproduce" / "claims.md").read_text(encoding="utf-8"), ok


def _cached_text(path: Path, fresh: bool, make: Callable[[], str]) -> str:
    if fresh or not path.is_file():
        write_atomic(path, make() + "\n")
    return path.read_text(encoding="utf-8")


def _stage_bandit(out: Path, fresh: bool) -> str:
    from grpo_theory.experiments.command import config_dict, metrics_dict
    from grpo_theory.experiments.study import DEFAULT, format_table, run_presets

    d = out / "reproduce" / "bandit"

    def make() -> str:
        result = run_presets(DEFAULT, progress=lambda s: _progress(f"bandit {s}"),
                             store=ResultStore(d / "runs"))
        write_atomic(d / "config.json", json.dumps(config_dict(DEFAULT), indent=2) + "\n")
        write_atomic(d / "metrics.json", json.dumps(metrics_dict(result)) + "\n")
        write_atomic(d / "summary.json", json.dumps(result.as_dict(), indent=2) + "\n")
        return format_table(result)

    return _cached_text(d / "table.md", fresh, make)


def _stage_transformer(out: Path, fresh: bool) -> str:
    from grpo_theory.transformer.command import config_dict, curves_dict
    from grpo_theory.transformer.study import DEFAULT, format_table, run_study

    d = out / "reproduce" / "transformer"

    def make() -> str:
        result = run_study(DEFAULT, store=ResultStore(d / "runs"),
                           progress=lambda s: _progress(f"transformer {s}"))
        write_atomic(d / "config.json", json.dumps(config_dict(DEFAULT), indent=2) + "\n")
        write_atomic(d / "curves.json", json.dumps(curves_dict(result)) + "\n")
        write_atomic(d / "summary.json", json.dumps(result.as_dict(), indent=2) + "\n")
        return format_table(result)

    return _cached_text(d / "table.md", fresh, make)


def _stage_figures(out: Path, fresh: bool) -> list[tuple[str, str, Path]]:
    import grpo_theory.figures as figures

    registry = figures.load_all()
    fig_dir = out / "figures"
    missing = [n for n in registry if fresh or not (fig_dir / f"{n}.png").is_file()]
    if missing:
        figures.build(missing, fig_dir, smoke=False, cache_dir=out / "reproduce",
                      progress=lambda name, paths: _progress(
                          f"figures {name}: " + ", ".join(p.name for p in paths)))
    return [(n, registry[n].title, fig_dir / f"{n}.png") for n in registry]


def run(args: argparse.Namespace) -> int:
    """Run the ``reproduce`` subcommand; returns 1 if a claim failed, else 0."""
    out: Path = args.out
    t0 = time.perf_counter()
    sections = ["# grpo-theory: reproduction report", "",
                "Every claim of the registry, the exact tables, the default bandit and "
                "transformer studies and every figure, as produced by `grpo-theory reproduce` "
                f"on this machine ({time.strftime('%Y-%m-%d')}). The paper's own numbers "
                "stand beside the studies' headline rows.", ""]
    ok = True
    stages = [s for s in STAGES if s not in args.skip]
    for i, stage in enumerate(stages, 1):
        _progress(f"stage {i}/{len(stages)}: {stage}")
        if stage == "claims":
            text, ok = _stage_claims(out, args.fresh)
            sections += [text]
        elif stage == "exact":
            sections += ["## Exact tables", "",
                         _cached_text(out / "reproduce" / "exact.md", args.fresh, exact_tables)]
        elif stage == "bandit":
            sections += ["## Bandits: 2-GRPO against 16-GRPO (default study)", "",
                         _stage_bandit(out, args.fresh)]
        elif stage == "transformer":
            sections += ["## Tiny transformer: 2-GRPO against 16-GRPO (default study)", "",
                         _stage_transformer(out, args.fresh)]
        elif stage == "figures":
            sections += ["## Figures", ""]
            for name, title, png in _stage_figures(out, args.fresh):
                sections += [f"### {name}", "", title, "",
                             f"![{name}]({png.relative_to(out).as_posix()})", ""]
        sections.append("")
    sections.append(f"Report written in {time.perf_counter() - t0:.0f} s (stages already on "
                    "disk were loaded, not run again).")
    text = "\n".join(sections) + "\n"
    write_atomic(out / "report.md", text)
    write_atomic(out / "report.html", render_html(text))
    _progress(f"wrote {out / 'report.md'} and {out / 'report.html'}"
              + ("" if ok else "; some claims FAILED"))
    return 0 if ok else 1
