"""Tests of the softmax bandits: conditional moments, closed forms vs the oracle, many prompts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from grpo_theory.exact.bandit import (
    BanditMoments,
    BatchMoments,
    bandit_estimator_moments,
    batch_moments,
    beta_difficulty_moments,
    beta_prompts,
    reward_gradient,
    score_matrix,
    softmax,
    softmax_bandit_moments,
    two_arm_prompt,
)
from grpo_theory.exact.binary import BinaryMoments, silent_probability

VARIANTS = [
    ("grpo", 0.0, 0.0),
    ("grpo", 1e-6, 0.0),
    ("grpo-bessel", 0.0, 0.0),
    ("dr-grpo", 0.0, 0.0),
    ("rloo", 0.0, 0.0),
    ("reinforce", 0.0, 0.0),
    ("reinforce", 0.0, 0.3),
]


def _bandit(seed, K, binary=True):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, K)
    if binary:
        rewards = np.zeros(K)
        rewards[rng.permutation(K)[: rng.integers(1, K)]] = 1.0
    else:
        rewards = rng.normal(size=K)
    return logits, rewards


# ---------------------------------------------------------------------------------------------
# Policy, scores, gradient
# ---------------------------------------------------------------------------------------------


def test_softmax_and_scores_by_hand():
    pi = softmax([math.log(1.0), math.log(3.0)])
    np.testing.assert_allclose(pi, [0.25, 0.75], atol=1e-15)
    np.testing.assert_allclose(score_matrix([0.0, math.log(3.0)]),
                               [[0.75, -0.75], [-0.25, 0.25]], atol=1e-15)


def test_softmax_is_stable_for_large_logits():
    np.testing.assert_allclose(softmax([1000.0, 1000.0]), [0.5, 0.5])


def test_reward_gradient_matches_finite_differences():
    logits, rewards = _bandit(4, 5, binary=False)
    h = 1e-6
    fd = np.array([(softmax(logits + h * e) @ rewards - softmax(logits - h * e) @ rewards)
                   / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(reward_gradient(logits, rewards), fd, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Conditional moments
# ---------------------------------------------------------------------------------------------


def test_conditional_moments_by_hand():
    # pi uniform over 3 arms, arms 1 and 2 correct: p = 2/3, pi+ = (1/2, 1/2, 0), pi- = e_3.
    m = softmax_bandit_moments([0.0, 0.0, 0.0], [1, 1, 0])
    assert isinstance(m, BinaryMoments)
    assert m.p == pytest.approx(2 / 3, abs=1e-15)
    np.testing.assert_allclose(m.mu_plus, [1 / 6, 1 / 6, -1 / 3], atol=1e-15)
    np.testing.assert_allclose(m.sigma_plus, [[0.25, -0.25, 0], [-0.25, 0.25, 0], [0, 0, 0]],
                               atol=1e-15)
    np.testing.assert_allclose(m.mu_minus, [-1 / 3, -1 / 3, 2 / 3], atol=1e-15)
    np.testing.assert_allclose(m.sigma_minus, np.zeros((3, 3)), atol=1e-15)


def test_conditional_moments_match_enumeration_over_arms():
    logits, rewards = _bandit(9, 6)
    pi = softmax(logits)
    S = score_matrix(logits)
    m = softmax_bandit_moments(logits, rewards)
    for sign, mu, sigma in ((1.0, m.mu_plus, m.sigma_plus), (0.0, m.mu_minus, m.sigma_minus)):
        w = pi * (rewards == sign)
        w = w / w.sum()
        mean = w @ S
        np.testing.assert_allclose(mu, mean, atol=1e-15)
        np.testing.assert_allclose(sigma, (S - mean).T @ ((S - mean) * w[:, None]), atol=1e-15)


@pytest.mark.property
@given(K=st.integers(2, 6), seed=st.integers(0, 10**6))
def test_conditional_moment_identities(K, seed):
    logits, rewards = _bandit(seed, K)
    m = softmax_bandit_moments(logits, rewards)
    # E_pi[s] = 0 and grad p = p mu+.
    np.testing.assert_allclose(m.p * m.mu_plus + (1 - m.p) * m.mu_minus, 0.0, atol=1e-15)
    np.testing.assert_allclose(m.p * m.mu_plus, reward_gradient(logits, rewards), atol=1e-15)
    for sigma in (m.sigma_plus, m.sigma_minus):
        assert np.all(np.linalg.eigvalsh(sigma) >= -1e-15)


@pytest.mark.parametrize("rewards,p", [([0, 0, 0], 0.0), ([1, 1, 1], 1.0)])
def test_degenerate_success_probability(rewards, p):
    m = softmax_bandit_moments([0.3, -0.2, 1.0], rewards)
    assert m.p == p
    undefined = (m.mu_plus, m.sigma_plus) if p == 0 else (m.mu_minus, m.sigma_minus)
    defined = m.mu_minus if p == 0 else m.mu_plus
    assert all(np.all(x == 0) for x in undefined)
    np.testing.assert_allclose(defined, 0.0, atol=1e-15)  # the conditional law is pi itself
    with pytest.raises(ValueError, match="p = "):
        softmax_bandit_moments([0.3, -0.2, 1.0], rewards, strict=True)


@pytest.mark.parametrize("name,eps,base", VARIANTS)
def test_degenerate_prompts_agree_with_oracle(name, eps, base):
    for rewards in ([0, 0, 0], [1, 1, 1]):
        a = bandit_estimator_moments([0.3, -0.2, 1.0], rewards, 4, name, eps, "exact", base)
        b = bandit_estimator_moments([0.3, -0.2, 1.0], rewards, 4, name, eps, "enumerate", base)
        np.testing.assert_allclose(a.mean, b.mean, atol=1e-12)
        np.testing.assert_allclose(a.cov, b.cov, atol=1e-12)
        assert a.silent_probability == pytest.approx(b.silent_probability, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# One prompt: closed forms against the oracle (acceptance: 1e-12, every estimator, G <= 8)
# ---------------------------------------------------------------------------------------------


@pytest.mark.property
@given(
    logits=st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=2, max_size=6),
    data=st.data(),
    G=st.integers(2, 8),
)
def test_closed_forms_agree_with_oracle(logits, data, G):
    K = len(logits)
    rewards = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=K, max_size=K))
    for name, eps, base in VARIANTS:
        exact = bandit_estimator_moments(logits, rewards, G, name, eps, "exact", base)
        oracle = bandit_estimator_moments(logits, rewards, G, name, eps, "enumerate", base)
        np.testing.assert_allclose(exact.mean, oracle.mean, rtol=0, atol=1e-12)
        np.testing.assert_allclose(exact.cov, oracle.cov, rtol=0, atol=1e-12)
        assert abs(exact.silent_probability - oracle.silent_probability) <= 1e-12
        assert exact.p == pytest.approx(oracle.p, abs=1e-15)


@pytest.mark.parametrize("K", [2, 3, 6])
def test_expected_gradients_known_weights(K):
    logits, rewards = _bandit(100 + K, K)
    grad = reward_gradient(logits, rewards)
    for method in ("exact", "enumerate"):
        def mean(G, name, method=method):
            return bandit_estimator_moments(logits, rewards, G, name, method=method).mean

        np.testing.assert_allclose(mean(2, "grpo"), grad, atol=1e-15)
        np.testing.assert_allclose(mean(2, "grpo-bessel"), grad / math.sqrt(2), atol=1e-15)
        np.testing.assert_allclose(mean(3, "grpo"), math.sqrt(2) * grad, atol=1e-15)
        np.testing.assert_allclose(mean(5, "dr-grpo"), 0.8 * grad, atol=1e-15)
        np.testing.assert_allclose(mean(5, "rloo"), grad, atol=1e-15)
        np.testing.assert_allclose(mean(5, "reinforce"), grad, atol=1e-15)


def test_result_fields():
    m = bandit_estimator_moments([0.0, 1.0, -1.0], [1, 0, 1], 4, "grpo-bessel", 1e-6)
    assert isinstance(m, BanditMoments)
    assert m.method == "exact"
    assert m.cov_trace == pytest.approx(np.trace(m.cov), abs=1e-15)
    assert m.snr == pytest.approx(float(m.mean @ m.mean) / np.trace(m.cov))
    assert m.silent_probability == pytest.approx(float(silent_probability(4, m.p)), abs=1e-15)


def test_silent_probability_of_reinforce():
    logits, rewards = [0.2, -0.4, 0.9], [1, 0, 0]
    p = float(softmax(logits) @ np.array(rewards, dtype=float))
    m = bandit_estimator_moments(logits, rewards, 3, "reinforce")
    assert m.silent_probability == pytest.approx((1 - p) ** 3, abs=1e-15)
    m = bandit_estimator_moments(logits, rewards, 3, "reinforce", baseline=1.0)
    assert m.silent_probability == pytest.approx(p**3, abs=1e-15)
    m = bandit_estimator_moments(logits, rewards, 3, "reinforce", baseline=0.5)
    assert m.silent_probability == 0.0


def test_enumerate_with_real_rewards_and_callable():
    logits, rewards = _bandit(7, 4, binary=False)
    m = bandit_estimator_moments(logits, rewards, 3, "rloo", method="enumerate")
    np.testing.assert_allclose(m.mean, reward_gradient(logits, rewards), atol=1e-14)
    assert m.p == pytest.approx(float(softmax(logits) @ rewards))
    custom = bandit_estimator_moments(logits, rewards, 3, lambda r: r - r.mean(),
                                      method="enumerate")
    np.testing.assert_allclose(custom.mean, (2 / 3) * m.gradient, atol=1e-14)


def test_two_arm_prompt():
    logits, rewards = two_arm_prompt(0.3)
    assert float(softmax(logits) @ rewards) == pytest.approx(0.3, abs=1e-15)
    assert rewards.tolist() == [1.0, 0.0]


# ---------------------------------------------------------------------------------------------
# Many prompts
# ---------------------------------------------------------------------------------------------


def _prompts():
    return [_bandit(1, 2), _bandit(2, 3), _bandit(3, 4)]


def _brute_force_batch(prompts, G, Q, estimator, weights):
    per = [bandit_estimator_moments(z, r, G, estimator, method="enumerate") for z, r in prompts]
    D = sum(m.mean.size for m in per)
    starts = np.cumsum([0] + [m.mean.size for m in per[:-1]])
    means, covs = [], []
    for m, s in zip(per, starts, strict=True):
        mu, c = np.zeros(D), np.zeros((D, D))
        mu[s:s + m.mean.size] = m.mean
        c[s:s + m.mean.size, s:s + m.mean.size] = m.cov
        means.append(mu)
        covs.append(c)
    first, second = np.zeros(D), np.zeros((D, D))
    for tup in itertools.product(range(len(prompts)), repeat=Q):
        w = float(np.prod([weights[j] for j in tup]))
        mean = sum(means[j] for j in tup) / Q
        first += w * mean
        second += w * (sum(covs[j] for j in tup) / Q**2 + np.outer(mean, mean))
    return first, second - np.outer(first, first)


@pytest.mark.parametrize("estimator", ["grpo", "dr-grpo", "rloo"])
@pytest.mark.parametrize("Q", [1, 2, 3])
def test_batch_matches_brute_force_over_prompt_tuples(estimator, Q):
    prompts = _prompts()
    weights = np.array([0.5, 0.2, 0.3])
    b = batch_moments(prompts, 3, Q, estimator, weights=weights)
    mean, cov = _brute_force_batch(prompts, 3, Q, estimator, weights)
    np.testing.assert_allclose(b.mean, mean, atol=1e-14)
    np.testing.assert_allclose(b.cov, cov, atol=1e-14)
    assert isinstance(b, BatchMoments)
    assert b.offsets == (0, 2, 5) and len(b.prompts) == 3


def test_batch_parts_scale_as_one_over_Q_and_within_is_block_diagonal():
    prompts = _prompts()
    one = batch_moments(prompts, 4, 1, "grpo")
    eight = batch_moments(prompts, 4, 8, "grpo")
    np.testing.assert_allclose(8 * eight.within, one.within, atol=1e-15)
    np.testing.assert_allclose(8 * eight.between, one.between, atol=1e-15)
    np.testing.assert_allclose(eight.mean, one.mean, atol=1e-15)
    assert np.all(one.within[:2, 2:] == 0) and np.all(one.within[2:5, 5:] == 0)
    assert np.all(np.linalg.eigvalsh(one.between) >= -1e-15)


def test_single_prompt_batch_has_no_between_part():
    z, r = _bandit(5, 3)
    b = batch_moments([(z, r)], 4, 2, "rloo")
    single = bandit_estimator_moments(z, r, 4, "rloo")
    np.testing.assert_allclose(b.between, 0.0, atol=1e-15)
    np.testing.assert_allclose(b.within, single.cov / 2, atol=1e-15)
    np.testing.assert_allclose(b.target, single.gradient, atol=1e-15)


def test_batch_summaries():
    b = batch_moments(_prompts(), 4, 2, "dr-grpo")
    np.testing.assert_allclose(b.mean, 0.75 * b.target, atol=1e-15)
    assert b.bias_sq == pytest.approx(float(np.sum((0.25 * b.target) ** 2)), abs=1e-15)
    assert b.mse == pytest.approx(b.bias_sq + np.trace(b.within + b.between), abs=1e-15)
    assert b.snr == pytest.approx(float(b.mean @ b.mean) / b.cov_trace)
    rloo = batch_moments(_prompts(), 4, 2, "rloo")
    assert rloo.bias_sq == pytest.approx(0.0, abs=1e-30)


def test_dr_grpo_between_part_grows_with_group_size():
    prompts = _prompts()
    grads = [reward_gradient(z, r) for z, r in prompts]
    full = np.zeros((3, 9))
    full[0, :2], full[1, 2:5], full[2, 5:] = grads
    centred = full - full.mean(axis=0)
    cov_grad = centred.T @ centred / 3
    traces = []
    for G in (2, 4, 16):
        b = batch_moments(prompts, G, 3, "dr-grpo")
        np.testing.assert_allclose(b.between, ((G - 1) / G) ** 2 * cov_grad / 3, atol=1e-15)
        traces.append(np.trace(b.between))
    assert traces[0] < traces[1] < traces[2]


def test_beta_prompts_are_gauss_jacobi():
    prompts, w = beta_prompts(2.0, 3.0, 4)
    p = np.array([float(softmax(z) @ r) for z, r in prompts])
    assert w.sum() == pytest.approx(1.0, abs=1e-15)
    for j in range(8):  # exact up to degree 2n - 1 = 7
        assert w @ p**j == pytest.approx(stats.beta(2.0, 3.0).moment(j), rel=1e-12)
    [(z1, _)], w1 = beta_prompts(2.0, 3.0, 1)
    assert float(softmax(z1)[0]) == pytest.approx(0.4, abs=1e-15) and w1.tolist() == [1.0]


@pytest.mark.parametrize("estimator", ["grpo", "grpo-bessel", "dr-grpo", "rloo"])
def test_beta_scalar_model_is_the_projection_of_the_discretised_list(estimator):
    G, Q, a, b = 4, 3, 1.5, 2.5
    scalar = beta_difficulty_moments(a, b, G, Q, estimator)
    prompts, w = beta_prompts(a, b, G + 2)
    tab = batch_moments(prompts, G, Q, estimator, weights=w)
    P = np.zeros(tab.mean.size)
    P[list(tab.offsets)] = 1.0  # d/dtheta: the correct arm's logit in every block
    assert scalar.mean[0] == pytest.approx(P @ tab.mean, abs=1e-14)
    assert scalar.within[0, 0] == pytest.approx(P @ tab.within @ P, abs=1e-14)
    assert scalar.between[0, 0] == pytest.approx(P @ tab.between @ P, abs=1e-14)
    assert scalar.target[0] == pytest.approx(P @ tab.target, abs=1e-14)


@pytest.mark.parametrize("estimator", ["grpo", "dr-grpo", "rloo", "reinforce"])
def test_beta_quadrature_with_more_nodes_changes_nothing(estimator):
    base = beta_difficulty_moments(0.7, 1.3, 6, 2, estimator)
    more = beta_difficulty_moments(0.7, 1.3, 6, 2, estimator, nodes=30)
    for x, y in ((base.mean, more.mean), (base.within, more.within),
                 (base.between, more.between), (base.target, more.target)):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-15)


def test_beta_target_and_unbiased_rloo():
    a, b = 2.0, 5.0
    m = beta_difficulty_moments(a, b, 5, 4, "rloo")
    expected_target = a * b / ((a + b) * (a + b + 1))  # E[p(1-p)] for Beta(a, b)
    assert m.target[0] == pytest.approx(expected_target, rel=1e-13)
    assert m.mean[0] == pytest.approx(expected_target, rel=1e-13)
    assert m.offsets == () and m.prompts == ()


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_logits_and_rewards():
    with pytest.raises(ValueError, match="rewards"):
        softmax_bandit_moments([0.0, 1.0, 2.0], [1, 0])
    with pytest.raises(ValueError, match="logits"):
        softmax_bandit_moments([0.0, np.nan], [1, 0])
    with pytest.raises(ValueError, match="logits"):
        softmax_bandit_moments([0.0, np.inf], [1, 0])
    with pytest.raises(ValueError, match="rewards"):
        softmax_bandit_moments([0.0, 1.0], [1, np.nan])
    with pytest.raises(ValueError, match="logits"):
        softmax_bandit_moments([0.0], [1])
    with pytest.raises(ValueError, match="logits"):
        softmax([[0.0, 1.0]])
    with pytest.raises(TypeError, match="logits"):
        reward_gradient(["a", "b"], [1, 0])


def test_non_binary_rewards_point_to_the_oracle():
    with pytest.raises(ValueError, match="enumerate"):
        softmax_bandit_moments([0.0, 1.0], [0.5, 0.0])
    with pytest.raises(ValueError, match="binary"):
        bandit_estimator_moments([0.0, 1.0], [2.0, 0.0], 2, "grpo")


def test_bad_estimator_method_and_group_size():
    with pytest.raises(ValueError, match="method"):
        bandit_estimator_moments([0.0, 1.0], [1, 0], 2, "grpo", method="sample")
    with pytest.raises(ValueError, match="estimator"):
        bandit_estimator_moments([0.0, 1.0], [1, 0], 2, "ppo")
    with pytest.raises(ValueError, match="estimator"):
        bandit_estimator_moments([0.0, 1.0], [1, 0], 2, lambda r: r, method="exact")
    with pytest.raises(ValueError, match="G"):
        bandit_estimator_moments([0.0, 1.0], [1, 0], 1, "grpo")
    with pytest.raises(ValueError, match="epsilon"):
        bandit_estimator_moments([0.0, 1.0], [1, 0], 2, "grpo", -1.0)
    with pytest.raises(ValueError, match="K=6"):
        bandit_estimator_moments(np.zeros(6), [1, 0, 0, 0, 0, 0], 60, "grpo", method="enumerate")


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, np.nan])
def test_bad_two_arm_probability(p):
    with pytest.raises(ValueError, match="p"):
        two_arm_prompt(p)


def test_bad_batches():
    prompts = _prompts()
    with pytest.raises(ValueError, match="prompts"):
        batch_moments([], 2, 1)
    with pytest.raises(ValueError, match="prompts"):
        batch_moments([([0.0, 1.0], [1, 0], 3)], 2, 1)
    with pytest.raises(ValueError, match="Q"):
        batch_moments(prompts, 2, 0)
    with pytest.raises(ValueError, match="G"):
        batch_moments(prompts, 1, 2)
    with pytest.raises(ValueError, match="weights"):
        batch_moments(prompts, 2, 1, weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="weights"):
        batch_moments(prompts, 2, 1, weights=[0.5, 0.6, -0.1])
    with pytest.raises(ValueError, match="weights"):
        batch_moments(prompts, 2, 1, weights=[0.5, 0.4, 0.2])


def test_bad_beta_arguments():
    with pytest.raises(ValueError, match="a"):
        beta_difficulty_moments(0.0, 1.0, 2, 1)
    with pytest.raises(ValueError, match="b"):
        beta_prompts(1.0, -1.0, 3)
    with pytest.raises(ValueError, match="n"):
        beta_prompts(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="Q"):
        beta_difficulty_moments(1.0, 1.0, 2, 0)
    with pytest.raises(ValueError, match="estimator"):
        beta_difficulty_moments(1.0, 1.0, 2, 1, "ppo")
