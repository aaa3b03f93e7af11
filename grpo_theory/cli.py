"""The ``grpo-theory`` command.

Subcommands:

* ``grpo-theory claims [--json] [--only PREFIX ...] [--format text|markdown] [--out FILE]``:
  run the claims and print the report; exit status 1 if any claim failed.
* ``grpo-theory derive NAME [--latex]`` prints a derivation step by step;
  ``grpo-theory derive --list`` lists the names.
* ``grpo-theory weights --group-size G [G ...] --p P [P ...]
  [--normalization std|std-bessel|mean|rloo] [--eps E] [--json]``: weights :math:`c_G(p)`.
* ``grpo-theory moments --logits L1 .. LK --rewards R1 .. RK --group-size G --estimator E
  [--eps E] [--method exact|enumerate|mc] [--samples N] [--seed S] [--dtype float32|float64]
  [--json]``: moments of a group estimator on a softmax bandit, exact or by Monte Carlo
  (``--samples``, ``--seed`` and ``--dtype`` apply to ``--method mc`` only; defaults 1,000,000
  groups, seed 0, float64). The Monte Carlo output adds standard errors.
* ``grpo-theory advise (--rates P [P ...] | --beta A B) --budget B [--group-sizes G ...]
  [--estimator E ...] [--json]``: the group size to use at a rollout budget.
* ``grpo-theory bandit [--config FILE] [--quick] [--out DIR] [--json]``: train 2-GRPO against
  16-GRPO (and the other comparisons) on toy bandits over many seeds
  (:mod:`grpo_theory.experiments.command`).
* ``grpo-theory transformer [--task NAME] [--config FILE] [--quick|--full] [--out DIR]
  [--json]``: the same comparison on a tiny transformer trained with RL from verifiable rewards
  (:mod:`grpo_theory.transformer.command`).
* ``grpo-theory reproduce [--out DIR] [--fresh] [--skip STAGE ...]``: the main job (every
  claim, exact tables, both default studies, every figure) and ``DIR/report.md`` / ``.html``
  (:mod:`grpo_theory.reproduce`).
* ``grpo-theory figures [NAME ...] [--out DIR] [--smoke] [--cache DIR] [--list]``: the paper
  figures of :mod:`grpo_theory.figures`, as PDF and PNG.
* ``grpo-theory analyze FILE_OR_DIR [--format auto|table|verl|trl] [--out DIR] [--json]
  [--skip-bad] [--convention C] [--group-sizes G ...] [--windows N] [--threshold T]
  [--reward-column NAME] [--epsilon E] [--level L]``: analyse a logged GRPO run and advise on
  its group size (:mod:`grpo_theory.analyze.command`).
* ``grpo-theory bench exact [--g-max N] [--n-p N] [--repeats R] [--json]``: time the exact
  engine.
* ``grpo-theory bench mc [--arms K] [--group-size G] [--samples N] [--baseline-samples N]
  [--chunk-size N] [--dtype float32|float64] [--baseline-dtype float32|float64]
  [--estimator E] [--seed S] [--repeats R] [--json]``: time the Monte
  Carlo engine against a numpy baseline (:mod:`grpo_theory.montecarlo.bench`).
* ``grpo-theory bench bandit [--seeds N] [--n-prompts N] [--n-arms K] [--steps T]
  [--prompts-per-step Q] [--seed S] [--repeats R] [--json]``: time the bandit trainer on many
  seeds at once (:mod:`grpo_theory.experiments.bench`).
* ``grpo-theory bench transformer [--task T] [--d-model D] [--n-layers N] [--prompts Q]
  [--group-size G] [--repeats R] [--json]``: rollout tokens per second and RL steps per second
  of the tiny transformer (:mod:`grpo_theory.transformer.bench`).
* ``grpo-theory bench analyze [--rollouts N] [--file-format csv|jsonl|parquet] [--group-size G]
  [--prompts-per-step Q] [--seed S] [--repeats R] [--json]``: read, analyse and report a
  generated log of a million rollouts (:mod:`grpo_theory.analyze.bench`).
  ``--repeats`` and ``--json`` apply to every layer; an option of another layer is an error
  (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grpo_theory._io import write_atomic
from grpo_theory.analyze.bench import BENCH_DEFAULTS as BENCH_ANALYZE_DEFAULTS
from grpo_theory.experiments.bench import BENCH_DEFAULTS as BENCH_BANDIT_DEFAULTS
from grpo_theory.transformer.bench import BENCH_DEFAULTS as BENCH_TRANSFORMER_DEFAULTS

__all__ = ["main", "build_parser"]

NORMALIZATIONS = {"std": "grpo", "std-bessel": "grpo-bessel", "mean": "dr-grpo", "rloo": "rloo"}
"""``--normalization`` names of ``grpo-theory weights`` and the estimators they select."""
ESTIMATORS = ["grpo", "grpo-bessel", "dr-grpo", "rloo", "reinforce"]
DTYPES = ("float32", "float64")
MC_SAMPLES = 1_000_000
"""Default number of groups of ``grpo-theory moments --method mc``."""
_SILENT_SCALE = 2.0**-20
"""Scale of the silent-group indicator inside the engine (see ``_moments_mc``)."""
BENCH_EXACT_DEFAULTS = {"g_max": 4096, "n_p": 1000}
BENCH_MC_DEFAULTS = {"arms": 16, "group_size": 16, "samples": None, "baseline_samples": None,
                     "chunk_size": None, "dtype": "float32", "baseline_dtype": None,
                     "estimator": "grpo", "seed": 0}
BENCH_LAYERS = {"exact": BENCH_EXACT_DEFAULTS, "mc": BENCH_MC_DEFAULTS,
                "bandit": BENCH_BANDIT_DEFAULTS, "transformer": BENCH_TRANSFORMER_DEFAULTS,
                "analyze": BENCH_ANALYZE_DEFAULTS}
"""Options of ``grpo-theory bench`` per layer, with their defaults."""


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

    weights = sub.add_parser("weights", help="expected-gradient weights c_G(p)")
    weights.add_argument("--group-size", type=int, nargs="+", required=True, metavar="G")
    weights.add_argument("--p", type=float, nargs="+", required=True, metavar="P")
    weights.add_argument("--normalization", choices=list(NORMALIZATIONS), default="std")
    weights.add_argument("--eps", type=float, default=0.0, help="epsilon added to the std")
    weights.add_argument("--json", action="store_true")

    moments = sub.add_parser("moments", help="exact estimator moments on a softmax bandit")
    moments.add_argument("--logits", type=float, nargs="+", required=True)
    moments.add_argument("--rewards", type=float, nargs="+", required=True)
    moments.add_argument("--group-size", type=int, required=True, metavar="G")
    moments.add_argument("--estimator", choices=ESTIMATORS, required=True)
    moments.add_argument("--eps", type=float, default=0.0)
    moments.add_argument("--method", choices=["exact", "enumerate", "mc"], default="exact")
    moments.add_argument("--samples", type=int, default=None, metavar="N",
                         help=f"Monte Carlo groups (--method mc only; default {MC_SAMPLES:,})")
    moments.add_argument("--seed", type=int, default=None, metavar="S",
                         help="Monte Carlo seed (--method mc only; default 0)")
    moments.add_argument("--dtype", choices=list(DTYPES), default=None,
                         help="Monte Carlo dtype (--method mc only; default float64)")
    moments.add_argument("--json", action="store_true")

    advise = sub.add_parser("advise", help="recommend a group size at a rollout budget")
    population = advise.add_mutually_exclusive_group(required=True)
    population.add_argument("--rates", type=float, nargs="+", metavar="P",
                            help="per-prompt success rates")
    population.add_argument("--beta", type=float, nargs=2, metavar=("A", "B"),
                            help="difficulty distribution p ~ Beta(A, B)")
    advise.add_argument("--budget", type=int, required=True, help="rollouts per step B = Q G")
    advise.add_argument("--group-sizes", type=int, nargs="+", default=None, metavar="G",
                        help="candidates (default: every divisor of the budget up to 64)")
    advise.add_argument("--estimator", choices=ESTIMATORS, nargs="+", default=["grpo"])
    advise.add_argument("--eps", type=float, default=0.0)
    advise.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="time a layer of the toolkit")
    bench.add_argument("layer", choices=list(BENCH_LAYERS))
    bench.add_argument("--repeats", type=int, default=3, help="timed runs (both layers)")
    bench.add_argument("--json", action="store_true")
    exact_opts = bench.add_argument_group("bench exact")
    exact_opts.add_argument("--g-max", type=int, default=None,
                            help=f"largest group size (default {BENCH_EXACT_DEFAULTS['g_max']})")
    exact_opts.add_argument("--n-p", type=int, default=None,
                            help=f"values of p (default {BENCH_EXACT_DEFAULTS['n_p']})")
    mc_opts = bench.add_argument_group("bench mc")
    mc_opts.add_argument("--arms", type=int, default=None, metavar="K", help="arms (default 16)")
    mc_opts.add_argument("--group-size", type=int, default=None, metavar="G",
                         help="group size (default 16)")
    mc_opts.add_argument("--samples", type=int, default=None, metavar="N",
                         help="groups for the JAX engine (default about 2**25 rollouts)")
    mc_opts.add_argument("--baseline-samples", type=int, default=None, metavar="N",
                         help="groups for the numpy baseline (default min(N, 2**23 / G))")
    mc_opts.add_argument("--chunk-size", type=int, default=None, metavar="N",
                         help="the engine's draws per chunk (default: the engine's default)")
    mc_opts.add_argument("--dtype", choices=list(DTYPES), default=None,
                         help="JAX dtype (default float32)")
    mc_opts.add_argument("--baseline-dtype", choices=list(DTYPES), default=None,
                         help="numpy baseline dtype (default: --dtype)")
    mc_opts.add_argument("--estimator", choices=ESTIMATORS, default=None,
                         help="estimator (default grpo)")
    mc_opts.add_argument("--seed", type=int, default=None, help="seed (default 0; mc, bandit)")
    defined = set(BENCH_EXACT_DEFAULTS) | set(BENCH_MC_DEFAULTS)
    for layer in ("bandit", "transformer", "analyze"):
        group = bench.add_argument_group(f"bench {layer}")
        for name, value in BENCH_LAYERS[layer].items():
            if name not in defined:
                defined.add(name)
                group.add_argument("--" + name.replace("_", "-"), type=type(value), default=None,
                                   help=f"default {value}")

    derive = sub.add_parser("derive", help="print a derivation step by step")
    derive.add_argument("name", nargs="?", help="derivation name (see --list)")
    derive.add_argument("--latex", action="store_true", help="LaTeX instead of pretty text")
    derive.add_argument("--list", action="store_true", help="list the derivations")
    from grpo_theory.analyze.command import add_parser as add_analyze_parser
    from grpo_theory.experiments.command import add_parser as add_bandit_parser
    from grpo_theory.figures.command import add_parser as add_figures_parser
    from grpo_theory.reproduce import add_parser as add_reproduce_parser
    from grpo_theory.transformer.command import add_parser as add_transformer_parser

    add_bandit_parser(sub)
    add_transformer_parser(sub)
    add_reproduce_parser(sub)
    add_figures_parser(sub)
    add_analyze_parser(sub)
    return parser


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
        write_atomic(args.out, text + "\n")
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


def _print_json(payload: dict) -> None:
    print(json.dumps(payload, indent=2, allow_nan=True))


def _cmd_weights(args: argparse.Namespace) -> int:
    from grpo_theory.exact.binary import expected_gradient_weight

    estimator = NORMALIZATIONS[args.normalization]
    rows = []
    for G in args.group_size:
        values = expected_gradient_weight(estimator, G, np.asarray(args.p), args.eps)
        rows.extend({"group_size": G, "p": p, "normalization": args.normalization,
                     "eps": args.eps, "weight": float(w)}
                    for p, w in zip(args.p, np.atleast_1d(values), strict=True))
    if args.json:
        _print_json({"weights": rows})
    else:
        print(f"{'G':>6}  {'p':>8}  weight c_G(p)  ({args.normalization}, eps = {args.eps:g})")
        for r in rows:
            print(f"{r['group_size']:>6}  {r['p']:>8.4g}  {r['weight']:.12g}")
    return 0


def _check_int_option(value: int, option: str, minimum: int) -> int:
    if value < minimum:
        raise ValueError(f"{option} must be an integer >= {minimum}, got {value}")
    return value


def _use_dtype(dtype: str) -> None:
    """Turn on JAX's x64 mode when the computation is to run in float64."""
    if dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)


