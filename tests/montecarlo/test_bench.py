"""Tests of the Monte Carlo benchmark: the numpy baseline, the bandit, the benchmark's figures."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

from grpo_theory.exact.bandit import bandit_estimator_moments
from grpo_theory.exact.estimators import advantages
from grpo_theory.montecarlo.bench import (
    BaselineMoments,
    batched_advantages,
    benchmark_bandit,
    default_samples,
    format_summary,
    numpy_baseline_moments,
    run_mc_benchmark,
)

ESTIMATORS = ["grpo", "grpo-bessel", "dr-grpo", "rloo", "reinforce"]
LOGITS = np.array([0.4, -0.3, 1.1, -1.0])
REWARDS = np.array([1.0, 0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Row-wise advantages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("epsilon, baseline", [(0.0, 0.0), (0.1, 0.4)])
def test_batched_advantages_match_one_group_at_a_time(estimator, epsilon, baseline):
    rng = np.random.default_rng(3)
    rows = np.vstack([rng.normal(size=(20, 5)), rng.integers(0, 2, size=(20, 5)),
                      np.full((1, 5), 0.7), np.ones((1, 5))])
    got = batched_advantages(estimator, rows, epsilon, baseline)
    want = np.array([advantages(estimator, row, epsilon, baseline) for row in rows])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_batched_advantages_keep_float32_and_silence_constant_rows():
    rows = np.array([[0.1, 0.1, 0.1], [1.0, 0.0, 0.0]], dtype=np.float32)
    out = batched_advantages("grpo", rows, atol=1e-6)
    assert out.dtype == np.float32
    assert out[0].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(out[1], [2**0.5, -(2**-0.5), -(2**-0.5)], rtol=1e-6)


def test_batched_advantages_bad_input():
    with pytest.raises(ValueError, match="rewards"):
        batched_advantages("grpo", [1.0, 0.0])
    with pytest.raises(ValueError, match="rewards"):
        batched_advantages("grpo", [[1.0, np.nan]])
    with pytest.raises(ValueError, match="estimator"):
        batched_advantages("ppo", [[1.0, 0.0]])
    with pytest.raises(ValueError, match="epsilon"):
        batched_advantages("grpo", [[1.0, 0.0]], epsilon=-1.0)


# ---------------------------------------------------------------------------------------------
# The numpy baseline against the exact engine
# ---------------------------------------------------------------------------------------------

N_MEAN = 400_000  # groups for the test of the mean
N_BATCHES, N_PER_BATCH = 16, 25_000  # independent runs for the test of the covariance trace
FALSE_POSITIVE = 1e-6
# Bonferroni over the K = 4 coordinates of the mean of each estimator.
Z_MEAN = float(stats.norm.isf(FALSE_POSITIVE / (2 * LOGITS.size * len(ESTIMATORS))))
T_TRACE = float(stats.t.isf(FALSE_POSITIVE / (2 * len(ESTIMATORS)), N_BATCHES - 1))


def _mean_z(m: BaselineMoments, exact_mean: np.ndarray) -> float:
    return float(np.max(np.abs(m.mean - exact_mean) / m.mean_stderr))


def _trace_t(estimator: str, G: int, exact_trace: float, seed0: int = 100) -> float:
    traces = np.array([
        numpy_baseline_moments(seed0 + b, LOGITS, REWARDS, G, estimator, N_PER_BATCH).cov_trace
        for b in range(N_BATCHES)
    ])
    return float(abs(traces.mean() - exact_trace) / (traces.std(ddof=1) / np.sqrt(N_BATCHES)))


@pytest.mark.statistical
@pytest.mark.parametrize("G", [2, 5])
def test_numpy_baseline_agrees_with_exact_moments(G):
    """The baseline's mean and covariance trace match ``bandit_estimator_moments``.

    Mean: ``N_MEAN`` = 400,000 groups per estimator (seed 1); every coordinate's deviation from
    the exact mean must stay below ``Z_MEAN`` standard errors, the normal quantile of a two-sided
    test at 1e-6 split (Bonferroni) over the 4 coordinates of the 5 estimators. Trace: 16
    independent runs of 25,000 groups (seeds 100..115); their average must stay within the
    Student-t (15 degrees of freedom) quantile at 1e-6 split over the 5 estimators. The
    false-positive probability of each test (one value of ``G``) is at most 2e-6 (1e-6 for the
    means, 1e-6 for the traces), up to the normal approximation of a mean of 25,000+ bounded
    draws. Power: the same test applied to a wrong estimator (Bessel's std for the population
    std, whose mean is smaller by the factor :math:`\\sqrt{(G-1)/G}`) must fail.
    """
    for estimator in ESTIMATORS:
        exact = bandit_estimator_moments(LOGITS, REWARDS, G, estimator)
        m = numpy_baseline_moments(1, LOGITS, REWARDS, G, estimator, N_MEAN)
        assert m.n == N_MEAN and m.cov.shape == (4, 4)
        assert _mean_z(m, exact.mean) < Z_MEAN, estimator
        assert _trace_t(estimator, G, exact.cov_trace) < T_TRACE, estimator
    # Power: a wrong estimator fails the same checks.
    wrong = numpy_baseline_moments(1, LOGITS, REWARDS, G, "grpo-bessel", N_MEAN)
    exact_grpo = bandit_estimator_moments(LOGITS, REWARDS, G, "grpo")
    assert _mean_z(wrong, exact_grpo.mean) > Z_MEAN
    assert _trace_t("grpo-bessel", G, exact_grpo.cov_trace) > T_TRACE


@pytest.mark.statistical
def test_numpy_baseline_float32_and_chunking():
    """float32 and float64 baselines, and any chunk size, estimate the same mean.

    With the same seed the float64 runs with chunks of 8192 and of 1000 groups draw the same
    uniforms (the generator's stream does not depend on how it is cut into chunks) and agree to
    rounding. The float32 run draws other uniforms and must agree within ``Z_MEAN`` combined
    standard errors (300,000 groups each; false-positive probability below 1e-6, ``Z_MEAN``
    being a Bonferroni split of 1e-6 over more coordinates than the 4 tested here).
    """
    a = numpy_baseline_moments(7, LOGITS, REWARDS, 3, "rloo", 300_000)
    b = numpy_baseline_moments(7, LOGITS, REWARDS, 3, "rloo", 300_000, chunk=1000)
    np.testing.assert_allclose(a.mean, b.mean, atol=1e-12)
    np.testing.assert_allclose(a.cov, b.cov, atol=1e-12)
    c = numpy_baseline_moments(7, LOGITS, REWARDS, 3, "rloo", 300_000, dtype="float32")
    se = np.sqrt(a.mean_stderr**2 + c.mean_stderr**2)
    assert np.max(np.abs(a.mean - c.mean) / se) < Z_MEAN
    assert not np.array_equal(a.mean, c.mean)


def test_numpy_baseline_bad_input():
    args = (0, LOGITS, REWARDS)
    with pytest.raises(ValueError, match="G"):
        numpy_baseline_moments(*args, 1, "grpo", 100)
    with pytest.raises(ValueError, match="n_samples"):
        numpy_baseline_moments(*args, 2, "grpo", 1)
    with pytest.raises(ValueError, match="chunk"):
        numpy_baseline_moments(*args, 2, "grpo", 100, chunk=0)
    with pytest.raises(ValueError, match="dtype"):
        numpy_baseline_moments(*args, 2, "grpo", 100, dtype="float16")
    with pytest.raises(ValueError, match="estimator"):
        numpy_baseline_moments(*args, 2, "ppo", 100)
    with pytest.raises(ValueError, match="logits"):
        numpy_baseline_moments(0, [0.0], [1.0], 2, "grpo", 100)
    with pytest.raises(ValueError, match="epsilon"):
        numpy_baseline_moments(*args, 2, "grpo", 100, epsilon=-0.1)


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3, 16, 17])
def test_benchmark_bandit(K):
    z, r = benchmark_bandit(K, 5)
    assert z.shape == r.shape == (K,)
    assert set(r.tolist()) == {0.0, 1.0} and r.sum() == K // 2
    z2, r2 = benchmark_bandit(K, 5)
    assert np.array_equal(z, z2) and np.array_equal(r, r2)
    np.testing.assert_array_equal(z, np.random.default_rng(5).normal(size=K))


def test_default_samples():
    assert default_samples(2) == (1 << 24, 1 << 22)
    assert default_samples(16) == (1 << 21, 1 << 19)
    with pytest.raises(ValueError, match="group_size"):
        default_samples(1)


def test_run_mc_benchmark_figures():
    out = run_mc_benchmark(arms=4, group_size=3, samples=5000, dtype="float32", repeats=1,
                           baseline_samples=3000)
    keys = {"rollouts_per_second", "end_to_end_rollouts_per_second", "numpy_rollouts_per_second",
            "ratio_vs_numpy", "end_to_end_ratio_vs_numpy", "seconds", "compile_seconds",
            "first_call_seconds", "device", "platform", "devices", "dtype", "arms",
            "group_size", "samples", "baseline_samples", "agreement_z", "agree", "jax_version",
            "numpy_version", "cpu"}
    assert keys <= set(out)
    assert (out["arms"], out["group_size"], out["samples"], out["baseline_samples"]) == (
        4, 3, 5000, 3000)
    assert out["rollouts"] == 15000 and out["dtype"] == out["baseline_dtype"] == "float32"
    assert out["devices"] == len(jax.devices()) and out["platform"] == jax.devices()[0].platform
    assert out["jax_version"] == jax.__version__ and out["numpy_version"] == np.__version__
    assert 0 <= out["compile_seconds"] <= out["seconds"]
    assert out["first_call_seconds"] > 0 and out["numpy_seconds"] > 0
    assert out["rollouts_per_second"] >= out["end_to_end_rollouts_per_second"] > 0
    assert out["ratio_vs_numpy"] == pytest.approx(
        out["rollouts_per_second"] / out["numpy_rollouts_per_second"])
    assert out["agree"] and out["agreement_z"] < out["agreement_threshold"]
    assert out["jax_vs_exact_z"] < out["agreement_threshold"]
    assert out["numpy_vs_exact_z"] < out["agreement_threshold"]
    summary = format_summary(out)
    assert "rollouts/s" in summary and "ratio JAX / numpy" in summary


@pytest.mark.parametrize("kwargs, name", [
    ({"arms": 1}, "arms"),
    ({"group_size": 1}, "group_size"),
    ({"samples": 1}, "samples"),
    ({"baseline_samples": 1}, "baseline_samples"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"repeats": 0}, "repeats"),
    ({"dtype": "float16"}, "dtype"),
    ({"baseline_dtype": "int8"}, "dtype"),
    ({"seed": -1}, "seed"),
    ({"estimator": "ppo"}, "estimator"),
])
def test_run_mc_benchmark_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        run_mc_benchmark(**{"samples": 100, **kwargs})
