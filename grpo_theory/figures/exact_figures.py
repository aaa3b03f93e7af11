"""Figures computed by the exact engine: weights, implied objectives, discard rates, fixed-budget
variance, trainer constants, Mroueh's fixed point and control-variate correlations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from matplotlib.figure import Figure as MplFigure
from scipy import integrate

from grpo_theory.figures import style
from grpo_theory.figures.registry import register

__all__: list[str] = []

WEIGHT_GROUP_SIZES = (2, 3, 4, 8, 16)
"""Group sizes of the ``weights`` and ``implied-objective`` figures."""


def _p_grid(smoke: bool, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return np.linspace(lo, hi, 201 if smoke else 2001)


def _limit(fn: Any) -> Any:
    from grpo_theory.symbolic.expected_gradient import P

    return sp.lambdify(P, fn(), "numpy")


@register("weights", "Expected-gradient weight c_G(p) of GRPO against the success probability "
                     "p for several group sizes, the G -> infinity limit 1/sqrt(p(1-p)), "
                     "Dr. GRPO and RLOO.")
def _weights(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.exact.binary import weight_grid
    from grpo_theory.symbolic.expected_gradient import limit_weight

    p = _p_grid(smoke, 0.005, 0.995)
    fig, ax = style.new_figure(style.SINGLE)
    grid = weight_grid("grpo", list(WEIGHT_GROUP_SIZES), p)
    for G, row in zip(WEIGHT_GROUP_SIZES, grid, strict=True):
        ax.plot(p, row, color=style.group_colour(G), label=f"GRPO, G = {G}")
    style.estimator_line(ax, p, _limit(limit_weight)(p), "infinity",
                         label=r"GRPO, $G\to\infty$: $1/\sqrt{p(1-p)}$", linestyle="--")
    G = max(WEIGHT_GROUP_SIZES)
    style.estimator_line(ax, p, weight_grid("dr-grpo", [G], p)[0], "dr-grpo",
                         label=f"Dr. GRPO, G = {G}", linestyle=":")
    style.estimator_line(ax, p, weight_grid("rloo", [G], p)[0], "rloo",
                         label="RLOO (any G)", linestyle="-.")
    ax.set_xlabel("success probability $p$")
    ax.set_ylabel(r"weight $c_G(p)$ (dimensionless)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 7)
    ax.legend(ncol=2, loc="upper center")
    return fig


@register("implied-objective", "Implied objective f_G(p), the integral of c_G from 0 to p "
                               "(cumulative trapezoid of the exact weights), for several G, "
                               "with the limit 2 arcsin sqrt(p).")
def _implied(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.exact.binary import weight_grid
    from grpo_theory.symbolic.expected_gradient import limit_objective

    p = _p_grid(smoke)
    fig, ax = style.new_figure(style.SINGLE)
    grid = weight_grid("grpo", list(WEIGHT_GROUP_SIZES), p)
    for G, row in zip(WEIGHT_GROUP_SIZES, grid, strict=True):
        f = integrate.cumulative_trapezoid(row, p, initial=0.0)
        ax.plot(p, f, color=style.group_colour(G), label=f"GRPO, G = {G}")
    style.estimator_line(ax, p, _limit(limit_objective)(p), "infinity",
                         label=r"$G\to\infty$: $2\arcsin\sqrt{p}$", linestyle="--")
    ax.set_xlabel("success probability $p$")
    ax.set_ylabel(r"implied objective $f_G(p)$")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper left")
    return fig


@register("discard-rate", "Probability p^G + (1-p)^G that a group is silent (no reward spread), "
                          "with paper v3 Table 3's discard rates, the printed formula "
                          "1 - r^2 - (1-r)^2 and the corrected r^2 + (1-r)^2.")
def _discard(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.exact.binary import silent_probability
    from grpo_theory.paper.arithmetic import (
        discard_probability,
        mean_reward_from_discard,
        printed_discard_formula,
    )
    from grpo_theory.paper.tables import load_v3_table3

    p = _p_grid(smoke)
    fig, ax = style.new_figure(style.SINGLE)
    for G in (2, 4, 8, 16):
        ax.plot(p, silent_probability(G, p), color=style.group_colour(G),
                label=f"G = {G}")
    ax.plot(p, [discard_probability(float(r)) for r in p], color=style.OKABE_ITO["black"],
            linestyle=":", linewidth=0.9, label=r"corrected $r^2 + (1-r)^2$")
    ax.plot(p, [printed_discard_formula(float(r)) for r in p], color=style.OKABE_ITO["black"],
            linestyle="--", label=r"printed $1 - r^2 - (1-r)^2$")
    rows = load_v3_table3()
    P = np.array([row.p_discard for row in rows])
    roots = np.array([mean_reward_from_discard(float(x)) for x in P])
    ax.plot(roots[:, 1], P, "o", color=style.OKABE_ITO["black"], markersize=4,
            label="v3 Table 3")
    ax.plot(roots[:, 0], P, "o", markerfacecolor="none", color=style.OKABE_ITO["black"],
            markersize=4)
    ax.set_xlabel("success probability (mean reward) $p = r$")
    ax.set_ylabel("probability the group is discarded")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.5)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.legend(loc="upper center", ncol=2, fontsize=5.5)
    return fig


BUDGET_ESTIMATORS = ("grpo", "dr-grpo", "rloo")
"""Estimators of the ``budget-variance`` figure."""


def _budget_mc(smoke: bool, budget: int, sizes: list[int]) -> list[Any]:
    import jax

    from grpo_theory.montecarlo.lab import budget_curve

    # four prompts of a 4-arm bandit (two correct arms), success rates sigmoid(logit)
    prompts = [([x, x - 1.0, 0.0, -1.0], [1, 1, 0, 0]) for x in (-2.0, -0.5, 0.5, 2.0)]
    n = 512 if smoke else 1 << 15
    dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    return budget_curve(0, prompts, budget, sizes, list(BUDGET_ESTIMATORS[::2]), n,
                        dtype=dtype, replicates=8 if smoke else 32)


@register("budget-variance", "Exact variance, MSE and SNR per rollout of the batch gradient "
                             "against the group size G at a fixed rollout budget, for two "
                             "difficulty distributions (logistic model), with Monte Carlo points "
                             "(95% intervals) and exact values on a 4-prompt softmax bandit "
                             "(Dr. GRPO's SNR equals RLOO's: they differ by the factor (G-1)/G).")
def _budget(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.exact.budget import Population, budget_row, divisor_group_sizes

    budget = 32 if smoke else 128
    sizes = divisor_group_sizes(budget, 32 if smoke else 64)
    pops = {"Beta(1, 1)": Population.from_beta(1, 1), "Beta(2, 8)": Population.from_beta(2, 8)}
    stats = (("variance", "variance (tr Cov)"), ("mse", "MSE"),
             ("snr_per_rollout", "SNR per rollout"))
    fig, axes = style.new_figure(style.DOUBLE, ncols=3)
    for (pname, pop), ls in zip(pops.items(), ("-", "--"), strict=True):
        for est in BUDGET_ESTIMATORS:
            rows = [budget_row(pop, est, G, budget) for G in sizes]
            for ax, (key, _) in zip(axes, stats, strict=True):
                style.estimator_line(ax, sizes, [getattr(r, key) for r in rows], est,
                                     label=f"{style.ESTIMATOR_LABELS[est]}, {pname}",
                                     linestyle=ls)
    mc = _budget_mc(smoke, budget, sizes)
    for est in BUDGET_ESTIMATORS[::2]:
        mine = [r for r in mc if r.estimator == est]
        Gs = [r.group_size for r in mine]
        for ax, (key, _) in zip(axes, stats, strict=True):
            style.estimator_line(ax, Gs, [getattr(r, f"exact_{key}") for r in mine], est,
                                 label=f"{style.ESTIMATOR_LABELS[est]}, bandit (exact)",
                                 linestyle=":")
            y = np.array([getattr(r, key) for r in mine])
            ci = np.array([getattr(r, f"{key}_ci") for r in mine])
            err = np.clip(np.stack([y - ci[:, 0], ci[:, 1] - y]), 0, None)
            ax.errorbar(Gs, y, yerr=err, fmt="o", color=style.ESTIMATOR_COLOURS[est],
                        markersize=2.5, elinewidth=0.8, capsize=1.5,
                        label=f"{style.ESTIMATOR_LABELS[est]}, bandit (MC)")
    for ax, (_, ylabel) in zip(axes, stats, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(f"group size $G$ (budget {budget} rollouts)")
        ax.set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=5)
    return fig


def _convention_colour(convention: Any) -> str:
    return style.ESTIMATOR_COLOURS[str(convention.value if hasattr(convention, "value")
                                       else convention)]


@register("trainer-constants", "The 2-GRPO step-size constant (advantage of the correct "
                               "response of a disagreeing pair) under each trainer's advantage "
                               "convention, relative to the paper's 1.")
def _trainer(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.symbolic.two_grpo import TRAINER_CONVENTIONS, trainer_constants_table

    rows = trainer_constants_table()
    fig, ax = style.new_figure(style.SINGLE)
    y = np.arange(len(rows))[::-1]
    colours = [_convention_colour(t.convention) for t in TRAINER_CONVENTIONS]
    ax.barh(y, [r.value for r in rows], color=colours, height=0.7)
    for yi, r in zip(y, rows, strict=True):
        ax.text(r.value + 0.01, yi, f"{r.value:.4f}", va="center", fontsize=5.5)
    ax.set_yticks(y, [r.name for r in rows], fontsize=6)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.axvline(1.0, color=style.OKABE_ITO["grey"], linewidth=0.8, linestyle="--")
    ax.set_xlim(0, 1.18)
    ax.set_xlabel(r"2-GRPO constant $\kappa$ (step-size factor)")
    ax.set_ylabel("trainer (advantage convention)")
    seen = {}
    for t, c in zip(TRAINER_CONVENTIONS, colours, strict=True):
        seen.setdefault(str(t.convention.value), c)
    handles = [ax.bar(0, 0, color=c, label=style.ESTIMATOR_LABELS[k]) for k, c in seen.items()]
    fig.legend(handles=handles, loc="outside upper center", ncol=4, fontsize=5.5)
    return fig


@register("mroueh-fixed-point", "Fixed points p* of Mroueh's success-amplification recurrence "
                                "against the KL coefficient beta, for several reference success "
                                "rates (filled: stable, open: unstable).")
def _mroueh(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.exact.related import mroueh_fixed_points

    epsilon = 1e-3
    betas = np.geomspace(0.05, 20, 12 if smoke else 60)
    fig, ax = style.new_figure(style.SINGLE)
    colours = (style.OKABE_ITO["vermillion"], style.OKABE_ITO["blue"],
               style.OKABE_ITO["bluish green"])
    for p_ref, colour in zip((0.1, 0.3, 0.6), colours, strict=True):
        pts = [(b, f) for b in betas
               for f in mroueh_fixed_points(p_ref, float(b), epsilon,
                                            resolution=2000 if smoke else 20_000)]
        stable = [(b, f.p) for b, f in pts if f.stable]
        unstable = [(b, f.p) for b, f in pts if not f.stable]
        if stable:
            ax.plot(*zip(*stable, strict=True), "o", color=colour, markersize=2.5,
                    label=rf"$p_{{\mathrm{{ref}}}} = {p_ref}$")
        if unstable:
            ax.plot(*zip(*unstable, strict=True), "o", color=colour, markersize=2.5,
                    markerfacecolor="none")
        ax.axhline(p_ref, color=colour, linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel(r"KL coefficient $\beta$")
    ax.set_ylabel(r"fixed point $p^*$ (success probability)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", title=rf"$\varepsilon = {epsilon:g}$", title_fontsize=6)
    return fig


@register("control-variates", "Correlation rho of the positive and negative parts of the "
                              "gradient and the variance factor 1 - rho^2, within and across "
                              "prompts, against the spread of prompt difficulty (8 softmax "
                              "bandits).")
def _control_variates(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.montecarlo.lab import MODES, control_variate_exact

    spreads = np.linspace(0.0, 6.0, 13 if smoke else 61)
    fig, axes = style.new_figure(style.DOUBLE, ncols=2)
    colours = {"within": style.OKABE_ITO["blue"], "across": style.OKABE_ITO["vermillion"]}
    for mode in MODES:
        rho, factor = [], []
        for s in spreads:
            logits = np.linspace(-s / 2, s / 2, 8)
            prompts = [([x, x - 1.0, 0.0, -1.0], [1, 1, 0, 0]) for x in logits]
            st = control_variate_exact(prompts, mode)
            rho.append(st.rho)
            factor.append(st.one_minus_rho_sq)
        axes[0].plot(spreads, rho, color=colours[mode], label=f"{mode} prompts")
        axes[1].plot(spreads, factor, color=colours[mode], label=f"{mode} prompts")
    axes[0].set_ylabel(r"correlation $\rho(g^+, g^-)$")
    axes[1].set_ylabel(r"variance factor $1 - \rho^2$")
    for ax in axes:
        ax.set_xlabel("spread of prompt logits (nats)")
        ax.legend()
    return fig


