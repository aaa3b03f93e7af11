r"""Group advantages: GRPO (population or Bessel std, with :math:`\epsilon`), Dr. GRPO, RLOO.

For a group of :math:`G` rewards :math:`r_1, \dots, r_G` with mean :math:`\bar r` and population
standard deviation :math:`\hat\sigma = \sqrt{\tfrac1G \sum_i (r_i - \bar r)^2}`:

.. math::

   A_i^{\mathrm{GRPO}} = \frac{r_i - \bar r}{\hat\sigma + \epsilon}, \quad
   A_i^{\mathrm{GRPO\text{-}Bessel}} = \frac{r_i - \bar r}{\hat\sigma\sqrt{G/(G-1)} + \epsilon},
   \quad A_i^{\mathrm{Dr}} = r_i - \bar r, \quad
   A_i^{\mathrm{RLOO}} = r_i - \frac{1}{G-1}\sum_{j \ne i} r_j.

The :math:`\epsilon` is added to the std, as implementations do. A group with no spread
(:math:`\hat\sigma = 0`) carries no signal: its std-normalised advantages are 0 (the numerator is
0, and with :math:`\epsilon = 0` the convention :math:`0/0 := 0` is used).

With binary rewards and :math:`k` of :math:`G` correct, every convention is *count-based*: a
correct response gets :math:`A^+(k)`, an incorrect one :math:`A^-(k)` (:func:`binary_advantages`).
"""

from __future__ import annotations

import enum
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy as sp

from grpo_theory._validate import (
    check_count,
    check_group_size,
    check_nonnegative,
    check_rewards,
)
from grpo_theory.symbolic._derivation import Derivation, Step, derivation

__all__ = [
    "Convention",
    "group_advantages",
    "binary_advantages",
    "population_std",
]


class Convention(enum.StrEnum):
    """Advantage conventions for one group."""

    GRPO = "grpo"
    """Std-normalised with the population std (the paper's theory, EasyDeL)."""
    GRPO_BESSEL = "grpo-bessel"
    """Std-normalised with Bessel's correction (``torch.std``: verl, TRL, OpenRLHF, oat, tunix)."""
    DR_GRPO = "dr-grpo"
    """Mean-centred only (Dr. GRPO)."""
    RLOO = "rloo"
    """Leave-one-out baseline."""


def _convention(convention: Any) -> Convention:
    try:
        return Convention(convention)
    except ValueError:
        valid = ", ".join(c.value for c in Convention)
        raise ValueError(f"convention must be one of {valid}; got {convention!r}") from None


def _exact_rewards(rewards: Sequence[Any]) -> list[sp.Expr]:
    """Validate a group's rewards and convert them to exact sympy numbers or expressions.

    Floats become the rational with the same decimal representation (0.1 -> 1/10).
    """
    values = list(rewards.tolist() if hasattr(rewards, "tolist") else rewards)
    if len(values) < 2 or not all(isinstance(x, sp.Rational) for x in values):
        check_rewards(values)  # exact rationals need no finiteness check
    exact = []
    for x in values:
        if isinstance(x, sp.Basic):
            exact.append(sp.nsimplify(x) if isinstance(x, sp.Float) else x)
        elif isinstance(x, numbers.Integral):
            exact.append(sp.Integer(int(x)))
        else:
            exact.append(sp.Rational(repr(float(x))))
    return exact


def population_std(rewards: Sequence[Any]) -> sp.Expr:
    r"""Population std :math:`\sqrt{\frac1G\sum_i (r_i-\bar r)^2}` of a group (sympy)."""
    r = _exact_rewards(rewards)
    G = len(r)
    mean = sp.Add(*r) / G
    return sp.sqrt(sp.Add(*[(x - mean) ** 2 for x in r]) / G)


