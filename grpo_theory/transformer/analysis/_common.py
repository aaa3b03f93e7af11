"""Private helpers shared by the submodules of :mod:`grpo_theory.transformer.analysis`.

Argument checks, the compiled per-sample score computation (one chunk of rows) and exact-match
sampling of one completion per row. Nothing here is public; the public names live in the
submodules and are re-exported by the package.
"""

from __future__ import annotations

import numbers
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from grpo_theory._validate import check_int as _int  # noqa: F401  (used by the submodules)
from grpo_theory.transformer.model import Transformer, token_log_probs
from grpo_theory.transformer.sampling import sample_completions
from grpo_theory.transformer.tasks import reward

__all__: list[str] = []


def _check_model(model: Any, name: str = "model") -> Transformer:
    if not isinstance(model, Transformer):
        raise TypeError(f"{name} must be a Transformer, got {type(model).__name__}")
    return model




def _level(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not 0.0 < float(x) < 1.0:
        raise ValueError(f"{name} must be a real number in (0, 1), got {x!r}")
    return float(x)


def _tokens(x: Any, name: str, ndim: int) -> Array:
    arr = jnp.asarray(x)
    if arr.ndim != ndim or 0 in arr.shape:
        shape = "[N, T]" if ndim == 2 else "[T]"
        raise ValueError(f"{name} must have shape {shape} (non-empty), got shape {arr.shape}")
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    return arr.astype(jnp.int32)


def _check_context(model: Transformer, P: int, L: int, what: str) -> None:
    if P + L - 1 > model.config.max_len:
        raise ValueError(f"{what}: prompt length {P} plus completion length {L} minus 1 must be "
                         f"<= model.config.max_len = {model.config.max_len}")


def _check_prompt_set(model: Transformer, prompts: Any, answers: Any) -> tuple[Array, Array]:
    _check_model(model)
    prompts = _tokens(prompts, "prompts", 2)
    answers = _tokens(answers, "answers", 2)
    if answers.shape[0] != prompts.shape[0]:
        raise ValueError(f"answers must have one row per prompt (N = {prompts.shape[0]}), got "
                         f"{answers.shape[0]}")
    _check_context(model, prompts.shape[1], answers.shape[1], "prompts and answers")
    return prompts, answers


@eqx.filter_jit
def _score_chunk(model: Transformer, prompts_NxP: Array, completions_NxL: Array, masks_NxL: Array,
                 normalise: bool) -> Array:
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_array))
    P = prompts_NxP.shape[1]

    def seq_logp(theta: Array, prompt: Array, completion: Array, mask: Array) -> Array:
        m = eqx.combine(unravel(theta), model)
        lp_L = token_log_probs(m, jnp.concatenate([prompt, completion]), P)
        total = jnp.sum(lp_L * mask.astype(lp_L.dtype))
        return total / jnp.maximum(1.0, jnp.sum(mask)).astype(lp_L.dtype) if normalise else total

    return jax.vmap(jax.grad(seq_logp), in_axes=(None, 0, 0, 0))(flat, prompts_NxP,
                                                                  completions_NxL, masks_NxL)


@jax.jit
def _binary_rewards(completions_NxL: Array, answers_NxL: Array) -> Array:
    return jax.vmap(lambda c, a: reward("binary", c, a))(completions_NxL, answers_NxL)


def _sample_rows(key: Array, model: Transformer, prompts_NxP: Array, answers_NxL: Array
                 ) -> tuple[Array, Array, Array]:
    """One completion per row (rows padded by the caller): tokens, masks and binary rewards."""
    L = answers_NxL.shape[1]
    out = sample_completions(key, model, prompts_NxP, n_rollouts=1, completion_len=L)
    tokens, masks = out["tokens"][:, 0], out["mask"][:, 0]
    return tokens, masks, _binary_rewards(tokens, answers_NxL)
