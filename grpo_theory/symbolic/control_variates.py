r"""Control variates: the negative-sample gradient as a control variate for the positive one.

Let :math:`g^+` and :math:`g^-` be the score vectors of a positive and a negative response to the
same prompt, with variances :math:`V_+ = \mathrm{Var}(g^+)`, :math:`V_- = \mathrm{Var}(g^-)` and
covariance :math:`C = \mathrm{Cov}(g^+, g^-)` (traces of the covariance and cross-covariance
matrices for vectors). The contrastive combination :math:`g^+ - c\,g^-` has

.. math::

   \mathrm{Var}(g^+ - c\,g^-) = V_+ + c^2 V_- - 2 c\, C,

a convex quadratic in :math:`c`, minimised at :math:`c^* = C / V_-` where it equals
:math:`(1 - \rho^2) V_+` with :math:`\rho = C / \sqrt{V_+ V_-}`. It does not exceed :math:`V_+`
exactly for :math:`c` between :math:`0` and :math:`2C/V_-`; GRPO's mean baseline corresponds to
:math:`c = 1`, which therefore reduces the variance if and only if :math:`2C \ge V_-`
(paper v2 Prop 4.1 and §4.2).

The functions accept numbers (returning numbers) or sympy expressions (returning expressions);
numeric moments are validated (:math:`V_\pm > 0`, :math:`|C| \le \sqrt{V_+ V_-}`).
:func:`contrastive_variance_from_pmf` derives the variance from a finite joint distribution of
:math:`(g^+, g^-)` instead of from the formula, using the moments of
:mod:`grpo_theory.symbolic.variance`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sympy as sp

from grpo_theory._validate import check_positive
from grpo_theory.symbolic._derivation import Derivation, Step, derivation
from grpo_theory.symbolic.variance import _check_real, _is_symbolic, covariance, variance

__all__ = [
    "contrastive_variance",
    "optimal_coefficient",
    "correlation",
    "minimum_variance",
    "no_increase_interval",
    "printed_no_increase_interval",
    "unit_coefficient_reduces_variance",
    "contrastive_variance_from_pmf",
    "pmf_moments",
]

_CS_TOL = 1e-12
"""Relative slack allowed in the Cauchy–Schwarz check of floating-point moments."""


def _check_moments(var_plus: Any, var_minus: Any, cov: Any) -> None:
    """Positive variances and a covariance allowed by Cauchy–Schwarz (numeric inputs only)."""
    if var_plus is not None:
        check_positive(var_plus, "var_plus")
    check_positive(var_minus, "var_minus")
    _check_real(cov, "cov")
    if var_plus is None or any(_is_symbolic(x) for x in (var_plus, var_minus, cov)):
        return
    bound = float(var_plus) * float(var_minus)
    if float(cov) ** 2 > bound * (1 + _CS_TOL):
        raise ValueError(f"cov must satisfy |cov| <= sqrt(var_plus * var_minus) = "
                         f"{math.sqrt(bound):.6g} (Cauchy-Schwarz), got {cov!r}")


def _sqrt(x: Any) -> Any:
    return sp.sqrt(x) if isinstance(x, sp.Basic) else math.sqrt(x)


def contrastive_variance(var_plus: Any, var_minus: Any, cov: Any, c: Any) -> Any:
    r"""Variance of the contrastive combination :math:`g^+ - c\,g^-` from its moments.

    .. math:: \mathrm{Var}(g^+ - c\,g^-) = V_+ + c^2 V_- - 2c\,C.

    Args:
        var_plus: :math:`V_+ = \mathrm{Var}(g^+) > 0`.
        var_minus: :math:`V_- = \mathrm{Var}(g^-) > 0`.
        cov: :math:`C = \mathrm{Cov}(g^+, g^-)`, with :math:`|C| \le \sqrt{V_+ V_-}`.
        c: the coefficient of the control variate (any real).

    Returns:
        The variance (a number or a sympy expression).

    Example:
        >>> contrastive_variance(1, 1, 0.5, 1)
        1.0
    """
    _check_moments(var_plus, var_minus, cov)
    _check_real(c, "c")
    return var_plus + c**2 * var_minus - 2 * c * cov


def optimal_coefficient(var_minus: Any, cov: Any) -> Any:
    r"""The variance-minimising coefficient :math:`c^* = C / V_-`.

    Args:
        var_minus: :math:`V_- = \mathrm{Var}(g^-) > 0`.
        cov: :math:`C = \mathrm{Cov}(g^+, g^-)`.

    Returns:
        :math:`c^*`.

    Example:
        >>> optimal_coefficient(sp.Integer(4), sp.Integer(2))
        1/2
    """
    _check_moments(None, var_minus, cov)
    return cov / var_minus


def correlation(var_plus: Any, var_minus: Any, cov: Any) -> Any:
    r"""The correlation :math:`\rho = C / \sqrt{V_+ V_-}` (of traces, for vectors).

    Args:
        var_plus: :math:`V_+ > 0`.
        var_minus: :math:`V_- > 0`.
        cov: :math:`C`, with :math:`|C| \le \sqrt{V_+ V_-}`.

    Returns:
        :math:`\rho \in [-1, 1]`.

    Example:
        >>> correlation(sp.Integer(4), sp.Integer(1), sp.Integer(1))
        1/2
    """
    _check_moments(var_plus, var_minus, cov)
    return cov / _sqrt(var_plus * var_minus)


def minimum_variance(var_plus: Any, var_minus: Any, cov: Any) -> Any:
    r"""The smallest variance over :math:`c`: :math:`(1 - \rho^2) V_+ = V_+ - C^2 / V_-`.

    Args:
        var_plus: :math:`V_+ > 0`.
        var_minus: :math:`V_- > 0`.
        cov: :math:`C`, with :math:`|C| \le \sqrt{V_+ V_-}`.

    Returns:
        :math:`(1 - \rho^2) V_+`.

    Example:
        >>> minimum_variance(sp.Integer(4), sp.Integer(1), sp.Integer(1))
        3
    """
    rho = correlation(var_plus, var_minus, cov)
    return (1 - rho**2) * var_plus


def _interval(lo_or_hi: Any, zero: Any) -> tuple[Any, Any]:
    if _is_symbolic(lo_or_hi):
        return sp.Min(zero, lo_or_hi), sp.Max(zero, lo_or_hi)
    return (zero, lo_or_hi) if lo_or_hi >= 0 else (lo_or_hi, zero)


def no_increase_interval(var_minus: Any, cov: Any) -> tuple[Any, Any]:
    r"""The coefficients that do not increase the variance: the closed interval between 0 and
    :math:`2C/V_-`.

    .. math::

       \mathrm{Var}(g^+ - c\,g^-) \le \mathrm{Var}(g^+) \iff c\,(c V_- - 2C) \le 0
       \iff c \in [\min(0, 2C/V_-), \max(0, 2C/V_-)].

    For :math:`C > 0` this is :math:`[0, 2C/V_-]`.

    Args:
        var_minus: :math:`V_- > 0`.
        cov: :math:`C`.

    Returns:
        ``(low, high)``, the end points (``sympy.Min``/``Max`` when the sign of :math:`C` is
        unknown).

    Example:
        >>> no_increase_interval(sp.Integer(2), sp.Integer(1))
        (0, 1)
        >>> no_increase_interval(sp.Integer(2), sp.Integer(-1))
        (-1, 0)
    """
    _check_moments(None, var_minus, cov)
    zero = sp.Integer(0) if isinstance(cov, sp.Basic) or isinstance(var_minus, sp.Basic) else 0
    return _interval(2 * cov / var_minus, zero)


def printed_no_increase_interval(var_minus: Any, cov: Any) -> tuple[Any, Any]:
    r"""The interval as printed in the proof of paper v2 Prop 4.1: :math:`[0, 2C^2/V_-]`.

    Kept to show that it is wrong (it is not the set where the variance does not increase);
    use :func:`no_increase_interval`.

    Args:
        var_minus: :math:`V_- > 0`.
        cov: :math:`C`.

    Returns:
        ``(0, 2 C**2 / V_-)``.

    Example:
        >>> printed_no_increase_interval(sp.Integer(2), sp.Integer(3))
        (0, 9)
    """
    _check_moments(None, var_minus, cov)
    zero = sp.Integer(0) if isinstance(cov, sp.Basic) or isinstance(var_minus, sp.Basic) else 0
    return zero, 2 * cov**2 / var_minus


def unit_coefficient_reduces_variance(var_minus: Any, cov: Any) -> Any:
    r"""Whether :math:`c = 1` (GRPO's mean baseline) does not increase the variance.

    .. math:: \mathrm{Var}(g^+ - g^-) \le \mathrm{Var}(g^+) \iff 2C \ge V_-.

    Args:
        var_minus: :math:`V_- > 0`.
        cov: :math:`C`.

    Returns:
        A ``bool`` for numbers, a sympy relational for symbolic input.

    Example:
        >>> unit_coefficient_reduces_variance(1.0, 0.5), unit_coefficient_reduces_variance(1.0, 0.4)
        (True, False)
    """
    _check_moments(None, var_minus, cov)
    if _is_symbolic(cov) or _is_symbolic(var_minus):
        return sp.Ge(2 * cov, var_minus)
    return bool(2 * cov >= var_minus)


def _check_joint(probs: Sequence[Any], plus: Sequence[Any], minus: Sequence[Any]) -> None:
    if len(plus) != len(probs):
        raise ValueError(f"plus must have one value per outcome ({len(probs)}), got {len(plus)}")
    if len(minus) != len(probs):
        raise ValueError(f"minus must have one value per outcome ({len(probs)}), "
                         f"got {len(minus)}")


def pmf_moments(
    probs: Sequence[Any], plus: Sequence[Any], minus: Sequence[Any]
) -> tuple[Any, Any, Any]:
    r"""The moments :math:`(V_+, V_-, C)` of a finite joint pmf of :math:`(g^+, g^-)`.

    Args:
        probs: outcome probabilities.
        plus: value of :math:`g^+` at each outcome (scalars or column vectors).
        minus: value of :math:`g^-` at each outcome (same shape as ``plus``).

    Returns:
        ``(Var(g+), Var(g-), Cov(g+, g-))``, traces for vectors; unsimplified.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> pmf_moments([half, half], [1, -1], [2, 0])
        (1, 1, 1)
    """
    _check_joint(probs, plus, minus)
    return variance(probs, plus), variance(probs, minus), covariance(probs, plus, minus)


def contrastive_variance_from_pmf(
    probs: Sequence[Any], plus: Sequence[Any], minus: Sequence[Any], c: Any
) -> Any:
    r"""Variance of :math:`g^+ - c\,g^-` computed from a finite joint pmf (not from the formula).

    The value of :math:`g^+ - c\,g^-` is formed at every outcome and its variance (trace, for
    vectors) is taken over the pmf.

    Args:
        probs: outcome probabilities.
        plus: value of :math:`g^+` at each outcome (scalars or column vectors).
        minus: value of :math:`g^-` at each outcome (same shape as ``plus``).
        c: the coefficient.

    Returns:
        :math:`\mathrm{Var}(g^+ - c\,g^-)`, unsimplified.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> contrastive_variance_from_pmf([half, half], [1, -1], [2, 0], 1)
        0
    """
    _check_joint(probs, plus, minus)
    _check_real(c, "c")
    diff = [sp.Matrix(p) - c * sp.Matrix(m) if isinstance(p, sp.MatrixBase | list | tuple)
            else p - c * m for p, m in zip(plus, minus, strict=True)]
    return variance(probs, diff)


@derivation("control-variates", "Control variates: the negative sample as a control variate")
def _control_variates() -> Derivation:
    Vp, Vm = sp.symbols("V_+ V_-", positive=True)
    C = sp.Symbol("C", real=True)
    c = sp.Symbol("c", real=True)
    gp, gm = sp.symbols("g^+ g^-")
    Var = sp.Function("Var")
    c_opt, rho = sp.Symbol("c_*"), sp.Symbol("rho", real=True)
    f = contrastive_variance(Vp, Vm, C, c)
    cstar = sp.solve(sp.diff(f, c), c)[0]
    steps = [
        Step("With V_+ = Var(g+), V_- = Var(g-) and C = Cov(g+, g-) (traces of covariance "
             "matrices for vectors), the variance of the difference expands to",
             Var(gp - c * gm), f),
        Step("Its derivative in c; the second derivative 2 V_- is positive, so the quadratic is "
             "convex.", sp.Derivative(Var(gp - c * gm), c), sp.diff(f, c)),
        Step("The stationary point is the minimiser:", c_opt, cstar),
        Step("The minimum (computed):", Var(gp - c_opt * gm), sp.factor(f.subs(c, cstar))),
        Step("which, with rho = C / sqrt(V_+ V_-), is the reduction factor (1 - rho^2) times V_+:",
             Var(gp - c_opt * gm), (1 - rho**2) * Vp),
        Step("The variance does not increase when its excess over V_+ is not positive:",
             Var(gp - c * gm) - Var(gp), sp.factor(f - Vp)),
        Step("so, for C > 0, exactly when 0 <= c <= 2C/V_- (the bound 2C^2/V_- printed in the "
             "proof of paper v2 Prop 4.1 is not this set):",
             sp.Symbol("c_max"), 2 * C / Vm),
        Step("GRPO's mean baseline gives c = 1 (computed); it reduces the variance iff "
             "2C >= V_-.", Var(gp - gm) - Var(gp), (f - Vp).subs(c, 1)),
    ]
    return Derivation(
        name="control-variates",
        title="Control variates: the negative sample as a control variate",
        steps=steps,
        claims=[
            "cv.variance-quadratic",
            "cv.optimal-coefficient",
            "cv.reduction-factor",
            "cv.no-increase-range-as-printed",
            "cv.no-increase-range",
            "cv.grpo-condition",
            "cv.monte-carlo",
        ],
    )
