r"""The DPO loss for one preference pair, and online DPO over one group of sampled responses.

With implicit rewards :math:`\hat r_\theta(y) = \beta(\log\pi_\theta(y) - \log\pi_{\mathrm{ref}}
(y))`, the DPO loss of a pair (Rafailov et al. 2023) is

.. math::

   \mathcal L_{\mathrm{DPO}} = -\log\sigma\big(\hat r_\theta(y_w) - \hat r_\theta(y_l)\big),

with gradient :math:`-\beta\,\sigma(\hat r_\theta(y_l) - \hat r_\theta(y_w))
(\nabla\log\pi_\theta(y_w) - \nabla\log\pi_\theta(y_l))`. At :math:`\pi_\theta =
\pi_{\mathrm{ref}}` the weight is :math:`\beta/2`, and the gradient is :math:`-\beta` times the
2-GRPO gradient of the pair (paper v2 Sec. 4).

*Online DPO from a group*: given a group of :math:`G` responses with binary rewards, the loss is
averaged over all ordered pairs :math:`(i, j)` with :math:`r_i > r_j` (a correct and an incorrect
response); a group with no such pair (all correct or all incorrect) has loss 0.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from grpo_theory._validate import check_positive

__all__ = ["implicit_reward", "dpo_loss", "online_dpo_loss"]


def implicit_reward(logp: Any, ref_logp: Any, beta: float) -> Array:
    r"""DPO's implicit reward :math:`\hat r = \beta(\log\pi_\theta(y) - \log\pi_{\mathrm{ref}}(y))`.

    Args:
        logp: log-probs under the trained policy (any shape).
        ref_logp: log-probs under the reference, same shape.
        beta: :math:`\beta > 0`.

    Returns:
        The implicit rewards, shape of ``logp``.

    Example:
        >>> float(implicit_reward(jnp.array(0.0), jnp.array(-1.0), 0.5))
        0.5
    """
    check_positive(beta, "beta")
    logp, ref_logp = jnp.asarray(logp), jnp.asarray(ref_logp)
    if logp.shape != ref_logp.shape:
        raise ValueError(f"ref_logp must have the shape of logp {logp.shape}, got {ref_logp.shape}")
    return beta * (logp - ref_logp)


def dpo_loss(logp_w: Any, logp_l: Any, ref_logp_w: Any, ref_logp_l: Any, beta: float) -> Array:
    r"""The DPO sigmoid loss of one pair (preferred :math:`y_w`, dispreferred :math:`y_l`).

    .. math::

       \mathcal L = -\log\sigma\Big(\beta\big[(\log\pi_\theta(y_w) - \log\pi_{\mathrm{ref}}(y_w))
       - (\log\pi_\theta(y_l) - \log\pi_{\mathrm{ref}}(y_l))\big]\Big).

    Args:
        logp_w: :math:`\log\pi_\theta(y_w)` (scalar or any shape, elementwise).
        logp_l: :math:`\log\pi_\theta(y_l)`.
        ref_logp_w: :math:`\log\pi_{\mathrm{ref}}(y_w)`.
        ref_logp_l: :math:`\log\pi_{\mathrm{ref}}(y_l)`.
        beta: :math:`\beta > 0`.

    Returns:
        The loss, elementwise.

    Example:
        >>> round(float(dpo_loss(0.0, 0.0, 0.0, 0.0, 1.0)), 6)
        0.693147
    """
    margin = implicit_reward(logp_w, ref_logp_w, beta) - implicit_reward(logp_l, ref_logp_l, beta)
    return -jax.nn.log_sigmoid(margin)


def online_dpo_loss(logp: Any, ref_logp: Any, rewards: Any, beta: float) -> Array:
    r"""Online DPO of one group: the DPO loss averaged over all disagreeing pairs.

    .. math::

       \mathcal L = \frac{1}{|P|}\sum_{(i,j)\in P}\mathcal L_{\mathrm{DPO}}(o_i, o_j),\qquad
       P = \{(i, j) : r_i > r_j\},

    and :math:`\mathcal L = 0` when :math:`P = \emptyset`.

    Args:
        logp: ``Float[Array, "G"]`` sequence log-probs under the trained policy.
        ref_logp: ``Float[Array, "G"]`` under the reference.
        rewards: ``Float[Array, "G"]`` binary rewards (0 or 1; checked when concrete).
        beta: :math:`\beta > 0`.

    Returns:
        A scalar.

    Example:
        >>> round(float(online_dpo_loss(jnp.zeros(3), jnp.zeros(3), jnp.array([1, 0, 0]), 1.0)), 6)
        0.693147
    """
    check_positive(beta, "beta")
    logp, ref_logp, r = jnp.asarray(logp), jnp.asarray(ref_logp), jnp.asarray(rewards)
    if logp.ndim != 1 or logp.shape[0] < 2:
        raise ValueError(f"logp must have shape [G] with G >= 2, got shape {logp.shape}")
    if ref_logp.shape != logp.shape:
        raise ValueError(f"ref_logp must have the shape of logp {logp.shape}, got {ref_logp.shape}")
    if r.shape != logp.shape:
        raise ValueError(f"rewards must have the shape of logp {logp.shape}, got {r.shape}")
    concrete = not isinstance(r, jax.core.Tracer)
    if concrete and not np.all((np.asarray(r) == 0) | (np.asarray(r) == 1)):
        raise ValueError("rewards must be binary (0 or 1)")
    reward_GG = implicit_reward(logp, ref_logp, beta)
    loss_GG = -jax.nn.log_sigmoid(reward_GG[:, None] - reward_GG[None, :])
    pairs_GG = (r[:, None] > r[None, :]).astype(loss_GG.dtype)
    count = jnp.sum(pairs_GG)
    return jnp.sum(loss_GG * pairs_GG) / jnp.maximum(1.0, count)
