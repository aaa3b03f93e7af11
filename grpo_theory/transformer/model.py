r"""A decoder-only transformer policy (equinox), and the log-probabilities of its completions.

The model maps *one* sequence of token ids to next-token logits (batch with :func:`jax.vmap`):

.. math::

    h^{(0)}_t &= E_{x_t} + P_t, \\
    u^{(l)} &= h^{(l-1)} + \mathrm{Attn}_l\big(\mathrm{LN}(h^{(l-1)})\big), \qquad
    h^{(l)} = u^{(l)} + \mathrm{MLP}_l\big(\mathrm{LN}(u^{(l)})\big), \\
    \mathrm{logits}_t &= W\,\mathrm{LN}(h^{(n)}_t) + b,

with learned token and position embeddings :math:`E, P`, pre-LayerNorm blocks of causal
multi-head self-attention (position :math:`t` attends to positions :math:`s \le t` only) and a
GELU MLP, a final LayerNorm and an output projection to the vocabulary. Causality means
:math:`\mathrm{logits}_t` depends on :math:`x_0, \dots, x_t` only, so the policy is

.. math::

    \log\pi_\theta(y_i \mid q, y_{<i}) = \log\mathrm{softmax}(\mathrm{logits}_{P+i-1})_{y_i}

for a prompt :math:`q` of :math:`P` tokens and a completion :math:`y` of :math:`L` tokens, all
read from one forward pass over ``tokens[:-1]`` (:func:`token_log_probs`).

**Sizes.** Configurations from about :math:`10^4` to a few million parameters work on a CPU;
:data:`TINY` (about 27k parameters, the default for the warm start and tests of the RL layer) and
:data:`SMALL` (about 3.2M) are two examples. Use :meth:`ModelConfig.for_task` to size the
vocabulary and the context for a task. ``dtype="float64"`` needs ``jax_enable_x64``.

Locals use shape suffixes: **T** tokens, **D** model width, **V** vocabulary.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "DTYPES",
    "ModelConfig",
    "TINY",
    "SMALL",
    "param_count",
    "Block",
    "Transformer",
    "init_model",
    "token_log_probs",
    "sequence_log_prob",
]

DTYPES = ("float32", "float64")
"""Parameter dtypes accepted by :class:`ModelConfig` (float64 needs ``jax_enable_x64``)."""


def _int_field(value: Any, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < lo:
        raise ValueError(f"ModelConfig.{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a decoder-only :class:`Transformer`.

    Attributes:
        vocab_size: :math:`V`, number of token ids (>= 2).
        max_len: context length, the longest sequence the model accepts (>= 1).
        d_model: :math:`D`, residual width (default 64); a multiple of ``n_heads``.
        n_heads: attention heads per block (default 4).
        n_layers: number of blocks (default 2, >= 1).
        d_ff: hidden width of the MLPs; ``None`` (default) means ``4 * d_model``.
        dtype: ``"float32"`` (default) or ``"float64"`` (needs ``jax_enable_x64``).

    Example:
        >>> cfg = ModelConfig(vocab_size=17, max_len=16, d_model=32)
        >>> cfg.d_ff, param_count(cfg)
        (128, 27089)
    """

    vocab_size: int
    max_len: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _int_field(self.vocab_size, "vocab_size", 2)
        _int_field(self.max_len, "max_len", 1)
        _int_field(self.d_model, "d_model", 1)
        _int_field(self.n_heads, "n_heads", 1)
        _int_field(self.n_layers, "n_layers", 1)
        if self.d_model % self.n_heads:
            raise ValueError(f"ModelConfig.d_model must be a multiple of n_heads = {self.n_heads},"
                             f" got {self.d_model}")
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        _int_field(self.d_ff, "d_ff", 1)
        if self.dtype not in DTYPES:
            raise ValueError(f"ModelConfig.dtype must be one of {DTYPES}, got {self.dtype!r}")

    @property
    def jnp_dtype(self) -> Any:
        """The parameter dtype as a numpy dtype (``jnp.float32`` or ``jnp.float64``)."""
        return jnp.dtype(self.dtype)

    def for_task(self, task: Any, **overrides: Any) -> ModelConfig:
        """This configuration sized for a task: its vocabulary and context ``P + L``.

        Args:
            task: a :class:`~grpo_theory.transformer.tasks.SequenceTask` (anything with
                ``vocab_size``, ``prompt_len`` and ``completion_len``).
            **overrides: other fields to replace (``d_model``, ``dtype``, ...).

        Returns:
            A new :class:`ModelConfig`.

        Example:
            >>> from grpo_theory.transformer.tasks import make_task
            >>> TINY.for_task(make_task("add", 0)).max_len
            10
        """
        return dataclasses.replace(self, vocab_size=int(task.vocab_size),
                                   max_len=int(task.prompt_len) + int(task.completion_len),
                                   **overrides)


TINY = ModelConfig(vocab_size=17, max_len=16, d_model=32, n_heads=4, n_layers=2)
"""About 27k parameters: :math:`D = 32`, 4 heads, 2 layers; fits every default task."""