def _cmd_moments(args: argparse.Namespace) -> int:
    from grpo_theory.exact.bandit import bandit_estimator_moments

    if args.method == "mc":
        return _moments_mc(args)
    for option in ("samples", "seed", "dtype"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option} applies only to --method mc (got --method "
                             f"{args.method})")
    res = bandit_estimator_moments(args.logits, args.rewards, args.group_size, args.estimator,
                                   epsilon=args.eps, method=args.method)
    payload = {"p": float(res.p), "mean": np.asarray(res.mean).tolist(),
               "cov": np.asarray(res.cov).tolist(), "cov_trace": float(res.cov_trace),
               "snr": float(res.snr), "silent_probability": float(res.silent_probability),
               "method": res.method}
    if args.json:
        _print_json(payload)
    else:
        with np.printoptions(precision=6, suppress=True):
            print(f"softmax bandit, K = {len(args.logits)}, G = {args.group_size}, "
                  f"{args.estimator} (eps = {args.eps:g}), method {res.method}")
            print(f"p = {payload['p']:.12g}")
            print(f"mean = {np.asarray(res.mean)}")
            print(f"cov =\n{np.asarray(res.cov)}")
            print(f"trace(cov) = {payload['cov_trace']:.12g}, SNR = {payload['snr']:.12g}, "
                  f"P(silent group) = {payload['silent_probability']:.12g}")
    return 0


