"""The report of ``grpo-theory analyze``: a printed summary, three figures, Markdown and HTML.

* :func:`summary` -- the few lines printed to the terminal;
* :func:`draw_figures` -- ``silent_groups`` (the silent-group rate over training against its
  expectation and 2-GRPO's), ``success_rates`` (the histogram of per-group success rates over
  training) and ``variance`` (predicted variance and relative MSE at the best step size against
  the group size, per convention, with intervals), each as PDF and PNG;
* :func:`markdown` and :func:`write_report` -- ``report.md``, ``report.html`` and
  ``analysis.json``, each written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from grpo_theory._io import write_atomic
from grpo_theory.analyze.analysis import RunAnalysis
from grpo_theory.figures import style

__all__ = ["FIGURES", "summary", "draw_figures", "markdown", "write_report"]

FIGURES = ("silent_groups", "success_rates", "variance")
"""The report's figures, in order."""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _steps(w: Any) -> str:
    return str(w.first_step) if w.first_step == w.last_step else f"{w.first_step}-{w.last_step}"


def _level(x: float) -> str:
    return f"{100 * x:g}%"


def _interval(lo: float | None, hi: float | None, pct: bool = True) -> str:
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "(no interval)"
    return f"[{_pct(lo)}, {_pct(hi)}]" if pct else f"[{lo:.3g}, {hi:.3g}]"


def _prediction(an: RunAnalysis, G: int, convention: str | None = None) -> Any:
    conv = convention or an.convention
    return next(p for p in an.predictions if p.group_size == G and p.convention == conv)


def summary(an: RunAnalysis) -> str:
    """The printed summary of an analysis (plain text, a dozen lines)."""
    d, fit, rec = an.as_dict(), an.fit, an.recommendation
    level = _level(an.level)
    mean = d["difficulty_fit"]["mean"]
    rho = d["difficulty_fit"]["overdispersion"]
    lines = [
        f"run: {d['rollouts']:,} rollouts, {d['steps']} steps, {d['groups']:,} groups; "
        f"group size {d['group_size']}, {d['prompts_per_step']:g} prompts and "
        f"{an.budget} rollouts per step ({d['format']} log)",
        f"advantage convention: {an.convention} ({an.convention_source})",
        f"rewards: {an.rewards.kind}"
        + (f", success = reward >= {an.rewards.threshold:g}"
           if an.rewards.kind == "continuous" else ""),
        f"silent groups: {_pct(an.silent_observed.value)} observed "
        f"{_interval(an.silent_observed.low, an.silent_observed.high)}, "
        f"{_pct(an.silent_expected.value)} expected "
        f"{_interval(an.silent_expected.low, an.silent_expected.high)} "
        f"({'consistent' if an.silent_consistent else 'NOT consistent'}, z = {an.silent_z:.2f})",
        f"difficulty: Beta({fit.a:.3g}, {fit.b:.3g}); mean success {_pct(mean['value'])} "
        f"{_interval(mean['low'], mean['high'])}, overdispersion {rho['value']:.3f} "
        f"{_interval(rho['low'], rho['high'], pct=False)}; goodness of fit p = "
        f"{an.goodness['p_value']:.3g}" + ("" if fit.reliable else " (fit UNRELIABLE)"),
        f"2-GRPO would see {_pct(an.silent_2grpo.value)} silent groups "
        f"{_interval(an.silent_2grpo.low, an.silent_2grpo.high)}",
        f"at {an.prediction_budget} rollouts per step, {an.convention} "
        f"(relative MSE at the best step size, {level} intervals):",
    ]
    for G in sorted({p.group_size for p in an.predictions}):
        p = _prediction(an, G)
        r = p.relative_mse_best_step
        lines.append(f"  G = {G:>3}: {p.prompts:>5} prompts, relative MSE {r.value:.4g} "
                     f"{_interval(r.low, r.high, False)}, SNR per rollout "
                     f"{p.snr_per_rollout.value:.3g}, silent {_pct(p.silent_fraction.value)}")
    spread = (f" ({level} of the fit's uncertainty: G in [{rec.interval[0]}, {rec.interval[1]}])"
              if rec.interval else " (no interval: the fit is unreliable)")
    lines.append(f"recommended group size: {rec.group_size}{spread}")
    lines.extend(f"note: {n}" for n in d["notes"])
    if d["skipped"]:
        lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in d["skipped"].items()))
    return "\n".join(lines)


