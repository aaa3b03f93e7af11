r"""GRPO as a contrastive estimator: the group estimator is a weighted difference of means.

With binary rewards and :math:`k` correct responses out of :math:`G` (:math:`1 \le k \le G-1`),
every count-based convention gives the correct responses one advantage :math:`A^+(k)` and the
incorrect ones another, :math:`A^-(k)`. For any per-response quantity :math:`f` (a score
:math:`\nabla_\theta\log\pi_\theta(o_i)`, a clipped ratio, ...) the group estimator therefore
splits into the two subgroups:

.. math::

   \frac1G\sum_{i=1}^G A_i f(o_i)
   = \underbrace{\tfrac kG A^+(k)}_{a(k)}\,\bar f^+
     + \underbrace{\tfrac{G-k}G A^-(k)}_{b(k)}\,\bar f^-
   = w(k, G)\,\big(\bar f^+ - \bar f^-\big),

where :math:`\bar f^\pm` are the means of :math:`f` over the correct and incorrect responses and
:math:`w = a(k) = -b(k)` because the advantages sum to zero. With :math:`\hat p = k/G`:

.. list-table::
   :header-rows: 1

   * - convention
     - :math:`w(k, G)`
   * - GRPO, population std
     - :math:`\hat p(1-\hat p)/(\sqrt{\hat p(1-\hat p)} + \epsilon)`
       (:math:`= \sqrt{\hat p(1-\hat p)}` at :math:`\epsilon = 0`, paper v2 Prop 3.1, Eq. 10)
   * - GRPO, Bessel std
     - :math:`\hat p(1-\hat p)/(\sqrt{G/(G-1)}\sqrt{\hat p(1-\hat p)} + \epsilon)`
       (:math:`= \sqrt{(G-1)/G}\sqrt{\hat p(1-\hat p)}` at :math:`\epsilon = 0`)
   * - Dr. GRPO (mean-centred)
     - :math:`\hat p(1-\hat p)`
   * - RLOO (leave-one-out)
     - :math:`\frac{G}{G-1}\hat p(1-\hat p)`

A silent group (:math:`k = 0` or :math:`k = G`) contributes nothing under every convention.

The module also holds two facts the contrastive reading rests on:

* an arbitrary baseline :math:`b` makes the estimator a control variate,
  :math:`\frac1G\sum_i (r_i - b) g_i \propto \bar g^+ - c\,\bar g^-` with
  :math:`c = G^- b / (G^+ (1 - b))`, and the mean baseline gives :math:`c = 1`
  (paper v2 §4.2, Eq. 12);
* PPO clipping splits by the sign of the advantage:
  :math:`\min(\rho A, \mathrm{clip}(\rho, 1-\epsilon, 1+\epsilon) A)` equals
  :math:`A\min(\rho, 1+\epsilon)` for :math:`A > 0` and :math:`A\max(\rho, 1-\epsilon)` for
  :math:`A < 0` (the :math:`\mathcal C^\pm_\epsilon` of paper v2 §1).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import sympy as sp

from grpo_theory._validate import (
    check_count,
    check_group_size,
    check_nonnegative,
    check_rewards,
)
from grpo_theory.symbolic._derivation import Derivation, Step, derivation
from grpo_theory.symbolic.advantages import Convention, binary_advantages, group_advantages

__all__ = [
    "subgroup_weights",
    "contrastive_weight",
    "contrastive_weight_closed_form",
    "estimator_coefficients",
    "contrastive_coefficients",
    "group_estimator",
    "contrastive_form",
    "baseline_estimator",
    "baseline_split",
    "control_variate_coefficient",
    "clip_ratio",
    "clip_plus",
    "clip_minus",
    "clipped_objective",
    "sign_split_objective",
    "contrastive_form_derivation",
]


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _sym(x: Any) -> sp.Expr:
    """An exact sympy number or expression (Python ints become Integers, floats Rationals)."""
    if isinstance(x, bool):
        raise TypeError(f"expected a number or sympy expression, got bool {x!r}")
    if isinstance(x, numbers.Integral):
        return sp.Integer(int(x))
    if isinstance(x, float):
        return sp.nsimplify(x, rational=True)
    return sp.sympify(x)


def _real(x: Any, name: str) -> sp.Expr:
    """Validate a real number (or a sympy expression) and return it as sympy."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real | sp.Basic):
        raise TypeError(f"{name} must be a real number or sympy expression, got "
                        f"{type(x).__name__} {x!r}")
    value = _sym(x)
    if not value.free_symbols:
        if value.is_real is False or not value.is_finite:
            raise ValueError(f"{name} must be a finite real number, got {x!r}")
    return value


