r"""Per-sample scores of a transformer policy: its parameter vector, sequence and token scores.

Every quantity of :mod:`grpo_theory.transformer.analysis` is a function of a
:class:`~grpo_theory.transformer.model.Transformer` policy :math:`\pi_\theta` with its parameters
flattened into one vector :math:`\theta \in \mathbb R^D` (:func:`parameter_vector`,
``ravel_pytree`` of the model's arrays). A completion :math:`y` of a prompt :math:`q` has token
scores :math:`g_t = \nabla_\theta\log\pi_\theta(y_t\mid q, y_{<t})` (:func:`token_score_vectors`)
and, with the mask :math:`m_t` of :func:`~grpo_theory.transformer.tasks.completion_mask` (the
tokens up to and including the first EOS) and the length :math:`|y| = \sum_t m_t`, the sequence
score :math:`s_y = \sum_t m_t g_t` (:func:`score_vectors`).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from grpo_theory.transformer.analysis._common import (
    _check_context,
    _check_model,
    _int,
    _score_chunk,
    _tokens,
)
from grpo_theory.transformer.model import Transformer, token_log_probs

__all__ = [
    "CHUNK_ROWS",
    "parameter_vector",
    "with_parameters",
    "score_vectors",
    "token_score_vectors",
]

CHUNK_ROWS = 256
"""Rows (completions) per compiled call of the samplers and of the score computation."""


def parameter_vector(model: Transformer) -> Array:
    r"""All parameters of ``model`` as one vector :math:`\theta` (``ravel_pytree`` order).

    Args:
        model: a :class:`~grpo_theory.transformer.model.Transformer`.

    Returns:
        ``Float[Array, "D"]`` in the model's dtype.

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model, param_count
        >>> model = init_model(jax.random.key(0), TINY)
        >>> parameter_vector(model).shape == (param_count(TINY),)
        True
    """
    flat, _ = ravel_pytree(eqx.filter(_check_model(model), eqx.is_array))
    return flat


def with_parameters(model: Transformer, theta: Any) -> Transformer:
    r"""``model`` with its parameters replaced by the vector ``theta`` (inverse of
    :func:`parameter_vector`).

    Args:
        model: a :class:`~grpo_theory.transformer.model.Transformer` (gives the structure).
        theta: ``Float[Array, "D"]`` new parameters.

    Returns:
        The model with parameters ``theta`` (cast to the model's dtype).

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> model = init_model(jax.random.key(0), TINY)
        >>> theta = parameter_vector(model)
        >>> bool(jnp.all(parameter_vector(with_parameters(model, 2 * theta)) == 2 * theta))
        True
    """
    flat, unravel = ravel_pytree(eqx.filter(_check_model(model), eqx.is_array))
    theta = jnp.asarray(theta)
    if theta.shape != flat.shape:
        raise ValueError(f"theta must have shape [D] = {list(flat.shape)}, got "
                         f"{list(theta.shape)}")
    return eqx.combine(unravel(theta.astype(flat.dtype)), model)


def _pad_rows(x: Array, rows: int) -> Array:
    if x.shape[0] == rows:
        return x
    return jnp.concatenate([x, jnp.repeat(x[:1], rows - x.shape[0], axis=0)])


def score_vectors(model: Transformer, prompts: Any, completions: Any, masks: Any, *,
                  normalise: bool = False, chunk_size: int = CHUNK_ROWS) -> Array:
    r"""Per-sample gradients of the masked sequence log-probabilities, one row per completion.

    .. math::

        s_n = \nabla_\theta\sum_t m_{n,t}\log\pi_\theta(y_{n,t}\mid q_n, y_{n,<t})
        \quad\Big(\text{divided by } |y_n| = \sum_t m_{n,t}\text{ if } \texttt{normalise}\Big),

    computed by ``jax.vmap`` of ``jax.grad`` over chunks of ``chunk_size`` rows (one compiled
    call per chunk shape; the last chunk is padded), so that memory stays bounded by the chunk.

    Args:
        model: the policy.
        prompts: ``Int[Array, "N P"]`` prompts.
        completions: ``Int[Array, "N L"]`` completions.
        masks: ``Float[Array, "N L"]`` token weights (usually
            :func:`~grpo_theory.transformer.tasks.completion_mask`).
        normalise: divide each score by its completion's length (per-token averaging).
        chunk_size: rows per compiled call, ``>= 1``.

    Returns:
        ``Float[Array, "N D"]`` in the model's dtype.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 8, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> s = score_vectors(model, jnp.array([[14, 1, 10, 2, 13]] * 3),
        ...                   jnp.array([[3, 15], [3, 15], [4, 4]]), jnp.ones((3, 2)))
        >>> s.shape == (3, parameter_vector(model).size), bool(jnp.all(s[0] == s[1]))
        (True, True)
    """
    _check_model(model)
    prompts = _tokens(prompts, "prompts", 2)
    completions = _tokens(completions, "completions", 2)
    N, P = prompts.shape
    L = completions.shape[1]
    if completions.shape[0] != N:
        raise ValueError(f"completions must have one row per prompt (N = {N}), got "
                         f"{completions.shape[0]}")
    masks = jnp.asarray(masks)
    if masks.shape != completions.shape:
        raise ValueError(f"masks must have the shape of completions {list(completions.shape)}, "
                         f"got {list(masks.shape)}")
    _check_context(model, P, L, "score_vectors")
    C = _int(chunk_size, "chunk_size", 1)
    normalise = bool(normalise)
    if N <= C:
        return _score_chunk(model, prompts, completions, masks, normalise)
    out = []
    for start in range(0, N, C):
        stop = min(N, start + C)
        rows = [_pad_rows(a[start:stop], C) for a in (prompts, completions, masks)]
        out.append(_score_chunk(model, *rows, normalise)[: stop - start])
    return jnp.concatenate(out)


@eqx.filter_jit
def _token_jacobian(model: Transformer, tokens_NxT: Array, P: int) -> tuple[Array, Array]:
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_array))

    def lp(theta: Array) -> Array:
        m = eqx.combine(unravel(theta), model)
        return jax.vmap(token_log_probs, in_axes=(None, 0, None))(m, tokens_NxT, P)

    return lp(flat), jax.jacrev(lp)(flat)


def token_score_vectors(model: Transformer, prompt: Any, completion: Any) -> Array:
    r"""Token scores :math:`g_t = \nabla_\theta\log\pi_\theta(y_t\mid q, y_{<t})`, one row per
    completion token (no mask: every position).

    Args:
        model: the policy.
        prompt: ``Int[Array, "P"]`` one prompt.
        completion: ``Int[Array, "L"]`` one completion.

    Returns:
        ``Float[Array, "L D"]``; the masked sum of its rows is the sequence score.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 8, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> g = token_score_vectors(model, jnp.array([14, 1, 10, 2, 13]), jnp.array([3, 15]))
        >>> s = score_vectors(model, jnp.array([[14, 1, 10, 2, 13]]), jnp.array([[3, 15]]),
        ...                   jnp.ones((1, 2)))
        >>> g.shape[0], bool(jnp.allclose(g.sum(axis=0), s[0], atol=1e-5))
        (2, True)
    """
    _check_model(model)
    prompt = _tokens(prompt, "prompt", 1)
    completion = _tokens(completion, "completion", 1)
    _check_context(model, prompt.shape[0], completion.shape[0], "token_score_vectors")
    tokens = jnp.concatenate([prompt, completion])[None]
    return _token_jacobian(model, tokens, int(prompt.shape[0]))[1][0]