def _fig_silent(an: RunAnalysis) -> Any:
    fig, ax = style.new_figure(style.DOUBLE)
    ps = an.per_step
    ax.plot(ps["step"], ps["silent_fraction"], ".", color=style.OKABE_ITO["grey"], ms=2,
            label="observed, per step")
    for i, w in enumerate(an.windows):
        x = [w.first_step, w.last_step + 1]
        ax.plot(x, [w.silent_observed] * 2, color=style.OKABE_ITO["black"],
                label="observed, per window" if i == 0 else None)
        ax.plot(x, [w.silent_expected] * 2, "--", color=style.ESTIMATOR_COLOURS[an.convention],
                label="expected under the window's fit" if i == 0 else None)
        ax.plot(x, [w.silent_2grpo] * 2, ":", color=style.ESTIMATOR_COLOURS["2-grpo"],
                label="predicted for 2-GRPO" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("silent groups")
    ax.set_ylim(0, 1)
    ax.legend(loc="best", ncols=2)
    return fig


def _fig_success(an: RunAnalysis) -> Any:
    fig, ax = style.new_figure(style.DOUBLE)
    sizes = an.log.sizes
    rate = an.successes / sizes
    G = an.group_size
    # One bin per possible k/G for small groups (no aliasing), ten bins otherwise.
    edges = (np.arange(G + 2) - 0.5) / G if G <= 32 else np.linspace(0, 1, 11)
    hist = []
    labels = []
    for w in an.windows:
        mine = (an.log.group_step >= w.first_step) & (an.log.group_step <= w.last_step)
        h, _ = np.histogram(rate[mine], bins=edges)
        hist.append(h / max(1, h.sum()))
        labels.append(_steps(w))
    image = ax.imshow(np.array(hist).T, origin="lower", aspect="auto", cmap="viridis",
                      extent=(-0.5, len(hist) - 0.5, edges[0], edges[-1]), vmin=0)
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0)
    ax.set_xlabel("steps (window)")
    ax.set_ylabel("success rate of a group")
    fig.colorbar(image, ax=ax, label="fraction of groups")
    return fig


