"""Tests of the transformer: configuration, shapes, causality, log-probabilities, float64."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.transformer.model import (
    SMALL,
    TINY,
    ModelConfig,
    Transformer,
    init_model,
    param_count,
    sequence_log_prob,
    token_log_probs,
)
from grpo_theory.transformer.tasks import VOCAB_SIZE, make_task

T_MAX = 12  # max_len of the small test model (tests/transformer/conftest.py)


def _n_params(model_or_shapes) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(model_or_shapes))


@pytest.fixture(scope="module")
def forward():
    """The model's forward pass, jitted once for all examples."""
    return eqx.filter_jit(lambda model, tokens: model(tokens))


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
@pytest.mark.parametrize("config", [
    TINY, SMALL, ModelConfig(vocab_size=5, max_len=3, d_model=6, n_heads=3, n_layers=1, d_ff=7),
])
def test_param_count_matches_the_initialised_model(config):
    shapes = jax.eval_shape(lambda k: eqx.filter(init_model(k, config), eqx.is_array),
                            jax.random.key(0))
    assert _n_params(shapes) == param_count(config)


@pytest.mark.exact
def test_example_configs_span_ten_thousand_to_millions():
    assert 10_000 <= param_count(TINY) <= 100_000
    assert 1_000_000 <= param_count(SMALL) <= 5_000_000
    assert TINY.d_ff == 4 * TINY.d_model and TINY.vocab_size == VOCAB_SIZE
    for name in ("add", "reverse", "sort"):
        task = make_task(name)
        assert task.seq_len <= TINY.max_len
        sized = TINY.for_task(task, dtype="float64")
        assert (sized.max_len, sized.vocab_size, sized.dtype) == (task.seq_len, VOCAB_SIZE,
                                                                 "float64")


@pytest.mark.exact
@pytest.mark.parametrize("field, value", [
    ("vocab_size", 1), ("max_len", 0), ("d_model", 0), ("n_heads", 0), ("n_layers", 0),
    ("d_ff", 0), ("dtype", "float16"), ("d_model", 30), ("vocab_size", 2.5),
])
def test_bad_config_raises_naming_the_field(field, value):
    kwargs = {"vocab_size": 17, "max_len": 8, "d_model": 32, "n_heads": 4} | {field: value}
    with pytest.raises(ValueError, match=field):
        ModelConfig(**kwargs)


@pytest.mark.exact
def test_float64_needs_x64(small_config):
    config = dataclasses.replace(small_config, dtype="float64")
    with jax.enable_x64(False), pytest.raises(ValueError, match="dtype"):
        init_model(jax.random.key(0), config)
    with pytest.raises(TypeError, match="config"):
        init_model(jax.random.key(0), {"vocab_size": 17})


# ----------------------------------------------------------------------------------------------
# Forward pass
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
def test_output_shape_dtype_and_finiteness(small_model, small_model64, forward):
    tokens = jax.random.randint(jax.random.key(1), (T_MAX,), 0, VOCAB_SIZE)
    for model, dtype, lengths in [(small_model, jnp.float32, (1, T_MAX)),
                                  (small_model64, jnp.float64, (T_MAX,))]:
        for T in lengths:
            logits = forward(model, tokens[:T])
            assert logits.shape == (T, VOCAB_SIZE) and logits.dtype == dtype
            assert bool(jnp.all(jnp.isfinite(logits)))
    assert isinstance(small_model, Transformer) and len(small_model.blocks) == 2


@pytest.mark.exact
def test_model_is_reproducible_from_its_key(small_config, small_model, forward):
    tokens = jnp.arange(T_MAX) % VOCAB_SIZE
    same = init_model(jax.random.key(0), small_config)
    other = init_model(jax.random.key(1), small_config)
    assert np.array_equal(forward(same, tokens), forward(small_model, tokens))
    assert not np.allclose(forward(other, tokens), forward(small_model, tokens))


@pytest.mark.exact
def test_vmap_over_sequences_equals_one_at_a_time(small_model, forward):
    tokens_BxT = jax.random.randint(jax.random.key(2), (3, T_MAX), 0, VOCAB_SIZE)
    batched = eqx.filter_jit(jax.vmap(lambda m, t: m(t), in_axes=(None, 0)))(small_model,
                                                                            tokens_BxT)
    for b in range(3):
        np.testing.assert_allclose(batched[b], forward(small_model, tokens_BxT[b]), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.exact
def test_bad_token_shapes_raise(small_model):
    with pytest.raises(ValueError, match="tokens"):
        small_model(jnp.zeros((T_MAX + 1,), jnp.int32))
    with pytest.raises(ValueError, match="tokens"):
        small_model(jnp.zeros((2, 3), jnp.int32))


# ----------------------------------------------------------------------------------------------
# Causality
# ----------------------------------------------------------------------------------------------

token_rows = st.lists(st.integers(0, VOCAB_SIZE - 1), min_size=T_MAX, max_size=T_MAX)


@pytest.mark.property
@given(token_rows, token_rows, st.integers(0, T_MAX - 1))
def test_logits_do_not_depend_on_later_tokens(small_model, forward, tokens, other, t):
    """Replacing every token after position t leaves the logits at positions <= t unchanged.

    The masked attention weights are exactly zero (equinox sets the masked scores to the most
    negative float before the softmax), so the earlier rows must agree to the last bit.
    """
    a = jnp.array(tokens)
    b = a.at[t + 1:].set(jnp.array(other)[t + 1:])
    la, lb = forward(small_model, a), forward(small_model, b)
    np.testing.assert_array_equal(np.asarray(la[: t + 1]), np.asarray(lb[: t + 1]))
    if not np.array_equal(np.asarray(a), np.asarray(b)):
        assert not np.array_equal(np.asarray(la), np.asarray(lb)), "later rows must react"


@pytest.fixture(scope="module")
def input_gradient():
    """Gradient of ``c . logits[t]`` w.r.t. the input vector added at every position.

    Each position ``s`` adds row ``s`` of the position embedding to its input, so the gradient
    with respect to that table (at ``T = max_len``) is the gradient with respect to the input
    embedding of every position.
    """

    @eqx.filter_jit
    def grad(model, tokens, t, c):
        def f(table):
            m = eqx.tree_at(lambda m: m.position_embedding.weight, model, table)
            return jnp.dot(m(tokens)[t], c)

        return jax.grad(f)(model.position_embedding.weight)

    return grad


@pytest.mark.property
@given(token_rows, st.integers(0, T_MAX - 1), st.integers(0, 2**31 - 1))
def test_gradient_wrt_later_inputs_is_zero(small_model, input_gradient, tokens, t, seed):
    """nanodo's causality test: d logits_t / d x_s = 0 exactly for s > t, nonzero for s <= t."""
    c = jax.random.normal(jax.random.key(seed), (VOCAB_SIZE,), jnp.float32)
    g_TxD = np.asarray(input_gradient(small_model, jnp.array(tokens), jnp.asarray(t), c))
    norms = np.linalg.norm(g_TxD, axis=1)
    assert np.all(norms[t + 1:] == 0.0)
    assert np.all(norms[: t + 1] > 0.0)


# ----------------------------------------------------------------------------------------------
# Log-probabilities
# ----------------------------------------------------------------------------------------------


def _layer_norm(x, norm):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + norm.eps) * np.asarray(norm.weight) + np.asarray(norm.bias)


