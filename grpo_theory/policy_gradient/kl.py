r"""Sample estimators of :math:`\mathrm{KL}(\pi\,\|\,\pi_{\mathrm{ref}})` from samples of pi.

For a sample :math:`x \sim \pi` write the log-ratio :math:`\log r = \log\pi_{\mathrm{ref}}(x) -
\log\pi(x)`. The three estimators of Schulman (2020, "Approximating KL divergence") are

.. math::

   k_1 = -\log r,\qquad k_2 = \tfrac12(\log r)^2,\qquad k_3 = (r - 1) - \log r.

:math:`k_1` and :math:`k_3` are unbiased, :math:`\mathbb E_\pi[k_1] = \mathbb E_\pi[k_3] =
\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})` (because :math:`\mathbb E_\pi[r] = 1`), :math:`k_3 \ge 0`
since :math:`e^u \ge 1 + u`, and :math:`k_2` is biased in general (its expectation is the
second-order approximation of the KL). All functions are elementwise on any shape.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
from jax import Array

__all__ = ["KL_ESTIMATORS", "kl_k1", "kl_k2", "kl_k3", "kl_estimate"]

KL_ESTIMATORS = ("k1", "k2", "k3")
"""Names accepted by :func:`kl_estimate`."""


def _log_ratio(logp: Any, ref_logp: Any) -> Array:
    logp, ref_logp = jnp.asarray(logp), jnp.asarray(ref_logp)
    if logp.shape != ref_logp.shape:
        raise ValueError(f"ref_logp must have the shape of logp {logp.shape}, got {ref_logp.shape}")
    return ref_logp - logp


def kl_k1(logp: Any, ref_logp: Any) -> Array:
    r""":math:`k_1 = \log\pi(x) - \log\pi_{\mathrm{ref}}(x)` (unbiased, can be negative).

    Args:
        logp: log-probs of the samples under :math:`\pi` (any shape).
        ref_logp: log-probs of the same samples under :math:`\pi_{\mathrm{ref}}`.

    Returns:
        The per-sample estimates, shape of ``logp``.

    Example:
        >>> round(float(kl_k1(jnp.log(0.5), jnp.log(0.25))), 6)
        0.693147
    """
    log_r = _log_ratio(logp, ref_logp)
    return jnp.asarray(logp) - jnp.asarray(ref_logp, log_r.dtype)


def kl_k2(logp: Any, ref_logp: Any) -> Array:
    r""":math:`k_2 = \frac12(\log\pi_{\mathrm{ref}}(x) - \log\pi(x))^2` (biased, non-negative).

    Args:
        logp: log-probs under :math:`\pi`.
        ref_logp: log-probs under :math:`\pi_{\mathrm{ref}}`.

    Returns:
        The per-sample estimates.

    Example:
        >>> float(kl_k2(jnp.array(1.0), jnp.array(-1.0)))
        2.0
    """
    return 0.5 * _log_ratio(logp, ref_logp) ** 2


def kl_k3(logp: Any, ref_logp: Any) -> Array:
    r""":math:`k_3 = (r - 1) - \log r`, :math:`r = \pi_{\mathrm{ref}}(x)/\pi(x)` (unbiased, >= 0).

    With :math:`u = \log r`, computed as :math:`e^u - 1 - u` via ``expm1`` for
    :math:`|u| \ge 10^{-2}` and by its Taylor series :math:`\sum_{n=2}^{9} u^n/n!` below (no
    cancellation near :math:`r = 1`, where ``expm1(u) - u`` would lose most digits in float32);
    the result is clamped at 0 against rounding.

    Args:
        logp: log-probs under :math:`\pi`.
        ref_logp: log-probs under :math:`\pi_{\mathrm{ref}}`.

    Returns:
        The per-sample estimates.

    Example:
        >>> float(kl_k3(jnp.array(0.0), jnp.array(0.0)))
        0.0
    """
    log_r = _log_ratio(logp, ref_logp)
    small = jnp.abs(log_r) < 1e-2
    u = jnp.where(small, log_r, 0.0)
    series = 0.0
    for n in range(9, 1, -1):
        series = (series + 1.0 / math.factorial(n)) * u
    series = series * u
    direct = jnp.expm1(log_r) - log_r
    return jnp.maximum(jnp.where(small, series, direct), 0.0)


def kl_estimate(logp: Any, ref_logp: Any, estimator: str = "k3") -> Array:
    r"""The per-sample KL estimate named ``estimator`` (``"k1"``, ``"k2"`` or ``"k3"``).

    Args:
        logp: log-probs under :math:`\pi`.
        ref_logp: log-probs under :math:`\pi_{\mathrm{ref}}`.
        estimator: one of :data:`KL_ESTIMATORS`.

    Returns:
        The per-sample estimates.

    Example:
        >>> float(kl_estimate(jnp.array(0.0), jnp.array(0.0), "k1"))
        0.0
    """
    if estimator == "k1":
        return kl_k1(logp, ref_logp)
    if estimator == "k2":
        return kl_k2(logp, ref_logp)
    if estimator == "k3":
        return kl_k3(logp, ref_logp)
    raise ValueError(f"estimator must be one of {', '.join(KL_ESTIMATORS)}; got {estimator!r}")
