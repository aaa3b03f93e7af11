r"""Benchmark of the Monte Carlo engine on a softmax bandit, against a vectorised numpy baseline.

The workload: a softmax bandit with :math:`K` arms (logits drawn from a standard normal with a
fixed seed, about half of the arms correct, binary rewards) and groups of :math:`G` rollouts;
each group gives one draw of

.. math::

    \hat g = \frac1G \sum_{i=1}^G A_i\,(e_{a_i} - \pi) = \frac1G\big(c - \pi\,\mathbf 1^\top A\big),
    \qquad c_a = \sum_{i:\,a_i = a} A_i,

and the estimates are the mean and covariance of :math:`\hat g` over ``samples`` groups. The speed
is reported in *rollouts per second* (groups times :math:`G`).

Two implementations are timed in the same process:

* the JAX engine: :func:`grpo_theory.montecarlo.engine.mc_moments` on one
  :func:`~grpo_theory.montecarlo.bandit.bandit_sampler` (the computation of
  :func:`~grpo_theory.montecarlo.bandit.mc_bandit_moments`, with the sampler built once so that
  the engine can reuse its compiled program): one warm-up call, then the best of ``repeats``
  timed calls. The time JAX spends tracing and compiling inside a timed call (reported by its
  monitoring events; zero when the compiled program is reused) is measured too, so that both the
  end-to-end rate of a call and the rate of its sampling and reduction alone are known;
* :func:`numpy_baseline_moments`, a plain vectorised numpy implementation of the same moments
  (the code one would write without JAX), best of ``repeats`` on its own sample count.

The two estimates must agree within their standard errors (and with the exact moments of
:func:`grpo_theory.exact.bandit.bandit_estimator_moments`); the benchmark reports the largest
deviation in units of the combined standard error.

Run it with ``grpo-theory bench mc`` or ``python -m grpo_theory.montecarlo.bench``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from scipy.stats import norm

from grpo_theory._validate import check_group_size, check_nonnegative, check_real
from grpo_theory.exact.bandit import _check_bandit, _softmax, bandit_estimator_moments
from grpo_theory.exact.estimators import Estimator, as_estimator
from grpo_theory.montecarlo.engine import resolve_dtype

__all__ = [
    "DEFAULT_CHUNK",
    "BaselineMoments",
    "batched_advantages",
    "numpy_baseline_moments",
    "benchmark_bandit",
    "machine_info",
    "default_samples",
    "run_mc_benchmark",
    "format_summary",
    "main",
]

DEFAULT_CHUNK = 8192
"""Groups per chunk of :func:`numpy_baseline_moments` (the fastest of the sizes tried on CPU)."""

_ROLLOUTS = 1 << 25
"""Default JAX workload: about this many rollouts (a few seconds on a 2-core CPU)."""

_BASELINE_ROLLOUTS = 1 << 23
"""Default cap of the numpy workload (one to three seconds on a 2-core CPU)."""

_FALSE_POSITIVE = 1e-6
"""Probability that the agreement check fails although both implementations are right."""

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


@dataclass(frozen=True)
class BaselineMoments:
    r"""Moments of :math:`\hat g` from :func:`numpy_baseline_moments`.

    Attributes:
        n: number of groups.
        mean: the sample mean, shape ``(K,)``.
        cov: the unbiased sample covariance, shape ``(K, K)``.
        cov_trace: its trace.
    """

    n: int
    mean: np.ndarray
    cov: np.ndarray
    cov_trace: float

    @property
    def mean_stderr(self) -> np.ndarray:
        """Standard error of each coordinate of the mean, shape ``(K,)``."""
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0) / self.n)


def batched_advantages(
    estimator: Estimator | str,
    rewards: Any,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    atol: float = 1e-12,
) -> np.ndarray:
    r"""Advantages of many groups at once: row :math:`j` of ``rewards`` is one group.

    Row by row the same rule as :func:`grpo_theory.exact.estimators.advantages`: with
    :math:`\bar r` the row mean, :math:`A = r - \bar r` (``dr-grpo``),
    :math:`\frac{G}{G-1}(r - \bar r)` (``rloo``), :math:`r - b` (``reinforce``), and
    :math:`(r - \bar r)/(\hat\sigma + \epsilon)` for the std-normalised rules, zero for a row
    whose spread :math:`\max_i |r_i - \bar r|` is at most ``atol`` times
    :math:`\max(1, \max_i |r_i|)`.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        rewards: array of shape ``(n, G)``, :math:`G \ge 2`, finite.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: the constant baseline :math:`b` of ``reinforce``.
        atol: relative threshold below which a row counts as silent.

    Returns:
        The advantages, shape ``(n, G)``, in the floating dtype of ``rewards`` (float64 for
        integer input).

    Example:
        >>> batched_advantages("rloo", [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]).tolist()
        [[1.0, -0.5, -0.5], [0.0, 0.0, 0.0]]
    """
    est = as_estimator(estimator)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    r = np.asarray(rewards)
    if not np.issubdtype(r.dtype, np.floating):
        r = r.astype(np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"rewards must have shape (n, G) with G >= 2, got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must be finite")
    return _row_advantages(est, r, float(epsilon), float(baseline), atol)


def _row_advantages(est: Estimator, r: np.ndarray, epsilon: float, baseline: float,
                    atol: float) -> np.ndarray:
    """:func:`batched_advantages` without the argument checks (the baseline's inner loop)."""
    G = r.shape[1]
    if est is Estimator.REINFORCE:
        return r - r.dtype.type(baseline)
    centred = r - r.mean(axis=1, keepdims=True)
    if est is Estimator.DR_GRPO:
        return centred
    if est is Estimator.RLOO:
        return centred * r.dtype.type(G / (G - 1))
    ddof = 1 if est is Estimator.GRPO_BESSEL else 0
    sigma = np.sqrt(np.einsum("ij,ij->i", centred, centred) / (G - ddof))
    scale = np.maximum(1.0, np.abs(r).max(axis=1))
    silent = np.abs(centred).max(axis=1) <= atol * scale
    denom = np.where(silent, 1.0, sigma + epsilon).astype(r.dtype)
    return np.where(silent[:, None], r.dtype.type(0), centred / denom[:, None])


def _silence_tolerance(dtype: np.dtype) -> float:
    """The relative silence threshold of the JAX rules for ``dtype``."""
    return max(1e-12, 16.0 * float(np.finfo(dtype).eps))


def numpy_baseline_moments(
    seed: int,
    logits: Any,
    rewards: Any,
    G: int,
    estimator: Estimator | str,
    n_samples: int,
    *,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    chunk: int = DEFAULT_CHUNK,
    dtype: Any = "float64",
) -> BaselineMoments:
    r"""Mean and covariance of :math:`\hat g` from ``n_samples`` groups, in vectorised numpy.

    Per chunk of :math:`n` groups: uniforms ``rng.random((n, G))``; arms by inverse CDF
    (``np.searchsorted`` on the cumulative probabilities); rewards by indexing; the advantages of
    every row (:func:`batched_advantages`); the per-arm sums :math:`c` by one ``np.bincount`` on
    the flattened indices ``row * K + arm``; then
    :math:`\hat g = (c - \pi\,\mathbf 1^\top A)/G` and the float64 sums
    :math:`\sum \hat g` and :math:`\sum \hat g\hat g^\top`.

    Args:
        seed: seed of ``numpy.random.default_rng``.
        logits: :math:`z`, shape ``(K,)``.
        rewards: rewards per arm, shape ``(K,)``.
        G: group size, ``>= 2``.
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        n_samples: number of groups, ``>= 2``.
        epsilon: :math:`\epsilon \ge 0` of the std-normalised estimators.
        baseline: the constant baseline of ``reinforce``.
        chunk: groups per chunk (memory), ``>= 1``.
        dtype: ``"float64"`` or ``"float32"``: the dtype of the uniforms, rewards and
            advantages (the per-arm sums and the moment sums are float64 either way).

    Returns:
        :class:`BaselineMoments`.

    Example:
        >>> m = numpy_baseline_moments(0, [0.0, 0.0], [1.0, 0.0], 2, "grpo", 200_000)
        >>> bool(abs(m.mean - [0.25, -0.25]).max() < 5 * m.mean_stderr.max())
        True
    """
    z, r = _check_bandit(logits, rewards)
    check_group_size(G)
    check_group_size(n_samples, "n_samples")
    check_group_size(chunk, "chunk", minimum=1)
    est = as_estimator(estimator)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    dt = resolve_dtype(dtype)
    G, n_samples, chunk = int(G), int(n_samples), int(chunk)
    K = z.size
    pi = _softmax(z)
    cdf = np.cumsum(pi)[:-1].astype(dt)
    r_dt = r.astype(dt)
    atol = _silence_tolerance(dt)
    rng = np.random.default_rng(seed)
    offsets = (np.arange(min(chunk, n_samples)) * K)[:, None]
    s1 = np.zeros(K)
    s2 = np.zeros((K, K))
    done = 0
    while done < n_samples:
        n = min(chunk, n_samples - done)
        u = rng.random((n, G), dtype=dt)
        arms = np.minimum(np.searchsorted(cdf, u, side="right"), K - 1)
        adv = _row_advantages(est, r_dt[arms], float(epsilon), float(baseline), atol)
        c = np.bincount((arms + offsets[:n]).ravel(), weights=adv.ravel(), minlength=n * K)
        g = (c.reshape(n, K) - pi * adv.sum(axis=1, dtype=np.float64)[:, None]) / G
        s1 += g.sum(axis=0)
        s2 += g.T @ g
        done += n
    mean = s1 / n_samples
    cov = (s2 - n_samples * np.outer(mean, mean)) / (n_samples - 1)
    cov = 0.5 * (cov + cov.T)
    return BaselineMoments(n=n_samples, mean=mean, cov=cov, cov_trace=float(np.trace(cov)))


def benchmark_bandit(arms: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""The benchmark's bandit: standard normal logits and :math:`\lfloor K/2\rfloor` correct arms.

    Both come from ``numpy.random.default_rng(seed)``: first the logits, then a random
    permutation that picks the correct arms (so at least one arm is correct and one is not).

    Args:
        arms: :math:`K \ge 2`.
        seed: the seed.

    Returns:
        ``(logits, rewards)``, each of shape ``(K,)``; rewards are 0.0 or 1.0.

    Example:
        >>> z, r = benchmark_bandit(4, 0)
        >>> z.shape, float(r.sum())
        ((4,), 2.0)
    """
    check_group_size(arms, "arms")
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=int(arms))
    rewards = np.zeros(int(arms))
    rewards[rng.permutation(int(arms))[: int(arms) // 2]] = 1.0
    return logits, rewards


def default_samples(group_size: int) -> tuple[int, int]:
    r"""Default group counts ``(jax, numpy)`` of the benchmark for a group size.

    About :math:`2^{25}` rollouts for the JAX engine and :math:`2^{23}` for the numpy baseline
    (a few seconds each on a 2-core CPU).

    Example:
        >>> default_samples(16)
        (2097152, 524288)
    """
    check_group_size(group_size, "group_size")
    G = int(group_size)
    return max(2, _ROLLOUTS // G), max(2, _BASELINE_ROLLOUTS // G)


@contextmanager
def _compile_timer() -> Iterator[list[float]]:
    """Collect the seconds JAX spends tracing, lowering and compiling inside the block."""
    spent: list[float] = []

    def listener(event: str, duration: float, **_: Any) -> None:
        if event in _COMPILE_EVENTS:
            spent.append(float(duration))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield spent
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """``(wall seconds, compile seconds, result)`` of one call."""
    with _compile_timer() as spent:
        start = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - start
    return wall, min(sum(spent), wall), out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _max_z(a: np.ndarray, se_a: np.ndarray, b: np.ndarray, se_b: Any = 0.0) -> float:
    se = np.sqrt(np.asarray(se_a) ** 2 + np.asarray(se_b) ** 2)
    dev = np.abs(np.asarray(a) - np.asarray(b))
    return float(np.max(np.where(se > 0, dev / np.where(se > 0, se, 1.0),
                                 np.where(dev > 0, np.inf, 0.0))))


def run_mc_benchmark(
    arms: int = 16,
    group_size: int = 16,
    samples: int | None = None,
    dtype: str = "float32",
    estimator: str = "grpo",
    seed: int = 0,
    repeats: int = 3,
    baseline_samples: int | None = None,
    chunk_size: int | None = None,
    baseline_dtype: str | None = None,
) -> dict[str, Any]:
    r"""Time the JAX engine and the numpy baseline on the benchmark bandit; check they agree.

    The JAX figure is the best of ``repeats`` calls of the engine on one bandit sampler (module
    docstring) after one warm-up call (whose time, compilation included, is
    ``first_call_seconds``). ``compile_seconds`` is the time JAX spent tracing and compiling
    inside the best timed call (zero when the compiled program is reused);
    ``rollouts_per_second`` leaves it out and ``end_to_end_rollouts_per_second`` keeps it in.
    The numpy figure is the best of ``repeats`` runs of :func:`numpy_baseline_moments` on
    ``baseline_samples`` groups, by default in the same dtype as the engine. The timed runs
    alternate (JAX, numpy, JAX, ...), so that a busy spell of a shared machine affects both.

    Args:
        arms: :math:`K \ge 2`.
        group_size: :math:`G \ge 2`.
        samples: groups for the JAX engine, ``>= 2`` (default: :func:`default_samples`).
        dtype: ``"float32"`` or ``"float64"`` for the JAX engine (float64 needs JAX's x64 mode).
        estimator: an estimator name.
        seed: seed of the bandit, of the JAX key and of the numpy generator.
        repeats: timed runs of each implementation, ``>= 1``.
        baseline_samples: groups for the numpy baseline, ``>= 2`` (default:
            ``min(samples, 2**23 // G)``).
        chunk_size: the engine's ``chunk_size`` (draws per chunk; default: the engine's
            default).
        baseline_dtype: dtype of the numpy baseline (default: ``dtype``).

    Returns:
        A dict of the figures (all JSON-ready): ``rollouts_per_second``,
        ``end_to_end_rollouts_per_second``, ``numpy_rollouts_per_second``, ``ratio_vs_numpy``,
        ``end_to_end_ratio_vs_numpy``, ``seconds``, ``compile_seconds``, ``first_call_seconds``,
        ``runs``, ``numpy_seconds``, ``numpy_runs``, the agreement figures (``agreement_z``: the
        largest :math:`|\bar g_j^{\rm jax} - \bar g_j^{\rm numpy}|` over the combined standard
        error, ``agreement_threshold``, ``agree``, and each against the exact mean), the workload
        (``arms``, ``group_size``, ``samples``, ``baseline_samples``, ``chunk_size``, ``dtype``,
        ``baseline_dtype``, ``estimator``, ``seed``, ``repeats``) and the machine (``device``,
        ``platform``, ``devices``, ``cpu``, ``cpus``, ``machine``, ``jax_version``,
        ``numpy_version``).

    Example:
        >>> out = run_mc_benchmark(4, 2, samples=4096, repeats=1, baseline_samples=4096)
        >>> out["agree"], out["samples"] * out["group_size"]
        (True, 8192)
    """
    from grpo_theory.montecarlo.bandit import bandit_sampler
    from grpo_theory.montecarlo.engine import mc_moments

    check_group_size(arms, "arms")
    check_group_size(group_size, "group_size")
    check_group_size(repeats, "repeats", minimum=1)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    dt = resolve_dtype(dtype).name
    base_dt = dt if baseline_dtype is None else resolve_dtype(baseline_dtype).name
    est = as_estimator(estimator).value
    G = int(group_size)
    jax_default, numpy_default = default_samples(G)
    samples = jax_default if samples is None else samples
    check_group_size(samples, "samples")
    samples = int(samples)
    if baseline_samples is None:
        baseline_samples = min(samples, numpy_default)
    check_group_size(baseline_samples, "baseline_samples")
    baseline_samples = int(baseline_samples)
    if chunk_size is not None:
        check_group_size(chunk_size, "chunk_size", minimum=1)
        chunk_size = int(chunk_size)
    logits, rewards = benchmark_bandit(arms, seed)

    sampler = bandit_sampler(logits, rewards, G, est, dtype=dt)

    def jax_call():
        return mc_moments(seed, sampler, samples, chunk_size=chunk_size)

    first, first_compile, _ = _timed(jax_call)
    # Interleaved, so that both implementations see the same conditions on a shared machine.
    runs = []
    numpy_runs = []
    base = None
    for _ in range(int(repeats)):
        runs.append(_timed(jax_call))
        start = time.perf_counter()
        base = numpy_baseline_moments(seed, logits, rewards, G, est, baseline_samples,
                                      dtype=base_dt)
        numpy_runs.append(time.perf_counter() - start)
    assert base is not None
    best_wall, best_compile, mc = min(runs, key=lambda t: t[0] - t[1])

    rollouts = samples * G
    steady = max(best_wall - best_compile, 1e-12)
    jax_rate = rollouts / steady
    end_to_end = rollouts / min(r[0] for r in runs)
    numpy_rate = baseline_samples * G / min(numpy_runs)
    exact = bandit_estimator_moments(logits, rewards, G, est)
    threshold = float(norm.isf(_FALSE_POSITIVE / (2 * int(arms))))
    agreement = _max_z(mc.mean, mc.mean_stderr, base.mean, base.mean_stderr)
    devices = jax.devices()
    return {
        "rollouts_per_second": jax_rate,
        "end_to_end_rollouts_per_second": end_to_end,
        "numpy_rollouts_per_second": numpy_rate,
        "ratio_vs_numpy": jax_rate / numpy_rate,
        "end_to_end_ratio_vs_numpy": end_to_end / numpy_rate,
        "seconds": best_wall,
        "compile_seconds": best_compile,
        "first_call_seconds": first,
        "first_call_compile_seconds": first_compile,
        "runs": [r[0] for r in runs],
        "numpy_seconds": min(numpy_runs),
        "numpy_runs": numpy_runs,
        "agreement_z": agreement,
        "agreement_threshold": threshold,
        "agree": bool(agreement <= threshold),
        "jax_vs_exact_z": _max_z(mc.mean, mc.mean_stderr, exact.mean),
        "numpy_vs_exact_z": _max_z(base.mean, base.mean_stderr, exact.mean),
        "cov_trace": mc.cov_trace,
        "numpy_cov_trace": base.cov_trace,
        "exact_cov_trace": exact.cov_trace,
        "arms": int(arms),
        "group_size": G,
        "samples": samples,
        "baseline_samples": baseline_samples,
        "chunk_size": chunk_size,
        "rollouts": rollouts,
        "dtype": dt,
        "baseline_dtype": base_dt,
        "estimator": est,
        "seed": int(seed),
        "repeats": int(repeats),
    } | machine_info(devices)


def machine_info(devices: list[Any] | None = None) -> dict[str, Any]:
    """Where a benchmark ran: JAX device kind, platform and count, CPU model and count,
    architecture, and the jax and numpy versions.

    Args:
        devices: the devices used (default: every local JAX device).
    """
    devices = jax.local_devices() if devices is None else devices
    return {
        "device": str(devices[0].device_kind),
        "platform": str(devices[0].platform),
        "devices": len(devices),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
    }


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M" if math.isfinite(x) else str(x)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--baseline-samples", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--baseline-dtype", choices=["float32", "float64"], default=None)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--estimator", default="grpo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    out = run_mc_benchmark(args.arms, args.group_size, args.samples, args.dtype, args.estimator,
                           args.seed, args.repeats, args.baseline_samples, args.chunk_size,
                           args.baseline_dtype)
    print(format_summary(out))
    return out


def format_summary(out: dict[str, Any]) -> str:
    """A few readable lines from a :func:`run_mc_benchmark` result."""
    return "\n".join([
        f"softmax bandit K = {out['arms']}, G = {out['group_size']}, {out['estimator']}, "
        f"{out['dtype']}, {out['devices']} {out['platform']} device(s) ({out['device']}), "
        f"chunk size {out['chunk_size'] or 'default'}",
        f"JAX:   {out['samples']:,} groups, best of {out['repeats']}: {out['seconds']:.3f} s "
        f"(of which compiling {out['compile_seconds']:.3f} s; first call "
        f"{out['first_call_seconds']:.3f} s)",
        f"       {_fmt_rate(out['rollouts_per_second'])}rollouts/s without compiling, "
        f"{_fmt_rate(out['end_to_end_rollouts_per_second'])}rollouts/s end to end",
        f"numpy: {out['baseline_samples']:,} groups ({out['baseline_dtype']}), best of "
        f"{out['repeats']}: {out['numpy_seconds']:.3f} s, "
        f"{_fmt_rate(out['numpy_rollouts_per_second'])}rollouts/s",
        f"ratio JAX / numpy: {out['ratio_vs_numpy']:.2f} without compiling, "
        f"{out['end_to_end_ratio_vs_numpy']:.2f} end to end",
        f"agreement: max |mean difference| = {out['agreement_z']:.2f} standard errors "
        f"(threshold {out['agreement_threshold']:.2f}); against the exact mean: JAX "
        f"{out['jax_vs_exact_z']:.2f}, numpy {out['numpy_vs_exact_z']:.2f}",
        f"{out['cpu']} ({out['cpus']} CPUs), jax {out['jax_version']}, "
        f"numpy {out['numpy_version']}",
    ])


if __name__ == "__main__":
    main()
