r"""Group advantages in JAX: one group of rewards in, one vector of advantages out.

Every function here acts on the rewards of *one* prompt's group, shape ``[G]``; batches of
prompts are handled with :func:`jax.vmap`. All functions are pure and ``jit``-compatible, and
work in float32 and float64 (the output has the floating dtype of the input).

With centred rewards :math:`c_i = r_i - \bar r`, :math:`\bar r = \frac1G\sum_j r_j`:

* GRPO: :math:`A_i = c_i / (\hat\sigma + \epsilon)` with the population std
  :math:`\hat\sigma^2 = \frac1G\sum_j c_j^2` (``ddof=0``) or Bessel's std
  :math:`\hat\sigma^2 = \frac1{G-1}\sum_j c_j^2` (``ddof=1``, what ``torch.std`` computes);
* Dr. GRPO: :math:`A_i = c_i`;
* RLOO: :math:`A_i = r_i - \frac1{G-1}\sum_{j\ne i} r_j = \frac{G}{G-1}c_i`;
* REINFORCE with a constant baseline: :math:`A_i = r_i - b`;
* 2-GRPO: GRPO at :math:`G = 2`, where :math:`A = \pm\frac{|r_1-r_2|/2}{\hat\sigma+\epsilon}`.

**Numerical safety.** The std is computed in two passes from the centred rewards. A group whose
spread is tiny compared to its scale, :math:`\max_i|c_i| \le \tau\max(1, \max_i|r_i|)`, is
*silent*: its std-normalised advantages are exactly 0 (the same rule as the exact numpy layer).
Without this rule a float32 group such as ``[1, 1 + 1e-7, 1]`` would be normalised by a std made
of rounding error and produce advantages of order one. The default tolerance is
:math:`\tau = \max(10^{-12}, 16\,\varepsilon_{\mathrm{mach}})`: :math:`10^{-12}` in float64
(matching :func:`grpo_theory.exact.estimators.advantages`) and about :math:`1.9\times10^{-6}` in
float32.

**Presets.** :data:`PRESETS` names the std convention and :math:`\epsilon` of common trainers
(snapshots: TRL f2cd577, verl 1dda039, OpenRLHF 3c3be62, oat c1a074c, tunix c7d8950,
EasyDeL 090a03b). Shapes use the fixed letter **G** for the group size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
from jax import Array

from grpo_theory._validate import check_nonnegative, check_real

__all__ = [
    "Preset",
    "PRESETS",
    "TRL_GRPO",
    "VERL_GRPO",
    "OPENRLHF_GROUP_NORM",
    "OAT_GRPO",
    "TUNIX_GRPO",
    "EASYDEL_GRPO",
    "PAPER_GRPO",
    "DR_GRPO",
    "RLOO",
    "default_silence_tolerance",
    "grpo_advantages",
    "dr_grpo_advantages",
    "rloo_advantages",
    "reinforce_advantages",
    "two_grpo_advantages",
    "preset_advantages",
]


def _as_group(rewards: Any, name: str = "rewards") -> Array:
    """A rank-1 floating array of at least two entries; checks run before any tracing."""
    shape = getattr(rewards, "shape", None)
    if shape is None:
        rewards = jnp.asarray(rewards)
        shape = rewards.shape
    if len(shape) != 1:
        raise ValueError(f"{name} must have rank 1 (shape [G], one group), got shape {shape}")
    if shape[0] < 2:
        raise ValueError(f"{name}: group size G must be >= 2, got G = {shape[0]}")
    r = jnp.asarray(rewards)
    if not jnp.issubdtype(r.dtype, jnp.floating):
        r = r.astype(jnp.result_type(float))
    return r


def _check_ddof(ddof: Any) -> int:
    if isinstance(ddof, bool) or ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 (population std) or 1 (Bessel's std), got {ddof!r}")
    return int(ddof)


def default_silence_tolerance(dtype: Any) -> float:
    r"""The default relative tolerance :math:`\tau` below which a group counts as silent.

    .. math::

       \tau = \max\big(10^{-12},\ 16\,\varepsilon_{\mathrm{mach}}(\text{dtype})\big).

    Args:
        dtype: a floating dtype.

    Returns:
        :math:`10^{-12}` for float64, about :math:`1.9\times10^{-6}` for float32.

    Example:
        >>> default_silence_tolerance(jnp.float64)
        1e-12
    """
    return max(1e-12, 16.0 * float(jnp.finfo(dtype).eps))


def grpo_advantages(
    rewards: Any,
    *,
    epsilon: float = 0.0,
    ddof: int = 0,
    rtol: float | None = None,
) -> Array:
    r"""GRPO advantages of one group: centred rewards over the group std plus epsilon.

    .. math::

       A_i = \frac{r_i - \bar r}{\hat\sigma + \epsilon},\qquad
       \hat\sigma^2 = \frac{1}{G - \mathrm{ddof}}\sum_{j=1}^G (r_j - \bar r)^2,

    and :math:`A = 0` for a silent group (spread below ``rtol`` times the scale, see the
    module docstring).

    Args:
        rewards: ``Float[Array, "G"]``, :math:`G \ge 2`.
        epsilon: :math:`\epsilon \ge 0` (static Python float).
        ddof: 0 for the population std (paper), 1 for Bessel's std (``torch.std``).
        rtol: silence tolerance :math:`\tau`; ``None`` uses :func:`default_silence_tolerance`.

    Returns:
        ``Float[Array, "G"]`` advantages in the dtype of ``rewards``.

    Example:
        >>> grpo_advantages(jnp.array([1.0, 0.0])).tolist()
        [1.0, -1.0]
    """
    r = _as_group(rewards)
    check_nonnegative(epsilon, "epsilon")
    ddof = _check_ddof(ddof)
    tol = default_silence_tolerance(r.dtype) if rtol is None else check_nonnegative(rtol, "rtol")
    G = r.shape[0]
    centred_G = r - jnp.mean(r)
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(r)))
    silent = jnp.max(jnp.abs(centred_G)) <= tol * scale
    sum_sq = jnp.where(silent, 1.0, jnp.sum(centred_G**2))
    sigma = jnp.sqrt(sum_sq / (G - ddof))
    adv_G = centred_G / (sigma + jnp.asarray(epsilon, r.dtype))
    return jnp.where(silent, jnp.zeros_like(adv_G), adv_G)


def dr_grpo_advantages(rewards: Any) -> Array:
    r"""Dr. GRPO advantages: the mean-centred rewards :math:`A_i = r_i - \bar r`.

    Args:
        rewards: ``Float[Array, "G"]``, :math:`G \ge 2`.

    Returns:
        ``Float[Array, "G"]``.

    Example:
        >>> dr_grpo_advantages(jnp.array([1.0, 0.0])).tolist()
        [0.5, -0.5]
    """
    r = _as_group(rewards)
    return r - jnp.mean(r)


def rloo_advantages(rewards: Any) -> Array:
    r"""RLOO advantages: each reward minus the mean of the others.

    .. math::

       A_i = r_i - \frac{1}{G-1}\sum_{j\ne i} r_j = \frac{G}{G-1}(r_i - \bar r).

    Args:
        rewards: ``Float[Array, "G"]``, :math:`G \ge 2`.

    Returns:
        ``Float[Array, "G"]``.

    Example:
        >>> rloo_advantages(jnp.array([1.0, 0.0])).tolist()
        [1.0, -1.0]
    """
    r = _as_group(rewards)
    G = r.shape[0]
    return (r - jnp.mean(r)) * (G / (G - 1))


def reinforce_advantages(rewards: Any, baseline: float = 0.0) -> Array:
    r"""REINFORCE advantages with a constant baseline: :math:`A_i = r_i - b`.

    Args:
        rewards: ``Float[Array, "G"]``, :math:`G \ge 2`.
        baseline: the constant :math:`b` (0: plain REINFORCE).

    Returns:
        ``Float[Array, "G"]``.

    Example:
        >>> reinforce_advantages(jnp.array([1.0, 0.0]), 0.25).tolist()
        [0.75, -0.25]
    """
    r = _as_group(rewards)
    check_real(baseline, "baseline")
    return r - jnp.asarray(baseline, r.dtype)


def two_grpo_advantages(
    rewards: Any, *, epsilon: float = 0.0, ddof: int = 0, rtol: float | None = None
) -> Array:
    r"""2-GRPO advantages: GRPO on a group of exactly two responses.

    With :math:`d = r_1 - r_2`, :math:`A = \pm\frac{|d|/2}{\hat\sigma + \epsilon}` where
    :math:`\hat\sigma = |d|/2` (population) or :math:`|d|/\sqrt2` (Bessel); so
    :math:`|A| = 1/(1 + 2\epsilon/|d|)` or :math:`(|d|/2)/(|d|/\sqrt2 + \epsilon)`.

    Args:
        rewards: ``Float[Array, "2"]``.
        epsilon: :math:`\epsilon \ge 0`.
        ddof: 0 (population) or 1 (Bessel).
        rtol: silence tolerance, as in :func:`grpo_advantages`.

    Returns:
        ``Float[Array, "2"]``.

    Example:
        >>> two_grpo_advantages(jnp.array([0.0, 1.0])).tolist()
        [-1.0, 1.0]
    """
    shape = getattr(rewards, "shape", None) or jnp.shape(rewards)
    if len(shape) != 1 or shape[0] != 2:
        raise ValueError(f"rewards must have shape [2] for 2-GRPO, got shape {shape}")
    return grpo_advantages(rewards, epsilon=epsilon, ddof=ddof, rtol=rtol)


@dataclasses.dataclass(frozen=True)
class Preset:
    """An advantage convention of a trainer: normalisation, std, epsilon and source."""

    name: str
    """Short name of the convention."""
    normalisation: str
    """``"std"`` (GRPO), ``"centre"`` (Dr. GRPO) or ``"leave-one-out"`` (RLOO)."""
    ddof: int = 0
    """0 population std, 1 Bessel's std (only for ``"std"``)."""
    epsilon: float = 0.0
    """Epsilon added to the std (only for ``"std"``)."""
    source: str = ""
    """The library, version/commit and file where the convention is found."""


