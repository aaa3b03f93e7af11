r"""Group estimators as numeric advantage rules: count-based coefficients and general rewards.

A group estimator is :math:`\hat g = \frac1G\sum_{i=1}^G A_i s_i` with scores :math:`s_i`. With
binary rewards every estimator here is *count-based*: a correct response gets :math:`A^+(k)`, an
incorrect one :math:`A^-(k)`, where :math:`k` is the number of correct responses in the group.

* ``grpo``: :math:`A^+ = (1-\hat p)/(\hat\sigma+\epsilon)`,
  :math:`A^- = -\hat p/(\hat\sigma+\epsilon)`;
* ``grpo-bessel``: the same with :math:`\hat\sigma\sqrt{G/(G-1)}` in place of :math:`\hat\sigma`;
* ``dr-grpo``: :math:`A^+ = 1-\hat p`, :math:`A^- = -\hat p`;
* ``rloo``: :math:`A^+ = 1-\frac{k-1}{G-1}`, :math:`A^- = -\frac{k}{G-1}`;
* ``reinforce``: :math:`A^+ = 1 - b`, :math:`A^- = -b`;

with :math:`\hat p = k/G`, :math:`\hat\sigma = \sqrt{\hat p(1-\hat p)}`, and :math:`b` a constant
baseline (0 by default: plain REINFORCE). 2-GRPO is ``grpo`` with :math:`G = 2`. A group with no
spread gets zero advantages under the std-normalised rules.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from grpo_theory._validate import check_group_size, check_nonnegative, check_real, check_rewards

__all__ = ["Estimator", "as_estimator", "count_advantages", "advantages"]


class Estimator(enum.StrEnum):
    """The group estimators of the exact layer."""

    GRPO = "grpo"
    """Std-normalised, population std (the paper's theory; 2-GRPO at G = 2)."""
    GRPO_BESSEL = "grpo-bessel"
    """Std-normalised, Bessel's std (``torch.std``: verl, TRL, OpenRLHF, oat, tunix)."""
    DR_GRPO = "dr-grpo"
    """Mean-centred (Dr. GRPO)."""
    RLOO = "rloo"
    """Leave-one-out baseline."""
    REINFORCE = "reinforce"
    """REINFORCE with a constant baseline ``baseline`` (0: no baseline)."""


def as_estimator(estimator: Any) -> Estimator:
    """The :class:`Estimator` named ``estimator``; a ``ValueError`` lists the valid names."""
    try:
        return Estimator(estimator)
    except ValueError:
        valid = ", ".join(e.value for e in Estimator)
        raise ValueError(f"estimator must be one of {valid}; got {estimator!r}") from None


def count_advantages(
    estimator: Estimator | str,
    G: int,
    k: Any,
    epsilon: float = 0.0,
    baseline: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Count-based advantages :math:`(A^+(k), A^-(k))` as float arrays, vectorised over ``k``.

    Args:
        estimator: one of :class:`Estimator`.
        G: group size, ``>= 2``.
        k: number(s) of correct responses, integers in ``0..G`` (any array shape).
        epsilon: :math:`\epsilon \ge 0` added to the std (std-normalised estimators).
        baseline: constant baseline :math:`b` of ``reinforce``.

    Returns:
        ``(A_plus, A_minus)`` with the shape of ``k``. Entries without a meaning (``A_plus`` at
        ``k = 0``, ``A_minus`` at ``k = G``) are 0, and so are the std-normalised advantages of a
        silent group.

    Example:
        >>> a_plus, a_minus = count_advantages("grpo", 2, [0, 1, 2])
        >>> a_plus.tolist(), a_minus.tolist()
        ([0.0, 1.0, 0.0], [0.0, -1.0, 0.0])
    """
    est = as_estimator(estimator)
    check_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    k = np.asarray(k)
    if not np.issubdtype(k.dtype, np.integer) or k.size and (k.min() < 0 or k.max() > G):
        raise ValueError(f"k must hold integers in 0..{G} (G = {G})")
    kf = k.astype(float)
    p_hat = kf / G
    if est is Estimator.DR_GRPO:
        plus, minus = 1.0 - p_hat, -p_hat
    elif est is Estimator.RLOO:
        plus, minus = 1.0 - (kf - 1.0) / (G - 1), -kf / (G - 1)
    elif est is Estimator.REINFORCE:
        plus, minus = np.full(kf.shape, 1.0 - baseline), np.full(kf.shape, -float(baseline))
    else:
        sigma = np.sqrt(p_hat * (1.0 - p_hat))
        if est is Estimator.GRPO_BESSEL:
            sigma = sigma * np.sqrt(G / (G - 1))
        silent = (k == 0) | (k == G)
        denom = np.where(silent, 1.0, sigma + epsilon)
        plus = np.where(silent, 0.0, (1.0 - p_hat) / denom)
        minus = np.where(silent, 0.0, -p_hat / denom)
    plus = np.where(k == 0, 0.0, plus)
    minus = np.where(k == G, 0.0, minus)
    return plus, minus


def advantages(
    estimator: Estimator | str,
    rewards: Any,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    atol: float = 1e-12,
) -> np.ndarray:
    r"""Advantages of one group with real-valued rewards (float64).

    The std-normalised rules return zeros when the group's spread is below ``atol`` times its
    scale (a near-constant group must not produce advantage spikes).

    Args:
        estimator: one of :class:`Estimator`.
        rewards: the group's :math:`G \ge 2` finite rewards.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.
        atol: relative threshold below which a group counts as silent.

    Returns:
        The advantages, shape ``(G,)``.

    Example:
        >>> advantages("grpo-bessel", [1.0, 0.0]).round(6).tolist()
        [0.707107, -0.707107]
    """
    est = as_estimator(estimator)
    r = check_rewards(rewards)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    G = r.size
    centred = r - r.mean()
    if est is Estimator.DR_GRPO:
        return centred
    if est is Estimator.RLOO:
        return centred * (G / (G - 1))
    if est is Estimator.REINFORCE:
        return r - baseline
    if np.max(np.abs(centred)) <= atol * max(1.0, float(np.max(np.abs(r)))):
        return np.zeros(G)
    sigma = r.std(ddof=1 if est is Estimator.GRPO_BESSEL else 0)
    return centred / (sigma + epsilon)
