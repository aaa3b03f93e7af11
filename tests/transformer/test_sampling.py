"""Tests of sampling: shapes, keys, EOS handling, log-probs, greedy limit, the law of the draws."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from grpo_theory.transformer.model import token_log_probs
from grpo_theory.transformer.sampling import (
    greedy_completions,
    sample_completions,
    success_rates,
)
from grpo_theory.transformer.tasks import EOS, PAD, VOCAB_SIZE, completion_mask, exact_match_reward

Q, G, P, L = 3, 8, 6, 4


def _eos_heavy(model, shift=2.0):
    """The model with its EOS logit raised, so that rollouts often stop early."""
    return eqx.tree_at(lambda m: m.head.bias, model, model.head.bias.at[EOS].add(shift))


@pytest.fixture(scope="module")
def prompts():
    return jax.random.randint(jax.random.key(11), (Q, P), 0, VOCAB_SIZE, dtype=jnp.int32)


@pytest.fixture(scope="module")
def model(small_model):
    return _eos_heavy(small_model)


@pytest.fixture(scope="module")
def model64(small_model64):
    return _eos_heavy(small_model64)


@pytest.fixture(scope="module")
def rollouts(model, prompts):
    return sample_completions(jax.random.key(5), model, prompts, n_rollouts=G, completion_len=L)


@pytest.fixture(scope="module")
def recompute():
    """Token log-probs of every rollout, recomputed by one forward pass on its sequence."""

    @eqx.filter_jit
    def f(model, prompts_QxP, tokens_QxGxL):
        def one(prompt, completion):
            return token_log_probs(model, jnp.concatenate([prompt, completion]), P)

        per_prompt = jax.vmap(one, in_axes=(None, 0))
        return jax.vmap(per_prompt)(prompts_QxP, tokens_QxGxL)

    return f


@pytest.mark.exact
def test_shapes_and_dtypes(rollouts):
    assert set(rollouts) == {"tokens", "log_probs", "mask"}
    assert rollouts["tokens"].shape == (Q, G, L) and rollouts["tokens"].dtype == jnp.int32
    assert rollouts["log_probs"].shape == (Q, G, L) and rollouts["log_probs"].dtype == jnp.float32
    assert rollouts["mask"].shape == (Q, G, L) and rollouts["mask"].dtype == jnp.float32
    tokens = np.asarray(rollouts["tokens"])
    assert tokens.min() >= 0 and tokens.max() < VOCAB_SIZE


@pytest.mark.exact
def test_samples_are_a_function_of_the_key(model, prompts, rollouts):
    again = sample_completions(jax.random.key(5), model, prompts, n_rollouts=G, completion_len=L)
    other = sample_completions(jax.random.key(6), model, prompts, n_rollouts=G, completion_len=L)
    for name in rollouts:
        np.testing.assert_array_equal(again[name], rollouts[name])
    assert not np.array_equal(other["tokens"], rollouts["tokens"])
    # the G rollouts of a prompt are not copies of each other
    assert len({tuple(r) for r in np.asarray(rollouts["tokens"][0]).tolist()}) > 1


@pytest.mark.exact
def test_tokens_after_eos_are_pad_with_zero_mask_and_log_prob(rollouts):
    tokens = np.asarray(rollouts["tokens"]).reshape(-1, L)
    mask = np.asarray(rollouts["mask"]).reshape(-1, L)
    lp = np.asarray(rollouts["log_probs"]).reshape(-1, L)
    expected = np.asarray(jax.vmap(completion_mask)(jnp.asarray(tokens)))
    np.testing.assert_array_equal(mask, expected)
    assert np.all(tokens[mask == 0] == PAD)
    assert np.all(lp[mask == 0] == 0.0)
    assert np.all(lp[mask == 1] < 0.0)
    stopped_early = (mask == 0).any(axis=1)
    assert 0 < stopped_early.sum() < len(tokens), "the test needs both kinds of rollouts"
    # before the first EOS no token is PAD-filled by the sampler (PAD can still be drawn)
    first_eos = np.argmax(tokens == EOS, axis=1)
    assert np.all(mask[stopped_early].sum(axis=1) == first_eos[stopped_early] + 1)


@pytest.mark.exact
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_log_probs_equal_a_forward_pass_on_the_samples(model, prompts, recompute, temperature):
    out = sample_completions(jax.random.key(8), model, prompts, n_rollouts=G, completion_len=L,
                             temperature=temperature)
    recomputed = recompute(model, prompts, out["tokens"]) * out["mask"]
    np.testing.assert_allclose(out["log_probs"], recomputed, rtol=1e-5, atol=1e-5)


@pytest.mark.exact
def test_log_probs_equal_a_forward_pass_in_float64(model64, prompts, recompute):
    out = sample_completions(jax.random.key(9), model64, prompts, n_rollouts=G, completion_len=L)
    assert out["log_probs"].dtype == jnp.float64
    recomputed = recompute(model64, prompts, out["tokens"]) * out["mask"]
    np.testing.assert_allclose(out["log_probs"], recomputed, rtol=1e-10, atol=1e-10)


@pytest.mark.exact
def test_low_temperature_samples_are_greedy(model, prompts):
    greedy = greedy_completions(model, prompts, L)
    assert greedy.shape == (Q, L) and greedy.dtype == jnp.int32
    cold = sample_completions(jax.random.key(3), model, prompts, n_rollouts=G, completion_len=L,
                              temperature=1e-5)
    np.testing.assert_array_equal(cold["tokens"], jnp.broadcast_to(greedy[:, None], (Q, G, L)))
    after_eos = np.asarray(jax.vmap(completion_mask)(greedy)) == 0
    assert np.all(np.asarray(greedy)[after_eos] == PAD)


@pytest.mark.exact
def test_temperature_may_be_an_array_or_traced_under_jit(model, prompts):
    """A float, a concrete scalar array and a traced scalar give the same samples."""
    args = {"n_rollouts": 2, "completion_len": L}
    ref = sample_completions(jax.random.key(4), model, prompts, temperature=0.8, **args)
    arr = sample_completions(jax.random.key(4), model, prompts, temperature=jnp.asarray(0.8),
                             **args)

    @jax.jit
    def traced(tau):
        return sample_completions(jax.random.key(4), model, prompts, temperature=tau, **args)

    np.testing.assert_array_equal(arr["tokens"], ref["tokens"])
    np.testing.assert_array_equal(traced(jnp.float32(0.8))["tokens"], ref["tokens"])
    with pytest.raises(ValueError, match="temperature"):
        sample_completions(jax.random.key(4), model, prompts, temperature=jnp.zeros(()), **args)
    with pytest.raises(ValueError, match="temperature"):
        sample_completions(jax.random.key(4), model, prompts, temperature=jnp.ones(2), **args)


@pytest.mark.statistical
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_first_token_law_matches_the_model_softmax(small_model, temperature):
    """Chi-square goodness of fit of 20,000 first tokens to softmax(logits / temperature).

    With a fixed key the test is deterministic; under the null hypothesis (a correct sampler)
    a random key would fail it with probability 1e-6, the p-value threshold. Categories with an
    expected count below 5 are pooled so that the chi-square approximation holds.
    """
    n = 20_000
    prompt = jnp.array([[14, 3, 10, 4, 13]], dtype=jnp.int32)
    out = sample_completions(jax.random.key(2024), small_model, prompt, n_rollouts=n,
                             completion_len=1, temperature=temperature)
    observed = np.bincount(np.asarray(out["tokens"]).ravel(), minlength=VOCAB_SIZE)
    z = np.asarray(small_model(prompt[0])[-1], dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    expected = n * p
    big = expected >= 5
    f_obs = np.append(observed[big], observed[~big].sum())
    f_exp = np.append(expected[big], expected[~big].sum())
    if f_exp[-1] < 5:  # pool the small categories into the smallest big one
        i = np.argmin(f_exp[:-1])
        f_obs[i] += f_obs[-1]
        f_exp[i] += f_exp[-1]
        f_obs, f_exp = f_obs[:-1], f_exp[:-1]
    assert big.sum() >= 5, "the test needs several categories"
    result = stats.chisquare(f_obs, f_exp)
    assert result.pvalue > 1e-6, (result, observed, expected)


@pytest.mark.exact
def test_success_rates_at_low_temperature_are_greedy_exact_match(small_model, reverse_task):
    prompts, answers = reverse_task.split("train")
    prompts, answers = prompts[:20], answers[:20]
    L_task = reverse_task.completion_len
    model = small_model
    greedy = greedy_completions(model, prompts, L_task)
    expected = jax.vmap(exact_match_reward)(greedy, jnp.asarray(answers))
    for chunk_size in (7, 20):
        rates = success_rates(jax.random.key(0), model, prompts, answers, n_samples=3,
                              temperature=1e-5, chunk_size=chunk_size)
        np.testing.assert_array_equal(rates, expected)


@pytest.mark.exact
def test_success_rates_shape_range_and_grid(small_model, add_task):
    prompts, answers = add_task.split("all")
    n = 4
    rates = success_rates(jax.random.key(1), small_model, prompts[:10], answers[:10],
                          n_samples=n, reward_kind="partial", chunk_size=4)
    assert rates.shape == (10,)
    r = np.asarray(rates)
    assert np.all((r >= 0) & (r <= 1))
    # partial credit on answers with at most 2 positions: multiples of 1/(2n) on [0, 1]
    np.testing.assert_allclose(r * 2 * n, np.round(r * 2 * n), atol=1e-9)
    longer = success_rates(jax.random.key(1), small_model, prompts[:10], answers[:10],
                           n_samples=n, completion_len=add_task.completion_len + 2)
    assert longer.shape == (10,)


@pytest.mark.exact
@pytest.mark.parametrize("kwargs, name", [
    ({"n_rollouts": 0}, "n_rollouts"),
    ({"n_rollouts": 2.0}, "n_rollouts"),
    ({"completion_len": 0}, "completion_len"),
    ({"completion_len": 8}, "completion_len"),  # P + L - 1 = 13 > max_len = 12
    ({"temperature": 0.0}, "temperature"),
    ({"temperature": -1.0}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"temperature": float("inf")}, "temperature"),
])
def test_bad_sampling_arguments_raise_naming_the_parameter(small_model, prompts, kwargs, name):
    args = {"n_rollouts": 2, "completion_len": 2} | kwargs
    with pytest.raises(ValueError, match=name):
        sample_completions(jax.random.key(0), small_model, prompts, **args)


@pytest.mark.exact
def test_bad_prompts_and_rate_arguments_raise(small_model, prompts, add_task):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="prompts"):
        sample_completions(key, small_model, prompts[0], n_rollouts=2, completion_len=2)
    with pytest.raises(ValueError, match="prompts"):
        greedy_completions(small_model, prompts.astype(jnp.float32), 2)
    with pytest.raises(TypeError, match="model"):
        greedy_completions(lambda x: x, prompts, 2)
    p, a = add_task.split("all")
    for kwargs, name in [({"n_samples": 0}, "n_samples"), ({"reward_kind": "dense"},
                                                            "reward_kind"),
                         ({"completion_len": 1}, "completion_len"),
                         ({"chunk_size": 0}, "chunk_size")]:
        with pytest.raises(ValueError, match=name):
            success_rates(key, small_model, p[:4], a[:4], **({"n_samples": 2} | kwargs))
    with pytest.raises(ValueError, match="answers"):
        success_rates(key, small_model, p[:4], a[:3], n_samples=2)
