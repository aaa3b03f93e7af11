"""Tests of the enumeration oracle: counts, weights, hand values, brute force, bad input."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.exact.binary import silent_probability
from grpo_theory.exact.enumeration import (
    MAX_MULTISETS,
    OracleMoments,
    advantage_rule,
    multinomial_log_weights,
    multiset_count,
    multisets,
    oracle_moments,
)
from grpo_theory.exact.estimators import Estimator, advantages

VARIANTS = [
    ("grpo", 0.0, 0.0),
    ("grpo", 1e-6, 0.0),
    ("grpo-bessel", 0.0, 0.0),
    ("dr-grpo", 0.0, 0.0),
    ("rloo", 0.0, 0.0),
    ("reinforce", 0.0, 0.0),
    ("reinforce", 0.0, 0.3),
]


def brute_force(probs, scores, rewards, G, rule):
    """Mean, covariance and silent probability over all K^G ordered groups."""
    probs, scores, rewards = (np.asarray(x, dtype=float) for x in (probs, scores, rewards))
    K, D = scores.shape
    mean = np.zeros(D)
    second = np.zeros((D, D))
    silent = 0.0
    for group in itertools.product(range(K), repeat=G):
        idx = list(group)
        w = float(np.prod(probs[idx]))
        A = np.asarray(rule(rewards[idx]), dtype=float)
        g = (A[:, None] * scores[idx]).sum(axis=0) / G
        mean += w * g
        second += w * np.outer(g, g)
        silent += w * bool(np.all(np.abs(A) <= 1e-12))
    return mean, second - np.outer(mean, mean), silent


def _random_case(seed, K=3, D=2, binary=False):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K))
    scores = rng.normal(size=(K, D))
    rewards = rng.integers(0, 2, K).astype(float) if binary else rng.normal(size=K)
    return probs, scores, rewards


# ---------------------------------------------------------------------------------------------
# Multisets and weights
# ---------------------------------------------------------------------------------------------


def test_multiset_count_values():
    assert multiset_count(3, 3) == 10
    assert multiset_count(2, 7) == 8
    assert multiset_count(6, 8) == 1287 == math.comb(13, 5)


def test_multisets_small_listing():
    assert multisets(2, 3).tolist() == [[3, 0], [2, 1], [1, 2], [0, 3]]
    assert multisets(3, 2).tolist() == [[2, 0, 0], [1, 1, 0], [1, 0, 1], [0, 2, 0], [0, 1, 1],
                                        [0, 0, 2]]


@pytest.mark.parametrize("K,G", [(2, 2), (3, 3), (4, 5), (6, 8)])
def test_multisets_are_all_distinct_count_vectors(K, G):
    counts = multisets(K, G)
    assert counts.shape == (math.comb(G + K - 1, K - 1), K)
    assert np.all(counts >= 0) and np.all(counts.sum(axis=1) == G)
    assert len({tuple(r) for r in counts.tolist()}) == counts.shape[0]


def test_multisets_match_sorted_ordered_groups():
    K, G = 3, 4
    ordered = {tuple(np.bincount(t, minlength=K)) for t in itertools.product(range(K), repeat=G)}
    assert ordered == {tuple(r) for r in multisets(K, G).tolist()}


def test_multisets_returns_a_copy():
    counts = multisets(3, 3)
    counts[0, 0] = 99
    assert multisets(3, 3)[0, 0] == 3


def test_multinomial_weights_by_hand():
    w = np.exp(multinomial_log_weights([0.2, 0.3, 0.5], [[2, 0, 0], [1, 1, 0], [0, 1, 1]]))
    assert w == pytest.approx([0.04, 2 * 0.2 * 0.3, 2 * 0.3 * 0.5], abs=1e-15)


def test_multinomial_weights_with_zero_probability():
    w = np.exp(multinomial_log_weights([1.0, 0.0], [[2, 0], [1, 1], [0, 2]]))
    assert w.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("K,G", [(2, 8), (4, 6), (6, 8)])
def test_multinomial_weights_sum_to_one(K, G):
    probs = np.random.default_rng(K * G).dirichlet(np.ones(K))
    assert np.exp(multinomial_log_weights(probs, multisets(K, G))).sum() == pytest.approx(
        1.0, abs=1e-13)


# ---------------------------------------------------------------------------------------------
# Hand-computed moments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
def test_two_grpo_on_two_arms_by_hand(p):
    # A mixed pair gives ghat = (s_1 - s_2)/2 = (e_1 - e_2)/2 (prob. 2p(1-p)); otherwise 0.
    pi = np.array([p, 1 - p])
    m = oracle_moments(pi, np.eye(2) - pi, [1.0, 0.0], 2, "grpo")
    u = np.array([1.0, -1.0])
    q = p * (1 - p)
    np.testing.assert_allclose(m.mean, q * u, atol=1e-15)
    np.testing.assert_allclose(m.cov, (q / 2 - q * q) * np.outer(u, u), atol=1e-15)
    assert m.silent_probability == pytest.approx(p * p + (1 - p) ** 2, abs=1e-15)
    assert m.n_multisets == 3 and m.weight_sum == pytest.approx(1.0, abs=1e-15)
    assert m.cov_trace == pytest.approx(np.trace(m.cov))


def test_reinforce_pair_by_hand():
    # ghat = (r_1 s_1 + r_2 s_2)/2: mean E[r s], covariance Var(r s)/2.
    p = 0.3
    pi = np.array([p, 1 - p])
    scores = np.eye(2) - pi
    m = oracle_moments(pi, scores, [1.0, 0.0], 2, "reinforce")
    grad = p * scores[0]
    np.testing.assert_allclose(m.mean, grad, atol=1e-15)
    np.testing.assert_allclose(m.cov, (p * np.outer(scores[0], scores[0])
                                       - np.outer(grad, grad)) / 2, atol=1e-15)
    assert m.silent_probability == pytest.approx((1 - p) ** 2, abs=1e-15)


def test_constant_rewards_are_silent_for_centred_rules():
    probs, scores, _ = _random_case(0)
    for name in ("grpo", "grpo-bessel", "dr-grpo", "rloo"):
        m = oracle_moments(probs, scores, [0.7, 0.7, 0.7], 4, name)
        assert m.silent_probability == pytest.approx(1.0, abs=1e-15)
        assert np.all(m.mean == 0) and np.all(m.cov == 0)


@pytest.mark.parametrize("G", [2, 3, 5, 8])
def test_silent_probability_of_binary_rewards(G):
    probs, scores, _ = _random_case(G, K=4)
    rewards = np.array([1.0, 0.0, 1.0, 0.0])
    p = float(probs @ rewards)
    for name in ("grpo", "grpo-bessel", "dr-grpo", "rloo"):
        m = oracle_moments(probs, scores, rewards, G, name)
        assert m.silent_probability == pytest.approx(float(silent_probability(G, p)), abs=1e-14)


def test_oracle_returns_dataclass_with_shapes():
    probs, scores, rewards = _random_case(1, K=4, D=3)
    m = oracle_moments(probs, scores, rewards, 3, Estimator.RLOO)
    assert isinstance(m, OracleMoments)
    assert m.mean.shape == (3,) and m.cov.shape == (3, 3)
    np.testing.assert_array_equal(m.cov, m.cov.T)
    assert np.all(np.linalg.eigvalsh(m.cov) >= -1e-14)


# ---------------------------------------------------------------------------------------------
# Against brute force over ordered groups
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("name,eps,base", VARIANTS)
def test_oracle_matches_brute_force_K3_G3(name, eps, base, binary):
    probs, scores, rewards = _random_case(11, K=3, D=2, binary=binary)
    m = oracle_moments(probs, scores, rewards, 3, name, eps, base)
    mean, cov, silent = brute_force(probs, scores, rewards, 3,
                                    lambda r: advantages(name, r, eps, base))
    np.testing.assert_allclose(m.mean, mean, atol=1e-14)
    np.testing.assert_allclose(m.cov, cov, atol=1e-14)
    assert m.silent_probability == pytest.approx(silent, abs=1e-14)


def test_oracle_with_custom_equivariant_rule():
    def median_baseline(r):
        return (r - np.median(r)) ** 3

    probs, scores, rewards = _random_case(5, K=3, D=3)
    for G in (2, 3, 4):
        m = oracle_moments(probs, scores, rewards, G, median_baseline)
        mean, cov, silent = brute_force(probs, scores, rewards, G, median_baseline)
        np.testing.assert_allclose(m.mean, mean, atol=1e-14)
        np.testing.assert_allclose(m.cov, cov, atol=1e-14)
        assert m.silent_probability == pytest.approx(silent, abs=1e-14)


def test_oracle_with_tied_rewards_matches_brute_force():
    probs, scores, _ = _random_case(8, K=4, D=2)
    rewards = np.array([0.5, -1.0, 0.5, 2.0])
    for name, eps, base in VARIANTS:
        m = oracle_moments(probs, scores, rewards, 3, name, eps, base)
        mean, cov, _ = brute_force(probs, scores, rewards, 3,
                                   lambda r, n=name, e=eps, b=base: advantages(n, r, e, b))
        np.testing.assert_allclose(m.mean, mean, atol=1e-14)
        np.testing.assert_allclose(m.cov, cov, atol=1e-14)


@pytest.mark.property
@given(K=st.integers(2, 3), G=st.integers(2, 4), seed=st.integers(0, 10**6),
       variant=st.sampled_from(VARIANTS), binary=st.booleans())
def test_oracle_matches_brute_force_property(K, G, seed, variant, binary):
    name, eps, base = variant
    probs, scores, rewards = _random_case(seed, K=K, D=2, binary=binary)
    m = oracle_moments(probs, scores, rewards, G, name, eps, base)
    mean, cov, silent = brute_force(probs, scores, rewards, G,
                                    lambda r: advantages(name, r, eps, base))
    np.testing.assert_allclose(m.mean, mean, atol=1e-12)
    np.testing.assert_allclose(m.cov, cov, atol=1e-12)
    assert abs(m.silent_probability - silent) <= 1e-12
    assert abs(m.weight_sum - 1.0) <= 1e-12


def test_largest_target_size_is_fast():
    probs, scores, rewards = _random_case(3, K=6, D=6)
    start = time.perf_counter()
    m = oracle_moments(probs, scores, rewards, 8, "grpo-bessel", 1e-6)
    elapsed = time.perf_counter() - start
    assert m.n_multisets == 1287
    assert elapsed < 1.0, f"K=6, G=8 took {elapsed:.2f} s"


def test_advantage_rule_of_names_and_callables():
    assert advantage_rule("rloo")(np.array([1.0, 0.0, 0.0])).tolist() == [1.0, -0.5, -0.5]

    def rule(r):
        return r - r.mean()

    assert advantage_rule(rule) is rule


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def _ok():
    probs = np.array([0.2, 0.3, 0.5])
    return probs, np.eye(3) - probs, np.array([1.0, 0.0, 1.0])


@pytest.mark.parametrize("probs", [[0.2, 0.3, 0.6], [-0.1, 0.6, 0.5], [np.nan, 0.5, 0.5],
                                   [np.inf, 0.0, 0.0]])
def test_bad_probs(probs):
    _, scores, rewards = _ok()
    with pytest.raises(ValueError, match="probs"):
        oracle_moments(probs, scores, rewards, 2)


def test_probs_need_two_outcomes():
    with pytest.raises(ValueError, match="probs"):
        oracle_moments([1.0], [[0.0]], [1.0], 2)
    with pytest.raises(ValueError, match="probs"):
        multinomial_log_weights([[0.5, 0.5]], [[1, 1]])


def test_bad_scores_and_rewards():
    probs, scores, rewards = _ok()
    with pytest.raises(ValueError, match="scores"):
        oracle_moments(probs, scores[:2], rewards, 2)
    with pytest.raises(ValueError, match="scores"):
        oracle_moments(probs, scores[0], rewards, 2)
    with pytest.raises(ValueError, match="scores"):
        oracle_moments(probs, np.full((3, 2), np.nan), rewards, 2)
    with pytest.raises(ValueError, match="rewards"):
        oracle_moments(probs, scores, rewards[:2], 2)
    with pytest.raises(ValueError, match="rewards"):
        oracle_moments(probs, scores, [1.0, np.nan, 0.0], 2)
    with pytest.raises(TypeError, match="rewards"):
        oracle_moments(probs, scores, ["a", "b", "c"], 2)


def test_bad_group_size():
    probs, scores, rewards = _ok()
    with pytest.raises(ValueError, match="G"):
        oracle_moments(probs, scores, rewards, 1)
    with pytest.raises(TypeError, match="G"):
        oracle_moments(probs, scores, rewards, 2.5)
    with pytest.raises(ValueError, match="G"):
        multisets(3, 1)
    with pytest.raises(ValueError, match="K"):
        multiset_count(1, 3)
    with pytest.raises(TypeError, match="K"):
        multisets(2.0, 3)


def test_too_many_multisets_is_refused():
    K, G = 6, 60
    assert math.comb(G + K - 1, K - 1) > MAX_MULTISETS
    probs = np.full(K, 1.0 / K)
    with pytest.raises(ValueError, match=r"K=6 .*G=60|G=60.*K=6"):
        oracle_moments(probs, np.eye(K) - probs, np.arange(K, dtype=float), G)
    with pytest.raises(ValueError, match="MAX_MULTISETS"):
        multisets(K, G)


def test_too_many_entries_is_refused():
    with pytest.raises(ValueError, match=r"G=100000.*K=2"):
        oracle_moments([0.5, 0.5], np.eye(2) - 0.5, [1.0, 0.0], 100_000)


def test_bad_estimator_and_parameters():
    probs, scores, rewards = _ok()
    with pytest.raises(ValueError, match="estimator"):
        oracle_moments(probs, scores, rewards, 2, "ppo")
    with pytest.raises(ValueError, match="epsilon"):
        oracle_moments(probs, scores, rewards, 2, "grpo", -1e-3)
    with pytest.raises(ValueError, match="baseline"):
        oracle_moments(probs, scores, rewards, 2, "reinforce", 0.0, np.inf)
    with pytest.raises(ValueError, match="silent_atol"):
        oracle_moments(probs, scores, rewards, 2, silent_atol=-1.0)


def test_bad_rules_are_refused():
    probs, scores, rewards = _ok()
    with pytest.raises(ValueError, match="permutation-equivariant"):
        oracle_moments(probs, scores, rewards, 3, lambda r: np.r_[r[0], np.zeros(r.size - 1)])
    with pytest.raises(ValueError, match="estimator"):
        oracle_moments(probs, scores, rewards, 3, lambda r: r[:-1])
    with pytest.raises(ValueError, match="non-finite"):
        oracle_moments(probs, scores, rewards, 3, lambda r: np.full(r.size, np.inf))


def test_bad_counts():
    with pytest.raises(ValueError, match="counts"):
        multinomial_log_weights([0.5, 0.5], [[1, 1, 0]])
    with pytest.raises(ValueError, match="counts"):
        multinomial_log_weights([0.5, 0.5], [[3, -1]])
    with pytest.raises(TypeError, match="counts"):
        multinomial_log_weights([0.5, 0.5], [[1.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# The oracle's claims can fail
# ---------------------------------------------------------------------------------------------


def test_oracle_claims_refute_a_wrong_gradient(monkeypatch):
    from grpo_theory.claims import Outcome, exact_oracle

    real = exact_oracle.reward_gradient
    monkeypatch.setattr(exact_oracle, "reward_gradient", lambda z, r: 1.000001 * real(z, r))
    for check in (exact_oracle._unbiased_2grpo, exact_oracle._rloo_continuous,
                  exact_oracle._dr_grpo_continuous):
        ev = check()
        assert ev.outcome is Outcome.REFUTED and ev.details["counterexample"]


def test_oracle_claims_refute_a_perturbed_closed_form(monkeypatch):
    import dataclasses

    from grpo_theory.claims import Outcome, exact_oracle

    real = exact_oracle.bandit_estimator_moments

    def perturbed(logits, rewards, G, estimator, epsilon=0.0, method="exact", baseline=0.0):
        m = real(logits, rewards, G, estimator, epsilon, method, baseline)
        if method == "exact" and estimator == "rloo" and G == 7:
            return dataclasses.replace(m, cov=m.cov * (1 + 1e-9))
        return m

    monkeypatch.setattr(exact_oracle, "bandit_estimator_moments", perturbed)
    ev = exact_oracle._closed_form_agreement()
    assert ev.outcome is Outcome.REFUTED
    assert ev.details["worst_case"]["estimator"] == "rloo" and ev.details["worst_case"]["G"] == 7


def test_oracle_claims_refute_a_wrong_batch_split(monkeypatch):
    import dataclasses

    from grpo_theory.claims import Outcome, exact_oracle

    real = exact_oracle.batch_moments

    def shifted(*args, **kwargs):
        b = real(*args, **kwargs)
        return dataclasses.replace(b, between=b.between * b.Q ** -0.01)

    monkeypatch.setattr(exact_oracle, "batch_moments", shifted)
    assert exact_oracle._batch_decomposition().outcome is Outcome.REFUTED


def test_oracle_claims_refute_a_missing_multiset(monkeypatch):
    from grpo_theory.claims import Outcome, exact_oracle

    monkeypatch.setattr(exact_oracle, "multisets", lambda K, G: multisets(K, G)[:-1])
    assert exact_oracle._multiset_count().outcome is Outcome.REFUTED
