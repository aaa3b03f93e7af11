"""Tests of grpo_theory.transformer.analysis: scores, DPO against 2-GRPO, clipping, control
variates, the Table-2 measurement, fixed-budget variance and the discard rate.

Exact tests compare closed forms with autodiff in float64 (the suite runs with JAX's x64 mode).
Statistical tests use synthetic score populations whose conditional moments are known (Gaussian
scores given the prompt and the reward), so that the measurement, the plug-in prediction, their
standard errors and the agreement test can be checked against the truth and shown to reject
wrong predictions.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from grpo_theory.exact.binary import count_sums, covariance_trace, expected_gradient_weight
from grpo_theory.exact.estimators import count_advantages
from grpo_theory.policy_gradient.advantages import grpo_advantages
from grpo_theory.policy_gradient.dpo import dpo_loss
from grpo_theory.policy_gradient.losses import AGGREGATIONS, policy_loss
from grpo_theory.transformer.analysis import (
    PAPER_TABLE2,
    BatchTraceMeasurement,
    BatchTracePrediction,
    ScoreMoments,
    batch_trace_from_scores,
    clipping_relation,
    compare_trace,
    control_variate_stats,
    discard_check,
    dpo_relation,
    measure_batch_trace,
    pair_within_prompts,
    paper_table2_measurement,
    parameter_vector,
    predict_batch_trace,
    response_means,
    sample_group_counts,
    sample_score_moments,
    score_moments,
    score_vectors,
    table2_statistics,
    token_score_vectors,
    two_grpo_closed_form,
    with_parameters,
)
from grpo_theory.transformer.model import (
    ModelConfig,
    init_model,
    sequence_log_prob,
    token_log_probs,
)
from grpo_theory.transformer.tasks import (
    VOCAB_SIZE,
    completion_mask,
    decode,
    encode,
    make_task,
    reward,
)

CFG = ModelConfig(vocab_size=VOCAB_SIZE, max_len=10, d_model=16, n_heads=2, n_layers=2)
"""A small model for the add task with modulus 20 (prompts of 7 tokens, completions of 3)."""


@pytest.fixture(scope="module")
def task():
    return make_task("add", 0, modulus=20, n_prompts=40)


@pytest.fixture(scope="module")
def model64():
    return init_model(jax.random.key(0), dataclasses.replace(CFG, dtype="float64"))


@pytest.fixture(scope="module")
def model32():
    return init_model(jax.random.key(0), CFG)


@pytest.fixture(scope="module")
def moved64(model64):
    theta = parameter_vector(model64)
    noise = jax.random.normal(jax.random.key(1), theta.shape, dtype=theta.dtype)
    return with_parameters(model64, theta + 0.3 * noise)


def _pair(task, q, y_w, y_l):
    cw, cl = jnp.asarray(encode(y_w)), jnp.asarray(encode(y_l))
    return {"prompt": jnp.asarray(task.prompts[q]), "y_w": cw, "y_l": cl,
            "mask_w": completion_mask(cw), "mask_l": completion_mask(cl), "q": q}


@pytest.fixture(scope="module")
def pairs(task):
    """Disagreeing pairs (answer first): equal lengths, longer, shorter, immediate EOS."""
    lengths = np.asarray(task.answer_lengths)
    one, two = int(np.flatnonzero(lengths == 1)[0]), int(np.flatnonzero(lengths == 2)[0])
    a1, a2 = decode(task.answers[one]), decode(task.answers[two])
    out = [_pair(task, one, a1, f"{(int(a1[0]) + 1) % 10}$_"),
           _pair(task, one, a1, "123"),
           _pair(task, two, a2, a2[0] + "$_"),
           _pair(task, two, a2, "$__")]
    for p in out:
        answer = jnp.asarray(task.answers[p["q"]])
        assert float(reward("binary", p["y_w"], answer)) == 1.0
        assert float(reward("binary", p["y_l"], answer)) == 0.0
    return out


def _relation(model, p, beta=0.5, ref=None):
    return dpo_relation(model, p["prompt"], p["y_w"], p["y_l"], p["mask_w"], p["mask_l"],
                        beta=beta, ref_model=ref)


# ----------------------------------------------------------------------------------------------
# Parameters and scores
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
def test_parameter_vector_round_trip(model64):
    theta = parameter_vector(model64)
    assert theta.dtype == jnp.float64 and theta.ndim == 1
    back = with_parameters(model64, theta)
    assert bool(jnp.all(parameter_vector(back) == theta))
    with pytest.raises(ValueError, match="theta"):
        with_parameters(model64, theta[:-1])
    with pytest.raises(TypeError, match="model"):
        parameter_vector("not a model")


@pytest.mark.exact
def test_score_vectors_match_autodiff_of_sequence_log_prob(model64, task):
    prompts = jnp.asarray(task.prompts[:3])
    comps = jnp.asarray([encode("14$"), encode("7$_"), encode("999")])
    masks = jax.vmap(completion_mask)(comps)
    s = score_vectors(model64, prompts, comps, masks)
    P = task.prompt_len
    theta = parameter_vector(model64)
    grad = jax.jit(jax.grad(lambda th, seq, m: sequence_log_prob(with_parameters(model64, th),
                                                                 seq, P, m)))
    for i in range(3):
        g = grad(theta, jnp.concatenate([prompts[i], comps[i]]), masks[i])
        np.testing.assert_allclose(s[i], g, rtol=0, atol=1e-12)
    norm = score_vectors(model64, prompts, comps, masks, normalise=True)
    np.testing.assert_allclose(norm, s / masks.sum(axis=1)[:, None], rtol=1e-13, atol=1e-15)


@pytest.mark.exact
def test_score_vectors_chunking_and_masking(model64, task):
    prompts = jnp.asarray(task.prompts[:5])
    comps = jnp.asarray([encode(x) for x in ("1$_", "1$7", "22$", "3$$", "$12")])
    masks = jax.vmap(completion_mask)(comps)
    whole = score_vectors(model64, prompts, comps, masks)
    chunked = score_vectors(model64, prompts, comps, masks, chunk_size=2)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-14)
    # tokens after the first EOS are masked: "1$_" and "1$7" of the same prompt score the same
    same = score_vectors(model64, prompts[:1].repeat(2, axis=0), comps[:2], masks[:2])
    np.testing.assert_array_equal(np.asarray(same[0]), np.asarray(same[1]))


@pytest.mark.exact
def test_token_scores_sum_to_the_sequence_score(model64, task):
    prompt, comp = jnp.asarray(task.prompts[0]), jnp.asarray(encode("14$"))
    g = token_score_vectors(model64, prompt, comp)
    s = score_vectors(model64, prompt[None], comp[None], jnp.ones((1, 3)))
    assert g.shape == (3, s.shape[1])
    np.testing.assert_allclose(g.sum(axis=0), s[0], rtol=0, atol=1e-13)


@pytest.mark.exact
def test_score_vectors_reject_bad_inputs(model64, task):
    prompts = jnp.asarray(task.prompts[:2])
    comps = jnp.asarray([encode("14$"), encode("7$_")])
    masks = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="prompts"):
        score_vectors(model64, prompts[0], comps, masks)
    with pytest.raises(ValueError, match="completions"):
        score_vectors(model64, prompts, comps[:1], masks)
    with pytest.raises(ValueError, match="masks"):
        score_vectors(model64, prompts, comps, masks[:, :2])
    with pytest.raises(ValueError, match="max_len"):
        score_vectors(model64, prompts, jnp.zeros((2, 5), jnp.int32), jnp.ones((2, 5)))
    with pytest.raises(ValueError, match="chunk_size"):
        score_vectors(model64, prompts, comps, masks, chunk_size=0)
    with pytest.raises(ValueError, match="integer token ids"):
        score_vectors(model64, prompts.astype(float), comps, masks)


# ----------------------------------------------------------------------------------------------
# DPO and 2-GRPO
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
def test_dpo_equals_beta_times_two_grpo_at_the_reference(model64, pairs):
    for p in pairs:
        rel = _relation(model64, p)
        assert rel.log_ratio_margin == 0.0 and rel.weight == 1.0
        assert rel.relation_error <= 1e-12
        assert rel.reference_error <= 1e-12
        assert max(rel.closed_form_errors().values()) <= 1e-12
        g = rel.grad_two_grpo["seq-mean-token-sum"]
        np.testing.assert_allclose(rel.grad_dpo, 0.5 * g, rtol=0,
                                   atol=1e-12 * np.linalg.norm(g))
        # the 2-GRPO ascent direction is -grad L_2GRPO = -grad L_DPO / beta
        assert rel.cosine("seq-mean-token-sum") == pytest.approx(1.0, abs=1e-12)


@pytest.mark.exact
def test_dpo_off_reference_is_reweighted_by_two_sigma(model64, moved64, pairs):
    for p in pairs:
        rel = _relation(moved64, p, beta=1.0, ref=model64)
        assert rel.weight == pytest.approx(2.0 * special.expit(-rel.log_ratio_margin), rel=1e-15)
        assert rel.relation_error <= 1e-12
        assert rel.closed_form_errors()["dpo"] <= 1e-12
        # power: the unweighted relation of the reference is off by |w - 1| / max(w, 1)
        w = rel.weight
        assert abs(w - 1.0) > 1e-3
        assert rel.reference_error == pytest.approx(abs(w - 1.0) / max(w, 1.0), rel=1e-9)


@pytest.mark.exact
def test_dpo_margin_is_the_log_ratio_difference(model64, moved64, pairs):
    p = pairs[2]
    rel = _relation(moved64, p, beta=1.0, ref=model64)
    P = len(p["prompt"])

    def seq(model, y, m):
        return float(sequence_log_prob(model, jnp.concatenate([p["prompt"], y]), P, m))

    m = ((seq(moved64, p["y_w"], p["mask_w"]) - seq(model64, p["y_w"], p["mask_w"]))
         - (seq(moved64, p["y_l"], p["mask_l"]) - seq(model64, p["y_l"], p["mask_l"])))
    assert rel.log_ratio_margin == pytest.approx(m, abs=1e-12)


@pytest.mark.exact
def test_length_normalised_two_grpo_is_parallel_only_for_equal_lengths(model64, pairs):
    for p in pairs:
        rel = _relation(model64, p)
        equal = rel.length_w == rel.length_l
        cos = rel.cosine("seq-mean-token-mean")
        if equal:
            assert cos == pytest.approx(1.0, abs=1e-12)
        else:
            assert cos < 1.0 - 1e-6
        assert rel.cosine("token-mean") == pytest.approx(1.0, abs=1e-12)
        # the per-length closed form
        s = rel.grad_dpo_closed_form / (-rel.beta * 0.5)  # s_w - s_l at the reference
        assert np.linalg.norm(s) > 0


@pytest.mark.exact
def test_wrong_dpo_relations_are_detected(model64, pairs):
    """Power: the wrong constant, the wrong sign and the paper's sequence-probability coefficient
    (Lemma B.1 as printed: c = beta sigma / pi(o) instead of beta sigma / pi(o_t)) all fail."""
    p = pairs[2]
    rel = _relation(model64, p, beta=0.5)
    g2 = rel.grad_two_grpo["seq-mean-token-sum"]
    assert np.linalg.norm(rel.grad_dpo - 0.5 * rel.beta * g2) > 0.3 * np.linalg.norm(rel.grad_dpo)
    assert np.linalg.norm(rel.grad_dpo + rel.beta * g2) > np.linalg.norm(rel.grad_dpo)
    P = len(p["prompt"])
    printed = np.zeros_like(rel.grad_dpo)
    for sign, y, m in ((1.0, p["y_w"], p["mask_w"]), (-1.0, p["y_l"], p["mask_l"])):
        g = np.asarray(token_score_vectors(model64, p["prompt"], y))  # grad log pi_t
        tok = np.asarray(token_log_probs(model64, jnp.concatenate([p["prompt"], y]), P))
        mask = np.asarray(m)
        pi_t, pi_seq = np.exp(tok), np.exp(np.sum(tok * mask))
        # -beta sigma sum_t (grad pi_t) / pi(o) with grad pi_t = pi_t grad log pi_t
        printed += -sign * rel.beta * 0.5 * np.einsum("t,td->d", mask * pi_t / pi_seq, g)
    err = np.linalg.norm(printed - rel.grad_dpo) / np.linalg.norm(rel.grad_dpo)
    assert err > 1e-2


@pytest.mark.exact
def test_dpo_relation_rejects_bad_inputs(model64, pairs):
    p = pairs[0]
    args = (p["prompt"], p["y_w"], p["y_l"], p["mask_w"], p["mask_l"])
    with pytest.raises(ValueError, match="beta"):
        dpo_relation(model64, *args, beta=0.0)
    with pytest.raises(ValueError, match="mask_w"):
        dpo_relation(model64, p["prompt"], p["y_w"], p["y_l"], jnp.array([1.0, 0.5, 0.0]),
                     p["mask_l"], beta=1.0)
    with pytest.raises(ValueError, match="mask_l"):
        dpo_relation(model64, p["prompt"], p["y_w"], p["y_l"], p["mask_w"], jnp.zeros(3),
                     beta=1.0)
    with pytest.raises(ValueError, match="y_l"):
        dpo_relation(model64, p["prompt"], p["y_w"], p["y_l"][:2], p["mask_w"], p["mask_l"][:2],
                     beta=1.0)
    other = init_model(jax.random.key(0), dataclasses.replace(CFG, d_model=8, n_heads=1,
                                                              dtype="float64"))
    with pytest.raises(ValueError, match="ref_model"):
        dpo_relation(model64, *args, beta=1.0, ref_model=other)


def _linear_losses(g, c, old, masks, beta, eps):
    """Losses of a 'linear policy' whose token log-probs are theta . g_t + c_t."""

    def lp(theta):
        return jnp.einsum("ild,d->il", g, theta) + c

    def dpo(theta):
        seq = jnp.sum(lp(theta) * masks, axis=1)
        ref = jnp.sum(old * masks, axis=1)
        return dpo_loss(seq[0], seq[1], ref[0], ref[1], beta)

    adv = grpo_advantages(jnp.asarray([1.0, 0.0]))

    def grpo(theta, agg):
        return policy_loss(lp(theta), old, masks, adv, epsilon_low=eps, epsilon_high=eps,
                           aggregation=agg)

    return lp, dpo, grpo


@pytest.mark.property
@given(seed=st.integers(0, 2**31 - 1), beta=st.floats(0.05, 5.0),
       agg=st.sampled_from(AGGREGATIONS), eps=st.sampled_from([0.1, 0.2, 0.3]))
def test_closed_forms_for_a_linear_policy(seed, beta, agg, eps):
    """With log-probs linear in theta (token scores g_t exactly), autodiff of the library's losses
    equals the closed forms: 2-GRPO with clipping for any ratios, DPO, and the 2 sigma relation."""
    rng = np.random.default_rng(seed)
    L, D = 3, 4
    g = jnp.asarray(rng.normal(size=(2, L, D)))
    c = jnp.asarray(rng.normal(size=(2, L)) - 2.0)
    masks = np.ones((2, L))
    masks[0, rng.integers(1, L + 1):] = 0.0
    masks[1, rng.integers(1, L + 1):] = 0.0
    masks = jnp.asarray(masks)
    theta = jnp.asarray(rng.normal(size=D) * 0.3)
    old = c + jnp.asarray(rng.normal(size=(2, L)) * 0.3)  # an older policy: ratios around 1
    lp, dpo, grpo = _linear_losses(g, c, old, masks, beta, eps)
    ratios = np.where(np.asarray(masks) > 0, np.exp(np.asarray(lp(theta) - old)), 1.0)
    auto = np.asarray(jax.grad(grpo)(theta, agg))
    closed = two_grpo_closed_form(g, masks, ratios, aggregation=agg, epsilon_low=eps,
                                  epsilon_high=eps)
    scale = np.sum(np.abs(np.asarray(g)).sum(axis=2) * ratios)
    assert np.linalg.norm(auto - closed) <= 1e-12 * max(scale, 1.0)
    # DPO in closed form, and its relation to on-policy 2-GRPO at theta
    s = np.einsum("il,ild->id", np.asarray(masks), np.asarray(g))
    m = float(np.sum((np.asarray(lp(theta)) - np.asarray(old)) * np.asarray(masks), axis=1)
              @ np.array([1.0, -1.0]))
    auto_dpo = np.asarray(jax.grad(dpo)(theta))
    np.testing.assert_allclose(auto_dpo, -beta * special.expit(-beta * m) * (s[0] - s[1]),
                               rtol=1e-10, atol=1e-12)
    on = _linear_losses(g, c, lp(theta), masks, beta, eps)[2]
    on_grad = np.asarray(jax.grad(on)(theta, "seq-mean-token-sum"))
    np.testing.assert_allclose(auto_dpo, 2 * special.expit(-beta * m) * beta * on_grad,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.exact
def test_two_grpo_closed_form_hand_cases():
    g = np.zeros((2, 2, 3))
    g[0, 0, 0] = 1.0
    g[0, 1, 2] = 1.0
    g[1, 0, 1] = 1.0
    masks = np.array([[1, 1], [1, 0]])
    ones = np.ones((2, 2))
    # on-policy: -1/2 (s_w - s_l), s_w = e0 + e2, s_l = e1
    np.testing.assert_allclose(
        two_grpo_closed_form(g, masks, ones, aggregation="seq-mean-token-sum"),
        [-0.5, 0.5, -0.5])
    np.testing.assert_allclose(
        two_grpo_closed_form(g, masks, ones, aggregation="seq-mean-token-mean"),
        [-0.25, 0.5, -0.25])
    np.testing.assert_allclose(two_grpo_closed_form(g, masks, ones, aggregation="token-mean"),
                               [-1 / 3, 1 / 3, -1 / 3])
    np.testing.assert_allclose(
        two_grpo_closed_form(g, masks, ones, aggregation="seq-mean-token-sum-norm",
                             max_length=4), [-0.125, 0.125, -0.125])
    # the positive's second token above 1 + eps and the negative's below 1 - eps are dropped
    ratios = np.array([[1.1, 1.5], [0.5, 1.0]])
    np.testing.assert_allclose(
        two_grpo_closed_form(g, masks, ratios, aggregation="seq-mean-token-sum"),
        [-0.55, 0.0, 0.0])
    # the same with a wide clip range keeps them, times their ratios
    np.testing.assert_allclose(
        two_grpo_closed_form(g, masks, ratios, aggregation="seq-mean-token-sum",
                             epsilon_low=0.9, epsilon_high=1.0), [-0.55, 0.25, -0.75])


@pytest.mark.exact
def test_two_grpo_closed_form_rejects_bad_inputs():
    g, m, r = np.zeros((2, 2, 3)), np.ones((2, 2)), np.ones((2, 2))
    with pytest.raises(ValueError, match="aggregation"):
        two_grpo_closed_form(g, m, r, aggregation="mean")
    with pytest.raises(ValueError, match="epsilon_low"):
        two_grpo_closed_form(g, m, r, aggregation="token-mean", epsilon_low=0.0)
    with pytest.raises(ValueError, match="token_scores"):
        two_grpo_closed_form(g[0], m, r, aggregation="token-mean")
    with pytest.raises(ValueError, match="ratios"):
        two_grpo_closed_form(g, m, r[:1], aggregation="token-mean")
    with pytest.raises(ValueError, match="max_length"):
        two_grpo_closed_form(g, m, r, aggregation="seq-mean-token-sum-norm", max_length=0)


@pytest.mark.exact
def test_clipping_drops_exactly_the_clipped_tokens(model64, pairs):
    step = sum(_relation(model64, p).grad_two_grpo["seq-mean-token-sum"] for p in pairs)
    new = with_parameters(model64, parameter_vector(model64) - 0.05 * jnp.asarray(step))
    clipped_any, effect = 0, 0.0
    for p in pairs:
        for agg in AGGREGATIONS:
            c = clipping_relation(new, model64, p["prompt"], p["y_w"], p["y_l"], p["mask_w"],
                                  p["mask_l"], aggregation=agg)
            assert c.relative_error <= 1e-12
            clipped_any += sum(c.n_clipped)
            effect = max(effect, c.clipping_effect)
            # the clipped tokens are those outside the range on their advantage's side
            expect = (c.masks > 0) & np.vstack([c.ratios[0] >= 1.2, c.ratios[1] <= 0.8])
            np.testing.assert_array_equal(c.clipped, expect)
    assert clipped_any > 0 and effect > 1e-2
    # power: the unclipped surrogate's gradient is not the clipped one
    p = pairs[0]
    c = clipping_relation(new, model64, p["prompt"], p["y_w"], p["y_l"], p["mask_w"],
                          p["mask_l"])
    if sum(c.n_clipped):
        assert np.linalg.norm(c.grad_without_clipping - c.grad_autodiff) > 1e-6 * c.term_scale


@pytest.mark.exact
def test_clipping_on_policy_and_with_a_wide_range(model64, moved64, pairs):
    p = pairs[1]
    on = clipping_relation(model64, model64, p["prompt"], p["y_w"], p["y_l"], p["mask_w"],
                           p["mask_l"])
    assert on.n_clipped == (0, 0)
    np.testing.assert_allclose(on.ratios, 1.0, rtol=0, atol=1e-12)
    rel = _relation(model64, p)
    np.testing.assert_allclose(on.grad_autodiff, rel.grad_two_grpo["seq-mean-token-sum"],
                               rtol=0, atol=1e-12 * on.term_scale)
    wide = clipping_relation(moved64, model64, p["prompt"], p["y_w"], p["y_l"], p["mask_w"],
                             p["mask_l"], epsilon_low=0.999999, epsilon_high=1e9)
    assert wide.n_clipped == (0, 0)
    np.testing.assert_allclose(wide.grad_autodiff, wide.grad_without_clipping, rtol=0,
                               atol=1e-12 * wide.term_scale)


@pytest.mark.exact
def test_clipping_relation_rejects_bad_inputs(model64, pairs):
    p = pairs[0]
    args = (p["prompt"], p["y_w"], p["y_l"], p["mask_w"], p["mask_l"])
    with pytest.raises(ValueError, match="epsilon_low"):
        clipping_relation(model64, model64, *args, epsilon_low=1.0)
    with pytest.raises(ValueError, match="epsilon_high"):
        clipping_relation(model64, model64, *args, epsilon_high=-0.1)
    with pytest.raises(ValueError, match="aggregation"):
        clipping_relation(model64, model64, *args, aggregation="sum")
    with pytest.raises(TypeError, match="old_model"):
        clipping_relation(model64, None, *args)


# ----------------------------------------------------------------------------------------------
# Control variates and the Table-2 measurement
# ----------------------------------------------------------------------------------------------


def _brute_cv(x, y, ids, weighting="prompt"):
    """Direct weighted formulas (ddof 0) for C, V+, V- and their within and across parts."""
    prompts, counts = np.unique(ids, return_counts=True)
    w = np.array([1.0 / counts[np.searchsorted(prompts, q)] if weighting == "prompt" else 1.0
                  for q in ids])
    w = w / w.sum()
    xb, yb = w @ x, w @ y
    tot = [w @ np.sum((x - xb) * (y - yb), 1), w @ np.sum((x - xb) ** 2, 1),
           w @ np.sum((y - yb) ** 2, 1)]
    within = np.zeros(3)
    for q in prompts:
        s = ids == q
        wq = w[s]
        xq, yq = x[s] - (wq @ x[s]) / wq.sum(), y[s] - (wq @ y[s]) / wq.sum()
        within += [wq @ np.sum(xq * yq, 1), wq @ np.sum(xq * xq, 1), wq @ np.sum(yq * yq, 1)]
    return np.array(tot), within


@pytest.mark.exact
def test_control_variate_stats_against_direct_formulas():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(5), [1, 2, 3, 2, 4])
    mean = rng.normal(size=(5, 3))
    x = mean[ids] + rng.normal(size=(12, 3))
    y = -0.5 * mean[ids] + rng.normal(size=(12, 3))
    for weighting in ("prompt", "pair"):
        cv = control_variate_stats(x, y, ids, weighting=weighting)
        tot, within = _brute_cv(x, y, ids, weighting)
        np.testing.assert_allclose([cv.covariance, cv.var_plus, cv.var_minus], tot, rtol=1e-12)
        np.testing.assert_allclose([cv.covariance_within, cv.var_plus_within,
                                    cv.var_minus_within], within, rtol=1e-12, atol=1e-14)
        assert cv.decomposition_error < 1e-13
        assert cv.rho == pytest.approx(tot[0] / math.sqrt(tot[1] * tot[2]), rel=1e-12)
        assert cv.c_star == pytest.approx(tot[0] / tot[2], rel=1e-12)
        assert cv.var_difference == pytest.approx(tot[1] + tot[2] - 2 * tot[0], rel=1e-12)
        assert cv.var_c_star == pytest.approx(tot[1] - tot[0] ** 2 / tot[2], rel=1e-12)
    # pair weighting is the plain population covariance of the pairs
    cv = control_variate_stats(x, y, ids, weighting="pair")
    cov = np.cov(np.hstack([x, y]).T, ddof=0)
    assert cv.covariance == pytest.approx(np.trace(cov[:3, 3:]), rel=1e-12)


@pytest.mark.exact
def test_control_variate_jackknife_matches_brute_force():
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(6), 3)
    x = rng.normal(size=(18, 2)) + np.repeat(rng.normal(size=(6, 2)), 3, axis=0)
    y = rng.normal(size=(18, 2))
    cv = control_variate_stats(x, y, ids, confidence=0.9)
    reps = []
    for q in range(6):
        keep = ids != q
        reps.append(control_variate_stats(x[keep], y[keep], ids[keep]).values)
    for name in ("covariance", "covariance_across", "rho", "c_star", "variance_ratio"):
        r = np.array([v[name] for v in reps])
        se = math.sqrt(5 / 6 * np.sum((r - r.mean()) ** 2))
        assert cv.stderr[name] == pytest.approx(se, rel=1e-9)
        t = stats.t.ppf(0.95, 5)
        lo, hi = cv.intervals[name]
        assert lo == pytest.approx(cv.values[name] - t * se, rel=1e-9, abs=1e-12)
        assert hi == pytest.approx(cv.values[name] + t * se, rel=1e-9, abs=1e-12)


@pytest.mark.property
@given(seed=st.integers(0, 2**31 - 1), n_prompts=st.integers(3, 6))
def test_total_covariance_decomposition_holds_on_any_sample(seed, n_prompts):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_prompts, size=20)
    ids[:n_prompts] = np.arange(n_prompts)
    x = rng.normal(size=(20, 3)) * rng.uniform(0.1, 10)
    y = rng.normal(size=(20, 3)) + x * rng.normal()
    cv = control_variate_stats(x, y, ids, weighting=str(rng.choice(["prompt", "pair"])))
    assert cv.decomposition_error < 1e-12
    v = cv.values
    assert v["covariance"] == pytest.approx(v["covariance_within"] + v["covariance_across"],
                                            abs=1e-10 * max(v["var_plus"], v["var_minus"]))


@pytest.mark.statistical
def test_control_variates_recover_a_known_across_covariance():
    """Prompt means (u_q, v_q) with Cov(u, v) = -0.6 I (trace -1.8 over D = 3), independent
    noise within prompts: within ~ 0, across ~ -1.8, and the 95% interval covers the truth."""
    rng = np.random.default_rng(2)
    N, k, D = 400, 3, 3
    u = rng.normal(size=(N, D))
    v = -0.6 * u + 0.8 * rng.normal(size=(N, D))
    ids = np.repeat(np.arange(N), k)
    x = u[ids] + rng.normal(size=(N * k, D))
    y = v[ids] + rng.normal(size=(N * k, D))
    cv = control_variate_stats(x, y, ids, confidence=0.999)
    lo, hi = cv.intervals["covariance_across"]
    # the sample across term of the prompt means includes the within-prompt noise averaged
    # over the k pairs, which is independent between x and y: its expectation is
    # -1.8 (1 - 1/N) (ddof 0 over the N prompts)
    assert lo <= -1.8 * (1 - 1 / N) <= hi
    wlo, whi = cv.intervals["covariance_within"]
    assert wlo <= 0.0 <= whi
    assert cv.c_star < 0 and cv.variance_ratio > 1


@pytest.mark.exact
def test_control_variate_stats_reject_bad_inputs():
    x = np.zeros((6, 2))
    ids = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="g_plus"):
        control_variate_stats(x[0], x[0], ids)
    with pytest.raises(ValueError, match="g_minus"):
        control_variate_stats(x, x[:, :1], ids)
    with pytest.raises(ValueError, match="prompt_ids"):
        control_variate_stats(x, x, ids[:5])
    with pytest.raises(ValueError, match="at least 3"):
        control_variate_stats(x, x, np.array([0, 0, 0, 1, 1, 1]))
    with pytest.raises(ValueError, match="weighting"):
        control_variate_stats(x, x, ids, weighting="token")
    with pytest.raises(ValueError, match="confidence"):
        control_variate_stats(x, x, ids, confidence=1.0)


@pytest.mark.property
@given(seed=st.integers(0, 2**31 - 1))
def test_pairs_share_a_prompt_and_disagree(seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 5, size=30)
    r = rng.integers(0, 2, size=30)
    plus, minus = pair_within_prompts(np.random.default_rng(seed), r, ids)
    assert plus.size == minus.size
    assert np.all(r[plus] == 1) and np.all(r[minus] == 0)
    assert np.all(ids[plus] == ids[minus])
    assert len(set(plus)) == plus.size and len(set(minus)) == minus.size
    expected = sum(min(np.sum((ids == q) & (r == 1)), np.sum((ids == q) & (r == 0)))
                   for q in range(5))
    assert plus.size == expected
    with pytest.raises(ValueError, match="binary"):
        pair_within_prompts(rng, r + 2, ids)


@pytest.mark.exact
def test_table2_permutation_moments_by_enumeration():
    """The re-paired statistic has mean exactly 0 and the stated variance over all m! pairings,
    and the single 'permuted' value is one of them."""
    rng = np.random.default_rng(3)
    m = 5
    X, Y = rng.normal(size=(m, 4)), rng.normal(size=(m, 4)) + 0.5 * rng.normal(size=(m, 4))
    t = table2_statistics(np.random.default_rng(0), X, Y, n_permutations=50)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    values = np.array([sum(Xc[j] @ Yc[s[j]] for j in range(m)) / (m - 1)
                       for s in itertools.permutations(range(m))])
    assert abs(values.mean()) < 1e-12
    assert t.permutation_sd == pytest.approx(values.std(), rel=1e-10)
    assert t.covariance == pytest.approx(np.trace(Xc @ Yc.T) / (m - 1), rel=1e-12)
    assert np.min(np.abs(values - t.permuted)) < 1e-12
    assert 1 / 51 <= t.p_value <= 1.0
    assert t.paper == PAPER_TABLE2 and "units" in t.note
    assert t.correlation == pytest.approx(
        t.covariance / math.sqrt(t.var_x * t.var_y), rel=1e-12)


@pytest.mark.statistical
def test_table2_permutation_test_is_valid_and_has_power():
    """Independent X, Y: permutation p-values are not small (at most one of 20 below 0.05 is
    expected; we allow 3). Y = -X + noise: p at its minimum 1/(K+1)."""
    rng = np.random.default_rng(4)
    small = 0
    for _ in range(20):
        X, Y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
        small += table2_statistics(rng, X, Y, n_permutations=199).p_value < 0.05
    assert small <= 3
    X = rng.normal(size=(30, 5))
    t = table2_statistics(rng, X, -X + 0.3 * rng.normal(size=(30, 5)), n_permutations=999)
    assert t.p_value == pytest.approx(1 / 1000) and t.covariance < 0 and t.z < -4


@pytest.mark.exact
def test_paper_table2_measurement_keeps_prompts_with_both_signs():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(6, 4, 3))
    rewards = np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 1],
                        [0, 1, 0, 0]])
    X, Y, kept = response_means(scores, rewards)
    assert kept.tolist() == [0, 2, 4, 5]
    np.testing.assert_allclose(X[0], scores[0, [0, 3]].mean(0))
    np.testing.assert_allclose(Y[2], scores[4, 2])
    t = paper_table2_measurement(np.random.default_rng(0), scores, rewards, n_permutations=10)
    assert (t.prompts_kept, t.n_prompts, t.n_responses) == (4, 6, 4)
    assert t.covariance == pytest.approx(
        np.trace((X - X.mean(0)) @ (Y - Y.mean(0)).T) / 3, rel=1e-12)
    with pytest.raises(ValueError, match="fewer than 3"):
        paper_table2_measurement(rng, scores[:3], rewards[:3])
    with pytest.raises(ValueError, match="binary"):
        response_means(scores, rewards * 2)
    with pytest.raises(ValueError, match="n_permutations"):
        table2_statistics(rng, X, Y, n_permutations=0)
    with pytest.raises(ValueError, match="Y"):
        table2_statistics(rng, X, Y[:, :2])


# ----------------------------------------------------------------------------------------------
# Synthetic populations with known conditional moments
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Population:
    """N prompts: success probabilities p, Gaussian scores given the reward with means
    mu_plus, mu_minus and isotropic standard deviations sd_plus, sd_minus."""

    p: np.ndarray
    mu_plus: np.ndarray
    mu_minus: np.ndarray
    sd_plus: float
    sd_minus: float

    @property
    def D(self) -> int:
        return self.mu_plus.shape[1]

    def draw(self, rng, prompts):
        r = (rng.random(prompts.shape) < self.p[prompts]).astype(float)
        mean = np.where(r[..., None] > 0, self.mu_plus[prompts], self.mu_minus[prompts])
        sd = np.where(r > 0, self.sd_plus, self.sd_minus)[..., None]
        return mean + sd * rng.normal(size=prompts.shape + (self.D,)), r

    def exact_trace(self, G, Q):
        """The exact engine on the true moments: (1/Q)(E_q tr Cov[h|q] + tr Cov_q E[h|q])."""
        within = covariance_trace("grpo", G, self.p, self.D * self.sd_plus**2,
                                  self.D * self.sd_minus**2, np.sum(self.mu_plus**2, 1),
                                  np.sum(self.mu_minus**2, 1),
                                  np.sum(self.mu_plus * self.mu_minus, 1))
        s = count_sums("grpo", G, self.p)
        m = s.mean_a[:, None] * self.mu_plus + s.mean_b[:, None] * self.mu_minus
        across = np.mean(np.sum(m**2, 1)) - np.sum(m.mean(0) ** 2)
        return (np.mean(within) + across) / Q

    def moments(self, rng, n):
        prompts = np.repeat(np.arange(self.p.size), n).reshape(self.p.size, n)
        s, r = self.draw(rng, prompts)
        return score_moments(s, r)

    def batches(self, rng, R, G, Q):
        prompts = np.repeat(rng.integers(0, self.p.size, size=(R, Q)), G, axis=1)
        return self.draw(rng, prompts)


def _population(seed=0, N=6, D=3, score_identity=True):
    rng = np.random.default_rng(seed)
    p = np.array([0.15, 0.3, 0.5, 0.6, 0.75, 0.85])[:N]
    mu_plus = 2.0 * rng.normal(size=(N, D)) + 1.0
    mu_minus = -(p / (1 - p))[:, None] * mu_plus if score_identity else rng.normal(size=(N, D))
    return Population(p, mu_plus, mu_minus, 0.7, 1.5)


@pytest.mark.exact
def test_score_moments_summaries_are_u_statistics():
    rng = np.random.default_rng(6)
    s = rng.normal(size=(2, 7, 3))
    r = np.array([[1, 1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0, 0]], dtype=float)
    m = score_moments(s, r)
    summ = m.summaries()
    pos = s[0][r[0] == 1]
    neg = s[0][r[0] == 0]
    pairs = [pos[i] @ pos[j] for i in range(4) for j in range(4) if i != j]
    assert summ["mu_plus_sq"][0] == pytest.approx(np.mean(pairs), rel=1e-12)
    assert summ["tr_sigma_plus"][0] == pytest.approx(pos.var(0, ddof=1).sum(), rel=1e-12)
    assert summ["tr_sigma_minus"][0] == pytest.approx(neg.var(0, ddof=1).sum(), rel=1e-12)
    assert summ["mu_dot"][0] == pytest.approx(pos.mean(0) @ neg.mean(0), rel=1e-12)
    # one positive: no variance estimate, the plug-in squared norm
    assert summ["tr_sigma_plus"][1] == 0.0
    assert summ["mu_plus_sq"][1] == pytest.approx(s[1, 0] @ s[1, 0], rel=1e-12)
    np.testing.assert_allclose(m.p, [4 / 7, 1 / 7])
    # the per-sample scalars of the jackknife
    np.testing.assert_allclose(m.sample_dot_plus[:7], s[0] @ pos.sum(0), rtol=1e-12)
    np.testing.assert_allclose(m.sample_sq[:7], np.sum(s[0] ** 2, 1), rtol=1e-12)
    with pytest.raises(ValueError, match="scores"):
        score_moments(s[0], r)
    with pytest.raises(ValueError, match="binary"):
        score_moments(s, r * 0.5)


@pytest.mark.exact
def test_prediction_with_exact_moments_is_the_exact_engine():
    """Moments given exactly (scores +-mu with no spread per sign, many samples) reproduce the
    exact engine; and E[h|q] = c_G(p) p mu+ when the score identity holds."""
    pop = _population()
    for G in (2, 3, 4, 8):
        s = count_sums("grpo", G, pop.p)
        m = s.mean_a[:, None] * pop.mu_plus + s.mean_b[:, None] * pop.mu_minus
        c = expected_gradient_weight("grpo", G, pop.p)
        np.testing.assert_allclose(m, (c * pop.p)[:, None] * pop.mu_plus, rtol=1e-12)
    # a deterministic sample: n = 20, k = round(p n) copies of mu+, the rest mu-; no spread
    n = 20
    k = np.rint(pop.p * n).astype(int)
    r = (np.arange(n)[None, :] < k[:, None]).astype(float)
    scores = np.where(r[..., None] > 0, pop.mu_plus[:, None], pop.mu_minus[:, None])
    moments = score_moments(scores, r)
    exact = dataclasses.replace(pop, p=k / n, sd_plus=0.0, sd_minus=0.0)
    for G in (2, 4, 8):
        pred = predict_batch_trace(moments, G, 16 // G)
        assert pred.total == pytest.approx(exact.exact_trace(G, 16 // G), rel=1e-12)
        assert pred.within + pred.across == pytest.approx(pred.total, rel=1e-14)


@pytest.mark.statistical
def test_prediction_bias_is_small_and_its_stderr_is_conservative():
    """Over 300 independent moment samples (n = 40 per prompt) the mean prediction misses the
    exact trace by less than a quarter of one prediction's standard error (what remains is the
    O(1/n) bias of the count sums at p-hat; the jackknife estimates it with the right sign), and
    the reported stderr bounds the spread of the predictions without being much larger."""
    pop = _population(1)
    rng = np.random.default_rng(7)
    for G in (2, 8):
        Q = 16 // G
        preds = [predict_batch_trace(pop.moments(rng, 40), G, Q) for _ in range(300)]
        total = np.array([p.total for p in preds])
        truth = pop.exact_trace(G, Q)
        stderr = np.mean([p.stderr for p in preds])
        assert abs(total.mean() - truth) <= 0.25 * stderr
        assert np.mean([p.jackknife_bias for p in preds]) * (total.mean() - truth) > 0
        assert 0.9 <= stderr / total.std(ddof=1) <= 2.5


@pytest.mark.statistical
def test_measurement_is_unbiased_and_its_stderr_is_calibrated():
    pop = _population(2)
    rng = np.random.default_rng(8)
    for G in (2, 4, 8):
        Q = 16 // G
        meas = []
        for _ in range(60):
            s, r = pop.batches(rng, 64, G, Q)
            meas.append(batch_trace_from_scores(s, r, group_size=G, prompts_per_batch=Q,
                                                block_batches=16))
        trace = np.array([m.trace for m in meas])
        truth = pop.exact_trace(G, Q)
        assert abs(trace.mean() - truth) <= 4 * trace.std(ddof=1) / math.sqrt(trace.size)
        ratio = np.mean([m.stderr for m in meas]) / trace.std(ddof=1)
        assert 0.75 <= ratio <= 1.3, ratio
        batches = np.array([m.trace_batches for m in meas])
        assert abs(batches.mean() - truth) <= 4 * batches.std(ddof=1) / math.sqrt(batches.size)


def _budget_rows(pop, seed, n_moments=64, R=1000):
    rng = np.random.default_rng(seed)
    moments = pop.moments(rng, n_moments)
    rows = []
    for G in (2, 4, 8):
        Q = 16 // G
        s, r = pop.batches(rng, R, G, Q)
        meas = batch_trace_from_scores(s, r, group_size=G, prompts_per_batch=Q,
                                       block_batches=50)
        pred = predict_batch_trace(moments, G, Q)
        rows.append((meas, pred, compare_trace(meas, pred, delta=1e-6 / 3)))
    return rows


@pytest.mark.statistical
def test_budget_test_accepts_the_exact_prediction_and_rejects_wrong_ones():
    """Power: the i.i.d.-rollouts prediction (Lemma 5.3 as printed) and a prediction without the
    across-prompt term are rejected where they differ enough; the right one is accepted."""
    pop = _population(3)
    rows = _budget_rows(pop, 9)
    for _, pred, agr in rows:
        assert agr.agrees, agr
        assert pred.iid_as_printed < pred.total
    meas8, pred8, agr8 = rows[-1]
    assert agr8.iid_rejected
    no_across = dataclasses.replace(pred8, across=0.0, total=pred8.within)
    assert not compare_trace(meas8, no_across, delta=1e-6).agrees
    # the trace grows with G at a fixed budget (the paper's Lemma 5.3 says it does not move)
    assert rows[0][0].trace < rows[1][0].trace < rows[2][0].trace


@pytest.mark.exact
def test_iid_prediction_is_the_per_rollout_variance_over_b():
    """One prompt, scores +-1 with p = 1/2 and no spread, G = 2: A s = 1 when the pair
    disagrees (probability 1/2), else 0, so Var(A s) = 1/4 and the i.i.d. prediction at
    B = 2 is 1/8, while the true batch variance is 1/4."""
    s = np.array([[[1.0], [1.0], [-1.0], [-1.0]]])
    pred = predict_batch_trace(score_moments(s, [[1, 1, 0, 0]]), 2, 1)
    assert pred.total == pytest.approx(0.25, rel=1e-12)
    assert pred.iid_as_printed == pytest.approx(0.125, rel=1e-12)


@pytest.mark.exact
def test_predict_and_compare_reject_bad_inputs():
    m = score_moments(np.ones((1, 4, 1)), [[1, 1, 0, 0]])
    with pytest.raises(ValueError, match="group_size"):
        predict_batch_trace(m, 1, 2)
    with pytest.raises(ValueError, match="prompts_per_batch"):
        predict_batch_trace(m, 2, 0)
    with pytest.raises(ValueError, match="estimator"):
        predict_batch_trace(m, 2, 1, estimator="ppo")
    with pytest.raises(TypeError, match="moments"):
        predict_batch_trace({"p": 0.5}, 2, 1)
    meas = BatchTraceMeasurement("grpo", 2, 8, 16, 1.0, 0.1, 1.0, 0.1, 0.5, 0.5)
    pred = BatchTracePrediction("grpo", 4, 4, 1.0, 0.0, 1.0, 0.1, 0.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="group_size"):
        compare_trace(meas, pred)
    with pytest.raises(ValueError, match="delta"):
        compare_trace(meas, dataclasses.replace(pred, group_size=2, prompts_per_batch=8),
                      delta=0.0)
    with pytest.raises(ValueError, match="block_batches"):
        batch_trace_from_scores(np.zeros((4, 2, 1)), np.zeros((4, 2)), group_size=2,
                                prompts_per_batch=1, block_batches=3)
    with pytest.raises(ValueError, match="scores"):
        batch_trace_from_scores(np.zeros((4, 3, 1)), np.zeros((4, 3)), group_size=2,
                                prompts_per_batch=1)


@pytest.mark.exact
def test_measurement_advantages_are_grpo():
    """The count table used by the measurement is the population-std GRPO advantage."""
    for G in (2, 3, 5, 8):
        plus, minus = count_advantages("grpo", G, np.arange(G + 1))
        for k in range(G + 1):
            r = jnp.asarray([1.0] * k + [0.0] * (G - k))
            adv = np.asarray(grpo_advantages(r))
            np.testing.assert_allclose(adv[:k], plus[k], atol=1e-12)
            np.testing.assert_allclose(adv[k:], minus[k], atol=1e-12)


# ----------------------------------------------------------------------------------------------
# The transformer samplers
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
def test_sample_score_moments_structure(model32, task):
    m = sample_score_moments(jax.random.key(1), model32, task.prompts[:3], task.answers[:3],
                             n_samples=8, chunk_size=16)
    assert isinstance(m, ScoreMoments)
    assert m.n.tolist() == [8, 8, 8] and m.sum_plus.shape == (3, parameter_vector(model32).size)
    assert np.all((m.n_plus >= 0) & (m.n_plus <= 8))
    # the per-sample scalars are consistent with the sums: sum_i s_i . S+ over positives
    for q in range(3):
        sel = (m.sample_prompt == q) & (m.sample_reward == 1)
        assert m.sample_dot_plus[sel].sum() == pytest.approx(
            m.sum_plus[q] @ m.sum_plus[q], rel=1e-4, abs=1e-6)
        assert m.sample_sq[m.sample_prompt == q].sum() == pytest.approx(
            m.sq_plus[q] + m.sq_minus[q], rel=1e-6)
    again = sample_score_moments(jax.random.key(1), model32, task.prompts[:3],
                                 task.answers[:3], n_samples=8, chunk_size=16)
    np.testing.assert_array_equal(again.sum_minus, m.sum_minus)
    with pytest.raises(ValueError, match="n_samples"):
        sample_score_moments(jax.random.key(1), model32, task.prompts[:3], task.answers[:3],
                             n_samples=1)
    with pytest.raises(ValueError, match="answers"):
        sample_score_moments(jax.random.key(1), model32, task.prompts[:3], task.answers[:2],
                             n_samples=4)


@pytest.mark.exact
def test_measure_batch_trace_structure(model32, task):
    kw = {"group_size": 2, "prompts_per_batch": 2, "n_batches": 5, "chunk_size": 16}
    m = measure_batch_trace(jax.random.key(2), model32, task.prompts[:4], task.answers[:4], **kw)
    assert m.n_batches == 8 and m.budget == 4  # 4 batches per chunk of 16 rollouts
    assert m.trace >= 0 and 0 <= m.silent_fraction <= 1 and 0 <= m.mean_reward <= 1
    again = measure_batch_trace(jax.random.key(2), model32, task.prompts[:4], task.answers[:4],
                                **kw)
    assert again == m
    with pytest.raises(ValueError, match="n_batches"):
        measure_batch_trace(jax.random.key(2), model32, task.prompts[:4], task.answers[:4],
                            **{**kw, "n_batches": 1})


@pytest.mark.exact
def test_sample_group_counts(model32, task):
    idx, k = sample_group_counts(jax.random.key(3), model32, task.prompts, task.answers,
                                 group_size=4, n_groups=10, chunk_size=16)
    assert idx.shape == k.shape == (10,)
    assert np.all((idx >= 0) & (idx < task.n_prompts)) and np.all((k >= 0) & (k <= 4))
    with pytest.raises(ValueError, match="n_groups"):
        sample_group_counts(jax.random.key(3), model32, task.prompts, task.answers,
                            group_size=2, n_groups=0)


# ----------------------------------------------------------------------------------------------
# Discard rate
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
def test_hypergeometric_silent_estimator_is_unbiased():
    """E over c ~ Binomial(n, p) of [C(c, G) + C(n - c, G)] / C(n, G) is p^G + (1-p)^G."""
    for n, G in ((8, 2), (10, 4), (16, 8)):
        c = np.arange(n + 1)
        est = (special.comb(c, G) + special.comb(n - c, G)) / special.comb(n, G)
        for p in (0.05, 0.3, 0.5, 0.9):
            assert stats.binom.pmf(c, n, p) @ est == pytest.approx(p**G + (1 - p) ** G,
                                                                   rel=1e-12)


@pytest.mark.statistical
def test_discard_check_accepts_the_truth_and_rejects_the_printed_formula():
    rng = np.random.default_rng(10)
    p = rng.beta(0.7, 0.7, size=100)
    n, G, n_groups = 64, 2, 20000
    counts = rng.binomial(n, p)
    q = rng.integers(0, p.size, size=n_groups)
    k = rng.binomial(G, p[q])
    d = discard_check(k, G, counts, n, delta=1e-6)
    assert d.agrees and d.printed_rejected and d.jensen_consistent
    truth = np.mean(p**G + (1 - p) ** G)
    assert abs(d.predicted - truth) <= d.predicted_radius
    assert abs(d.measured - truth) <= d.measured_radius
    assert d.printed <= 0.5 and d.corrected_plug_in == pytest.approx(1 - d.printed)
    # power: a wrong prediction (the printed formula's value) is far outside the radius
    assert abs(d.measured - d.printed) > 3 * (d.measured_radius + d.reward_radius)
    # a homogeneous population: the printed formula is then the signal rate, still rejected,
    # and the corrected plug-in is the truth (no Jensen gap)
    k1 = rng.binomial(G, 0.3, size=n_groups)
    d1 = discard_check(k1, G, rng.binomial(n, 0.3, size=100), n, delta=1e-6)
    assert d1.agrees and d1.printed_rejected
    assert d1.corrected_plug_in == pytest.approx(0.58, abs=3 * d1.reward_radius)


@pytest.mark.exact
def test_discard_check_hand_case_and_bad_inputs():
    d = discard_check(np.array([0, 2, 1, 1]), 2, np.array([2, 3]), 4, delta=0.1)
    assert d.measured == 0.5
    assert d.predicted == pytest.approx(((1 + 1) / 6 + (3 + 0) / 6) / 2)
    assert d.plug_in == pytest.approx((0.5**2 * 2 + 0.75**2 + 0.25**2) / 2)
    assert d.mean_reward == 0.5 and d.printed == 0.5
    assert d.measured_radius == pytest.approx(math.sqrt(math.log(60) / 8))
    assert d.predicted_radius == pytest.approx(2 * math.sqrt(math.log(60) / 16))
    with pytest.raises(ValueError, match="correct"):
        discard_check(np.array([3]), 2, np.array([1]), 4)
    with pytest.raises(ValueError, match="success_counts"):
        discard_check(np.array([1]), 2, np.array([5]), 4)
    with pytest.raises(ValueError, match="n_samples"):
        discard_check(np.array([1]), 4, np.array([1]), 3)
    with pytest.raises(ValueError, match="delta"):
        discard_check(np.array([1]), 2, np.array([1]), 4, delta=2.0)
