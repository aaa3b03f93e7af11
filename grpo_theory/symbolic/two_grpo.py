r"""2-GRPO: a group of two responses, and the step-size constant of each trainer.

With :math:`G = 2` and rewards :math:`(r_1, r_2)`, the group mean is :math:`(r_1+r_2)/2`, the
centred rewards are :math:`\pm(r_1-r_2)/2` and the population std is :math:`|r_1-r_2|/2`. For a
binary pair that disagrees (one correct, one incorrect) the better response gets

.. math::

   A^+ = \frac{1/2}{1/2 + \epsilon} = \frac1{1+2\epsilon} \ (\text{population std}),\quad
   \frac{1/2}{1/\sqrt2 + \epsilon} \ (\text{Bessel}),\quad
   \frac12 \ (\text{Dr. GRPO}),\quad 1 \ (\text{RLOO}),

and the worse one :math:`-A^+`; a pair that agrees gets 0 under every convention. Every
convention therefore yields the same group estimator
:math:`\frac12\sum_i A_i f(o_i) = \frac\kappa2\,(f(o^+) - f(o^-))` on disagreeing pairs, up to
the constant :math:`\kappa` (:func:`pair_constant`): the conventions differ only by the step
size. :data:`TRAINER_CONVENTIONS` records the convention of each surveyed trainer and
:func:`trainer_constants_table` its constant, next to the paper's :math:`\kappa = 1` (population
std, :math:`\epsilon \to 0`; paper v2 §5.1).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import sympy as sp
from scipy.special import logsumexp
from scipy.stats import binom

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_probability,
    check_rewards,
)
from grpo_theory.symbolic._derivation import Derivation, Step, derivation
from grpo_theory.symbolic.advantages import Convention, binary_advantages, group_advantages

__all__ = [
    "pair_advantages",
    "pair_constant",
    "TrainerConvention",
    "TRAINER_CONVENTIONS",
    "trainer_convention",
    "ConstantRow",
    "trainer_constants_table",
    "PAPER_CONSTANT",
    "conditional_mean_advantage",
    "conditional_mean_advantage_float",
    "two_grpo_derivation",
]

PAPER_CONSTANT = sp.Integer(1)
r"""The paper's 2-GRPO advantage :math:`A^+ = 1` (population std, :math:`\epsilon \to 0`)."""


def _convention(convention: Any) -> Convention:
    try:
        return Convention(convention)
    except ValueError:
        valid = ", ".join(c.value for c in Convention)
        raise ValueError(f"convention must be one of {valid}; got {convention!r}") from None


def _exact(x: Any, name: str) -> sp.Expr:
    """A reward or epsilon as an exact sympy value (floats become Rationals)."""
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a real number, got bool {x!r}")
    if isinstance(x, numbers.Integral):
        return sp.Integer(int(x))
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x!r}")
        return sp.nsimplify(x, rational=True)
    if isinstance(x, numbers.Real | sp.Basic):
        return sp.sympify(x)
    raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r}")