def _convention(convention: Any) -> Convention:
    try:
        return Convention(convention)
    except ValueError:
        valid = ", ".join(c.value for c in Convention)
        raise ValueError(f"convention must be one of {valid}; got {convention!r}") from None


def _exact_rewards(rewards: Sequence[Any], name: str = "rewards") -> list[sp.Expr]:
    """Validate a group's rewards and return them as exact sympy values."""
    if isinstance(rewards, str | bytes) or not hasattr(rewards, "__len__"):
        raise TypeError(f"{name} must be a sequence of real numbers, got {type(rewards).__name__}")
    items = list(rewards)
    check_rewards(items, name)
    return [_sym(x) for x in items]


def _values(f_values: Sequence[Any], G: int, name: str = "f_values") -> list[sp.Expr]:
    if isinstance(f_values, str | bytes) or not hasattr(f_values, "__len__"):
        raise TypeError(f"{name} must be a sequence with one value per response")
    f = list(f_values)
    if len(f) != G:
        raise ValueError(f"{name} must have one value per response ({G}), got {len(f)}")
    return [sp.sympify(x) for x in f]


def _binary_count(r: list[sp.Expr], name: str = "rewards") -> int:
    """Number of correct responses in a binary reward vector; ValueError if not binary."""
    for i, x in enumerate(r):
        if not (x == 0 or x == 1):
            raise ValueError(f"{name} must be binary (every entry 0 or 1), got {x} at index {i}")
    return sum(1 for x in r if x == 1)


def _check_clip_epsilon(epsilon: Any) -> sp.Expr:
    eps = _real(epsilon, "epsilon")
    if not eps.free_symbols and not (0 < eps < 1):
        raise ValueError(f"epsilon (the clip range) must lie in (0, 1), got {epsilon!r}")
    return eps


# ----------------------------------------------------------------------------------------------
# The contrastive weight
# ----------------------------------------------------------------------------------------------


