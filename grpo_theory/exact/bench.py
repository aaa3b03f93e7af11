r"""Benchmark of the exact binary-reward engine: weight and variance curves for every group size.

The workload: for every :math:`G = 2, \dots, G_{\max}` and :math:`n_p` equally spaced
:math:`p \in [0, 1]`, the weight :math:`c_G(p)` and the covariance trace
:math:`\mathrm{tr}\,\mathrm{Cov}[\hat g]` of each estimator (GRPO, GRPO with Bessel's std,
Dr. GRPO, RLOO, REINFORCE), in float64, for a prompt whose score has zero mean:
:math:`\mathrm{tr}\,\Sigma^\pm = 1`, :math:`\mu^+ = (1-p)e`, :math:`\mu^- = -pe` for a unit
vector :math:`e` (so :math:`p\mu^+ + (1-p)\mu^- = 0`). It runs through
:func:`~grpo_theory.exact.binary.curves`.

Run it with ``python -m grpo_theory.exact.bench [--g-max N] [--n-p N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import numpy as np

from grpo_theory._validate import check_group_size
from grpo_theory.exact.binary import covariance_trace_grid, curves, weight_grid
from grpo_theory.exact.estimators import Estimator

__all__ = ["benchmark_inputs", "run_benchmark", "main"]


def benchmark_inputs(g_max: int = 4096, n_p: int = 1000) -> dict[str, Any]:
    r"""The benchmark's grid and moment summaries.

    Args:
        g_max: largest group size, ``>= 2``.
        n_p: number of probabilities, ``>= 2`` (``numpy.linspace(0, 1, n_p)``).

    Returns:
        A dict with ``G_values``, ``p`` and the summaries ``tr_sigma_plus``,
        ``tr_sigma_minus``, ``mu_plus_sq`` :math:`= (1-p)^2`, ``mu_minus_sq`` :math:`= p^2`,
        ``mu_dot`` :math:`= -p(1-p)`.

    Example:
        >>> inputs = benchmark_inputs(4, 3)
        >>> inputs["G_values"].tolist(), inputs["mu_dot"].tolist()
        ([2, 3, 4], [-0.0, -0.25, -0.0])
    """
    check_group_size(g_max, "g_max")
    check_group_size(n_p, "n_p")
    p = np.linspace(0.0, 1.0, int(n_p))
    q = 1.0 - p
    return {
        "G_values": np.arange(2, int(g_max) + 1),
        "p": p,
        "tr_sigma_plus": 1.0,
        "tr_sigma_minus": 1.0,
        "mu_plus_sq": q * q,
        "mu_minus_sq": p * p,
        "mu_dot": -p * q,
    }


def run_benchmark(
    g_max: int = 4096,
    n_p: int = 1000,
    *,
    repeats: int = 3,
    check: bool = True,
) -> dict[str, Any]:
    r"""Time the weight and covariance-trace curves of all estimators for every group size.

    The reported time is the best of ``repeats`` runs (wall clock). With ``check`` the curves at
    a few group sizes are compared with the plain full binomial sums
    (:func:`~grpo_theory.exact.binary.weight_grid` and
    :func:`~grpo_theory.exact.binary.covariance_trace_grid` with ``method="full"``); the check
    is not timed.

    Args:
        g_max: largest group size, ``>= 2``.
        n_p: number of probabilities, ``>= 2``.
        repeats: timed runs, ``>= 1``.
        check: compare a sample of rows with the full sums.

    Returns:
        A dict: ``seconds`` (best), ``runs`` (all timings), ``g_max``, ``n_p``, ``estimators``,
        ``values`` (number of weights plus traces computed), ``cpus``, ``machine`` and, with
        ``check``, ``max_rel_error_weight``, ``max_rel_error_trace`` and ``checked_G``.

    Example:
        >>> out = run_benchmark(64, 50, repeats=1)
        >>> out["values"], out["max_rel_error_weight"] < 1e-12
        (31500, True)
    """
    check_group_size(repeats, "repeats", minimum=1)
    inputs = benchmark_inputs(g_max, n_p)
    estimators = [e.value for e in Estimator]
    summaries = [inputs[k] for k in ("tr_sigma_plus", "tr_sigma_minus", "mu_plus_sq",
                                     "mu_minus_sq", "mu_dot")]
    runs = []
    result: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for _ in range(int(repeats)):
        start = time.perf_counter()
        result = curves(estimators, inputs["G_values"], inputs["p"], *summaries)
        runs.append(time.perf_counter() - start)
    n_G = inputs["G_values"].size
    out: dict[str, Any] = {
        "seconds": min(runs),
        "runs": runs,
        "g_max": int(g_max),
        "n_p": int(n_p),
        "estimators": estimators,
        "values": 2 * len(estimators) * n_G * int(n_p),
        "cpus": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    if check:
        sample = np.unique(np.clip([2, 3, 7, 31, 57, 58, 100, 257, 1000, int(g_max)], 2,
                                   int(g_max)))
        rows = sample - 2
        err_w = err_t = 0.0
        for e in estimators:
            w_ref = weight_grid(e, sample, inputs["p"], method="full")
            t_ref = covariance_trace_grid(e, sample, inputs["p"], *summaries, method="full")
            w, t = result[e]
            err_w = max(err_w, _max_rel(w[rows], w_ref))
            err_t = max(err_t, _max_rel(t[rows], t_ref))
        out.update(max_rel_error_weight=err_w, max_rel_error_trace=err_t,
                   checked_G=sample.tolist())
    return out


def _max_rel(x: np.ndarray, ref: np.ndarray) -> float:
    scale = np.maximum(np.abs(ref), np.finfo(float).tiny)
    return float(np.max(np.where(ref == x, 0.0, np.abs(x - ref) / scale)))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--g-max", type=int, default=4096)
    parser.add_argument("--n-p", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)
    out = run_benchmark(args.g_max, args.n_p, repeats=args.repeats, check=not args.no_check)
    print(f"G = 2..{out['g_max']}, {out['n_p']} values of p, {len(out['estimators'])} "
          f"estimators: {out['values']:,} values")
    print(f"best of {len(out['runs'])}: {out['seconds']:.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in out['runs'])}; {out['cpus']} CPUs)")
    if "max_rel_error_weight" in out:
        print(f"max relative error against full sums at G in {out['checked_G']}: weight "
              f"{out['max_rel_error_weight']:.2e}, trace {out['max_rel_error_trace']:.2e}")
    return out


if __name__ == "__main__":
    main()