def pair_advantages(
    r1: Any,
    r2: Any,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> tuple[sp.Expr, sp.Expr]:
    r"""Advantages :math:`(A_1, A_2)` of a group of two responses with rewards :math:`r_1, r_2`.

    .. math::

       A_{1,2} = \pm\frac{(r_1 - r_2)/2}{|r_1 - r_2|/2 + \epsilon}\ (\text{population}),\quad
       \pm\frac{(r_1 - r_2)/2}{|r_1 - r_2|/\sqrt2 + \epsilon}\ (\text{Bessel}),\quad
       \pm\frac{r_1 - r_2}2\ (\text{Dr. GRPO}),\quad \pm(r_1 - r_2)\ (\text{RLOO}).

    Computed with :func:`~grpo_theory.symbolic.advantages.group_advantages`.

    Args:
        r1: reward of the first response (number or sympy expression).
        r2: reward of the second response.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        ``(A1, A2)`` as sympy expressions (:math:`A_2 = -A_1`).

    Example:
        >>> pair_advantages(1, 0, "grpo-bessel")
        (sqrt(2)/2, -sqrt(2)/2)
        >>> pair_advantages(1, 1, "rloo")
        (0, 0)
    """
    conv = _convention(convention)
    check_nonnegative(epsilon, "epsilon")
    rewards = [_exact(r1, "r1"), _exact(r2, "r2")]
    check_rewards(rewards)
    a1, a2 = group_advantages(rewards, conv, _exact(epsilon, "epsilon"))
    return a1, a2


def pair_constant(convention: Convention | str = Convention.GRPO, epsilon: Any = 0) -> sp.Expr:
    r"""The 2-GRPO constant :math:`\kappa`: the advantage of the better response of a binary pair.

    For rewards :math:`(1, 0)`: :math:`\kappa = 1/(1+2\epsilon)` (population std),
    :math:`\tfrac12/(1/\sqrt2+\epsilon)` (Bessel), :math:`\tfrac12` (Dr. GRPO), :math:`1` (RLOO).

    Args:
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        :math:`\kappa` as a sympy expression.

    Example:
        >>> pair_constant("grpo")
        1
        >>> pair_constant("dr-grpo")
        1/2
    """
    return pair_advantages(1, 0, convention, epsilon)[0]


@dataclass(frozen=True)
class TrainerConvention:
    """How one trainer (or the paper's theory) computes a group-of-two advantage.

    Attributes:
        name: short name of the setting, e.g. ``"verl grpo"``.
        library: the library or source.
        setting: the option that selects it.
        convention: the advantage convention.
        epsilon: the constant added to the std, exact (0 where no std is used, or in the
            :math:`\\epsilon \\to 0` limit of the paper).
        std: "population", "Bessel", "none (mean-centred)" or "leave-one-out".
        location: where the convention is implemented (repository at a revision, file, line).
    """

    name: str
    library: str
    setting: str
    convention: Convention
    epsilon: sp.Rational
    std: str
    location: str

    @property
    def constant(self) -> sp.Expr:
        """This trainer's 2-GRPO constant (:func:`pair_constant`)."""
        return pair_constant(self.convention, self.epsilon)


def _eps(exponent: int) -> sp.Rational:
    return sp.Rational(1, 10**exponent)


TRAINER_CONVENTIONS: tuple[TrainerConvention, ...] = (
    TrainerConvention(
        "paper theory", "paper (arXiv 2510.00977)", "2-GRPO as analysed",
        Convention.GRPO, sp.Integer(0), "population",
        "paper v2 §2 Eq. 6 and §5.1 (epsilon -> 0); Prop 5.1 uses the population std"),
    TrainerConvention(
        "TRL grpo", "huggingface/trl", 'scale_rewards="group"',
        Convention.GRPO_BESSEL, _eps(4), "Bessel",
        "huggingface/trl@f2cd577 trl/trainer/grpo_trainer.py:2685-2708 "
        "(nanstd in trl/trainer/utils.py:857)"),
    TrainerConvention(
        "verl grpo", "verl", "algorithm.adv_estimator=grpo",
        Convention.GRPO_BESSEL, _eps(6), "Bessel",
        "verl-project/verl@1dda039 verl/trainer/ppo/core_algos.py:268 (torch.std)"),
    TrainerConvention(
        "OpenRLHF group_norm", "OpenRLHF", "advantage estimator group_norm",
        Convention.GRPO_BESSEL, _eps(9), "Bessel",
        "OpenRLHF/OpenRLHF@3c3be62 openrlhf/trainer/ppo_utils/experience_maker.py (~l.270)"),
    TrainerConvention(
        "oat grpo", "sail-sg/oat", "critic_type=grpo",
        Convention.GRPO_BESSEL, _eps(8), "Bessel",
        "sail-sg/oat@c1a074c oat/algorithms/ppo.py:344-357"),
    TrainerConvention(
        "tunix grpo", "google/tunix", "advantage estimator grpo",
        Convention.GRPO_BESSEL, _eps(6), "Bessel (ddof=1)",
        "google/tunix@c7d8950 tunix/rl/algo_core.py:638"),
    TrainerConvention(
        "EasyDeL grpo", "erfanzar/EasyDeL", 'GRPO, scale_rewards="group"',
        Convention.GRPO, _eps(4), "population (ddof=0)",
        "erfanzar/EasyDeL@090a03b easydel/trainers/group_relative_policy_optimization/"
        "grpo_trainer.py (~l.677, jnp.nanstd)"),
    TrainerConvention(
        "Dr. GRPO mode", "TRL, verl, OpenRLHF, oat, tunix",
        'TRL scale_rewards="none"; verl norm_adv_by_std_in_grpo=False; OpenRLHF dr_grpo; '
        "oat / tunix drgrpo",
        Convention.DR_GRPO, sp.Integer(0), "none (mean-centred)",
        "huggingface/trl@f2cd577 trl/trainer/grpo_trainer.py:2674-2720; "
        "verl-project/verl@1dda039 verl/trainer/ppo/core_algos.py:268; "
        "google/tunix@c7d8950 tunix/rl/algo_core.py:638-712"),
    TrainerConvention(
        "RLOO", "TRL, verl, OpenRLHF, tunix", "rloo estimator / RLOOTrainer",
        Convention.RLOO, sp.Integer(0), "leave-one-out",
        "huggingface/trl@f2cd577 trl/trainer/rloo_trainer.py:1544-1557; "
        "verl-project/verl@1dda039 verl/trainer/ppo/core_algos.py:588"),
)
"""The surveyed trainers' advantage conventions (std-normalised, mean-centred, leave-one-out)."""


def trainer_convention(name: str) -> TrainerConvention:
    """The entry of :data:`TRAINER_CONVENTIONS` with this name.

    Example:
        >>> trainer_convention("verl grpo").epsilon
        1/1000000
    """
    for entry in TRAINER_CONVENTIONS:
        if entry.name == name:
            return entry
    known = ", ".join(repr(e.name) for e in TRAINER_CONVENTIONS)
    raise ValueError(f"name must be one of {known}; got {name!r}")


class ConstantRow(NamedTuple):
    """One row of :func:`trainer_constants_table`."""

    name: str
    std: str
    epsilon: sp.Rational
    constant: sp.Expr
    value: float
    ratio: float


def trainer_constants_table() -> list[ConstantRow]:
    r"""Each trainer's 2-GRPO constant :math:`\kappa` and its ratio to the paper's :math:`1`.

    A disagreeing pair's update under a trainer is :math:`\kappa` times the paper's, so
    :math:`\kappa` is an effective step-size factor.

    Returns:
        One :class:`ConstantRow` per entry of :data:`TRAINER_CONVENTIONS`:
        ``(name, std, epsilon, constant (exact sympy), value (float), ratio to 1)``.

    Example:
        >>> row = trainer_constants_table()[2]
        >>> row.name, round(row.value, 7)
        ('verl grpo', 0.7071058)
    """
    rows = []
    for entry in TRAINER_CONVENTIONS:
        kappa = entry.constant
        value = float(sp.N(kappa, 30))
        rows.append(ConstantRow(entry.name, entry.std, entry.epsilon, kappa, value,
                                float(sp.N(kappa / PAPER_CONSTANT, 30))))
    return rows


def _check_outcome(x: Any) -> int:
    if isinstance(x, bool) or x not in (0, 1):
        raise ValueError(f"x must be 0 or 1 (the reward conditioned on), got {x!r}")
    return int(x)


def conditional_mean_advantage(
    G: int,
    p: Any,
    x: int,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> sp.Expr:
    r"""Exact :math:`\mathbb E[A_1 \mid r_1 = x]` for :math:`G` i.i.d. Bernoulli(:math:`p`) rewards.

    Given :math:`r_1 = x`, the number of other correct responses is
    :math:`J \sim \mathrm{Binomial}(G-1, p)` and :math:`k = J + x`, so

    .. math::

       \mathbb E[A_1 \mid r_1 = x] = \sum_{j=0}^{G-1} \binom{G-1}{j} p^j (1-p)^{G-1-j}
       A^{\pm}(j + x),

    with :math:`A^+` for :math:`x = 1` and :math:`A^-` for :math:`x = 0` from
    :func:`~grpo_theory.symbolic.advantages.binary_advantages` (0 for a silent group: the
    convention :math:`Y = 0` when :math:`\hat\sigma = 0`). For :math:`G = 2` and the population
    std this is paper v2 Prop 5.1, case 2; for large :math:`G`, case 1
    (:func:`conditional_mean_advantage_float`).

    Args:
        G: group size, ``>= 2`` (keep it small: the sum has :math:`G` exact terms).
        p: success probability in :math:`(0, 1)`, a number or a sympy symbol.
        x: the conditioning reward, 0 or 1.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        The conditional mean as a sympy expression.

    Example:
        >>> p = sp.Symbol("p", positive=True)
        >>> conditional_mean_advantage(2, p, 1)
        1 - p
    """
    check_group_size(G)
    if isinstance(G, sp.Basic) and G.free_symbols:
        raise TypeError(f"G must be an integer (the sum has G terms), got {G!r}")
    check_probability(p, "p", open_interval=True)
    xx = _check_outcome(x)
    check_nonnegative(epsilon, "epsilon")
    p_, eps, n = _exact(p, "p"), _exact(epsilon, "epsilon"), int(G)
    total = sp.Integer(0)
    for j in range(n):
        weight = sp.binomial(n - 1, j) * p_**j * (1 - p_) ** (n - 1 - j)
        A_plus, A_minus = binary_advantages(j + xx, n, convention, eps)
        total += weight * (A_plus if xx == 1 else A_minus)
    return sp.expand(total)


def conditional_mean_advantage_float(
    G: int,
    p: float,
    x: int,
    convention: Convention | str = Convention.GRPO,
    epsilon: float = 0.0,
) -> float:
    r""":math:`\mathbb E[A_1 \mid r_1 = x]` in floating point, for large groups.

    The same binomial sum as :func:`conditional_mean_advantage`, evaluated in log space:
    with :math:`\ell_j = \log\Pr(J = j)` (``scipy.stats.binom.logpmf``) and the advantages all
    of one sign (:math:`A^+ \ge 0`, :math:`A^- \le 0`),
    :math:`\mathbb E = \pm\exp\big(\mathrm{logsumexp}_j(\ell_j + \log|A(j + x)|)\big)`.
    Silent groups contribute 0. Accurate to about :math:`10^{-15}` relative for
    :math:`G` up to :math:`10^5` and more.

    Args:
        G: group size, ``>= 2``.
        p: success probability in :math:`(0, 1)`.
        x: the conditioning reward, 0 or 1.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        The conditional mean as a float.

    Example:
        >>> round(conditional_mean_advantage_float(2, 0.3, 1), 12)
        0.7
    """
    conv = _convention(convention)
    check_group_size(G)
    check_probability(p, "p", open_interval=True)
    xx = _check_outcome(x)
    check_nonnegative(epsilon, "epsilon")
    n, pf, eps = int(G), float(p), float(epsilon)
    j = np.arange(n)
    k = j + xx
    p_hat = k / n
    if conv is Convention.RLOO:
        adv = 1.0 - (k - 1) / (n - 1) if xx == 1 else -k / (n - 1)
    else:
        adv = xx - p_hat
        if conv is not Convention.DR_GRPO:
            sigma = np.sqrt(p_hat * (1.0 - p_hat))
            if conv is Convention.GRPO_BESSEL:
                sigma = sigma * math.sqrt(n / (n - 1))
            denom = sigma + eps
            with np.errstate(divide="ignore", invalid="ignore"):
                adv = np.where(denom > 0, adv / np.where(denom > 0, denom, 1.0), 0.0)
    adv = np.asarray(adv, dtype=float)
    keep = adv != 0
    if not keep.any():
        return 0.0
    log_w = binom.logpmf(j[keep], n - 1, pf)
    sign = 1.0 if xx == 1 else -1.0
    return sign * float(np.exp(logsumexp(log_w + np.log(np.abs(adv[keep])))))


@derivation("two-grpo", "2-GRPO: the advantages of a pair under each convention")
def two_grpo_derivation() -> Derivation:
    r"""Pair advantages under each convention and the trainers' constants."""
    r1, r2 = sp.symbols("r_1 r_2", real=True)
    r_bar = sp.Symbol(r"\bar{r}", real=True)
    d = sp.Symbol("d", positive=True)  # r1 - r2 for a disagreeing pair, taken > 0
    eps = sp.Symbol("epsilon", nonnegative=True)
    a_pop = group_advantages([r2 + d, r2], Convention.GRPO, eps)
    a_bes = group_advantages([r2 + d, r2], Convention.GRPO_BESSEL, eps)
    steps = [
        Step("A group of two has mean (r1 + r2)/2; the centred rewards are:",
             sp.Tuple(r1 - r_bar, r2 - r_bar),
             sp.Tuple(*group_advantages([r1, r2], Convention.DR_GRPO))),
        Step("With r1 = r2 + d (d > 0) the population std is d/2, Bessel's std d/sqrt(2); "
             "population-std GRPO gives:", sp.Tuple(sp.Symbol("A_1"), sp.Symbol("A_2")),
             sp.Tuple(*[sp.simplify(a) for a in a_pop])),
        Step("and Bessel-std GRPO:", sp.Tuple(sp.Symbol("A_1"), sp.Symbol("A_2")),
             sp.Tuple(*[sp.simplify(a) for a in a_bes])),
        Step("RLOO subtracts the other reward: A1 = r1 - r2.",
             sp.Tuple(sp.Symbol("A_1"), sp.Symbol("A_2")),
             sp.Tuple(*group_advantages([r1, r2], Convention.RLOO))),
        Step("For a binary pair that disagrees (d = 1) the better response gets kappa and the "
             "worse -kappa; a pair that agrees gets 0. The constants (population, Bessel, "
             "Dr. GRPO, RLOO):",
             sp.Symbol("\\kappa"),
             sp.Tuple(*[sp.simplify(pair_constant(c, eps)) for c in Convention])),
        Step("So every convention's 2-GRPO estimator (1/2)(A1 f(o1) + A2 f(o2)) is "
             "(kappa/2)(f(o+) - f(o-)) on disagreeing pairs: the same estimator up to the step "
             "size. At the trainers' epsilons "
             "(name: std, epsilon, kappa, ratio to the paper's 1):\n\n"
             + "\n".join(f"    {row.name}: {row.std}, epsilon = {row.epsilon}, "
                          f"kappa = {row.constant} = {row.value:.8f}, ratio {row.ratio:.6f}"
                          for row in trainer_constants_table())),
    ]
    return Derivation(
        name="two-grpo",
        title="2-GRPO: the advantages of a pair under each convention",
        steps=steps,
        claims=["two-grpo.population", "two-grpo.bessel", "two-grpo.dr-grpo", "two-grpo.rloo",
                "two-grpo.agreeing-pair-zero", "two-grpo.same-estimator",
                "two-grpo.trainer-constants", "two-grpo.dr-grpo-factor"],
    )