def _moments_mc(args: argparse.Namespace) -> int:
    """``moments --method mc``: Monte Carlo estimates with standard errors."""
    samples = _check_int_option(MC_SAMPLES if args.samples is None else args.samples,
                                "--samples", 2)
    seed = _check_int_option(0 if args.seed is None else args.seed, "--seed", 0)
    dtype = args.dtype or "float64"
    if len(args.logits) < 2:
        raise ValueError(f"--logits must give K >= 2 arms, got {len(args.logits)}")
    _check_int_option(args.group_size, "--group-size", 2)
    _use_dtype(dtype)

    import jax.numpy as jnp

    from grpo_theory.exact.bandit import softmax
    from grpo_theory.exact.binary import snr
    from grpo_theory.montecarlo.bandit import bandit_sampler
    from grpo_theory.montecarlo.engine import mc_moments

    K = len(args.logits)
    sampler = bandit_sampler(args.logits, args.rewards, args.group_size, args.estimator,
                             epsilon=args.eps, dtype=dtype, with_silent=True)
    # The silent indicator (last column) enters the engine scaled by 2**-20 (exact in binary
    # floating point), so that its share of the fourth-moment sums behind the trace's standard
    # error is of relative order 1e-12; it is scaled back below.
    scale = jnp.asarray([1.0] * K + [_SILENT_SCALE], dtype=dtype)
    res = mc_moments(seed, lambda key, n: sampler(key, n) * scale, samples)
    mean = res.mean[:K]
    cov = res.cov[:K, :K]
    mean_se = res.mean_stderr
    p = float(softmax(args.logits) @ np.asarray(args.rewards, dtype=float))
    payload = {
        "p": p, "mean": mean.tolist(), "cov": cov.tolist(),
        "cov_trace": float(np.trace(cov)), "snr": float(snr(mean, cov)),
        "silent_probability": float(res.mean[K] / _SILENT_SCALE), "method": "mc",
        "stderr": {"mean": mean_se[:K].tolist(), "cov_trace": res.cov_trace_stderr,
                   "silent_probability": float(mean_se[K] / _SILENT_SCALE)},
        "samples": res.n, "seed": seed, "dtype": res.dtype, "devices": res.devices,
    }
    if args.json:
        _print_json(payload)
        return 0
    se = payload["stderr"]
    print(f"softmax bandit, K = {K}, G = {args.group_size}, {args.estimator} "
          f"(eps = {args.eps:g}), method mc: {res.n:,} groups, seed {seed}, {res.dtype}, "
          f"{res.devices} device(s)")
    print(f"p = {p:.12g} (exact)")
    print(f"{'arm':>4}  {'mean':>14}  {'stderr':>10}")
    for a in range(K):
        print(f"{a:>4}  {mean[a]:>14.6e}  ± {se['mean'][a]:.2e}")
    with np.printoptions(precision=6, suppress=True):
        print(f"cov =\n{cov}")
    print(f"trace(cov) = {payload['cov_trace']:.6g} ± {se['cov_trace']:.2g}, "
          f"SNR = {payload['snr']:.6g}, P(silent group) = {payload['silent_probability']:.6g} "
          f"± {se['silent_probability']:.2g}")
    return 0