def subgroup_weights(
    k: Any,
    G: Any,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> tuple[sp.Expr, sp.Expr]:
    r"""Weights :math:`(a(k), b(k))` of the positive and negative subgroup means.

    .. math::

       a(k) = \frac kG A^+(k), \qquad b(k) = \frac{G-k}G A^-(k),

    so that :math:`\frac1G\sum_i A_i f(o_i) = a(k)\,\bar f^+ + b(k)\,\bar f^-`. The advantages
    come from :func:`~grpo_theory.symbolic.advantages.binary_advantages`.

    Args:
        k: number of correct responses, ``1..G-1`` (or a sympy symbol).
        G: group size, ``>= 2`` (or a sympy expression).
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        ``(a, b)`` as sympy expressions (:math:`b = -a`).

    Example:
        >>> subgroup_weights(1, 4, "dr-grpo")
        (3/16, -3/16)
    """
    _convention(convention)
    check_group_size(G)
    check_count(k, G, interior=True)
    check_nonnegative(epsilon, "epsilon")
    k_, G_ = _sym(k), _sym(G)
    A_plus, A_minus = binary_advantages(k_, G_, convention, _sym(epsilon))
    return k_ / G_ * A_plus, (G_ - k_) / G_ * A_minus


def contrastive_weight(
    k: Any,
    G: Any,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> sp.Expr:
    r"""The weight :math:`w(k, G)` of the contrastive form, derived from the advantages.

    .. math::

       \frac1G\sum_{i=1}^G A_i f(o_i) = w(k, G)\,\big(\bar f^+ - \bar f^-\big),
       \qquad w(k, G) = \frac kG A^+(k).

    Args:
        k: number of correct responses, ``1..G-1`` (or a sympy symbol).
        G: group size, ``>= 2`` (or a sympy expression).
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std (std-normalised conventions only).

    Returns:
        :math:`w(k, G)` as a sympy expression (not simplified; see
        :func:`contrastive_weight_closed_form`).

    Example:
        >>> contrastive_weight(1, 2, "grpo")
        1/2
        >>> contrastive_weight(2, 4, "rloo")
        1/3
    """
    return subgroup_weights(k, G, convention, epsilon)[0]


def contrastive_weight_closed_form(
    k: Any,
    G: Any,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> sp.Expr:
    r"""Closed form of :math:`w(k, G)`, written independently of the advantages.

    With :math:`\hat p = k/G` and :math:`v = \hat p(1-\hat p)`:

    .. math::

       w_{\mathrm{pop}} = \frac{v}{\sqrt v + \epsilon},\quad
       w_{\mathrm{Bessel}} = \frac{v}{\sqrt{G/(G-1)}\sqrt v + \epsilon},\quad
       w_{\mathrm{Dr}} = v,\quad
       w_{\mathrm{RLOO}} = \frac{G}{G-1} v.

    Args:
        k: number of correct responses, ``1..G-1`` (or a sympy symbol).
        G: group size, ``>= 2`` (or a sympy expression).
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        :math:`w(k, G)` as a sympy expression.

    Example:
        >>> contrastive_weight_closed_form(1, 2, "grpo-bessel")
        sqrt(2)/4
    """
    conv = _convention(convention)
    check_group_size(G)
    check_count(k, G, interior=True)
    check_nonnegative(epsilon, "epsilon")
    k_, G_, eps = _sym(k), _sym(G), _sym(epsilon)
    p_hat = k_ / G_
    v = p_hat * (1 - p_hat)
    if conv is Convention.GRPO:
        return v / (sp.sqrt(v) + eps)
    if conv is Convention.GRPO_BESSEL:
        return v / (sp.sqrt(G_ / (G_ - 1)) * sp.sqrt(v) + eps)
    if conv is Convention.DR_GRPO:
        return v
    return G_ / (G_ - 1) * v


def estimator_coefficients(
    rewards: Sequence[Any],
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> list[sp.Expr]:
    r"""Coefficients :math:`A_i / G` of :math:`f(o_i)` in the group estimator.

    The group estimator :math:`\frac1G\sum_i A_i f(o_i)` is linear in the per-response values;
    this returns its coefficient vector, computed with
    :func:`~grpo_theory.symbolic.advantages.group_advantages`.

    Args:
        rewards: the group's :math:`G \ge 2` rewards.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        ``[A_1/G, ..., A_G/G]`` as sympy expressions.

    Example:
        >>> estimator_coefficients([1, 0, 0], "dr-grpo")
        [2/9, -1/9, -1/9]
    """
    r = _exact_rewards(rewards)
    G = len(r)
    advantages = group_advantages(r, convention, _sym(epsilon))
    scaled = {a: a / G for a in set(advantages)}  # a binary group has two distinct values
    return [scaled[a] for a in advantages]


def contrastive_coefficients(
    k: Any,
    G: int,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> list[sp.Expr]:
    r"""Coefficients of :math:`f(o_i)` in :math:`w(k,G)(\bar f^+ - \bar f^-)`.

    For a group ordered with the :math:`k` correct responses first, the coefficient is
    :math:`w/k` for each correct response and :math:`-w/(G-k)` for each incorrect one
    (:math:`w` from :func:`contrastive_weight_closed_form`).

    Args:
        k: number of correct responses, ``1..G-1``.
        G: group size, ``>= 2`` (an integer).
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        A list of :math:`G` sympy expressions.

    Example:
        >>> contrastive_coefficients(1, 3, "dr-grpo")
        [2/9, -1/9, -1/9]
    """
    check_group_size(G)
    if isinstance(G, sp.Basic) and G.free_symbols:
        raise TypeError(f"G must be an integer here (the list has G entries), got {G!r}")
    if isinstance(k, sp.Basic) and k.free_symbols:
        raise TypeError(f"k must be an integer here (the list has k positive entries), got {k!r}")
    check_count(k, G, interior=True)
    w = contrastive_weight_closed_form(k, G, convention, epsilon)
    k_, G_ = int(k), int(G)
    return [w / k_] * k_ + [-w / (G_ - k_)] * (G_ - k_)


def group_estimator(
    rewards: Sequence[Any],
    f_values: Sequence[Any],
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> sp.Expr:
    r"""The group estimator :math:`\frac1G\sum_{i=1}^G A_i f(o_i)` for given rewards.

    Args:
        rewards: the group's :math:`G \ge 2` rewards (numbers or sympy expressions).
        f_values: one value (number or sympy expression) per response,
            for example symbols standing for per-response scores.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        The estimator as a sympy expression.

    Example:
        >>> import sympy as sp
        >>> f1, f2, f3 = sp.symbols("f1:4")
        >>> group_estimator([1, 0, 0], [f1, f2, f3], "dr-grpo")
        2*f1/9 - f2/9 - f3/9
    """
    coeffs = estimator_coefficients(rewards, convention, epsilon)
    f = _values(f_values, len(coeffs))
    return sp.Add(*[c * x for c, x in zip(coeffs, f, strict=True)])


def contrastive_form(
    rewards: Sequence[Any],
    f_values: Sequence[Any],
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> sp.Expr:
    r"""The contrastive form :math:`w(k, G)\,(\bar f^+ - \bar f^-)` of a binary group.

    :math:`\bar f^\pm` are the means of ``f_values`` over the correct (reward 1) and incorrect
    (reward 0) responses and :math:`w` is :func:`contrastive_weight_closed_form`. It equals
    :func:`group_estimator` for every binary group with :math:`1 \le k \le G-1` (paper v2
    Prop 3.1).

    Args:
        rewards: binary rewards (0 or 1), with at least one of each.
        f_values: one value per response.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        The contrastive form as a sympy expression.

    Example:
        >>> import sympy as sp
        >>> f1, f2, f3 = sp.symbols("f1:4")
        >>> contrastive_form([1, 0, 0], [f1, f2, f3], "dr-grpo")
        2*f1/9 - f2/9 - f3/9
    """
    r = _exact_rewards(rewards)
    G = len(r)
    f = _values(f_values, G)
    k = _binary_count(r)
    if k in (0, G):
        raise ValueError(
            f"rewards must contain at least one 1 and one 0 (1 <= k <= G-1), got k = {k} of "
            f"G = {G}: a silent group has no contrastive form (its estimator is 0)")
    w = contrastive_weight_closed_form(k, G, convention, epsilon)
    pos = [x for x, ri in zip(f, r, strict=True) if ri == 1]
    neg = [x for x, ri in zip(f, r, strict=True) if ri == 0]
    return w * (sp.Add(*pos) / len(pos) - sp.Add(*neg) / len(neg))


# ----------------------------------------------------------------------------------------------
# Arbitrary baseline: the control-variate reading (paper v2 Eq. 12)
# ----------------------------------------------------------------------------------------------


def baseline_estimator(rewards: Sequence[Any], g_values: Sequence[Any], b: Any) -> sp.Expr:
    r"""The baseline estimator :math:`\frac1G\sum_{i=1}^G (r_i - b)\, g_i`.

    Args:
        rewards: the group's :math:`G \ge 2` rewards.
        g_values: one value per response (for example a per-response gradient symbol).
        b: the baseline, a real number or sympy expression.

    Returns:
        The estimator as a sympy expression.

    Example:
        >>> import sympy as sp
        >>> g1, g2 = sp.symbols("g1 g2")
        >>> baseline_estimator([1, 0], [g1, g2], sp.Rational(1, 2))
        g1/4 - g2/4
    """
    r = _exact_rewards(rewards)
    G = len(r)
    g = _values(g_values, G, "g_values")
    b_ = _real(b, "b")
    return sp.Add(*[(ri - b_) * gi for ri, gi in zip(r, g, strict=True)]) / G


def baseline_split(n_pos: Any, n_neg: Any, b: Any) -> tuple[sp.Expr, sp.Expr]:
    r"""Weights of :math:`\bar g^+` and :math:`\bar g^-` in the baseline estimator (binary rewards).

    With :math:`G^+` correct and :math:`G^-` incorrect responses, :math:`G = G^+ + G^-`:

    .. math::

       \frac1G\sum_i (r_i - b)\,g_i
       = \frac1G\big[G^+(1-b)\,\bar g^+ - G^- b\,\bar g^-\big].

    Args:
        n_pos: :math:`G^+ \ge 1` (an integer or a sympy symbol).
        n_neg: :math:`G^- \ge 1` (an integer or a sympy symbol).
        b: the baseline.

    Returns:
        ``(G+ (1-b)/G, -G- b/G)``.

    Example:
        >>> baseline_split(1, 3, 0)
        (1/4, 0)
    """
    check_group_size(n_pos, "n_pos", minimum=1)
    check_group_size(n_neg, "n_neg", minimum=1)
    gp, gn, b_ = _sym(n_pos), _sym(n_neg), _real(b, "b")
    G = gp + gn
    return gp * (1 - b_) / G, -gn * b_ / G


def control_variate_coefficient(n_pos: Any, n_neg: Any, b: Any) -> sp.Expr:
    r"""The control-variate coefficient :math:`c = \frac{G^- b}{G^+(1-b)}` of a baseline.

    The baseline estimator is :math:`\frac{G^+(1-b)}{G}\,(\bar g^+ - c\,\bar g^-)`; the mean
    baseline :math:`b = G^+/G` gives :math:`c = 1` (paper v2 §4.2, Eq. 12).

    Args:
        n_pos: :math:`G^+ \ge 1`.
        n_neg: :math:`G^- \ge 1`.
        b: the baseline, :math:`b \ne 1` (at :math:`b = 1` the positives get weight 0).

    Returns:
        :math:`c` as a sympy expression.

    Example:
        >>> control_variate_coefficient(1, 3, sp.Rational(1, 4))
        1
    """
    check_group_size(n_pos, "n_pos", minimum=1)
    check_group_size(n_neg, "n_neg", minimum=1)
    b_ = _real(b, "b")
    if not b_.free_symbols and b_ == 1:
        raise ValueError("b must differ from 1 (the positive subgroup would get weight 0), "
                         "got 1")
    gp, gn = _sym(n_pos), _sym(n_neg)
    return gn * b_ / (gp * (1 - b_))


# ----------------------------------------------------------------------------------------------
# Clipping splits by the sign of the advantage
# ----------------------------------------------------------------------------------------------


def clip_ratio(rho: Any, epsilon: Any) -> sp.Expr:
    r""":math:`\mathcal C_\epsilon(\rho) = \mathrm{clip}(\rho, 1-\epsilon, 1+\epsilon)`.

    Args:
        rho: the importance ratio :math:`\rho \ge 0` (number or sympy expression).
        epsilon: the clip range, :math:`0 < \epsilon < 1`.

    Returns:
        :math:`\min(\max(\rho, 1-\epsilon), 1+\epsilon)`.

    Example:
        >>> clip_ratio(sp.Rational(3, 2), sp.Rational(1, 5))
        6/5
    """
    eps = _check_clip_epsilon(epsilon)
    r = _real(rho, "rho")
    check_nonnegative(r, "rho")
    return sp.Min(sp.Max(r, 1 - eps), 1 + eps)


def clip_plus(rho: Any, epsilon: Any) -> sp.Expr:
    r""":math:`\mathcal C^+_\epsilon(\rho) = \min(\rho, 1+\epsilon)`, the clip of a positive.

    Example:
        >>> clip_plus(sp.Rational(1, 2), sp.Rational(1, 5))
        1/2
    """
    eps = _check_clip_epsilon(epsilon)
    r = _real(rho, "rho")
    check_nonnegative(r, "rho")
    return sp.Min(r, 1 + eps)


def clip_minus(rho: Any, epsilon: Any) -> sp.Expr:
    r""":math:`\mathcal C^-_\epsilon(\rho) = \max(\rho, 1-\epsilon)`, the clip of a negative.

    Example:
        >>> clip_minus(sp.Rational(1, 2), sp.Rational(1, 5))
        4/5
    """
    eps = _check_clip_epsilon(epsilon)
    r = _real(rho, "rho")
    check_nonnegative(r, "rho")
    return sp.Max(r, 1 - eps)


def clipped_objective(rho: Any, advantage: Any, epsilon: Any) -> sp.Expr:
    r"""PPO's per-token objective :math:`\min(\rho A,\ \mathcal C_\epsilon(\rho) A)`.

    Args:
        rho: the importance ratio :math:`\rho \ge 0`.
        advantage: the advantage :math:`A` (real).
        epsilon: the clip range, :math:`0 < \epsilon < 1`.

    Returns:
        The objective as a sympy expression.

    Example:
        >>> clipped_objective(2, -1, sp.Rational(1, 5))
        -2
    """
    A = _real(advantage, "advantage")
    r = _real(rho, "rho")
    return sp.Min(r * A, clip_ratio(r, epsilon) * A)


def sign_split_objective(rho: Any, advantage: Any, epsilon: Any) -> sp.Expr:
    r"""The sign-split objective: :math:`A\,\mathcal C^\pm_\epsilon(\rho)` by the sign of :math:`A`.

    .. math::

       \min(\rho A, \mathcal C_\epsilon(\rho) A) =
       \begin{cases} A\min(\rho, 1+\epsilon) & A > 0 \\ 0 & A = 0 \\
       A\max(\rho, 1-\epsilon) & A < 0. \end{cases}

    For a symbolic advantage of unknown sign a :class:`sympy.Piecewise` is returned.

    Args:
        rho: the importance ratio :math:`\rho \ge 0`.
        advantage: the advantage :math:`A` (real).
        epsilon: the clip range, :math:`0 < \epsilon < 1`.

    Returns:
        The sign-split objective.

    Example:
        >>> sign_split_objective(2, -1, sp.Rational(1, 5))
        -2
    """
    A = _real(advantage, "advantage")
    plus = A * clip_plus(rho, epsilon)
    minus = A * clip_minus(rho, epsilon)
    if A.is_positive:
        return plus
    if A.is_negative:
        return minus
    if A.is_zero:
        return sp.Integer(0)
    return sp.Piecewise((plus, A > 0), (minus, A < 0), (0, True))


# ----------------------------------------------------------------------------------------------
# Derivation
# ----------------------------------------------------------------------------------------------


@derivation("contrastive-form", "GRPO's group estimator as a weighted difference of means")
def contrastive_form_derivation() -> Derivation:
    r"""Steps from the advantages of a binary group to :math:`w(k,G)(\bar f^+ - \bar f^-)`."""
    k, G = sp.symbols("k G", positive=True, integer=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    b = sp.Symbol("b", real=True)
    p = sp.Symbol(r"\hat{p}", positive=True)
    Ap, Am = sp.symbols("A^+ A^-")
    fp, fn = sp.symbols(r"\bar{f}^+ \bar{f}^-")

    def in_p(expr: sp.Expr) -> sp.Expr:  # k = p G, then simplify
        return sp.simplify(sp.sympify(expr).subs(k, p * G))

    A_plus, A_minus = (in_p(a) for a in binary_advantages(k, G, Convention.GRPO, eps))
    a_k = in_p(k / G * binary_advantages(k, G, Convention.GRPO, eps)[0])
    b_k = in_p((G - k) / G * binary_advantages(k, G, Convention.GRPO, eps)[1])
    weights = {}
    for conv in (Convention.GRPO_BESSEL, Convention.DR_GRPO, Convention.RLOO):
        weights[conv] = in_p(k / G * binary_advantages(k, G, conv, 0)[0])
    steps = [
        Step("With binary rewards and k of G responses correct, the correct responses share one "
             "advantage A+ and the incorrect ones another, A-. Grouping the sum by subgroup "
             "(k terms with mean f+, G - k terms with mean f-):",
             sp.Symbol(r"\frac{1}{G}\sum_i A_i f(o_i)"), (k * Ap * fp + (G - k) * Am * fn) / G),
        Step("GRPO with the population std, p = k/G: A+ = (1-p)/(sqrt(p(1-p)) + epsilon) and "
             "A- = -p/(sqrt(p(1-p)) + epsilon) (from binary_advantages):",
             sp.Tuple(Ap, Am), sp.Tuple(A_plus, A_minus)),
        Step("The positive subgroup's weight a(k) = (k/G) A+ = p A+:", sp.Symbol("a(k)"), a_k),
        Step("The negative subgroup's weight b(k) = ((G-k)/G) A- = (1-p) A- is its opposite "
             "(the advantages sum to zero):", sp.Symbol("a(k) + b(k)"), sp.simplify(a_k + b_k)),
        Step("Hence the estimator is w (f+ - f-) with w = a(k). At epsilon = 0 it is the "
             "paper's sqrt(Var_G(q)) = sqrt(p(1-p)) (paper v2 Prop 3.1, Eq. 10):",
             sp.Symbol(r"\frac{1}{G}\sum_i A_i f(o_i)"),
             sp.simplify(a_k.subs(eps, 0)) * (fp - fn)),
        Step("The same grouping for Bessel's std (epsilon = 0), Dr. GRPO and RLOO gives "
             "sqrt((G-1)/G) sqrt(p(1-p)), p(1-p) and G/(G-1) p(1-p):",
             sp.Tuple(sp.Symbol("w_Bessel"), sp.Symbol("w_Dr"), sp.Symbol("w_RLOO")),
             sp.Tuple(*weights.values())),
        Step("A silent group (k = 0 or k = G) has every advantage 0 and contributes nothing. "
             "With an arbitrary baseline b the estimator is (1/G)[G+ (1-b) g+ - G- b g-], "
             "proportional to g+ - c g- with c = G- b / (G+ (1-b)) (paper v2 Eq. 12); the mean "
             "baseline b = G+/G = p gives c = 1:",
             sp.Symbol("c"),
             sp.simplify(((G - k) * b / (k * (1 - b))).subs(b, k / G))),
    ]
    return Derivation(
        name="contrastive-form",
        title="GRPO's group estimator as a weighted difference of means",
        steps=steps,
        claims=["grpo.contrastive-form", "grpo.contrastive-form.bessel",
                "grpo.contrastive-form.dr-grpo", "grpo.contrastive-form.rloo",
                "grpo.contrastive-form.exhaustive", "grpo.silent-groups-vanish",
                "grpo.mean-baseline-coefficient"],
    )