def _linear(x, lin):
    return x @ np.asarray(lin.weight, dtype=np.float64).T + np.asarray(lin.bias)


def _gelu(x):  # jax.nn.gelu's default tanh approximation
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _numpy_logits(model, tokens):
    """An independent float64 numpy forward pass of one sequence (the model's equations)."""
    tokens = np.asarray(tokens)
    T, H = tokens.shape[0], model.config.n_heads
    x = (np.asarray(model.token_embedding.weight, dtype=np.float64)[tokens]
         + np.asarray(model.position_embedding.weight)[:T])
    causal = np.tril(np.ones((T, T), dtype=bool))
    for block in model.blocks:
        h = _layer_norm(x, block.attention_norm)
        att = block.attention
        q, k, v = (_linear(h, proj).reshape(T, H, -1)
                   for proj in (att.query_proj, att.key_proj, att.value_proj))
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(q.shape[-1])
        scores = np.where(causal[None], scores, -np.inf)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        x = x + _linear(np.einsum("hts,shd->thd", weights, v).reshape(T, -1), att.output_proj)
        h = _layer_norm(x, block.mlp_norm)
        x = x + _linear(_gelu(_linear(h, block.mlp.layers[0])), block.mlp.layers[1])
    return _linear(_layer_norm(x, model.final_norm), model.head)


def _naive_token_log_probs(model, tokens, P):
    """One numpy forward pass per completion token, on its prefix only."""
    tokens = np.asarray(tokens)
    out = []
    for i in range(P, tokens.shape[0]):
        z = _numpy_logits(model, tokens[:i])[-1]
        out.append(z[tokens[i]] - z.max() - np.log(np.exp(z - z.max()).sum()))
    return np.array(out)


@pytest.mark.exact
def test_forward_pass_matches_an_independent_numpy_implementation(small_model64, forward):
    tokens = jax.random.randint(jax.random.key(7), (T_MAX,), 0, VOCAB_SIZE)
    np.testing.assert_allclose(forward(small_model64, tokens), _numpy_logits(small_model64, tokens),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.exact
@pytest.mark.parametrize("P", [1, 4, 8])
def test_token_log_probs_equal_naive_per_position(small_model, small_model64, P):
    tokens = jax.random.randint(jax.random.key(P), (T_MAX,), 0, VOCAB_SIZE)
    for model, tol in [(small_model, 1e-5), (small_model64, 1e-10)]:
        lp = eqx.filter_jit(token_log_probs)(model, tokens, P)
        assert lp.shape == (T_MAX - P,) and lp.dtype == model.config.jnp_dtype
        np.testing.assert_allclose(lp, _naive_token_log_probs(model, tokens, P), rtol=tol,
                                   atol=tol)
        assert bool(jnp.all(lp < 0))


@pytest.mark.exact
def test_sequence_log_prob_is_the_masked_sum(small_model64):
    tokens = jax.random.randint(jax.random.key(3), (10,), 0, VOCAB_SIZE)
    mask = jnp.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    lp = eqx.filter_jit(token_log_probs)(small_model64, tokens, 4)
    np.testing.assert_allclose(eqx.filter_jit(sequence_log_prob)(small_model64, tokens, 4, mask),
                               lp[:3].sum(), rtol=1e-14)
    grad = eqx.filter_jit(eqx.filter_grad(lambda m: sequence_log_prob(m, tokens, 4, mask)))(
        small_model64)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grad))


@pytest.mark.exact
def test_log_prob_arguments_are_checked(small_model):
    tokens = jnp.zeros((6,), jnp.int32)
    for P in (0, 6, 2.0):
        with pytest.raises(ValueError, match="prompt_len"):
            token_log_probs(small_model, tokens, P)
    with pytest.raises(ValueError, match="tokens"):
        token_log_probs(small_model, tokens[None], 2)
    with pytest.raises(ValueError, match="mask"):
        sequence_log_prob(small_model, tokens, 2, jnp.ones(3))
