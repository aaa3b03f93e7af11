"""Tests of the variance lab: batches, budget curves, control variates, the paper's measurement.

Statistical tests use fixed keys; each states its sample size and a false-positive probability of
at most 1e-6 (Bonferroni over its checks), and each has a power check: a deliberately wrong
exact value (or a wrong definition) must fail the same check.
"""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest
from scipy import stats

from grpo_theory.exact.bandit import batch_moments, softmax, softmax_bandit_moments
from grpo_theory.montecarlo import lab
from grpo_theory.montecarlo.bandit import jax_rule
from grpo_theory.montecarlo.engine import mc_moments
from grpo_theory.symbolic import control_variates as cv

jax.config.update("jax_enable_x64", True)

# Different arm counts, non-uniform weights, and a prompt with p = 0 (drawn, but no gradient).
PROMPTS = [
    ([0.3, -0.2], [1, 0]),
    ([0.5, 0.0, -1.0], [0, 1, 1]),
    ([1.0, 0.2, -0.4, 0.0], [1, 0, 0, 1]),
    ([0.0, 0.0, 0.0], [0, 0, 0]),
]
WEIGHTS = [0.4, 0.25, 0.2, 0.15]
D = 12

# Prompts with at least two correct and two wrong arms (non-zero within-prompt variances), and a
# prompt with p = 1 that has no negative response (conditioned away).
PAIR_PROMPTS = [
    ([0.3, -0.2, 0.1, 0.0], [1, 1, 0, 0]),
    ([0.5, 0.0, -1.0, 0.7, 0.2], [0, 1, 1, 0, 0]),
    ([1.0, 0.2, -0.4, 0.0], [1, 0, 0, 1]),
    ([0.0, 0.0, 0.0], [1, 1, 1]),
]
PAIR_WEIGHTS = [0.4, 0.3, 0.2, 0.1]


def _p(prompt) -> float:
    return float(softmax(prompt[0]) @ np.asarray(prompt[1], dtype=float))


# ---------------------------------------------------------------------------------------------
# Exact tier: layout, exact values, validation
# ---------------------------------------------------------------------------------------------


def test_batch_sampler_layout_dtype_and_rules():
    """Each draw with Q = 1 lives in one prompt's block; a JAX rule gives the named draws."""
    key = jax.random.key(11)
    s = lab.batch_sampler(PROMPTS, 3, 1, "rloo", weights=WEIGHTS, path="rollouts")
    rule = lab.batch_sampler(PROMPTS, 3, 1, jax_rule("rloo"), weights=WEIGHTS)
    x, y = (np.asarray(a) for a in jax.jit(lambda k: (s(k, 256), rule(k, 256)))(key))
    np.testing.assert_array_equal(y, x)
    assert x.shape == (256, D) and x.dtype == np.float64
    offsets = [0, 2, 5, 9]
    for row in x:
        blocks = [q for q, o in enumerate(offsets)
                  if np.any(row[o:o + len(PROMPTS[q][0])] != 0)]
        assert len(blocks) <= 1
        if blocks:  # a group's gradient sums to zero over its arms (scores sum to zero)
            q = blocks[0]
            assert abs(row[offsets[q]:offsets[q] + len(PROMPTS[q][0])].sum()) < 1e-12
    assert np.all(x[:, 9:] == 0)  # the p = 0 prompt never has a gradient
    s32 = lab.batch_sampler(PROMPTS, 3, 2, "grpo", dtype="float32")
    assert jax.eval_shape(lambda k: s32(k, 5), key).dtype == np.float32


def _exact_pair_stats(prompts, weights, mode, n_responses=None):
    """Independent computation from softmax_bandit_moments (D-vectors, matrices)."""
    w = np.asarray(weights, dtype=float)
    ps = np.array([_p(pr) for pr in prompts])
    ok = (ps > 0) & (ps < 1)
    if n_responses is not None:
        w = w * (1 - ps**n_responses - (1 - ps) ** n_responses)
    w = np.where(ok, w, 0.0)
    w = w / w.sum()
    sizes = [len(pr[0]) for pr in prompts]
    dim = sum(sizes)
    mus_p, mus_m = np.zeros((len(prompts), dim)), np.zeros((len(prompts), dim))
    tr_p = tr_m = 0.0
    start = 0
    for i, (pr, k) in enumerate(zip(prompts, sizes, strict=True)):
        if ok[i]:
            m = softmax_bandit_moments(*pr, strict=True)
            mus_p[i, start:start + k] = m.mu_plus
            mus_m[i, start:start + k] = m.mu_minus
            tr_p += w[i] * np.trace(m.sigma_plus)
            tr_m += w[i] * np.trace(m.sigma_minus)
        start += k
    if mode == "within":
        return 0.0, tr_p, tr_m
    cp, cm = mus_p - w @ mus_p, mus_m - w @ mus_m
    cov = np.einsum("q,qd,qd->", w, cp, cm)
    return cov, tr_p + np.einsum("q,qd->", w, cp**2), tr_m + np.einsum("q,qd->", w, cm**2)