def _fig_variance(an: RunAnalysis) -> Any:
    fig, axes = style.new_figure(style.DOUBLE, ncols=2)
    conventions = list(dict.fromkeys(p.convention for p in an.predictions))
    for conv in conventions:
        mine = [p for p in an.predictions if p.convention == conv]
        G = np.array([p.group_size for p in mine])
        for ax, name in zip(axes, ("variance", "relative_mse_best_step"), strict=True):
            est = [getattr(p, name) for p in mine]
            y = np.array([e.value for e in est])
            err = np.array([[e.value - e.low for e in est], [e.high - e.value for e in est]])
            # Conventions that coincide (same scale-free MSE) stay visible: dashed over solid.
            dashed = conv in ("grpo-bessel", "rloo")
            line = style.estimator_line(ax, G, y, conv, marker="s" if dashed else "o",
                                        ls="--" if dashed else "-", ms=2.5 if dashed else 3.5)
            ax.errorbar(G, y, yerr=err, fmt="none", color=line.get_color(), capsize=2)
    for ax, label in zip(axes, ("variance of the batch gradient",
                                "relative MSE at the best step size"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(f"group size G (budget {an.prediction_budget} rollouts)")
        ax.set_ylabel(label)
    axes[1].axvline(an.recommendation.group_size, color=style.OKABE_ITO["grey"], lw=0.8,
                    ls="--")
    axes[0].legend(loc="best")
    return fig


_DRAW: dict[str, Callable[[RunAnalysis], Any]] = {
    "silent_groups": _fig_silent, "success_rates": _fig_success, "variance": _fig_variance}


def draw_figures(an: RunAnalysis, out_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """Draw the report's figures into ``out_dir`` (PDF and PNG each); name -> paths."""
    out = {}
    for name in FIGURES:
        fig = _DRAW[name](an)
        try:
            out[name] = style.save(fig, out_dir, name)
        finally:
            plt.close(fig)
    return out


def markdown(an: RunAnalysis, figure_dir: str = "figures") -> str:
    """The report as Markdown (figures referenced as ``figure_dir/NAME.png``)."""
    d = an.as_dict()
    fitd = d["difficulty_fit"]
    level = _level(an.level)
    parts = [
        "# Analysis of a GRPO run", "",
        f"Source: `{d['source']}` ({d['format']} log).", "",
        "## Summary", "", "```", summary(an), "```", "",
        "## The run as logged", "",
        "| rollouts | steps | groups | group size | prompts per step | rollouts per step |",
        "|---|---|---|---|---|---|",
        f"| {d['rollouts']:,} | {d['steps']} | {d['groups']:,} | {d['group_size']} | "
        f"{d['prompts_per_step']:g} | {an.budget} |", "",
        f"Rewards: {an.rewards.kind} (mean {an.rewards.mean:.4g}, range "
        f"[{an.rewards.minimum:g}, {an.rewards.maximum:g}]).", "",
        f"![silent groups]({figure_dir}/silent_groups.png)", "",
        f"Silent groups: {_pct(an.silent_observed.value)} observed, "
        f"{_pct(an.silent_expected.value)} expected from the per-window fits "
        f"(z = {an.silent_z:.2f}).", "",
        "## Difficulty", "",
        f"Beta-binomial fit over the whole run ({level} intervals):", "",
        "| parameter | value | interval |", "|---|---|---|",
    ]
    for key in ("a", "b", "mean", "overdispersion"):
        e = fitd[key]
        parts.append(f"| {key} | {e['value']:.4g} | {_interval(e['low'], e['high'], False)} |")
    g = an.goodness
    parts += [
        "", f"Goodness of fit: chi-square {g['statistic']:.2f} on {g['dof']} degrees of "
        f"freedom, p = {g['p_value']:.3g}.", "",
        f"![success rates]({figure_dir}/success_rates.png)", "",
        "| steps | groups | mean success | a | b | silent observed | silent expected | "
        "2-GRPO silent | recommended G |", "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in an.windows:
        parts.append(f"| {_steps(w)} | {w.groups} | {_pct(w.mean_success)} | "
                     f"{w.fit.a:.3g} | {w.fit.b:.3g} | {_pct(w.silent_observed)} | "
                     f"{_pct(w.silent_expected)} | {_pct(w.silent_2grpo)} | "
                     f"{w.recommended_group_size} |")
    parts += [
        "", "## What other group sizes would have done", "",
        f"At {an.prediction_budget} rollouts per step, from the exact engine under the fitted "
        f"difficulty ({level} intervals from the fit):", "",
        f"![variance against G]({figure_dir}/variance.png)", "",
        "| convention | G | prompts | variance | relative MSE, best step | SNR per rollout | "
        "silent | mean weight c_G |", "|---|---|---|---|---|---|---|---|",
    ]
    for p in an.predictions:
        r = p.relative_mse_best_step
        parts.append(
            f"| {p.convention} | {p.group_size} | {p.prompts} | {p.variance.value:.4g} | "
            f"{r.value:.4g} {_interval(r.low, r.high, False)} | {p.snr_per_rollout.value:.4g} | "
            f"{_pct(p.silent_fraction.value)} | {p.weight_mean.value:.3g} |")
    rec = an.recommendation
    parts += ["", f"Recommended group size for {an.convention}: **{rec.group_size}**"
              + (f" (over the fit's uncertainty, G in [{rec.interval[0]}, {rec.interval[1]}]; "
                 "support " + ", ".join(f"G = {k}: {_pct(v)}" for k, v in rec.support.items())
                 + ")." if rec.interval else "."), ""]
    if d["notes"]:
        parts += ["## Notes", ""] + [f"- {n}" for n in d["notes"]] + [""]
    if d["skipped"]:
        parts += ["## Skipped", ""] + [f"- {k}: {v}" for k, v in d["skipped"].items()] + [""]
    return "\n".join(parts)


def write_report(an: RunAnalysis, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``analysis.json``, the figures, ``report.md`` and ``report.html`` into ``out_dir``.

    Every file is written atomically (a temporary file, then a rename), so an interrupted run
    leaves either the old file or the new one.

    Returns:
        Name -> path of what was written.
    """
    from grpo_theory.reproduce import render_html

    out = Path(out_dir)
    paths = {"analysis.json": write_atomic(out / "analysis.json",
                                           json.dumps(an.as_dict(), indent=2) + "\n")}
    for name, files in draw_figures(an, out / "figures").items():
        paths[name] = files[1]
    text = markdown(an)
    paths["report.md"] = write_atomic(out / "report.md", text + "\n")
    paths["report.html"] = write_atomic(out / "report.html",
                                        render_html(text, "grpo-theory: analysis of a GRPO run"))
    return paths