SMALL = ModelConfig(vocab_size=17, max_len=32, d_model=256, n_heads=8, n_layers=4)
"""About 3.2M parameters: :math:`D = 256`, 8 heads, 4 layers, context 32."""


def param_count(config: ModelConfig) -> int:
    r"""Number of scalar parameters of :func:`init_model`'s model for ``config``.

    .. math::

        VD + T_{\max}D + n\big(4D^2 + 4D + 2DF + F + D + 4D\big) + 2D + DV + V

    (embeddings; per block the attention projections with biases, the MLP and two LayerNorms;
    the final LayerNorm and the output projection).

    Args:
        config: a :class:`ModelConfig`.

    Returns:
        The parameter count.

    Example:
        >>> param_count(SMALL)
        3176465
    """
    V, T, D, F, n = config.vocab_size, config.max_len, config.d_model, config.d_ff, config.n_layers
    block = 4 * D * D + 4 * D + 2 * D * F + F + D + 4 * D
    return V * D + T * D + n * block + 2 * D + D * V + V


class Block(eqx.Module):
    """One pre-LayerNorm transformer block: causal self-attention, then a GELU MLP.

    Attributes:
        attention_norm: LayerNorm before the attention.
        attention: multi-head self-attention (with biases).
        mlp_norm: LayerNorm before the MLP.
        mlp: ``D -> d_ff -> D`` MLP with GELU.
    """

    attention_norm: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    mlp_norm: eqx.nn.LayerNorm
    mlp: eqx.nn.MLP

    def __init__(self, config: ModelConfig, *, key: Array):
        """Initialise the block's layers from ``key`` (equinox's default initialisers)."""
        k_attn, k_mlp = jax.random.split(key)
        D, dtype = config.d_model, config.jnp_dtype
        self.attention_norm = eqx.nn.LayerNorm(D, dtype=dtype)
        self.attention = eqx.nn.MultiheadAttention(
            config.n_heads, D, use_query_bias=True, use_key_bias=True, use_value_bias=True,
            use_output_bias=True, dtype=dtype, key=k_attn)
        self.mlp_norm = eqx.nn.LayerNorm(D, dtype=dtype)
        self.mlp = eqx.nn.MLP(D, D, width_size=config.d_ff, depth=1, activation=jax.nn.gelu,
                              dtype=dtype, key=k_mlp)

    def __call__(self, x_TxD: Array, mask_TxT: Any) -> Array:
        """Apply the block to one sequence of residual vectors under an attention mask."""
        h_TxD = jax.vmap(self.attention_norm)(x_TxD)
        x_TxD = x_TxD + self.attention(h_TxD, h_TxD, h_TxD, mask=mask_TxT)
        h_TxD = jax.vmap(self.mlp_norm)(x_TxD)
        return x_TxD + jax.vmap(self.mlp)(h_TxD)


class Transformer(eqx.Module):
    """A decoder-only transformer on one sequence of token ids (see the module docstring).

    Build one with :func:`init_model`. Calling it on ``tokens`` of shape ``[T]``
    (``T <= config.max_len``) returns next-token logits ``[T, V]``; batch with
    :func:`jax.vmap`.

    Attributes:
        config: the :class:`ModelConfig` (static).
        token_embedding: ``V x D`` token embeddings.
        position_embedding: ``max_len x D`` learned position embeddings.
        blocks: the ``n_layers`` :class:`Block` s.
        final_norm: the final LayerNorm.
        head: the output projection ``D -> V``.
    """

    config: ModelConfig = eqx.field(static=True)
    token_embedding: eqx.nn.Embedding
    position_embedding: eqx.nn.Embedding
    blocks: tuple[Block, ...]
    final_norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, config: ModelConfig, *, key: Array):
        """Initialise every layer from ``key``; prefer :func:`init_model` (key first)."""
        k_tok, k_pos, k_head, *k_blocks = jax.random.split(key, 3 + config.n_layers)
        D, dtype = config.d_model, config.jnp_dtype
        self.config = config
        self.token_embedding = eqx.nn.Embedding(config.vocab_size, D, dtype=dtype, key=k_tok)
        self.position_embedding = eqx.nn.Embedding(config.max_len, D, dtype=dtype, key=k_pos)
        self.blocks = tuple(Block(config, key=k) for k in k_blocks)
        self.final_norm = eqx.nn.LayerNorm(D, dtype=dtype)
        self.head = eqx.nn.Linear(D, config.vocab_size, dtype=dtype, key=k_head)

    def __call__(self, tokens: Array) -> Array:
        """Next-token logits of one sequence; row ``t`` depends on ``tokens[:t + 1]`` only.

        Args:
            tokens: ``Int[Array, "T"]`` token ids in ``[0, V)``, ``1 <= T <= max_len``.

        Returns:
            ``Float[Array, "T V"]`` logits in the config's dtype.
        """
        tokens = jnp.asarray(tokens)
        if tokens.ndim != 1 or not 1 <= tokens.shape[0] <= self.config.max_len:
            raise ValueError(f"tokens must have shape [T] with 1 <= T <= max_len = "
                             f"{self.config.max_len}, got shape {tokens.shape}")
        T = tokens.shape[0]
        x_TxD = (jax.vmap(self.token_embedding)(tokens)
                 + jax.vmap(self.position_embedding)(jnp.arange(T)))
        causal_TxT = jnp.tril(jnp.ones((T, T), dtype=bool))
        for block in self.blocks:
            x_TxD = block(x_TxD, causal_TxT)
        return jax.vmap(self.head)(jax.vmap(self.final_norm)(x_TxD))