@pytest.mark.parametrize("mode", lab.MODES)
@pytest.mark.parametrize("n_responses", [None, 3])
def test_control_variate_exact_matches_law_of_total_covariance(mode, n_responses):
    s = lab.control_variate_exact(PAIR_PROMPTS, mode, weights=PAIR_WEIGHTS,
                                  n_responses=n_responses)
    cov, vp, vm = _exact_pair_stats(PAIR_PROMPTS, PAIR_WEIGHTS, mode, n_responses)
    np.testing.assert_allclose([s.covariance, s.var_plus, s.var_minus], [cov, vp, vm],
                               rtol=1e-12, atol=1e-15)
    assert s.weights[3] == 0.0 and abs(s.weights.sum() - 1.0) < 1e-12
    if mode == "within":
        assert s.covariance == 0.0 and s.covariance_between == 0.0 and s.rho == 0.0
    else:
        assert s.covariance == s.covariance_between < 0.0


def test_tabular_across_covariance_closed_form_is_negative():
    """tr Cov_q(mu+, mu-) = -sum_q w_q (1 - w_q) p_q / (1 - p_q) ||mu+_q||^2 (derived)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(1, 6))
        prompts = []
        for _ in range(n):
            k = int(rng.integers(2, 6))
            r = np.zeros(k)
            r[rng.permutation(k)[: rng.integers(1, k)]] = 1.0
            prompts.append((rng.normal(0, 1.5, k), r))
        w = rng.dirichlet(np.ones(n))
        s = lab.control_variate_exact(prompts, "across", weights=w)
        closed = 0.0
        for wq, pr in zip(s.weights, prompts, strict=True):
            m = softmax_bandit_moments(*pr)
            closed -= wq * (1 - wq) * m.p / (1 - m.p) * float(m.mu_plus @ m.mu_plus)
        assert s.covariance <= 0.0
        np.testing.assert_allclose(s.covariance, closed, rtol=1e-10, atol=1e-15)
        assert not s.c_star > 0.0 and s.var_c1 >= s.var_plus - 1e-12


def test_control_variate_derived_quantities_match_symbolic_module():
    s = lab.control_variate_exact(PAIR_PROMPTS, "across", weights=PAIR_WEIGHTS)
    vp, vm, c = s.var_plus, s.var_minus, s.covariance
    np.testing.assert_allclose(s.rho, cv.correlation(vp, vm, c), rtol=1e-12)
    np.testing.assert_allclose(s.c_star, cv.optimal_coefficient(vm, c), rtol=1e-12)
    np.testing.assert_allclose(s.var_c1, cv.contrastive_variance(vp, vm, c, 1.0), rtol=1e-12)
    np.testing.assert_allclose(s.var_c_star, cv.minimum_variance(vp, vm, c), rtol=1e-12)
    np.testing.assert_allclose(s.var_c_star, s.one_minus_rho_sq * vp, rtol=1e-12)
    d = s.as_dict()
    json.dumps(d)
    assert d["mode"] == "across" and len(d["weights"]) == 4


def test_control_variate_exact_by_hand():
    """Two mirrored two-armed prompts at p = 1/2: C = -1/4, V+- = 1/4, rho = -1."""
    s = lab.control_variate_exact([([0.0, 0.0], [1, 0]), ([0.0, 0.0], [0, 1])])
    np.testing.assert_allclose([s.covariance, s.var_plus, s.var_minus, s.rho, s.c_star,
                                s.var_c1, s.var_c_star], [-0.25, 0.25, 0.25, -1, -1, 1, 0],
                               atol=1e-15)


def test_prompts_without_both_signs_are_conditioned_away():
    s = lab.control_variate_exact(PAIR_PROMPTS + [([0.0, 1.0], [0, 0])], "across")
    assert s.weights[3] == 0.0 and s.weights[4] == 0.0
    np.testing.assert_allclose(s.weights[:3], [1 / 3] * 3, rtol=1e-12)
    with pytest.raises(ValueError, match="prompts"):
        lab.control_variate_exact([([0.0, 1.0], [0, 0]), ([0.0, 0.0], [1, 1])])
    with pytest.raises(ValueError, match="prompts"):  # weight only on a p = 1 prompt
        lab.control_variate_exact(PAIR_PROMPTS, weights=[0, 0, 0, 1.0])


BAD_CALLS = [
    (lambda: lab.batch_sampler([], 2, 1), "prompts"),
    (lambda: lab.batch_sampler([([0.0, 0.0], [1, 0, 0])], 2, 1), "prompts"),
    (lambda: lab.batch_sampler(PROMPTS, 1, 1), "G"),
    (lambda: lab.batch_sampler(PROMPTS, 2, 0), "Q"),
    (lambda: lab.batch_sampler(PROMPTS, 2, 1, "ppo"), "estimator"),
    (lambda: lab.batch_sampler(PROMPTS, 2, 1, epsilon=-1.0), "epsilon"),
    (lambda: lab.batch_sampler(PROMPTS, 2, 1, weights=[1.0]), "weights"),
    (lambda: lab.batch_sampler(PROMPTS, 2, 1, dtype="float16"), "dtype"),
    (lambda: lab.batch_sampler(PROMPTS, 2, 1, path="fast"), "path"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [3], ["grpo"], 100), "budget"),
    (lambda: lab.budget_curve(0, PROMPTS, 1, [2], ["grpo"], 100), "budget"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [], ["grpo"], 100), "group_sizes"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [1], ["grpo"], 100), "group_sizes"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], [], 100), "estimators"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], ["rloo", "rloo"], 100), "estimators"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], ["grpo"], 10, replicates=8), "n_samples"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], ["grpo"], 100, replicates=1), "replicates"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], ["grpo"], 100, confidence=1.0),
     "confidence"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], ["grpo"], 100, method="mc"), "method"),
    (lambda: lab.budget_curve(0, PROMPTS, 8, [2], ["grpo"], 100, block_size=0), "block_size"),
    (lambda: lab.pair_sampler(PAIR_PROMPTS, "both"), "mode"),
    (lambda: lab.pair_sampler([([0.0, 0.0], [0.5, 0.0])]), "rewards"),
    (lambda: lab.control_variate_mc(0, PAIR_PROMPTS, 100, "both"), "mode"),
    (lambda: lab.control_variate_mc(0, PAIR_PROMPTS, 10, replicates=8), "n_samples"),
    (lambda: lab.control_variate_exact(PAIR_PROMPTS, n_responses=1), "n_responses"),
    (lambda: lab.paper_covariance_measurement(0, PAIR_PROMPTS, 1, 10), "n_prompts"),
    (lambda: lab.paper_covariance_measurement(0, PAIR_PROMPTS, 10, 1), "n_responses"),
    (lambda: lab.paper_covariance_measurement(0, PAIR_PROMPTS, 10, 4, replicates=1),
     "replicates"),
    (lambda: lab.paper_covariance_measurement(0, PAIR_PROMPTS, 10, 4, confidence=0.0),
     "confidence"),
    (lambda: lab.paper_covariance_measurement(0, [([0.0, 0.0], [2.0, 0.0])], 10, 4),
     "rewards"),
]


@pytest.mark.parametrize(("call", "match"), BAD_CALLS)
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# Statistical tier
# ---------------------------------------------------------------------------------------------


@pytest.mark.statistical
def test_batch_sampler_agrees_with_batch_moments():
    """N = 150,000 batches (G = 3, Q = 3) through the engine against ``batch_moments``.

    Each of the D = 12 mean coordinates must lie within z standard errors (exact variances) and
    the covariance trace within z engine standard errors, z = Phi^-1(1 - 1e-6 / (2 * 13)): by
    Bonferroni the false-positive probability is at most 1e-6 (normal approximation to means of
    150,000 i.i.d. bounded draws). Power: the means of Dr. GRPO and the trace at Q + 1 must fail.
    The lab's replicate reduction of the same key reproduces the engine's draws.
    """
    N, G, Q = 150_000, 3, 3
    key = jax.random.key(2024)
    s = lab.batch_sampler(PROMPTS, G, Q, "grpo", weights=WEIGHTS)
    m = mc_moments(jax.random.fold_in(key, 0), s, N, cov="full")
    exact = batch_moments(PROMPTS, G, Q, "grpo", weights=WEIGHTS)
    z = stats.norm.isf(1e-6 / (2 * (D + 1)))

    def mean_ok(mean, cov):
        se = np.sqrt(np.diag(cov) / N)
        return bool(np.all(np.abs(m.mean - mean) <= z * se))

    def trace_ok(trace):
        return abs(m.cov_trace - trace) <= z * m.cov_trace_stderr

    assert m.mean.shape == (D,) and np.all(m.mean[9:] == 0)
    assert mean_ok(exact.mean, exact.cov)
    assert trace_ok(exact.cov_trace)
    wrong = batch_moments(PROMPTS, G, Q, "dr-grpo", weights=WEIGHTS)
    assert not mean_ok(wrong.mean, exact.cov)
    assert not trace_ok(batch_moments(PROMPTS, G, Q + 1, "grpo", weights=WEIGHTS).cov_trace)

    cnt, mean, m2 = lab._replicate_moments(key, s, N, 1, 4096)
    assert cnt[0] == N
    np.testing.assert_allclose(mean[0], m.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m2[0] / (N - 1), m.var, rtol=1e-9, atol=1e-15)


@pytest.fixture(scope="module")
def curve():
    return lab.budget_curve(7, PROMPTS, 12, [2, 6], ["grpo", "rloo"], 96_000,
                            weights=WEIGHTS, replicates=64,
                            confidence=1 - 1e-6 / 24)


@pytest.mark.statistical
def test_budget_curve_agrees_with_exact(curve):
    """N = 96,000 batches per group size (budget 12, G = 2 and 6), R = 64 replicates.

    24 jackknife t intervals (2 group sizes x 2 estimators x 6 statistics), each at level
    1 - 1e-6/24: by Bonferroni the probability that any misses its exact value is at most 1e-6
    (replicate statistics are smooth functions of means of 1,500 i.i.d. batches). Power: the
    Dr./plain GRPO bias (G = 6) excludes 0, the variance interval excludes Q times the exact
    variance (the 1/Q forgotten) and the other estimator's variance, and the SNR per rollout
    excludes SNR / G.
    """
    assert [(r.estimator, r.group_size, r.prompts) for r in curve] == [
        ("grpo", 2, 6), ("grpo", 6, 2), ("rloo", 2, 6), ("rloo", 6, 2)]
    for row in curve:
        assert all(row.covers_exact().values()), (row.estimator, row.group_size,
                                                  row.covers_exact())
        exact = batch_moments(PROMPTS, row.group_size, row.prompts, row.estimator,
                              weights=WEIGHTS)
        assert row.exact_variance == pytest.approx(exact.cov_trace, rel=1e-12)
        assert row.exact_snr_per_rollout == pytest.approx(exact.snr / 12, rel=1e-12)
        assert row.exact_variance == pytest.approx(
            row.exact_variance_between + row.exact_variance_within, rel=1e-12)
        lo, hi = row.variance_ci
        assert not lo <= row.prompts * row.exact_variance <= hi
        lo, hi = row.snr_per_rollout_ci
        assert not lo <= row.exact_snr / row.group_size <= hi
    grpo6, rloo6 = curve[1], curve[3]
    assert rloo6.exact_bias_sq < 1e-20 and grpo6.exact_bias_sq > 1e-3
    assert grpo6.bias_sq_ci[0] > 0.0
    assert not grpo6.variance_ci[0] <= rloo6.exact_variance <= grpo6.variance_ci[1]
    assert not rloo6.variance_ci[0] <= grpo6.exact_variance <= rloo6.variance_ci[1]
    d = curve[0].as_dict()
    json.dumps(d)
    assert d["variance_ci"] == list(curve[0].variance_ci) and "exact_mse" in d


@pytest.mark.statistical
@pytest.mark.parametrize("mode", lab.MODES)
def test_control_variates_agree_with_exact(mode):
    """N = 160,000 pair draws, R = 32 replicates, per mode.

    8 jackknife t intervals (covariance, V+, V-, rho, c*, 1 - rho^2, Var at c = 1 and at c*),
    each at level 1 - 1e-6/8 (Bonferroni: at most 1e-6 false positives in all). Power: the
    across covariance excludes 0 (what independent pairs within one prompt give), and the
    within variances exclude the across ones (a sampler that does not condition on the prompt).
    """
    e = lab.control_variate_mc(31, PAIR_PROMPTS, 160_000, mode, weights=PAIR_WEIGHTS,
                               replicates=32, confidence=1 - 1e-6 / 8)
    assert all(e.covers_exact().values()), e.covers_exact()
    other = lab.control_variate_exact(PAIR_PROMPTS, "across" if mode == "within" else "within",
                                      weights=PAIR_WEIGHTS)
    for name in ("covariance", "var_plus", "var_minus"):
        lo, hi = getattr(e, f"{name}_ci")
        assert not lo <= getattr(other, name) <= hi, name
    if mode == "across":
        assert e.covariance_ci[1] < 0.0 and e.c_star_ci[1] < 0.0
        assert e.var_c1_ci[0] > e.var_plus_ci[1]  # c = 1 increases the variance here
    else:
        assert e.covariance == pytest.approx(0.0, abs=1e-12)
    d = e.as_dict()
    json.dumps(d)
    assert d["mode"] == mode and d["samples"] == 160_000


def test_pair_sampler_shape_and_supports():
    """Across: g+ and g- sum to zero over their block; within: u on correct arms, v on wrong."""
    key = jax.random.key(3)
    samplers = [lab.pair_sampler(PAIR_PROMPTS, mode, weights=PAIR_WEIGHTS) for mode in lab.MODES]
    draws = jax.jit(lambda k: [s(k, 512) for s in samplers])(key)
    dim = 16
    correct = np.concatenate([np.asarray(r) for _, r in PAIR_PROMPTS]) == 1
    for mode, x in zip(lab.MODES, draws, strict=True):
        x = np.asarray(x)
        assert x.shape == (512, 2 * dim)
        assert np.all(x[:, 13:16] == 0) and np.all(x[:, dim + 13:] == 0)  # p = 1 prompt
        np.testing.assert_allclose(x[:, :dim].sum(1), 0, atol=1e-12)
        np.testing.assert_allclose(x[:, dim:].sum(1), 0, atol=1e-12)
        if mode == "within":
            assert np.all(x[:, :dim][:, ~correct] == 0)
            assert np.all(x[:, dim:][:, correct] == 0)


@pytest.mark.statistical
def test_paper_measurement_estimates_the_selected_across_covariance():
    """R = 400 measurements of 100 prompts x 4 responses.

    Three checks, each with a false-positive probability of at most 1e-6/3 (at most 1e-6 in
    all): the t interval of the mean measurement covers the across-prompt covariance under the
    law selected by having both signs among 4 responses; the t interval of the mean re-paired
    statistic covers 0; the mean number of usable prompts (a mean of 400 binomial counts,
    standard deviation at most 0.25) lies within 6 standard deviations of its expectation.
    Power: the covariance interval excludes the across term conditioned on 0 < p < 1 only
    (finite-n selection ignored), and excludes 0.
    """
    prompts = [([-3.0, 0.0, 0.0], [1, 0, 0]), ([0.0, 0.0, 0.0], [1, 1, 0]),
               ([0.0, 0.0], [0, 0])]
    m = lab.paper_covariance_measurement(2025, prompts, 100, 4, replicates=400,
                                         confidence=1 - 1e-6 / 3)
    assert m.values.shape == (m.replicates,) and m.replicates + m.dropped == 400
    lo, hi = m.covariance_ci
    assert lo <= m.exact_covariance <= hi
    assert m.permuted_ci[0] <= 0.0 <= m.permuted_ci[1]
    assert not lo <= m.exact_covariance_interior <= hi
    assert hi < 0.0
    ps = np.array([_p(pr) for pr in prompts])
    expected_used = 100 * np.mean(1 - ps**4 - (1 - ps) ** 4)
    assert abs(m.prompts_used - expected_used) < 6 * math.sqrt(25 / 400)
    d = m.as_dict()
    json.dumps(d)
    assert len(d["values"]) == m.replicates and d["n_responses"] == 4