def _cmd_advise(args: argparse.Namespace) -> int:
    from grpo_theory.exact.budget import Population, budget_table, recommend, variance_spread

    pop = (Population.from_rates(args.rates) if args.rates is not None
           else Population.from_beta(*args.beta))
    rows = budget_table(pop, args.budget, args.group_sizes, args.estimator, args.eps)
    advice = recommend(rows)
    spread = variance_spread(rows)
    if args.json:
        _print_json({"population": pop.description, "budget": args.budget,
                     "recommendation": advice, "lemma53": spread,
                     "table": [r.as_dict() for r in rows]})
        return 0
    print(f"population: {pop.description}; budget B = {args.budget} rollouts per step")
    print(f"{'estimator':<12} {'G':>4} {'Q':>5} {'variance':>11} {'between':>11} {'bias^2':>11} "
          f"{'MSE':>11} {'SNR/rollout':>12} {'relMSE*':>9} {'silent':>7}")
    for r in rows:
        print(f"{r.estimator:<12} {r.group_size:>4} {r.prompts:>5} {r.variance:>11.4e} "
              f"{r.variance_between:>11.4e} {r.bias_sq:>11.4e} {r.mse:>11.4e} "
              f"{r.snr_per_rollout:>12.4e} {r.relative_mse_best_step:>9.5f} "
              f"{r.silent_fraction:>7.3f}")
    print("relMSE*: MSE at the best step size, relative to |target|^2 "
          "(target: gradient of the mean success rate)")
    for est, rec in advice.items():
        print(f"{est}: least MSE at the best step size with G = {rec['min_mse_best_step']}; "
              f"largest SNR per rollout with G = {rec['max_snr_per_rollout']}; "
              f"least raw MSE with G = {rec['min_mse']}")
        verdict = spread[est]
        print(f"  variance across these G varies by a factor {verdict['variance_ratio']:.3g}: "
              f"'batch size, not group size' {'holds' if verdict['holds'] else 'does not hold'} "
              f"within {verdict['holds_within']:.0%}")
    return 0