def init_model(key: Array, config: ModelConfig) -> Transformer:
    """A freshly initialised :class:`Transformer` (key first).

    Args:
        key: a JAX PRNG key.
        config: a :class:`ModelConfig`; ``dtype="float64"`` needs ``jax_enable_x64``.

    Returns:
        The model, reproducible from ``key``.

    Example:
        >>> model = init_model(jax.random.key(0), TINY)
        >>> model(jnp.array([14, 1, 2, 10])).shape
        (4, 17)
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    if config.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("config.dtype = 'float64' needs jax_enable_x64 "
                         "(jax.config.update('jax_enable_x64', True)); use 'float32' otherwise")
    return Transformer(config, key=key)


def _check_sequence(tokens: Any, prompt_len: Any) -> tuple[Array, int]:
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"tokens must have rank 1 (shape [P + L], one sequence), got shape "
                         f"{tokens.shape}")
    T = tokens.shape[0]
    if isinstance(prompt_len, bool) or not isinstance(prompt_len, numbers.Integral) \
            or not 1 <= int(prompt_len) < T:
        raise ValueError(f"prompt_len must be an integer in [1, {T - 1}] (T = {T} tokens), got "
                         f"{prompt_len!r}")
    return tokens, int(prompt_len)


def token_log_probs(model: Transformer, tokens: Array,
                    prompt_len: int, temperature: Any = 1.0) -> Array:
    r"""Log-probability of each completion token given everything before it.

    For ``tokens`` :math:`= [q; y]` with a prompt of :math:`P` tokens and a completion of
    :math:`L = T - P` tokens,

    .. math::

        \ell_i = \log\pi_\theta(y_i \mid q, y_{<i}), \qquad i = 0, \dots, L - 1,

    from one forward pass over ``tokens[:-1]`` (the row ``P + i - 1`` of the logits predicts
    :math:`y_i`), under :math:`\mathrm{softmax}(z/\tau)` at the sampling temperature
    :math:`\tau` (1: the policy itself).

    Args:
        model: the :class:`Transformer`.
        tokens: ``Int[Array, "T"]`` one prompt followed by one completion.
        prompt_len: :math:`P` in ``[1, T - 1]`` (a Python int, static under ``jit``).
        temperature: :math:`\tau > 0` (a float or a scalar array).

    Returns:
        ``Float[Array, "L"]`` the token log-probabilities (every position, no mask).

    Example:
        >>> model = init_model(jax.random.key(0), TINY)
        >>> token_log_probs(model, jnp.array([14, 1, 10, 2, 13, 3, 15]), 5).shape
        (2,)
    """
    tokens, P = _check_sequence(tokens, prompt_len)
    logits_TxV = model(tokens[:-1])
    logp_TxV = jax.nn.log_softmax(logits_TxV / jnp.asarray(temperature, logits_TxV.dtype),
                                  axis=-1)
    lp_T = jnp.take_along_axis(logp_TxV, tokens[1:, None], axis=-1)[:, 0]
    return lp_T[P - 1:]


def sequence_log_prob(model: Transformer, tokens: Array, prompt_len: int,
                      mask: Array) -> Array:
    r"""Masked sum of the completion's token log-probabilities, :math:`\sum_i m_i \ell_i`.

    With ``mask`` from :func:`~grpo_theory.transformer.tasks.completion_mask` this is
    :math:`\log\pi_\theta(y \mid q)` of the completion up to and including its first EOS.

    Args:
        model: the :class:`Transformer`.
        tokens: ``Int[Array, "T"]`` one prompt followed by one completion.
        prompt_len: :math:`P` in ``[1, T - 1]``.
        mask: ``Float[Array, "L"]`` weights of the completion tokens (``L = T - P``).

    Returns:
        ``Float[Array, ""]`` in the model's dtype.

    Example:
        >>> model = init_model(jax.random.key(0), TINY)
        >>> seq = jnp.array([14, 1, 10, 2, 13, 3, 15])
        >>> lp = sequence_log_prob(model, seq, 5, jnp.ones(2))
        >>> bool(jnp.isclose(lp, token_log_probs(model, seq, 5).sum()))
        True
    """
    tokens, P = _check_sequence(tokens, prompt_len)
    mask = jnp.asarray(mask)
    if mask.shape != (tokens.shape[0] - P,):
        raise ValueError(f"mask must have shape [L] = ({tokens.shape[0] - P},) (L = T - "
                         f"prompt_len), got {mask.shape}")
    lp_L = token_log_probs(model, tokens, P)
    return jnp.sum(lp_L * mask.astype(lp_L.dtype))
