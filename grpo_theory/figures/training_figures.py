"""Figures of training runs: bandit learning curves (:mod:`grpo_theory.experiments.study`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from grpo_theory.figures import style
from grpo_theory.figures.registry import register

__all__: list[str] = []

_LINESTYLES = ("-", "--", ":", "-.")


def _estimator_key(estimator: str, group_size: int) -> str:
    key = "2-grpo" if estimator == "grpo" and group_size == 2 else estimator
    return key if key in style.ESTIMATOR_COLOURS else "grpo"


def _smoke_study() -> Any:
    from grpo_theory.experiments.study import QUICK

    return QUICK.replace(epochs=2, seeds=4, presets=("paper",), timing_repeats=1)


def _bandit_runs(smoke: bool, cache_dir: Path | None) -> tuple[list[dict[str, Any]], str]:
    """Per run: label, estimator, group size, rollouts per step, time per step, mean curve of
    the metric and its final interval; from ``cache_dir`` (``metrics.json`` and
    ``summary.json`` of ``grpo-theory bandit --out``) when present."""
    for folder in ([cache_dir / "bandit", cache_dir] if cache_dir is not None else []):
        metrics, summary = folder / "metrics.json", folder / "summary.json"
        if metrics.is_file() and summary.is_file():
            m = json.loads(metrics.read_text(encoding="utf-8"))["runs"]
            s = {r["label"]: r for r in json.loads(summary.read_text(encoding="utf-8"))["runs"]}
            metric = "test_success"
            runs = []
            for r in m:
                info = s.get(r["label"], {})
                steps = max(1, len(r["curves"][metric]) - 1)
                runs.append({"label": r["label"], "estimator": info.get("estimator", "grpo"),
                             "group_size": r["group_size"],
                             "rollouts_per_step": r["rollouts_per_step"],
                             "time_per_step_s": info.get("wall_time_s", np.nan) / steps,
                             "curve": np.asarray(r["curves"][metric], dtype=float),
                             "final": info.get("final", {}).get(metric)})
            return runs, metric
    from grpo_theory.experiments.study import QUICK, run_presets

    study = _smoke_study() if smoke else QUICK
    result = run_presets(study)
    metric = study.metric
    runs = [{"label": r.spec.label, "estimator": r.spec.estimator,
             "group_size": r.spec.group_size, "rollouts_per_step": r.spec.rollouts_per_step,
             "time_per_step_s": r.time_per_step_s, "curve": np.asarray(r.curves[metric]),
             "final": list(r.final[metric])} for r in result.runs]
    return runs, metric


@register("bandit-curves", "Held-out success of bandit policy-gradient training against "
                           "rollouts per seed and against compiled wall time (mean over seeds; "
                           "error bar: 95% interval of the final value over seeds).")
def _bandit(smoke: bool, cache_dir: Path | None) -> MplFigure:
    runs, metric = _bandit_runs(smoke, cache_dir)
    fig, axes = style.new_figure(style.DOUBLE, ncols=2)
    used: dict[str, int] = {}
    for r in runs:
        key = _estimator_key(r["estimator"], r["group_size"])
        ls = _LINESTYLES[used.get(key, 0) % len(_LINESTYLES)]
        used[key] = used.get(key, 0) + 1
        steps = np.arange(r["curve"].size)
        xs = (steps * r["rollouts_per_step"], steps * r["time_per_step_s"])
        for ax, x in zip(axes, xs, strict=True):
            style.estimator_line(ax, x, r["curve"], key, label=r["label"], linestyle=ls)
            if r["final"] is not None:
                mean, lo, hi = r["final"]
                ax.errorbar([x[-1]], [mean], yerr=[[mean - lo], [hi - mean]], fmt="none",
                            color=style.ESTIMATOR_COLOURS[key], capsize=2, elinewidth=0.8)
    ylabel = "held-out success (Mean@1)" if metric == "test_success" else metric
    axes[0].set_xlabel("rollouts per seed")
    axes[1].set_xlabel("compiled wall time (s, all seeds at once)")
    for ax in axes:
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=5)
    return fig


TINY_TRANSFORMER = {"task_args": {"modulus": 10, "n_prompts": 100}, "d_model": 16, "n_layers": 1,
                    "n_heads": 2, "warmstart": {"steps": 5, "target_loss": None}, "seeds": 2,
                    "epochs": 1, "reference_group": 4, "reference_prompts": 4, "small_group": 2,
                    "ablation_groups": [2], "eval_points": 1, "eval_samples": 2,
                    "checkpoint_every": 5}
"""The tiny transformer study drawn under ``smoke`` without a cache (seconds on a CPU)."""


def _transformer_runs(smoke: bool, cache_dir: Path | None) -> list[dict[str, Any]]:
    """Per run: method, group size and per-seed curves (``rollouts``, ``train_time_s``,
    ``mean_at_k``), from ``cache_dir/transformer/curves.json`` when present."""
    for folder in ([cache_dir / "transformer", cache_dir] if cache_dir is not None else []):
        path = folder / "curves.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))["runs"]
            return [{"method": r["method"], "group_size": r["group_size"],
                     "seeds": [{k: np.asarray(v, dtype=float) for k, v in s.items()}
                               for s in r["seeds"]]} for r in data]
    from grpo_theory.transformer.command import load_config
    from grpo_theory.transformer.study import DEFAULT, QUICK, run_study

    study = load_config(TINY_TRANSFORMER, DEFAULT) if smoke else QUICK
    result = run_study(study)
    return [{"method": r.spec.label, "group_size": r.spec.group_size,
             "seeds": [{k: np.asarray(v, dtype=float) for k, v in c.items()} for c in r.curves]}
            for r in result.runs]


def _stack(seeds: list[dict[str, np.ndarray]], key: str) -> np.ndarray:
    n = min(s[key].size for s in seeds)
    return np.stack([s[key][:n] for s in seeds])


@register("transformer-curves", "Held-out Mean@k of the tiny transformer against rollouts and "
                                "against training time (mean over seeds, band: min to max), "
                                "and 2-GRPO's retention, time and rollout ratios to 16-GRPO "
                                "beside the paper's.")
def _transformer(smoke: bool, cache_dir: Path | None) -> MplFigure:
    from grpo_theory.experiments.study import PAPER

    runs = _transformer_runs(smoke, cache_dir)
    fig, axes = style.new_figure(style.DOUBLE, ncols=3)
    used: dict[str, int] = {}
    for r in runs:
        key = "2-grpo" if r["group_size"] == 2 else "grpo"
        ls = _LINESTYLES[used.get(key, 0) % len(_LINESTYLES)]
        used[key] = used.get(key, 0) + 1
        y = _stack(r["seeds"], "mean_at_k")
        for ax, xkey in zip(axes[:2], ("rollouts", "train_time_s"), strict=True):
            x = _stack(r["seeds"], xkey).mean(0)
            style.estimator_line(ax, x, y.mean(0), key, label=r["method"], linestyle=ls,
                                 marker="o", markersize=2)
            ax.fill_between(x, y.min(0), y.max(0), color=style.ESTIMATOR_COLOURS[key],
                            alpha=0.2, linewidth=0)
    ref, small = runs[0], runs[1]

    def final(run: dict[str, Any], key: str) -> float:
        return float(np.mean([s[key][-1] for s in run["seeds"]]))

    ours = [final(small, "mean_at_k") / final(ref, "mean_at_k"),
            final(small, "train_time_s") / final(ref, "train_time_s"),
            final(small, "rollouts") / final(ref, "rollouts")]
    paper = [PAPER["retention"], PAPER["time_ratio"], PAPER["rollout_ratio"]]
    x = np.arange(3)
    axes[2].bar(x - 0.2, ours, width=0.4, color=style.ESTIMATOR_COLOURS["2-grpo"],
                label="this run")
    axes[2].bar(x + 0.2, paper, width=0.4, color=style.OKABE_ITO["grey"], label="paper")
    axes[2].set_xticks(x, ["retention", "time", "rollouts"])
    axes[2].set_ylabel(f"ratio {small['method']} / {ref['method']}")
    axes[2].set_xlabel("quantity")
    axes[0].set_xlabel("rollouts per seed")
    axes[1].set_xlabel("training time (s)")
    for ax in axes[:2]:
        ax.set_ylabel("held-out Mean@k")
    axes[0].legend(fontsize=5)
    axes[2].legend(fontsize=5)
    return fig
