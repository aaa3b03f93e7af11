r"""Clipped policy-gradient losses on one group of sampled sequences.

Inputs are the per-token log-probabilities of the :math:`G` sampled sequences under the current
policy and under the behaviour ("old") policy, ``Float[Array, "G T"]``, a mask
``Float[Array, "G T"]`` (1 on response tokens, 0 on padding) and one advantage per sequence,
``Float[Array, "G"]``.

*Ratios.* The token ratio is :math:`\rho_{i,t} = \pi_\theta(o_{i,t}\mid\cdot)/
\pi_{\mathrm{old}}(o_{i,t}\mid\cdot)`; the sequence ratio (GSPO, Zheng et al. 2025) is the
geometric mean over the sequence's :math:`|o_i|` tokens,
:math:`s_i = \exp\big(\frac{1}{|o_i|}\sum_t \log\rho_{i,t}\big)`.

*Clipped surrogate* (PPO, Schulman et al. 2017, with asymmetric bounds as in DAPO): per token,

.. math::

   \ell_{i,t} = -\min\big(\rho_{i,t}A_i,\ \mathrm{clip}(\rho_{i,t}, 1-\epsilon_{\mathrm{low}},
   1+\epsilon_{\mathrm{high}})A_i\big),

and with the dual clip (Ye et al. 2020, as verl applies it) a token with :math:`A_i < 0` has
:math:`\ell_{i,t} = \min(\ell_{i,t}, -c A_i)` for a constant :math:`c > 1`.

*Aggregations* of the masked token losses :math:`\ell_{i,t} m_{i,t}`:

* ``"token-mean"``: :math:`\sum_{i,t}\ell_{i,t}m_{i,t}/\sum_{i,t}m_{i,t}`;
* ``"seq-mean-token-mean"``: :math:`\frac1G\sum_i\sum_t\ell_{i,t}m_{i,t}/\sum_t m_{i,t}`;
* ``"seq-mean-token-sum"``: :math:`\frac1G\sum_i\sum_t\ell_{i,t}m_{i,t}`;
* ``"seq-mean-token-sum-norm"``: :math:`\frac1{G L}\sum_i\sum_t\ell_{i,t}m_{i,t}` with a constant
  maximal length :math:`L` (Dr. GRPO's length-independent normalisation).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import Array, lax

from grpo_theory._validate import check_nonnegative, check_positive

__all__ = [
    "AGGREGATIONS",
    "token_ratios",
    "sequence_ratios",
    "clipped_surrogate",
    "aggregate_loss",
    "policy_loss",
]

AGGREGATIONS = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)
"""The supported loss aggregation modes."""


def _check_tokens(logp: Any, old_logp: Any, mask: Any) -> tuple[Array, Array, Array]:
    logp, old_logp, mask = jnp.asarray(logp), jnp.asarray(old_logp), jnp.asarray(mask)
    if logp.ndim != 2:
        raise ValueError(f"logp must have rank 2 (shape [G, T]), got shape {logp.shape}")
    if old_logp.shape != logp.shape:
        raise ValueError(f"old_logp must have the shape of logp {logp.shape}, got {old_logp.shape}")
    if mask.shape != logp.shape:
        raise ValueError(f"mask must have the shape of logp {logp.shape}, got {mask.shape}")
    return logp, old_logp, mask.astype(logp.dtype)


def token_ratios(logp: Any, old_logp: Any, mask: Any) -> Array:
    r"""Token importance ratios :math:`\rho_{i,t} = \exp(\log\pi_\theta - \log\pi_{\mathrm{old}})`.

    Padding tokens (mask 0) get ratio 1, whatever their log-probs (even ``-inf``).

    Args:
        logp: ``Float[Array, "G T"]`` log-probs under the current policy.
        old_logp: ``Float[Array, "G T"]`` log-probs under the behaviour policy.
        mask: ``Float[Array, "G T"]``, 1 on response tokens.

    Returns:
        ``Float[Array, "G T"]``.

    Example:
        >>> token_ratios(jnp.log(jnp.array([[0.5]])), jnp.log(jnp.array([[0.25]])),
        ...              jnp.ones((1, 1))).tolist()
        [[2.0]]
    """
    logp, old_logp, mask = _check_tokens(logp, old_logp, mask)
    return jnp.exp(jnp.where(mask > 0, logp - old_logp, 0.0))


def sequence_ratios(logp: Any, old_logp: Any, mask: Any) -> Array:
    r"""Sequence ratios: the geometric mean of the token ratios (GSPO).

    .. math::

       s_i = \exp\Big(\frac{\sum_t m_{i,t}(\log\pi_\theta - \log\pi_{\mathrm{old}})_{i,t}}
       {\max(1, \sum_t m_{i,t})}\Big).

    Args:
        logp: ``Float[Array, "G T"]``.
        old_logp: ``Float[Array, "G T"]``.
        mask: ``Float[Array, "G T"]``.

    Returns:
        ``Float[Array, "G"]``.

    Example:
        >>> float(sequence_ratios(jnp.log(jnp.array([[4.0, 1.0]])), jnp.zeros((1, 2)),
        ...                       jnp.ones((1, 2)))[0])
        2.0
    """
    logp, old_logp, mask = _check_tokens(logp, old_logp, mask)
    length_G = jnp.maximum(1.0, jnp.sum(mask, axis=-1))
    log_ratio_GxT = jnp.where(mask > 0, (logp - old_logp) * mask, 0.0)
    return jnp.exp(jnp.sum(log_ratio_GxT, axis=-1) / length_G)


def clipped_surrogate(
    ratio: Any,
    advantages: Any,
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    clip_ratio_c: float | None = None,
) -> Array:
    r"""The per-token clipped surrogate loss (to be minimised).

    .. math::

       \ell = -\min\big(\rho A,\ \mathrm{clip}(\rho, 1-\epsilon_{\mathrm{low}},
       1+\epsilon_{\mathrm{high}})A\big),\qquad
       \ell \leftarrow \min(\ell, -cA)\ \text{ if } A < 0 \text{ and } c \text{ is given}.

    The gradient in :math:`\rho` vanishes exactly when :math:`A > 0,\ \rho > 1+\epsilon_{high}`,
    or :math:`A < 0,\ \rho < 1-\epsilon_{low}`, or (dual clip) :math:`A < 0,\ \rho > c`.

    Args:
        ratio: ``Float[Array, "G T"]`` (or ``"G"``) importance ratios.
        advantages: ``Float[Array, "G"]``, broadcast over tokens.
        epsilon_low: lower clip :math:`\epsilon_{\mathrm{low}} \ge 0`.
        epsilon_high: upper clip :math:`\epsilon_{\mathrm{high}} \ge 0`.
        clip_ratio_c: dual-clip constant :math:`c > 1`, or ``None`` for no dual clip.

    Returns:
        The per-token losses, shape of ``ratio``.

    Example:
        >>> round(float(clipped_surrogate(jnp.array([[1.5]]), jnp.array([1.0]))[0, 0]), 6)
        -1.2
    """
    ratio, adv = jnp.asarray(ratio), jnp.asarray(advantages)
    check_nonnegative(epsilon_low, "epsilon_low")
    check_nonnegative(epsilon_high, "epsilon_high")
    if ratio.ndim not in (1, 2):
        raise ValueError(f"ratio must have rank 1 or 2 ([G] or [G, T]), got shape {ratio.shape}")
    if adv.shape != ratio.shape[:1]:
        raise ValueError(
            f"advantages must have shape [G] = {ratio.shape[:1]}, got shape {adv.shape}"
        )
    if clip_ratio_c is not None and check_positive(clip_ratio_c, "clip_ratio_c") <= 1:
        raise ValueError(f"clip_ratio_c must be > 1, got {clip_ratio_c!r}")
    adv = adv.reshape(adv.shape + (1,) * (ratio.ndim - 1))
    clipped = jnp.clip(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high)
    loss = jnp.maximum(-ratio * adv, -clipped * adv)
    if clip_ratio_c is not None:
        loss = jnp.where(adv < 0, jnp.minimum(loss, -clip_ratio_c * adv), loss)
    return loss


def aggregate_loss(
    loss: Any, mask: Any, aggregation: str = "token-mean", *, max_length: int | None = None
) -> Array:
    r"""Reduce masked per-token losses ``[G, T]`` to a scalar (modes in the module docstring).

    Args:
        loss: ``Float[Array, "G T"]`` per-token losses.
        mask: ``Float[Array, "G T"]``.
        aggregation: one of :data:`AGGREGATIONS`.
        max_length: the constant :math:`L > 0` of ``"seq-mean-token-sum-norm"`` (default ``T``).

    Returns:
        A scalar.

    Example:
        >>> float(aggregate_loss(jnp.array([[1.0, 2.0], [3.0, 0.0]]),
        ...                      jnp.array([[1.0, 1.0], [1.0, 0.0]]), "seq-mean-token-mean"))
        2.25
    """
    loss, mask = jnp.asarray(loss), jnp.asarray(mask)
    if loss.ndim != 2:
        raise ValueError(f"loss must have rank 2 (shape [G, T]), got shape {loss.shape}")
    if mask.shape != loss.shape:
        raise ValueError(f"mask must have the shape of loss {loss.shape}, got {mask.shape}")
    if aggregation not in AGGREGATIONS:
        valid = ", ".join(AGGREGATIONS)
        raise ValueError(f"aggregation must be one of {valid}; got {aggregation!r}")
    mask = mask.astype(loss.dtype)
    masked = jnp.where(mask > 0, loss * mask, 0.0)
    G, T = loss.shape
    if aggregation == "token-mean":
        return jnp.sum(masked) / jnp.maximum(1.0, jnp.sum(mask))
    token_sum_G = jnp.sum(masked, axis=-1)
    if aggregation == "seq-mean-token-mean":
        return jnp.mean(token_sum_G / jnp.maximum(1.0, jnp.sum(mask, axis=-1)))
    if aggregation == "seq-mean-token-sum":
        return jnp.mean(token_sum_G)
    L = T if max_length is None else max_length
    check_positive(L, "max_length")
    return jnp.mean(token_sum_G) / L


def policy_loss(
    logp: Any,
    old_logp: Any,
    mask: Any,
    advantages: Any,
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    clip_ratio_c: float | None = None,
    ratio_level: str = "token",
    aggregation: str = "token-mean",
    max_length: int | None = None,
) -> Array:
    r"""The clipped policy loss of one group: ratios, clipped surrogate, aggregation.

    ``ratio_level="token"`` uses :math:`\rho_{i,t}`; ``"sequence"`` uses the GSPO ratio
    :math:`s_i` for every token of sequence :math:`i` (with ``"seq-mean-token-mean"`` this is
    GSPO's per-sequence objective). Gradients flow through ``logp`` only.

    Args:
        logp: ``Float[Array, "G T"]`` current-policy log-probs.
        old_logp: ``Float[Array, "G T"]`` behaviour-policy log-probs (treated as constants).
        mask: ``Float[Array, "G T"]``.
        advantages: ``Float[Array, "G"]``.
        epsilon_low: lower clip.
        epsilon_high: upper clip.
        clip_ratio_c: dual-clip constant or ``None``.
        ratio_level: ``"token"`` or ``"sequence"``.
        aggregation: one of :data:`AGGREGATIONS`.
        max_length: constant of ``"seq-mean-token-sum-norm"``.

    Returns:
        A scalar loss.

    Example:
        >>> lp = jnp.zeros((2, 1))
        >>> float(policy_loss(lp, lp, jnp.ones((2, 1)), jnp.array([1.0, -1.0])))
        0.0
    """
    logp, old_logp, mask = _check_tokens(logp, old_logp, mask)
    old_logp = lax.stop_gradient(old_logp)
    if ratio_level == "token":
        ratio = token_ratios(logp, old_logp, mask)
    elif ratio_level == "sequence":
        ratio = jnp.broadcast_to(sequence_ratios(logp, old_logp, mask)[:, None], logp.shape)
    else:
        raise ValueError(f"ratio_level must be 'token' or 'sequence'; got {ratio_level!r}")
    loss = clipped_surrogate(
        ratio,
        advantages,
        epsilon_low=epsilon_low,
        epsilon_high=epsilon_high,
        clip_ratio_c=clip_ratio_c,
    )
    return aggregate_loss(loss, mask, aggregation, max_length=max_length)
