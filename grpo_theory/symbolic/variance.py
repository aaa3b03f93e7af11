r"""Moments of finite distributions, and the variance identities built on them.

Every moment here is computed *from a distribution*, never typed in as a formula: a finite
probability mass function is a list of probabilities :math:`q_1, \dots, q_n` (summing to 1) with
one value per outcome, and

.. math::

   \mathbb E[f(X)] = \sum_{i=1}^n q_i\, f(x_i), \qquad
   \mathrm{Var}(X) = \mathbb E\big[\|X - \mathbb E X\|^2\big], \qquad
   \mathrm{Cov}(X, Y) = \mathbb E\big[(X - \mathbb E X)^\top (Y - \mathbb E Y)\big],

computed as :math:`\mathbb E[X^\top Y] - \mathbb E[X]^\top \mathbb E[Y]` (equal, because the
probabilities are checked to add up to 1). Values may be scalars or column vectors
(``sympy.Matrix``); for vectors the variance and the covariance are the *traces* of the
covariance and cross-covariance matrices, the convention of the paper's variance analysis.
Probabilities and values may be sympy symbols, so identities between moments can be proved for
every distribution on a support of a given size.

On top of the finite moments the module builds

* the product distribution of the mean of :math:`B` i.i.d. draws (:func:`iid_mean_distribution`),
  which gives :math:`\mathrm{Var}(\bar g_B) = \mathrm{Var}(g)/B` (paper v2 Lemma 5.3);
* two-level distributions: a prompt :math:`q` drawn with probability :math:`w_q`, then an outcome
  drawn from the prompt's own pmf (:func:`flatten_two_level`), with the two terms of the laws of
  total variance and covariance (:func:`within_covariance`, :func:`between_covariance`), and the
  distribution of the mean of :math:`G` rollouts that share one prompt
  (:func:`grouped_mean_distribution`);
* the product-variance identity of paper v2 §2.3, Eq. 7 (:func:`product_variance_formula`).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy as sp

from grpo_theory._validate import check_group_size, check_probability, check_real
from grpo_theory.symbolic._derivation import Derivation, Step, derivation

__all__ = [
    "symbolic_pmf",
    "symbolic_values",
    "expectation",
    "variance",
    "covariance",
    "cross_covariance",
    "iid_mean_distribution",
    "flatten_two_level",
    "conditional_expectations",
    "within_covariance",
    "between_covariance",
    "grouped_mean_distribution",
    "product_variance_formula",
    "product_variance_trace_formula",
    "canonical_form",
]

_SUM_TOL = 1e-9


# ----------------------------------------------------------------------------------------------
# Building symbolic distributions
# ----------------------------------------------------------------------------------------------


def symbolic_pmf(n: int, name: str = "q") -> list[sp.Expr]:
    r"""Probabilities of an ``n``-outcome pmf with symbolic entries.

    .. math:: q_1, \dots, q_{n-1} > 0, \qquad q_n = 1 - \sum_{i<n} q_i.

    Args:
        n: number of outcomes, at least 1.
        name: prefix of the symbols.

    Returns:
        The ``n`` probabilities; they add up to 1 identically.

    Example:
        >>> symbolic_pmf(3)
        [q1, q2, -q1 - q2 + 1]
    """
    check_group_size(n, "n", minimum=1)
    free = list(sp.symbols(f"{name}1:{n}", positive=True)) if n > 1 else []
    return [*free, 1 - sp.Add(*free)]


def symbolic_values(n: int, name: str, dim: int | None = None) -> list[Any]:
    r"""One real symbol (or a column vector of ``dim`` symbols) per outcome.

    Args:
        n: number of outcomes, at least 1.
        name: prefix of the symbols (vector components get a further index).
        dim: ``None`` for scalar values, else the dimension of the vectors (at least 1).

    Returns:
        ``n`` sympy symbols, or ``n`` ``sympy.Matrix`` column vectors of shape ``(dim, 1)``.

    Example:
        >>> symbolic_values(2, "a")
        [a1, a2]
        >>> symbolic_values(2, "g", dim=2)[0].T
        Matrix([[g1_1, g1_2]])
    """
    check_group_size(n, "n", minimum=1)
    if dim is None:
        return list(sp.symbols(f"{name}1:{n + 1}", real=True))
    check_group_size(dim, "dim", minimum=1)
    return [sp.Matrix(sp.symbols(f"{name}{i}_1:{dim + 1}", real=True)) for i in range(1, n + 1)]


# ----------------------------------------------------------------------------------------------
# Moments of one finite pmf
# ----------------------------------------------------------------------------------------------


def _is_symbolic(x: Any) -> bool:
    return isinstance(x, sp.Basic) and bool(getattr(x, "free_symbols", False))


def _as_value(v: Any, name: str) -> Any:
    """A scalar (number or sympy expression) or a sympy column vector."""
    if isinstance(v, sp.MatrixBase | list | tuple | np.ndarray):
        entries = list(v) if isinstance(v, sp.MatrixBase) else list(np.ravel(np.asarray(
            v, dtype=object)))
        for e in entries:
            _as_value(e, f"{name} entry")
        return v if isinstance(v, sp.MatrixBase) else sp.Matrix(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real | sp.Basic | np.generic):
        raise TypeError(f"{name} must be a real number, a sympy expression or a vector, "
                        f"got {type(v).__name__} {v!r}")
    if not _is_symbolic(v) and not math.isfinite(float(v)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return sp.sympify(v)


def _check_pmf(
    probs: Sequence[Any], values: Sequence[Any], name: str = "values", pname: str = "probs"
) -> tuple:
    """Validate a finite pmf and its values; returns them as lists."""
    if isinstance(probs, str | bytes) or not isinstance(probs, Sequence | np.ndarray):
        raise TypeError(f"{pname} must be a sequence of probabilities, "
                        f"got {type(probs).__name__}")
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of values, got {type(values).__name__}")
    probs, values = list(probs), list(values)
    if not probs:
        raise ValueError(f"{pname} must have at least 1 entry, got 0")
    if len(values) != len(probs):
        raise ValueError(f"{name} must have one entry per probability ({len(probs)}), "
                         f"got {len(values)}")
    for i, p in enumerate(probs):
        check_probability(p, f"{pname}[{i}]")
    total = sp.Add(*[sp.sympify(p) for p in probs])
    if not _is_symbolic(total):
        if abs(float(total) - 1) > _SUM_TOL:
            raise ValueError(f"{pname} must sum to 1, got {total}")
    elif canonical_form(total - 1) != 0:
        raise ValueError(f"{pname} must sum to 1 identically, got {total}")
    values = [_as_value(v, f"{name}[{i}]") for i, v in enumerate(values)]
    shapes = {v.shape if isinstance(v, sp.MatrixBase) else () for v in values}
    if len(shapes) != 1:
        raise ValueError(f"{name} must all have the same shape, got {sorted(shapes)}")
    return probs, values


def _dot(x: Any, y: Any) -> Any:
    if isinstance(x, sp.MatrixBase):
        return x.dot(y)
    return x * y


def _expect(probs: Sequence[Any], values: Sequence[Any]) -> Any:
    if isinstance(values[0], sp.MatrixBase):  # component by component, one flat sum each
        rows, cols = values[0].shape
        return sp.Matrix(rows, cols, lambda i, j: sp.Add(
            *[sp.sympify(p) * v[i, j] for p, v in zip(probs, values, strict=True)]))
    return sp.Add(*[sp.sympify(p) * v for p, v in zip(probs, values, strict=True)])


def expectation(probs: Sequence[Any], values: Sequence[Any]) -> Any:
    r"""Expectation over a finite pmf, :math:`\mathbb E[X] = \sum_i q_i x_i`.

    Args:
        probs: outcome probabilities (numbers in :math:`[0, 1]` adding up to 1, or sympy
            expressions).
        values: one value per outcome: scalars, or column vectors of one shape.

    Returns:
        The expectation (a scalar or a ``sympy.Matrix``), unsimplified.

    Example:
        >>> expectation([sp.Rational(1, 4), sp.Rational(3, 4)], [0, 4])
        3
    """
    probs, values = _check_pmf(probs, values)
    return _expect(probs, values)


def covariance(probs: Sequence[Any], xs: Sequence[Any], ys: Sequence[Any]) -> Any:
    r"""Covariance (its trace, for vectors) of two variables on one finite pmf.

    .. math::

       \mathrm{Cov}(X, Y) = \sum_i q_i\, (x_i - \mathbb E X)^\top (y_i - \mathbb E Y).

    Args:
        probs: outcome probabilities.
        xs: value of :math:`X` at each outcome.
        ys: value of :math:`Y` at each outcome (same shape as ``xs``).

    Returns:
        The covariance, unsimplified.

    Example:
        >>> covariance([sp.Rational(1, 2)] * 2, [0, 2], [1, -1])
        -1
    """
    probs, xs = _check_pmf(probs, xs, "xs")
    _, ys = _check_pmf(probs, ys, "ys")
    if (xs[0].shape if isinstance(xs[0], sp.MatrixBase) else ()) != (
            ys[0].shape if isinstance(ys[0], sp.MatrixBase) else ()):
        raise ValueError("ys must have the shape of xs")
    return _covariance(probs, xs, ys)


def _covariance(probs: list, xs: list, ys: list) -> Any:
    products = [_dot(x, y) for x, y in zip(xs, ys, strict=True)]
    return _expect(probs, products) - _dot(_expect(probs, xs), _expect(probs, ys))


def variance(probs: Sequence[Any], values: Sequence[Any]) -> Any:
    r"""Variance (trace of the covariance matrix, for vectors) on a finite pmf.

    .. math:: \mathrm{Var}(X) = \sum_i q_i\, \|x_i - \mathbb E X\|^2.

    Args:
        probs: outcome probabilities.
        values: one value per outcome.

    Returns:
        The variance, unsimplified.

    Example:
        >>> variance([sp.Rational(1, 2)] * 2, [0, 2])
        1
    """
    probs, values = _check_pmf(probs, values)
    return _covariance(probs, values, values)


def cross_covariance(probs: Sequence[Any], rs: Sequence[Any], gs: Sequence[Any]) -> Any:
    r"""Covariance of a scalar :math:`r` with a vector :math:`g`: the vector
    :math:`\mathbb E[(r - \mathbb E r)(g - \mathbb E g)]`.

    Args:
        probs: outcome probabilities.
        rs: scalar value of :math:`r` at each outcome.
        gs: value of :math:`g` at each outcome (scalars or column vectors).

    Returns:
        A scalar or a ``sympy.Matrix`` of the shape of :math:`g`.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> cross_covariance([half, half], [1, -1], [sp.Matrix([1, 0]), sp.Matrix([-1, 2])]).T
        Matrix([[1, -1]])
    """
    probs, rs = _check_pmf(probs, rs, "rs")
    _, gs = _check_pmf(probs, gs, "gs")
    if any(isinstance(r, sp.MatrixBase) for r in rs):
        raise ValueError("rs must be scalars")
    products = [r * g for r, g in zip(rs, gs, strict=True)]
    return _expect(probs, products) - _expect(probs, rs) * _expect(probs, gs)


# ----------------------------------------------------------------------------------------------
# Product distributions and two-level distributions
# ----------------------------------------------------------------------------------------------


def iid_mean_distribution(
    probs: Sequence[Any], values: Sequence[Any], n: int
) -> tuple[list[Any], list[Any]]:
    r"""The pmf of the mean of ``n`` i.i.d. draws, by enumerating the product distribution.

    Each of the :math:`m^n` sequences :math:`(i_1, \dots, i_n)` of outcomes has probability
    :math:`\prod_k q_{i_k}` and value :math:`\frac1n \sum_k x_{i_k}` (no outcomes are merged).

    Args:
        probs: probabilities of the :math:`m` outcomes of one draw.
        values: value of one draw at each outcome.
        n: number of draws, at least 1.

    Returns:
        ``(probs, values)`` of the mean, with :math:`m^n` entries each.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> iid_mean_distribution([half, half], [0, 1], 2)
        ([1/4, 1/4, 1/4, 1/4], [0, 1/2, 1/2, 1])
    """
    probs, values = _check_pmf(probs, values)
    check_group_size(n, "n", minimum=1)
    out_p, out_v = [], []
    for idx in itertools.product(range(len(probs)), repeat=n):
        out_p.append(sp.Mul(*[sp.sympify(probs[i]) for i in idx]))
        total = values[idx[0]]
        for i in idx[1:]:
            total = total + values[i]
        out_v.append(total / n)
    return out_p, out_v


def _check_two_level(
    prompt_probs: Sequence[Any], outcome_probs: Sequence[Sequence[Any]], *value_lists: Any
) -> None:
    _check_pmf(prompt_probs, [0] * len(prompt_probs), "prompt values", "prompt_probs")
    if isinstance(outcome_probs, str | bytes) or len(outcome_probs) != len(prompt_probs):
        raise ValueError(f"outcome_probs must have one pmf per prompt ({len(prompt_probs)})")
    for name, vals in value_lists:
        if len(vals) != len(prompt_probs):
            raise ValueError(f"{name} must have one list per prompt ({len(prompt_probs)}), "
                             f"got {len(vals)}")
        for j, (pj, vj) in enumerate(zip(outcome_probs, vals, strict=True)):
            try:
                _check_pmf(pj, vj, f"{name}[{j}]")
            except ValueError as exc:
                raise ValueError(f"outcome_probs[{j}] / {name}[{j}]: {exc}") from None


def flatten_two_level(
    prompt_probs: Sequence[Any],
    outcome_probs: Sequence[Sequence[Any]],
    values: Sequence[Sequence[Any]],
) -> tuple[list[Any], list[Any]]:
    r"""The joint pmf of (prompt, outcome) as one flat pmf.

    A prompt :math:`j` is drawn with probability :math:`w_j`, then outcome :math:`k` with
    probability :math:`u_{jk}`; the flat pmf lists :math:`w_j u_{jk}` with value :math:`x_{jk}`.

    Args:
        prompt_probs: :math:`w_j`, one per prompt.
        outcome_probs: :math:`u_{jk}`, one pmf per prompt.
        values: :math:`x_{jk}`, one value list per prompt (same lengths as ``outcome_probs``).

    Returns:
        ``(probs, values)`` of the flat joint pmf.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> flatten_two_level([half, half], [[1], [half, half]], [[5], [0, 2]])
        ([1/2, 1/4, 1/4], [5, 0, 2])
    """
    _check_two_level(prompt_probs, outcome_probs, ("values", values))
    probs, flat = [], []
    for w, us, xs in zip(prompt_probs, outcome_probs, values, strict=True):
        for u, x in zip(us, xs, strict=True):
            probs.append(sp.sympify(w) * u)
            flat.append(x)
    return probs, flat


def conditional_expectations(
    outcome_probs: Sequence[Sequence[Any]], values: Sequence[Sequence[Any]]
) -> list[Any]:
    r"""The conditional means :math:`\mathbb E[X \mid q = j] = \sum_k u_{jk} x_{jk}`, per prompt.

    Args:
        outcome_probs: one pmf per prompt.
        values: one value list per prompt.

    Returns:
        One conditional mean per prompt.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> conditional_expectations([[1], [half, half]], [[5], [0, 2]])
        [5, 1]
    """
    if len(values) != len(outcome_probs):
        raise ValueError(f"values must have one list per prompt ({len(outcome_probs)}), "
                         f"got {len(values)}")
    return [expectation(u, x) for u, x in zip(outcome_probs, values, strict=True)]


def within_covariance(
    prompt_probs: Sequence[Any],
    outcome_probs: Sequence[Sequence[Any]],
    xs: Sequence[Sequence[Any]],
    ys: Sequence[Sequence[Any]],
) -> Any:
    r"""The within-prompt term :math:`\mathbb E_q\,\mathrm{Cov}(X, Y \mid q)`.

    With ``ys = xs`` this is :math:`\mathbb E_q\,\mathrm{Var}(X \mid q)`.

    Args:
        prompt_probs: :math:`w_j`, one per prompt.
        outcome_probs: one pmf per prompt.
        xs: values of :math:`X`, one list per prompt.
        ys: values of :math:`Y`, one list per prompt.

    Returns:
        :math:`\sum_j w_j\, \mathrm{Cov}(X, Y \mid q = j)`, unsimplified.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> within_covariance([half, half], [[1], [half, half]], [[5], [0, 2]], [[5], [0, 2]])
        1/2
    """
    _check_two_level(prompt_probs, outcome_probs, ("xs", xs), ("ys", ys))
    conditional = [covariance(u, x, y) for u, x, y in zip(outcome_probs, xs, ys, strict=True)]
    return _expect(prompt_probs, conditional)


def between_covariance(
    prompt_probs: Sequence[Any],
    outcome_probs: Sequence[Sequence[Any]],
    xs: Sequence[Sequence[Any]],
    ys: Sequence[Sequence[Any]],
) -> Any:
    r"""The between-prompt term :math:`\mathrm{Cov}_q(\mathbb E[X \mid q], \mathbb E[Y \mid q])`.

    With ``ys = xs`` this is :math:`\mathrm{Var}_q\,\mathbb E[X \mid q]`.

    Args:
        prompt_probs: :math:`w_j`, one per prompt.
        outcome_probs: one pmf per prompt.
        xs: values of :math:`X`, one list per prompt.
        ys: values of :math:`Y`, one list per prompt.

    Returns:
        The covariance, over prompts, of the two conditional means; unsimplified.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> between_covariance([half, half], [[1], [half, half]], [[5], [0, 2]], [[5], [0, 2]])
        4
    """
    _check_two_level(prompt_probs, outcome_probs, ("xs", xs), ("ys", ys))
    return covariance(prompt_probs, conditional_expectations(outcome_probs, xs),
                      conditional_expectations(outcome_probs, ys))


def grouped_mean_distribution(
    prompt_probs: Sequence[Any],
    outcome_probs: Sequence[Sequence[Any]],
    values: Sequence[Sequence[Any]],
    G: int,
) -> tuple[list[Any], list[Any]]:
    r"""The pmf of the mean of ``G`` rollouts that share one prompt.

    A prompt :math:`j` is drawn once (probability :math:`w_j`); then :math:`G` outcomes are drawn
    i.i.d. from the prompt's pmf, and the value is their mean. Every prompt and every sequence of
    outcomes is enumerated.

    Args:
        prompt_probs: :math:`w_j`, one per prompt.
        outcome_probs: one pmf per prompt.
        values: one value list per prompt.
        G: rollouts per prompt, at least 1.

    Returns:
        ``(probs, values)`` of the group mean.

    Example:
        >>> half = sp.Rational(1, 2)
        >>> grouped_mean_distribution([half, half], [[1], [1]], [[0], [2]], 3)
        ([1/2, 1/2], [0, 2])
    """
    _check_two_level(prompt_probs, outcome_probs, ("values", values))
    check_group_size(G, "G", minimum=1)
    probs, means = [], []
    for w, us, xs in zip(prompt_probs, outcome_probs, values, strict=True):
        ps, vs = iid_mean_distribution(us, xs, G)
        probs.extend(sp.sympify(w) * p for p in ps)
        means.extend(vs)
    return probs, means


# ----------------------------------------------------------------------------------------------
# The product-variance identity (paper v2 §2.3, Eq. 7)
# ----------------------------------------------------------------------------------------------


def product_variance_formula(
    var_g: Any, var_r: Any, mean_r: Any, cov_r2_g2: Any, cov_r_g: Any
) -> Any:
    r"""Right-hand side of the product-variance identity for a zero-mean :math:`g`.

    .. math::

       \mathrm{Var}(r g) = \mathrm{Var}(g)\big(\mathrm{Var}(r) + \mathbb E[r]^2\big)
           + \mathrm{Cov}(r^2, g^2) - \mathrm{Cov}(r, g)^2
       \qquad (\mathbb E[g] = 0).

    Args:
        var_g: :math:`\mathrm{Var}(g)`, at least 0.
        var_r: :math:`\mathrm{Var}(r)`, at least 0.
        mean_r: :math:`\mathbb E[r]`.
        cov_r2_g2: :math:`\mathrm{Cov}(r^2, g^2)`.
        cov_r_g: :math:`\mathrm{Cov}(r, g)`.

    Returns:
        The right-hand side.

    Example:
        >>> product_variance_formula(2, 1, 3, 0, 0)
        20
    """
    _check_nonnegative_moment(var_g, "var_g")
    _check_nonnegative_moment(var_r, "var_r")
    for x, name in ((mean_r, "mean_r"), (cov_r2_g2, "cov_r2_g2"), (cov_r_g, "cov_r_g")):
        _check_real(x, name)
    return var_g * (var_r + mean_r**2) + cov_r2_g2 - cov_r_g**2


def product_variance_trace_formula(
    var_g: Any, var_r: Any, mean_r: Any, cov_r2_g2: Any, cov_r_g: Any
) -> Any:
    r"""Right-hand side of the product-variance identity for a zero-mean vector :math:`g`.

    With traces, :math:`g^2 \to \|g\|^2` and :math:`\mathrm{Cov}(r, g)^2 \to
    \|\mathrm{Cov}(r, g)\|^2`:

    .. math::

       \mathrm{tr\,Var}(r g) = \mathrm{tr\,Var}(g)\big(\mathrm{Var}(r) + \mathbb E[r]^2\big)
           + \mathrm{Cov}(r^2, \|g\|^2) - \|\mathrm{Cov}(r, g)\|^2.

    Args:
        var_g: :math:`\mathrm{tr\,Var}(g)`, at least 0.
        var_r: :math:`\mathrm{Var}(r)`, at least 0.
        mean_r: :math:`\mathbb E[r]`.
        cov_r2_g2: :math:`\mathrm{Cov}(r^2, \|g\|^2)`.
        cov_r_g: the vector :math:`\mathrm{Cov}(r, g)` (a ``sympy.Matrix`` or a sequence).

    Returns:
        The right-hand side.

    Example:
        >>> product_variance_trace_formula(2, 1, 0, 0, [1, 1])
        0
    """
    _check_nonnegative_moment(var_g, "var_g")
    _check_nonnegative_moment(var_r, "var_r")
    for x, name in ((mean_r, "mean_r"), (cov_r2_g2, "cov_r2_g2")):
        _check_real(x, name)
    vec = cov_r_g if isinstance(cov_r_g, sp.MatrixBase) else sp.Matrix(list(cov_r_g))
    if vec.shape[1] != 1:
        raise ValueError(f"cov_r_g must be a column vector, got shape {vec.shape}")
    return var_g * (var_r + mean_r**2) + cov_r2_g2 - vec.dot(vec)


def canonical_form(expr: Any) -> Any:
    r"""A normal form of a rational function of its symbols: ``0`` exactly when it vanishes.

    Sums and products of many moments expand slowly with :func:`sympy.expand`. Here the
    expression is rebuilt in sympy's sparse polynomial ring :math:`\mathbb Q[x_1, \dots, x_k]`:
    a polynomial becomes its expanded form; a rational function becomes a pair
    (numerator, denominator) of ring elements, combined without gcd computations, and is zero
    exactly when the numerator is the zero polynomial. Both steps are exact. Expressions with
    other functions (square roots of non-squares, ...) fall back to :func:`sympy.simplify`.
    Matrices are normalised entry-wise; a zero matrix becomes ``0``.

    Args:
        expr: a sympy expression or matrix.

    Returns:
        The expanded polynomial, or numerator over denominator (not reduced), as a sympy
        expression; ``0`` for an identically vanishing input.

    Example:
        >>> a, b = sp.symbols("a b")
        >>> canonical_form((a + b) ** 2 - a**2 - 2 * a * b)
        b**2
        >>> canonical_form(1 / (a + b) + 1 / (a - b) - 2 * a / (a**2 - b**2))
        0
    """
    if isinstance(expr, sp.MatrixBase):
        m = expr.applyfunc(canonical_form)
        return sp.Integer(0) if m.is_zero_matrix else m
    expr = sp.sympify(expr)
    syms = sorted(expr.free_symbols, key=lambda s: s.name)
    if not syms:
        return sp.nsimplify(sp.simplify(expr))
    ring = sp.ring(syms, sp.QQ)[0]
    try:
        num, den = _as_ring_fraction(expr, ring)
    except (ValueError, TypeError, ZeroDivisionError, sp.polys.polyerrors.PolynomialError,
            sp.polys.polyerrors.CoercionFailed):
        return sp.simplify(expr)
    if not num:
        return sp.Integer(0)
    return num.as_expr() / sp.Mul(*[base.as_expr() ** k for base, k in den])


def _merge_denominators(factors: list, extra: list, sign: int = 1) -> list:
    """Multiply two factored denominators (lists of ``[base, exponent]``)."""
    out = [list(f) for f in factors]
    for base, k in extra:
        for f in out:
            if f[0] == base:
                f[1] += sign * k
                break
        else:
            out.append([base, sign * k])
    return [f for f in out if f[1] != 0]


def _as_ring_fraction(expr: sp.Basic, ring: Any) -> tuple[Any, list]:
    """``expr`` as a numerator in ``ring`` over a factored denominator.

    The denominator is a list of ``[base, exponent]`` with ``base`` a non-zero ring element; a
    sum is brought to the common denominator that takes each base to its largest exponent, so
    repeated denominators (a variance, say) do not multiply up. Raises for non-rational input.
    """
    if expr.is_Symbol or expr.is_Rational:
        return ring.from_expr(expr), []
    if expr.is_Add:
        parts = [_as_ring_fraction(arg, ring) for arg in expr.args]
        common: list = []
        for _, den in parts:
            for base, k in den:
                for f in common:
                    if f[0] == base:
                        f[1] = max(f[1], k)
                        break
                else:
                    common.append([base, k])
        num = ring.zero
        for n, den in parts:
            missing = _merge_denominators(common, den, sign=-1)
            for base, k in missing:
                n = n * base**k
            num += n
        return num, common
    if expr.is_Mul:
        num, den = ring.one, []
        for arg in expr.args:
            n, d = _as_ring_fraction(arg, ring)
            num, den = num * n, _merge_denominators(den, d)
        return num, den
    if expr.is_Pow and expr.exp.is_Integer:
        n, d = _as_ring_fraction(expr.base, ring)
        e = int(expr.exp)
        if e >= 0:
            return n**e, [[base, k * e] for base, k in d]
        if not n:
            raise ZeroDivisionError(f"division by zero in {expr}")
        num = ring.one
        for base, k in d:
            num = num * base ** (-k * e)
        return num, [[n, -e]]
    raise ValueError(f"not a rational function: {expr}")


_check_real = check_real  # finite real, symbols pass


def _check_nonnegative_moment(x: Any, name: str) -> Any:
    _check_real(x, name)
    if not _is_symbolic(x) and float(x) < 0:
        raise ValueError(f"{name} must be >= 0 (a variance), got {x!r}")
    return x


# ----------------------------------------------------------------------------------------------
# Derivation
# ----------------------------------------------------------------------------------------------


@derivation("variance-identities", "Variance identities: products, batch means, prompts")
def _variance_identities() -> Derivation:
    r, g, B, Q, G, p = sp.symbols("r g B Q G p")
    gp, gm = sp.symbols("g^+ g^-")
    E = sp.Function("E")
    Var = sp.Function("Var")
    Cov = sp.Function("Cov")
    Vb, Vw = sp.symbols(r"V_{between} V_{within}", nonnegative=True)
    steps = [
        Step("Variance of a product, from its definition.",
             Var(r * g), E(r**2 * g**2) - E(r * g) ** 2),
        Step("With E[g] = 0: Var(g) = E[g^2] and Cov(r, g) = E[r g]; moreover "
             "E[r^2] = Var(r) + E[r]^2 and E[r^2 g^2] = E[r^2] E[g^2] + Cov(r^2, g^2).",
             Var(r * g),
             Var(g) * (Var(r) + E(r) ** 2) + Cov(r**2, g**2) - Cov(r, g) ** 2),
        Step("Without E[g] = 0 the identity gains the residual below (r, g independent with "
             "E[g] != 0 and Var(r) > 0 make it nonzero).",
             Var(r * g) - (Var(g) * (Var(r) + E(r) ** 2) + Cov(r**2, g**2) - Cov(r, g) ** 2),
             E(r**2) * E(g) ** 2 - E(r * g) ** 2 + (E(r * g) - E(r) * E(g)) ** 2),
        Step("For vectors g, take traces: g^2 becomes ||g||^2 and Cov(r, g)^2 becomes "
             "||Cov(r, g)||^2; every step above holds coordinate by coordinate."),
        Step("Mean of B i.i.d. draws: the cross covariances vanish, the B variances add.",
             Var(sp.Symbol(r"\bar g_B")), Var(g) / B),
        Step("It is strictly decreasing in B when Var(g) > 0.",
             Var(g) / B - Var(g) / (B + 1), Var(g) / (B * (B + 1))),
        Step("Law of total variance over the prompt q, for a per-prompt estimator h.",
             Var(sp.Symbol("h")), Vb + Vw),
        Step("Q i.i.d. prompts: the per-prompt estimates are i.i.d., so the variance of their "
             "mean is the total variance over Q.",
             Var(sp.Symbol(r"\bar h_Q")), (Vb + Vw) / Q),
        Step("G rollouts of one prompt share it: given q they are i.i.d., so only the "
             "within-prompt term shrinks with G. With V_between = Var_q E[g|q] and "
             "V_within = E_q Var(g|q) for one rollout's g:",
             Var(sp.Symbol(r"\bar g_{Q \times G}")), (Vb + Vw / G) / Q),
        Step("Treating the QG rollouts as i.i.d. instead gives (Vb + Vw)/(QG); it is too small "
             "by the between-prompt part.",
             (Vb + Vw / G) / Q - (Vb + Vw) / (Q * G), Vb * (G - 1) / (Q * G)),
        Step("Law of total covariance for (g+, g-) over the prompt p, writing Cov(x, y, p) and "
             "E(x, p) for the covariance and the mean given p; the first term vanishes when g+ "
             "and g- are conditionally independent given p.",
             Cov(gp, gm),
             sp.Function("E_p")(Cov(gp, gm, p)) + sp.Function("Cov_p")(E(gp, p), E(gm, p))),
    ]
    return Derivation(
        name="variance-identities",
        title="Variance identities: products, batch means, prompts",
        steps=steps,
        claims=[
            "var.product-identity",
            "var.product-identity-trace",
            "var.product-identity-needs-zero-mean",
            "var.batch-mean",
            "var.prompt-batch-decomposition",
            "var.rollouts-iid-as-printed",
            "var.rollouts-grouped",
            "var.total-covariance",
        ],
    )