def _layer_options(args: argparse.Namespace) -> dict:
    """The options of the chosen ``bench`` layer; one of another layer only is an error."""
    own = BENCH_LAYERS[args.layer]
    for options in BENCH_LAYERS.values():
        for name in options:
            if name not in own and getattr(args, name) is not None:
                option = "--" + name.replace("_", "-")
                raise ValueError(f"{option} does not apply to 'bench {args.layer}'")
    return {name: default if getattr(args, name) is None else getattr(args, name)
            for name, default in own.items()}


def _cmd_bench(args: argparse.Namespace) -> int:
    options = _layer_options(args)
    _check_int_option(args.repeats, "--repeats", 1)
    if args.layer == "exact":
        from grpo_theory.exact.bench import run_benchmark

        result = run_benchmark(g_max=options["g_max"], n_p=options["n_p"],
                               repeats=args.repeats)
    elif args.layer == "bandit":
        from grpo_theory.experiments.bench import run_bandit_benchmark

        result = run_bandit_benchmark(repeats=args.repeats, **options)
    elif args.layer == "analyze":
        from grpo_theory.analyze.bench import run_analyze_benchmark

        result = run_analyze_benchmark(repeats=args.repeats, **options)
    elif args.layer == "transformer":
        from grpo_theory.transformer.bench import run_transformer_benchmark

        result = run_transformer_benchmark(repeats=args.repeats, **options)
    else:
        for name, minimum in (("arms", 2), ("group_size", 2), ("samples", 2),
                              ("baseline_samples", 2), ("chunk_size", 1), ("seed", 0)):
            if options[name] is not None:
                _check_int_option(options[name], "--" + name.replace("_", "-"), minimum)
        _use_dtype(options["dtype"])
        from grpo_theory.montecarlo.bench import format_summary, run_mc_benchmark

        result = run_mc_benchmark(repeats=args.repeats, **options)
        if not args.json:
            print(format_summary(result))
            print()
    if args.json:
        _print_json(result)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


_COMMANDS = {
    "claims": _cmd_claims,
    "derive": _cmd_derive,
    "weights": _cmd_weights,
    "moments": _cmd_moments,
    "advise": _cmd_advise,
    "bench": _cmd_bench,
    "bandit": lambda args: args.func(args),
    "transformer": lambda args: args.func(args),
    "reproduce": lambda args: args.func(args),
    "figures": lambda args: args.func(args),
    "analyze": lambda args: args.func(args),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a message for invalid arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (ValueError, TypeError) as exc:
        print(f"grpo-theory {args.command}: {exc}", file=sys.stderr)
        return 2