TRL_GRPO = Preset(
    "trl-grpo",
    "std",
    1,
    1e-4,
    'TRL f2cd577, scale_rewards="group": Bessel nanstd, eps 1e-4 (grpo_trainer.py)',
)
"""TRL GRPO, ``scale_rewards="group"``: Bessel std, :math:`\\epsilon = 10^{-4}`."""
VERL_GRPO = Preset(
    "verl-grpo", "std", 1, 1e-6, "verl 1dda039, adv_estimator=grpo: torch.std, eps 1e-6"
)
"""verl ``grpo``: Bessel std, :math:`\\epsilon = 10^{-6}`."""
OPENRLHF_GROUP_NORM = Preset(
    "openrlhf-group-norm", "std", 1, 1e-9, "OpenRLHF 3c3be62, group_norm: torch.std, eps 1e-9"
)
"""OpenRLHF ``group_norm``: Bessel std, :math:`\\epsilon = 10^{-9}`."""
OAT_GRPO = Preset("oat-grpo", "std", 1, 1e-8, "oat c1a074c, critic_type=grpo: torch.std, eps 1e-8")
"""oat ``critic_type=grpo``: Bessel std, :math:`\\epsilon = 10^{-8}`."""
TUNIX_GRPO = Preset(
    "tunix-grpo", "std", 1, 1e-6, "tunix c7d8950, grpo: std(ddof=1), eps 1e-6 (algo_core.py)"
)
"""tunix ``grpo``: Bessel std, :math:`\\epsilon = 10^{-6}`."""
EASYDEL_GRPO = Preset(
    "easydel-grpo", "std", 0, 1e-4, "EasyDeL 090a03b, GRPO: jnp.nanstd (ddof=0), eps 1e-4"
)
"""EasyDeL GRPO: population std, :math:`\\epsilon = 10^{-4}`."""
PAPER_GRPO = Preset("paper-grpo", "std", 0, 0.0, "paper v2 Sec. 2: population std, epsilon 0")
"""The paper's GRPO: population std, :math:`\\epsilon = 0`."""
DR_GRPO = Preset(
    "dr-grpo",
    "centre",
    0,
    0.0,
    'Dr. GRPO (Liu et al. 2025): TRL scale_rewards="none", verl norm_adv_by_std_in_grpo=False, '
    "OpenRLHF dr_grpo, oat/tunix drgrpo",
)
"""Dr. GRPO: mean-centring only."""
RLOO = Preset("rloo", "leave-one-out", 0, 0.0, "RLOO: verl/TRL/OpenRLHF/tunix rloo")
"""RLOO: leave-one-out baseline."""

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        TRL_GRPO,
        VERL_GRPO,
        OPENRLHF_GROUP_NORM,
        OAT_GRPO,
        TUNIX_GRPO,
        EASYDEL_GRPO,
        PAPER_GRPO,
        DR_GRPO,
        RLOO,
    )
}
"""All presets by name."""


def preset_advantages(rewards: Any, preset: Preset | str, *, rtol: float | None = None) -> Array:
    r"""Advantages of one group under a trainer's convention (a :class:`Preset` or its name).

    Args:
        rewards: ``Float[Array, "G"]``, :math:`G \ge 2`.
        preset: a :class:`Preset` or a key of :data:`PRESETS`.
        rtol: silence tolerance of the std-normalised presets.

    Returns:
        ``Float[Array, "G"]``.

    Example:
        >>> round(float(preset_advantages(jnp.array([1.0, 0.0]), "verl-grpo")[0]), 6)
        0.707106
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
        preset = PRESETS[preset]
    if preset.normalisation == "std":
        return grpo_advantages(rewards, epsilon=preset.epsilon, ddof=preset.ddof, rtol=rtol)
    if preset.normalisation == "centre":
        return dr_grpo_advantages(rewards)
    if preset.normalisation == "leave-one-out":
        return rloo_advantages(rewards)
    raise ValueError(
        f"preset.normalisation must be std, centre or leave-one-out; got {preset.normalisation!r}"
    )
