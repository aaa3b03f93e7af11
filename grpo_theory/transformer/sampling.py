r"""Jitted, vectorised autoregressive sampling from a :class:`~.model.Transformer` policy.

**Decoding.** Each prompt :math:`q` (:math:`P` tokens) gets a fixed buffer of :math:`P + L`
tokens, the prompt followed by PAD. A :func:`jax.lax.scan` over the :math:`L` completion
positions runs the model on ``buffer[:-1]`` (the full forward pass is recomputed at every step;
causality makes the not-yet-written positions irrelevant), reads the logits :math:`z` of the
position that predicts token :math:`i`, draws

.. math::

    y_i \sim \mathrm{softmax}(z / \tau)

at temperature :math:`\tau > 0`, and writes it into the buffer. After the first EOS a rollout is
finished: its later tokens are PAD and its mask is 0 there. Rollouts are batched over prompts
and the :math:`G` rollouts per prompt with :func:`jax.vmap`; the whole decode is one compiled
call per shape (``G`` and ``L`` are static).

**Temperature and log-probabilities.** The temperature only changes how tokens are *drawn*. The
returned ``log_probs`` are always the policy's own log-probabilities at temperature 1,

.. math::

    \ell_i = \log\mathrm{softmax}(z)_{y_i} = \log\pi_\theta(y_i \mid q, y_{<i}),

which is what policy-gradient ratios and KL terms use. At :math:`\tau = 1` this is also the
log-probability under the sampling distribution; at :math:`\tau \ne 1` the sampling distribution
is :math:`\pi^{1/\tau}` renormalised, and an off-policy correction (if wanted) is the caller's.
As :math:`\tau \to 0` sampling becomes greedy decoding (:func:`greedy_completions`).

**Reproducibility.** Every draw comes from ``key`` through :func:`jax.random.split`, so equal
keys and shapes give equal samples.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from grpo_theory.transformer.model import Transformer
from grpo_theory.transformer.tasks import EOS, PAD, REWARD_KINDS, completion_mask, reward

__all__ = [
    "sample_completions",
    "greedy_completions",
    "success_rates",
]


def _positive_int(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or int(x) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {x!r}")
    return int(x)


def _check_prompts(model: Any, prompts: Any, completion_len: Any) -> tuple[Array, int]:
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    prompts = jnp.asarray(prompts)
    if prompts.ndim != 2 or prompts.shape[0] < 1 or prompts.shape[1] < 1:
        raise ValueError(f"prompts must have shape [Q, P] with Q, P >= 1, got shape "
                         f"{prompts.shape}")
    if not jnp.issubdtype(prompts.dtype, jnp.integer):
        raise ValueError(f"prompts must hold integer token ids, got dtype {prompts.dtype}")
    L = _positive_int(completion_len, "completion_len")
    P, max_len = prompts.shape[1], model.config.max_len
    if P + L - 1 > max_len:
        raise ValueError(f"completion_len must be in [1, {max_len - P + 1}] so that P + L - 1 <= "
                         f"max_len = {max_len} (P = {P}), got {L}")
    return prompts.astype(jnp.int32), L


def _temperature(temperature: Any, dtype: Any) -> Array:
    """The temperature as a scalar array; a traced value (inside ``jit``) is not range-checked."""
    if isinstance(temperature, jax.Array):
        if temperature.shape != () or not jnp.issubdtype(temperature.dtype, jnp.floating):
            raise ValueError(f"temperature must be a finite real > 0 (a float or a float scalar "
                             f"array), got shape {temperature.shape} dtype {temperature.dtype}")
        try:
            value = float(temperature)
        except jax.errors.ConcretizationTypeError:
            return temperature.astype(dtype)
    elif isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise ValueError(f"temperature must be a finite real > 0, got {temperature!r}")
    else:
        value = float(temperature)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a finite real > 0, got {temperature!r}")
    return jnp.asarray(value, dtype=dtype)


@eqx.filter_jit
def _decode(key: Array, model: Transformer, prompts_NxP: Array, temperature: Array,
            completion_len: int, greedy: bool) -> tuple[Array, Array]:
    """Decode ``completion_len`` tokens for every row; returns tokens and log-probs ``[N, L]``."""
    N, P = prompts_NxP.shape
    L = completion_len
    buffer_NxS = jnp.concatenate([prompts_NxP, jnp.full((N, L), PAD, jnp.int32)], axis=1)
    keys_LxN = jax.random.split(key, (L, N))

    def step(carry, xs):
        buffer_NxS, done_N = carry
        i, keys_N = xs
        logits_NxTxV = jax.vmap(model)(buffer_NxS[:, :-1])
        logits_NxV = jax.lax.dynamic_index_in_dim(logits_NxTxV, P - 1 + i, axis=1,
                                                  keepdims=False)
        if greedy:
            token_N = jnp.argmax(logits_NxV, axis=-1)
        else:
            scaled_NxV = logits_NxV / temperature.astype(logits_NxV.dtype)
            token_N = jax.vmap(jax.random.categorical)(keys_N, scaled_NxV)
        token_N = token_N.astype(jnp.int32)
        logp_NxV = jax.nn.log_softmax(logits_NxV, axis=-1)
        lp_N = jnp.take_along_axis(logp_NxV, token_N[:, None], axis=-1)[:, 0]
        token_N = jnp.where(done_N, PAD, token_N)
        lp_N = jnp.where(done_N, jnp.zeros_like(lp_N), lp_N)
        buffer_NxS = jax.lax.dynamic_update_index_in_dim(buffer_NxS, token_N, P + i, axis=1)
        return (buffer_NxS, done_N | (token_N == EOS)), (token_N, lp_N)

    init = (buffer_NxS, jnp.zeros((N,), dtype=bool))
    _, (tokens_LxN, lps_LxN) = jax.lax.scan(step, init, (jnp.arange(L), keys_LxN))
    return tokens_LxN.T, lps_LxN.T


def sample_completions(key: Array, model: Transformer, prompts: Array, *,
                       n_rollouts: int, completion_len: int,
                       temperature: float = 1.0) -> dict[str, Array]:
    r"""Sample :math:`G` completions of :math:`L` tokens for each of :math:`Q` prompts.

    Tokens are drawn from :math:`\mathrm{softmax}(z/\tau)`; ``log_probs`` are the policy's
    :math:`\log\pi_\theta(y_i \mid q, y_{<i})` at temperature 1 (see the module docstring), equal
    to :func:`~.model.token_log_probs` on the returned sequence wherever ``mask`` is 1.

    Args:
        key: a JAX PRNG key; the samples are a function of it (and of the shapes).
        model: the policy :class:`~.model.Transformer`.
        prompts: ``Int[Array, "Q P"]`` prompts of one length :math:`P`.
        n_rollouts: :math:`G \ge 1` rollouts per prompt (static).
        completion_len: :math:`L \ge 1` with :math:`P + L - 1 \le` ``max_len`` (static).
        temperature: :math:`\tau > 0` (default 1.0), a float or a float scalar array (which may
            be traced); it is an argument of the compiled call, so changing it does not
            recompile.

    Returns:
        A dict with

        * ``tokens``: ``Int[Array, "Q G L"]`` int32; PAD after the first EOS;
        * ``log_probs``: ``Float[Array, "Q G L"]`` policy log-probs of the tokens, 0 where
          ``mask`` is 0;
        * ``mask``: ``Float[Array, "Q G L"]`` 1 up to and including the first EOS, then 0 (all
          ones if the rollout has no EOS), as :func:`~.tasks.completion_mask`.

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> model = init_model(jax.random.key(0), TINY)
        >>> out = sample_completions(jax.random.key(1), model, jnp.array([[14, 3, 10, 4, 13]]),
        ...                          n_rollouts=4, completion_len=3)
        >>> out["tokens"].shape, out["log_probs"].shape, out["mask"].shape
        ((1, 4, 3), (1, 4, 3), (1, 4, 3))
    """
    prompts, L = _check_prompts(model, prompts, completion_len)
    G = _positive_int(n_rollouts, "n_rollouts")
    tau = _temperature(temperature, model.config.jnp_dtype)
    return _sample(key, model, prompts, tau, G, L)


@eqx.filter_jit
def _sample(key: Array, model: Transformer, prompts_QxP: Array, temperature: Array,
            n_rollouts: int, completion_len: int) -> dict[str, Array]:
    Q, G, L = prompts_QxP.shape[0], n_rollouts, completion_len
    tokens_NxL, lps_NxL = _decode(key, model, jnp.repeat(prompts_QxP, G, axis=0), temperature,
                                  L, False)
    mask_NxL = jax.vmap(completion_mask)(tokens_NxL).astype(lps_NxL.dtype)
    return {
        "tokens": tokens_NxL.reshape(Q, G, L),
        "log_probs": lps_NxL.reshape(Q, G, L),
        "mask": mask_NxL.reshape(Q, G, L),
    }


def greedy_completions(model: Transformer, prompts: Array,
                       completion_len: int) -> Array:
    r"""Greedy (argmax) completions, PAD after the first EOS; for evaluation.

    Args:
        model: the policy :class:`~.model.Transformer`.
        prompts: ``Int[Array, "Q P"]`` prompts of one length :math:`P`.
        completion_len: :math:`L \ge 1` with :math:`P + L - 1 \le` ``max_len``.

    Returns:
        ``Int[Array, "Q L"]`` int32 tokens.

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> model = init_model(jax.random.key(0), TINY)
        >>> greedy_completions(model, jnp.array([[14, 3, 10, 4, 13]]), 3).shape
        (1, 3)
    """
    prompts, L = _check_prompts(model, prompts, completion_len)
    tokens_NxL, _ = _decode(jax.random.key(0), model, prompts,
                            jnp.asarray(1.0, dtype=model.config.jnp_dtype), L, True)
    return tokens_NxL


@eqx.filter_jit
def _chunk_rates(key: Array, model: Transformer, prompts_QxP: Array, answers_QxL: Array,
                 temperature: Array, n_samples: int, kind: str) -> Array:
    Q, L = answers_QxL.shape
    tokens_NxL, _ = _decode(key, model, jnp.repeat(prompts_QxP, n_samples, axis=0), temperature,
                            L, False)
    answers_NxL = jnp.repeat(answers_QxL, n_samples, axis=0)
    rewards_N = jax.vmap(lambda c, a: reward(kind, c, a))(tokens_NxL, answers_NxL)
    return rewards_N.reshape(Q, n_samples).mean(axis=1)


def success_rates(key: Array, model: Transformer, task_prompts: Array,
                  answers: Array, *, n_samples: int,
                  completion_len: int | None = None, temperature: float = 1.0,
                  reward_kind: str = "binary", chunk_size: int | None = None) -> Array:
    r"""Per-prompt empirical success rate: the mean reward of ``n_samples`` sampled completions.

    .. math::

        \hat p_q = \frac{1}{n}\sum_{j=1}^{n} r(y_{q,j}, a_q), \qquad
        y_{q,j} \sim \mathrm{softmax}(z/\tau),

    an unbiased estimate of :math:`p_q = \mathbb E_{y\sim\pi}[r(y, a_q)]` at :math:`\tau = 1`.
    Prompts are processed in chunks of ``chunk_size`` (the last chunk padded), so memory is
    bounded by ``chunk_size * n_samples`` rollouts; chunk ``c`` uses
    ``jax.random.fold_in(key, c)``.

    Args:
        key: a JAX PRNG key.
        model: the policy :class:`~.model.Transformer`.
        task_prompts: ``Int[Array, "N P"]`` prompts.
        answers: ``Int[Array, "N L"]`` their answers (tokens, EOS, PAD).
        n_samples: completions per prompt, >= 1.
        completion_len: tokens to sample, >= ``L``; ``None`` (default) means ``L``. Answers are
            padded with PAD to this length.
        temperature: :math:`\tau > 0` (default 1.0).
        reward_kind: ``"binary"`` (default) or ``"partial"``.
        chunk_size: prompts per compiled call; ``None`` means ``max(1, 4096 // n_samples)``.

    Returns:
        ``Float[Array, "N"]`` success rates in ``[0, 1]``.

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> model = init_model(jax.random.key(0), TINY)
        >>> rates = success_rates(jax.random.key(1), model, task.prompts[:8], task.answers[:8],
        ...                       n_samples=4)
        >>> rates.shape, bool(((rates >= 0) & (rates <= 1)).all())
        ((8,), True)
    """
    answers = jnp.asarray(answers)
    if answers.ndim != 2:
        raise ValueError(f"answers must have shape [N, L], got shape {answers.shape}")
    L = answers.shape[1] if completion_len is None else completion_len
    prompts, L = _check_prompts(model, task_prompts, L)
    if answers.shape[0] != prompts.shape[0]:
        raise ValueError(f"answers must have one row per prompt (N = {prompts.shape[0]}), got "
                         f"{answers.shape[0]}")
    if L < answers.shape[1]:
        raise ValueError(f"completion_len must be >= the answers' length {answers.shape[1]}, "
                         f"got {L}")
    answers = jnp.pad(answers.astype(jnp.int32), ((0, 0), (0, L - answers.shape[1])),
                      constant_values=PAD)
    n = _positive_int(n_samples, "n_samples")
    tau = _temperature(temperature, model.config.jnp_dtype)
    if reward_kind not in REWARD_KINDS:
        raise ValueError(f"reward_kind must be one of {', '.join(REWARD_KINDS)}; got "
                         f"{reward_kind!r}")
    N = prompts.shape[0]
    C = max(1, 4096 // n) if chunk_size is None else _positive_int(chunk_size, "chunk_size")
    C = min(C, N)
    n_chunks = -(-N // C)
    pad = n_chunks * C - N
    prompts = jnp.concatenate([prompts, jnp.repeat(prompts[:1], pad, axis=0)])
    answers = jnp.concatenate([answers, jnp.repeat(answers[:1], pad, axis=0)])
    rates = [
        _chunk_rates(jax.random.fold_in(key, c), model, prompts[c * C:(c + 1) * C],
                     answers[c * C:(c + 1) * C], tau, n, reward_kind)
        for c in range(n_chunks)
    ]
    return jnp.concatenate(rates)[:N]