def group_advantages(
    rewards: Sequence[Any],
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> list[sp.Expr]:
    r"""Advantages of one group under a convention, as exact sympy expressions.

    Args:
        rewards: the group's :math:`G \ge 2` rewards (numbers or sympy expressions).
        convention: one of :class:`Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std (std-normalised conventions only).

    Returns:
        The list :math:`[A_1, \dots, A_G]`. For numeric rewards with no spread and a
        std-normalised convention, all zeros.

    Example:
        >>> group_advantages([1, 0], "grpo")
        [1, -1]
        >>> group_advantages([1, 0], "grpo-bessel")
        [sqrt(2)/2, -sqrt(2)/2]
    """
    conv = _convention(convention)
    check_nonnegative(epsilon, "epsilon")
    r = _exact_rewards(rewards)
    G = len(r)
    eps = sp.sympify(epsilon)
    if all(isinstance(x, sp.Rational) for x in r):
        # Exact rational rewards: the arithmetic in Fractions, one square root at the end.
        q = [Fraction(int(x.p), int(x.q)) for x in r]
        q_mean = sum(q, Fraction(0)) / G
        variance = sp.Rational(sum(((x - q_mean) ** 2 for x in q), Fraction(0)) / G)
        distinct = {x: sp.Rational(x - q_mean) for x in set(q)}
        centred = [distinct[x] for x in q]
    else:
        mean = sp.Add(*r) / G
        centred = [x - mean for x in r]
        variance = None
    if conv is Convention.DR_GRPO:
        return centred
    if conv is Convention.RLOO:
        total = sp.Add(*r)
        return [x - (total - x) / (G - 1) for x in r]
    sigma = population_std(r) if variance is None else sp.sqrt(variance)
    if conv is Convention.GRPO_BESSEL:
        sigma = sigma * sp.sqrt(sp.Rational(G, G - 1))
    if sigma.is_zero:  # a silent group carries no signal
        return [sp.Integer(0)] * G
    scaled: dict[sp.Expr, sp.Expr] = {}  # one division per distinct centred reward
    return [scaled.setdefault(c, c / (sigma + eps)) if c.is_Rational else c / (sigma + eps)
            for c in centred]


def binary_advantages(
    k: Any,
    G: Any,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> tuple[sp.Expr, sp.Expr]:
    r"""Count-based advantages :math:`A^\pm(k)` for binary rewards, :math:`k` of :math:`G` correct.

    With :math:`\hat p = k/G` and :math:`\hat\sigma = \sqrt{\hat p(1-\hat p)}`:

    .. math::

       A^\pm_{\mathrm{GRPO}} = \frac{\mathbb 1_\pm - \hat p}{\hat\sigma + \epsilon},\quad
       A^\pm_{\mathrm{Bessel}} = \frac{\mathbb 1_\pm - \hat p}{\hat\sigma\sqrt{G/(G-1)}+\epsilon},
       \quad A^\pm_{\mathrm{Dr}} = \mathbb 1_\pm - \hat p,\quad
       A^+_{\mathrm{RLOO}} = 1 - \frac{k-1}{G-1},\ A^-_{\mathrm{RLOO}} = -\frac{k}{G-1}.

    ``k`` and ``G`` may be sympy symbols (then the formulas hold for :math:`1 \le k \le G-1`);
    for numeric ``k`` in ``{0, G}`` the std-normalised advantages are 0 (a silent group).

    Args:
        k: number of correct responses, ``0..G``.
        G: group size, ``>= 2``.
        convention: one of :class:`Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        ``(A_plus, A_minus)`` as sympy expressions.

    Example:
        >>> binary_advantages(1, 2, "grpo")
        (1, -1)
    """
    conv = _convention(convention)
    check_group_size(G)
    check_count(k, G)
    check_nonnegative(epsilon, "epsilon")
    k, G, eps = sp.sympify(k), sp.sympify(G), sp.sympify(epsilon)
    p_hat = k / G
    if conv is Convention.DR_GRPO:
        return 1 - p_hat, -p_hat
    if conv is Convention.RLOO:
        return 1 - (k - 1) / (G - 1), -k / (G - 1)
    if k.is_number and G.is_number and (k == 0 or k == G):
        return sp.Integer(0), sp.Integer(0)
    sigma = sp.sqrt(p_hat * (1 - p_hat))
    if conv is Convention.GRPO_BESSEL:
        sigma = sigma * sp.sqrt(G / (G - 1))
    return (1 - p_hat) / (sigma + eps), -p_hat / (sigma + eps)


@derivation("advantages", "Group advantages under binary rewards")
def _advantages_derivation() -> Derivation:
    k, m = sp.symbols("k m", positive=True, integer=True)
    G = k + m
    p_hat = sp.Symbol("phat")  # no assumptions: keeps sqrt(p̂(1 - p̂)) unsplit
    sigma = sp.sqrt(p_hat * (1 - p_hat))
    A_plus, A_minus = binary_advantages(k, G, Convention.GRPO)
    return Derivation(
        name="advantages",
        title="Group advantages under binary rewards",
        steps=[
            Step("A group of G = k + m binary rewards has k ones (correct) and m zeros. Its "
                 "mean is the success fraction p_hat = k/G and its population std is",
                 sp.Symbol("sigmahat"), sigma),
            Step("The GRPO advantage (r_i - mean)/std of a correct response is",
                 sp.Symbol("A^+"), sp.Mul(1 - p_hat, sp.Pow(sigma, -1), evaluate=False)),
            Step("which simplifies, for 0 < p̂ < 1, to", sp.Symbol("A^+"),
                 sp.sqrt((1 - p_hat) / p_hat)),
            Step("and that of an incorrect response is", sp.Symbol("A^-"),
                 -sp.sqrt(p_hat / (1 - p_hat))),
            Step("In terms of the counts, as computed by binary_advantages(k, k + m):",
                 sp.Matrix([sp.Symbol("A^+"), sp.Symbol("A^-")]),
                 sp.Matrix([sp.simplify(A_plus), sp.simplify(A_minus)])),
            Step("Dr. GRPO keeps only the centring (A^+ = 1 - p_hat, A^- = -p_hat); RLOO uses "
                 "the mean of the other G - 1 rewards, which multiplies the centred advantage "
                 "by G/(G - 1). Bessel's correction divides the GRPO advantages by "
                 "sqrt(G/(G - 1))."),
        ],
        claims=["adv.binary-population", "adv.rloo-centred-ratio", "adv.unit-population-variance"],
    )
