r"""Expected gradient of a count-based group estimator under binary rewards.

One prompt, success probability :math:`p`, :math:`G` i.i.d. responses with binary rewards
:math:`r_i` and scores :math:`s_i = \nabla_\theta \log\pi_\theta(o_i)`. A count-based estimator
gives response :math:`i` the advantage :math:`A^+(k)` if it is correct and :math:`A^-(k)` if not,
with :math:`k = \sum_i r_i` (:func:`~grpo_theory.symbolic.advantages.binary_advantages`), and
averages :math:`\hat g = \frac1G \sum_i A_i s_i`.

Since :math:`\mathbb E_\pi[s] = 0`, the conditional score means :math:`\mu^\pm = \mathbb E[s\mid
r=\pm]` satisfy :math:`p\mu^+ + (1-p)\mu^- = 0` and :math:`\nabla_\theta p = p\,\mu^+`. By
exchangeability :math:`\mathbb E[\hat g] = \mathbb E[A_1 s_1]`, and given :math:`r_1` the score
:math:`s_1` is independent of the other :math:`G-1` rewards, whose number of successes is
:math:`J \sim \mathrm{Binomial}(G-1, p)`. Hence

.. math::

   \mathbb E[\hat g] = c_G(p)\,\nabla_\theta p, \qquad
   c_G(p) = \sum_{j=0}^{G-1} \binom{G-1}{j} p^j (1-p)^{G-1-j}
            \big(A^+(j+1) - A^-(j)\big),

a polynomial in :math:`p` (:func:`expected_gradient_weight`). For GRPO with the population std
and :math:`\epsilon = 0`, :math:`c_G(p) = \mathbb E[\hat\sigma_k]/(p(1-p))` with
:math:`\hat\sigma_k = \sqrt{k(G-k)}/G` and :math:`k \sim \mathrm{Binomial}(G, p)`
(:func:`expected_group_std`); :math:`c_2 \equiv 1`, :math:`c_3 \equiv \sqrt2`, and
:math:`c_G(p) \to 1/\sqrt{p(1-p)}` as :math:`G \to \infty`. In expectation the estimator ascends
the *implied objective* :math:`f_G(p) = \int_0^p c_G` (:func:`implied_objective`), which tends to
:math:`2\arcsin\sqrt p` (:func:`limit_objective`).

Exact expressions are available for :math:`G \le` :data:`MAX_SYMBOLIC_G`; the numeric functions
(:func:`expected_gradient_weight_numeric`, :func:`expected_group_std_numeric`) use log-space
binomial weights and are stable for groups of many thousands.
:func:`softmax_bandit_expected_gradient` computes :math:`\mathbb E[\hat g]` by exact enumeration on
a softmax bandit with symbolic logits, independently of the formula above.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_probability,
    check_rewards,
)
from grpo_theory.symbolic._derivation import Derivation, Step, derivation
from grpo_theory.symbolic.advantages import (
    Convention,
    binary_advantages,
    group_advantages,
    population_std,
)

__all__ = [
    "MAX_SYMBOLIC_G",
    "MAX_NUMERIC_G",
    "P",
    "BanditGradient",
    "advantage_gap",
    "binomial_pmf",
    "expected_gradient_weight",
    "expected_group_std",
    "implied_objective",
    "limit_weight",
    "limit_objective",
    "std_attenuation_series",
    "expected_gradient_weight_numeric",
    "expected_group_std_numeric",
    "softmax_bandit_expected_gradient",
    "expected_gradient_derivation",
]

MAX_SYMBOLIC_G = 64
"""Largest group size for which exact (sympy) expressions are built."""

MAX_NUMERIC_G = 1 << 20
"""Largest group size accepted by the numeric (log-space) functions."""

P = sp.Symbol("p", positive=True)
"""The default success-probability symbol."""

_MAX_BANDIT_MULTISETS = 1000
_CHUNK_ELEMENTS = 1 << 22  # p-values times binomial terms evaluated at once


# ----------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------


def _as_convention(convention: Any) -> Convention:
    try:
        return Convention(convention)
    except ValueError:
        valid = ", ".join(c.value for c in Convention)
        raise ValueError(f"convention must be one of {valid}; got {convention!r}") from None


def _check_symbolic_group_size(G: Any) -> int:
    check_group_size(G)
    if isinstance(G, sp.Basic) and G.free_symbols:
        raise TypeError(f"G must be a concrete integer (one exact expression per G), got {G}")
    if int(G) > MAX_SYMBOLIC_G:
        raise ValueError(
            f"G must be <= {MAX_SYMBOLIC_G} for an exact expression, got {G}; use the numeric "
            "functions (expected_gradient_weight_numeric, expected_group_std_numeric) for "
            "larger groups"
        )
    return int(G)


def _as_float_array(p: Any) -> tuple[NDArray[np.float64], bool]:
    """``p`` as a 1-d float array, and whether the input was a scalar."""
    check_probability(p)
    arr = np.asarray(p, dtype=float)
    return arr.reshape(-1), arr.ndim == 0


# ----------------------------------------------------------------------------------------------
# Exact expressions
# ----------------------------------------------------------------------------------------------


def binomial_pmf(j: Any, n: Any, p: Any = P) -> sp.Expr:
    r"""Binomial probability :math:`\binom{n}{j} p^j (1-p)^{n-j}` as a sympy expression.

    Args:
        j: number of successes, ``0..n`` (integer or symbol).
        n: number of trials, ``>= 0`` (integer or symbol).
        p: success probability in :math:`[0, 1]` (number or symbol).

    Returns:
        The probability, unexpanded.

    Example:
        >>> binomial_pmf(1, 2, sp.Rational(1, 2))
        1/2
    """
    check_probability(p)
    if not any(isinstance(x, sp.Basic) and x.free_symbols for x in (j, n)):
        check_group_size(n, "n", minimum=0)
        if isinstance(j, bool) or not isinstance(j, int | np.integer | sp.Integer):
            raise TypeError(f"j must be an integer in 0..{n}, got {type(j).__name__} {j!r}")
        if not 0 <= int(j) <= int(n):
            raise ValueError(f"j must be an integer in 0..{n}, got {j!r}")
    j, n, p = sp.sympify(j), sp.sympify(n), sp.sympify(p)
    return sp.binomial(n, j) * p**j * (1 - p) ** (n - j)


def advantage_gap(
    j: Any,
    G: Any,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> sp.Expr:
    r"""The gap :math:`A^+(j+1) - A^-(j)` when :math:`j` of the other :math:`G-1` responses succeed.

    It is the difference between the advantage response 1 gets when it is correct and the one it
    gets when it is not, with the other rewards fixed. :math:`c_G(p)` is its mean over
    :math:`j \sim \mathrm{Binomial}(G-1, p)`.

    Args:
        j: successes among the other responses, ``0..G-1`` (or a symbol; then the interior
            formulas of :func:`binary_advantages` are used).
        G: group size ``>= 2`` (or a symbol).
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        The gap as a sympy expression.

    Example:
        >>> advantage_gap(0, 2), advantage_gap(1, 3)
        (1, sqrt(2))
    """
    conv = _as_convention(convention)
    check_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    if not (isinstance(j, sp.Basic) and j.free_symbols) and not (
        isinstance(G, sp.Basic) and G.free_symbols
    ):
        if isinstance(j, bool) or not isinstance(j, int | np.integer | sp.Integer):
            raise TypeError(
                f"j must be an integer in 0..{int(G) - 1}, got {type(j).__name__} {j!r}")
        if not 0 <= int(j) <= int(G) - 1:
            raise ValueError(
                f"j must be an integer in 0..{int(G) - 1} (successes among the other G - 1 "
                f"responses), got {j!r}"
            )
    j = sp.sympify(j)
    a_plus, _ = binary_advantages(j + 1, G, conv, epsilon)
    _, a_minus = binary_advantages(j, G, conv, epsilon)
    return a_plus - a_minus


def expected_gradient_weight(
    G: int,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
    p: Any = P,
    *,
    expand: bool = True,
) -> sp.Expr:
    r"""Exact weight :math:`c_G(p)` with :math:`\mathbb E[\hat g] = c_G(p)\,\nabla_\theta p`.

    .. math::

       c_G(p) = \mathbb E[A^+(k) \mid r_1 = 1] - \mathbb E[A^-(k) \mid r_1 = 0]
              = \sum_{j=0}^{G-1} \binom{G-1}{j} p^j (1-p)^{G-1-j}\big(A^+(j+1) - A^-(j)\big).

    A polynomial in :math:`p` of degree at most :math:`G-1` with algebraic coefficients (at most
    :math:`G-2` for the symmetric conventions at :math:`\epsilon = 0`).

    Args:
        G: group size, ``2..MAX_SYMBOLIC_G``.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std (a number or a symbol).
        p: success probability in :math:`[0, 1]`, or a symbol (default :data:`P`).
        expand: expand into monomials of :math:`p` (otherwise the Bernstein-form sum).

    Returns:
        :math:`c_G(p)` as a sympy expression.

    Example:
        >>> expected_gradient_weight(2), expected_gradient_weight(3)
        (1, sqrt(2))
        >>> expected_gradient_weight(4, p=sp.Rational(1, 2))
        3/4 + sqrt(3)/2
    """
    conv = _as_convention(convention)
    n = _check_symbolic_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    check_probability(p)
    return _weight(n, conv, sp.sympify(epsilon), sp.sympify(p), expand)


def _bernstein_sum(values: Sequence[sp.Expr], p: sp.Expr, expand: bool) -> sp.Expr:
    r""":math:`\sum_{j=0}^n v_j \binom nj p^j (1-p)^{n-j}`, expanded or in Bernstein form.

    The expansion uses the monomial coefficients
    :math:`\sum_{j \le m} v_j \binom nj \binom{n-j}{m-j} (-1)^{m-j}` of :math:`p^m`, which is
    much cheaper than a generic ``expand`` of the Bernstein form.
    """
    n = len(values) - 1
    bernstein = sp.Add(*[binomial_pmf(j, n, p) * v for j, v in enumerate(values)])
    if not expand:
        return bernstein
    if not isinstance(p, sp.Symbol) and p.free_symbols:  # an expression in other symbols
        return sp.expand(bernstein)
    coefficients = [
        sp.expand(sp.Add(*[values[j] * math.comb(n, j) * math.comb(n - j, m - j) * (-1) ** (m - j)
                           for j in range(m + 1)]))
        for m in range(n + 1)
    ]
    return sp.expand(sp.Add(*[c * p**m for m, c in enumerate(coefficients)]))


@functools.lru_cache(maxsize=512)
def _weight(G: int, conv: Convention, eps: sp.Expr, p: sp.Expr, expand: bool) -> sp.Expr:
    return _bernstein_sum([advantage_gap(j, G, conv, eps) for j in range(G)], p, expand)


def expected_group_std(G: int, p: Any = P) -> sp.Expr:
    r"""Exact mean population std of a binary group, :math:`\mathbb E[\hat\sigma_k]`.

    .. math::

       \mathbb E[\hat\sigma] = \frac1G \sum_{k=1}^{G-1} \binom Gk p^k (1-p)^{G-k}\sqrt{k(G-k)},
       \qquad k \sim \mathrm{Binomial}(G, p)

    (Bay & Yearick 2026). Each :math:`\hat\sigma_k` is computed as the population std of a group
    with :math:`k` ones and :math:`G-k` zeros.

    Args:
        G: group size, ``2..MAX_SYMBOLIC_G``.
        p: success probability in :math:`[0, 1]`, or a symbol.

    Returns:
        The expected std, an expanded polynomial in :math:`p`.

    Example:
        >>> expected_group_std(2)
        -p**2 + p
    """
    n = _check_symbolic_group_size(G)
    check_probability(p)
    return _group_std(n, sp.sympify(p))


@functools.lru_cache(maxsize=256)
def _group_std(G: int, p: sp.Expr) -> sp.Expr:
    one, zero = sp.Integer(1), sp.Integer(0)
    return _bernstein_sum([population_std([one] * k + [zero] * (G - k)) for k in range(G + 1)],
                          p, expand=True)


def implied_objective(
    G: int,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
    p: Any = P,
) -> sp.Expr:
    r"""The objective whose gradient the estimator follows in expectation, :math:`f_G`.

    .. math::

       f_G(p) = \int_0^p c_G(q)\,dq, \qquad f_G' = c_G, \quad f_G(0) = 0,

    so that :math:`\mathbb E[\hat g] = \nabla_\theta f_G(p_\theta)`. It is built in Bernstein
    form, from :math:`\int_0^p B_{j,n}(q)\,dq = \frac{1}{n+1}\sum_{i=j+1}^{n+1} B_{i,n+1}(p)`
    with :math:`B_{j,n}(p) = \binom nj p^j(1-p)^{n-j}` and :math:`n = G-1`:

    .. math::

       f_G(p) = \frac1G \sum_{i=1}^{G} B_{i,G}(p) \sum_{j=0}^{i-1} \big(A^+(j+1) - A^-(j)\big),

    so :math:`f_G' = c_G` is a check of that identity, not a restatement of the definition.

    Args:
        G: group size, ``2..MAX_SYMBOLIC_G``.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        p: success probability in :math:`[0, 1]`, or a symbol.

    Returns:
        :math:`f_G(p)`, an expanded polynomial in :math:`p`.

    Example:
        >>> implied_objective(2), implied_objective(3)
        (p, sqrt(2)*p)
    """
    conv = _as_convention(convention)
    n = _check_symbolic_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    check_probability(p)
    return _objective(n, conv, sp.sympify(epsilon), sp.sympify(p))


@functools.lru_cache(maxsize=256)
def _objective(G: int, conv: Convention, eps: sp.Expr, p: sp.Expr) -> sp.Expr:
    cumulative = itertools.accumulate(advantage_gap(j, G, conv, eps) / G for j in range(G))
    return _bernstein_sum([sp.Integer(0), *cumulative], p, expand=True)


def limit_weight(p: Any = P) -> sp.Expr:
    r"""The large-group limit of the GRPO weight, :math:`c_\infty(p) = 1/\sqrt{p(1-p)}`.

    Args:
        p: success probability in :math:`(0, 1)`, or a symbol.

    Returns:
        :math:`1/\sqrt{p(1-p)}`.

    Example:
        >>> limit_weight(sp.Rational(1, 2))
        2
    """
    check_probability(p, open_interval=True)
    p = sp.sympify(p)
    return 1 / sp.sqrt(p * (1 - p))


def limit_objective(p: Any = P) -> sp.Expr:
    r"""The large-group implied objective :math:`f_\infty(p) = 2\arcsin\sqrt p`.

    Its derivative is :func:`limit_weight`, and :math:`f_\infty(0) = 0`.

    Args:
        p: success probability in :math:`[0, 1]`, or a symbol.

    Returns:
        :math:`2\arcsin\sqrt p`.

    Example:
        >>> limit_objective(1)
        pi
    """
    check_probability(p)
    return 2 * sp.asin(sp.sqrt(sp.sympify(p)))


def std_attenuation_series(p: Any = P) -> tuple[sp.Expr, sp.Expr]:
    r"""Coefficients :math:`(a_1, a_2)` of :math:`\mathbb E[\hat\sigma_G]/\sqrt{p(1-p)} = 1 +
    a_1/G + a_2/G^2 + O(G^{-3})`.

    Delta method for :math:`f(x) = \sqrt{x(1-x)}` at :math:`\hat p = k/G`: the central moments
    of :math:`\hat p` are :math:`\kappa_2/G`, :math:`\kappa_3/G^2` and
    :math:`3\kappa_2^2/G^2 + O(G^{-3})`, with the Bernoulli cumulants
    :math:`\kappa_2 = p(1-p)`, :math:`\kappa_3 = p(1-p)(1-2p)`; the higher moments are
    :math:`O(G^{-3})`. Hence

    .. math::

       a_1 = \frac{f''\kappa_2}{2f}, \qquad
       a_2 = \frac{1}{f}\Big(\frac{f'''\kappa_3}{6} + \frac{f''''\kappa_2^2}{8}\Big),

    giving :math:`a_1 = -1/(8p(1-p))` (Bay & Yearick 2026) and
    :math:`a_2 = -(16p^2 - 16p + 7)/(128 p^2 (1-p)^2)` (derived). Silent groups at the boundary
    contribute exponentially small terms only.

    Args:
        p: success probability in :math:`(0, 1)`, or a symbol.

    Returns:
        ``(a1, a2)`` as simplified sympy expressions.

    Example:
        >>> std_attenuation_series(sp.Rational(1, 2))
        (-1/2, -3/8)
    """
    check_probability(p, open_interval=True)
    x, a1, a2 = _attenuation_coefficients()
    p = sp.sympify(p)
    return a1.subs(x, p), a2.subs(x, p)


@functools.lru_cache(maxsize=1)
def _attenuation_coefficients() -> tuple[sp.Symbol, sp.Expr, sp.Expr]:
    x = sp.Dummy("x")
    u = x * (1 - x)  # f = sqrt(u)
    # R_n = f^(n)/f is rational: R_0 = 1 and R_{n+1} = R_n' + R_n f'/f with f'/f = u'/(2u).
    ratios = [sp.Integer(1)]
    for _ in range(4):
        ratios.append(sp.cancel(sp.diff(ratios[-1], x) + ratios[-1] * sp.diff(u, x) / (2 * u)))
    k2, k3 = u, u * (1 - 2 * x)  # Bernoulli cumulants
    return (x, sp.factor(ratios[2] * k2 / 2),
            sp.factor(ratios[3] * k3 / 6 + ratios[4] * k2**2 / 8))


# ----------------------------------------------------------------------------------------------
# Numeric (log-space) versions
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _numeric_advantages(conv: Convention) -> tuple[Any, Any]:
    """Vectorised ``A+(k, G, eps)`` and ``A-(k, G, eps)`` for interior ``k`` (``1..G-1``)."""
    k, G = sp.symbols("k G", positive=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    a_plus, a_minus = binary_advantages(k, G, conv, eps)
    return (sp.lambdify((k, G, eps), a_plus, modules="numpy"),
            sp.lambdify((k, G, eps), a_minus, modules="numpy"))


def _numeric_gaps(G: int, conv: Convention, eps: float) -> NDArray[np.float64]:
    """The gaps :math:`A^+(j+1) - A^-(j)` for ``j = 0..G-1`` as floats."""
    f_plus, f_minus = _numeric_advantages(conv)
    plus = np.empty(G)
    minus = np.empty(G)
    interior = np.arange(1, G, dtype=float)
    plus[:-1] = np.broadcast_to(f_plus(interior, float(G), eps), (G - 1,))  # A+(1..G-1)
    minus[1:] = np.broadcast_to(f_minus(interior, float(G), eps), (G - 1,))  # A-(1..G-1)
    plus[-1] = float(binary_advantages(G, G, conv, eps)[0])  # all correct
    minus[0] = float(binary_advantages(0, G, conv, eps)[1])  # all wrong
    return plus - minus


def _binomial_expectation(
    n: int, p: NDArray[np.float64], values: NDArray[np.float64]
) -> NDArray[np.float64]:
    r""":math:`\sum_{j=0}^n \Pr(J = j)\,v_j` for :math:`J \sim \mathrm{Binomial}(n, p)`, per ``p``.

    The probabilities come from ``scipy.stats.binom.logpmf`` (no binomial coefficient is ever
    formed), so large ``n`` neither overflows nor loses the central terms.
    """
    j = np.arange(n + 1)
    out = np.empty(p.shape)
    step = max(1, _CHUNK_ELEMENTS // (n + 1))
    for start in range(0, p.size, step):
        block = p[start:start + step, None]
        with np.errstate(divide="ignore", under="ignore"):
            weights = np.exp(binom.logpmf(j[None, :], n, block))
        out[start:start + step] = weights @ values
    return out


def _shape_like(values: NDArray[np.float64], p: Any, scalar: bool) -> Any:
    return float(values[0]) if scalar else values.reshape(np.shape(p))


def expected_gradient_weight_numeric(
    G: int,
    p: ArrayLike,
    convention: Convention | str = Convention.GRPO,
    epsilon: float = 0.0,
) -> Any:
    r"""The weight :math:`c_G(p)` in floating point, vectorised over :math:`p`.

    .. math::

       c_G(p) = \sum_{j=0}^{G-1} \Pr(J = j)\,\big(A^+(j+1) - A^-(j)\big),
       \qquad J \sim \mathrm{Binomial}(G-1, p),

    with log-space binomial probabilities, so that it is stable for :math:`G` in the thousands
    and for :math:`p` at or near 0 and 1 (where :math:`c_G(0) = A^+(1) - A^-(0)`).

    Args:
        G: group size, ``2..MAX_NUMERIC_G``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> round(expected_gradient_weight_numeric(4, 0.5), 6)
        1.616025
    """
    conv = _as_convention(convention)
    check_group_size(G, maximum=MAX_NUMERIC_G)
    check_nonnegative(epsilon, "epsilon")
    flat, scalar = _as_float_array(p)
    gaps = _numeric_gaps(int(G), conv, float(epsilon))
    return _shape_like(_binomial_expectation(int(G) - 1, flat, gaps), p, scalar)


def expected_group_std_numeric(G: int, p: ArrayLike) -> Any:
    r"""Mean population std of a binary group, :math:`\mathbb E[\hat\sigma_k]`, in floating point.

    .. math::

       \mathbb E[\hat\sigma] = \sum_{k=0}^{G} \Pr(k)\,\frac{\sqrt{k(G-k)}}{G},
       \qquad k \sim \mathrm{Binomial}(G, p)

    with log-space binomial probabilities (Bay & Yearick 2026).

    Args:
        G: group size, ``2..MAX_NUMERIC_G``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).

    Returns:
        A float for scalar ``p``, otherwise an array of the shape of ``p``.

    Example:
        >>> expected_group_std_numeric(2, 0.5)
        0.25
    """
    check_group_size(G, maximum=MAX_NUMERIC_G)
    flat, scalar = _as_float_array(p)
    n = int(G)
    k = np.arange(n + 1, dtype=float)
    sigma = np.sqrt(k * (n - k)) / n
    return _shape_like(_binomial_expectation(n, flat, sigma), p, scalar)


# ----------------------------------------------------------------------------------------------
# Exact enumeration on a softmax bandit
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BanditGradient:
    r"""Exact expected group gradient on a :math:`K`-armed softmax bandit.

    Attributes:
        theta: the logits :math:`\theta_1, \dots, \theta_K` (real symbols).
        policy: :math:`\pi_a = e^{\theta_a}/\sum_b e^{\theta_b}`.
        success_probability: :math:`p = \sum_a \pi_a r_a`.
        expected_gradient: :math:`\mathbb E[\hat g]` by enumeration, a :math:`K\times1` matrix.
        success_gradient: :math:`\nabla_\theta p`, a :math:`K\times1` matrix.
    """

    theta: tuple[sp.Symbol, ...]
    policy: tuple[sp.Expr, ...]
    success_probability: sp.Expr
    expected_gradient: sp.Matrix
    success_gradient: sp.Matrix


def softmax_bandit_expected_gradient(
    arm_rewards: Sequence[Any],
    G: int,
    convention: Convention | str = Convention.GRPO,
    epsilon: Any = 0,
) -> BanditGradient:
    r"""Exact :math:`\mathbb E[\hat g]` of a group estimator on a softmax bandit, by enumeration.

    Arm :math:`a` has a deterministic reward :math:`r_a` and probability
    :math:`\pi_a = \mathrm{softmax}(\theta)_a` with symbolic logits. The expectation

    .. math::

       \mathbb E[\hat g] = \sum_{(a_1,\dots,a_G)} \prod_i \pi_{a_i}\;
       \frac1G \sum_{i=1}^G A_i(r_{a_1},\dots,r_{a_G})\,\nabla_\theta\log\pi_{a_i}

    runs over all groups of arms, grouped into multisets with multinomial weights (the estimator
    is symmetric in the order of the group). Advantages come from
    :func:`~grpo_theory.symbolic.advantages.group_advantages`; the score is the symbolic
    derivative of :math:`\log\pi_a`, i.e. :math:`e_a - \pi`.

    Args:
        arm_rewards: reward of each arm (at least 2 arms).
        G: group size ``>= 2``; the number of multisets
            :math:`\binom{K+G-1}{G}` must not exceed 1000.
        convention: one of :class:`~grpo_theory.symbolic.advantages.Convention`.
        epsilon: :math:`\epsilon \ge 0` added to the std.

    Returns:
        A :class:`BanditGradient` (expressions in the logits, unsimplified).

    Example:
        >>> out = softmax_bandit_expected_gradient([1, 0], 2)
        >>> sp.simplify(out.expected_gradient - out.success_gradient)
        Matrix([
        [0],
        [0]])
    """
    conv = _as_convention(convention)
    check_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    checked = check_rewards(arm_rewards, "arm_rewards")
    raw = checked.tolist() if isinstance(checked, np.ndarray) else list(checked)
    rewards = [sp.nsimplify(sp.sympify(r)) for r in raw]
    K, n = len(rewards), int(G)
    if math.comb(K + n - 1, n) > _MAX_BANDIT_MULTISETS:
        raise ValueError(
            f"G = {n} with {K} arms gives {math.comb(K + n - 1, n)} groups of arms to enumerate; "
            f"G and the number of arm_rewards must keep it <= {_MAX_BANDIT_MULTISETS}"
        )
    theta = sp.symbols(f"theta1:{K + 1}", real=True)
    z = sp.Add(*[sp.exp(t) for t in theta])
    policy = tuple(sp.exp(t) / z for t in theta)
    scores = [sp.Matrix([sp.diff(sp.log(pi_a), t) for t in theta]) for pi_a in policy]
    expected = sp.zeros(K, 1)
    for arms in itertools.combinations_with_replacement(range(K), n):
        multiplicity = math.factorial(n)
        for a in set(arms):
            multiplicity //= math.factorial(arms.count(a))
        prob = multiplicity * sp.Mul(*[policy[a] for a in arms])
        adv = group_advantages([rewards[a] for a in arms], conv, epsilon)
        g = sp.zeros(K, 1)
        for a_i, a in zip(adv, arms, strict=True):
            g += a_i * scores[a]
        expected += prob * g / n
    p = sp.Add(*[pi_a * r for pi_a, r in zip(policy, rewards, strict=True)])
    grad_p = sp.Matrix([sp.diff(p, t) for t in theta])
    return BanditGradient(theta, policy, p, expected, grad_p)


# ----------------------------------------------------------------------------------------------
# Derivation
# ----------------------------------------------------------------------------------------------


@derivation("expected-gradient", "Expected gradient of a count-based group estimator")
def expected_gradient_derivation() -> Derivation:
    r"""From the score identity to :math:`c_G(p)`, its values, its large-group limit and
    :math:`f_G`."""
    p = P
    G, j, k = sp.symbols("G j k", positive=True, integer=True)
    mu_p, mu_m = sp.Symbol("mu^+"), sp.Symbol("mu^-")
    theta = sp.Symbol("theta")
    grad_p = sp.Derivative(sp.Function("p")(theta), theta)  # one coordinate of the gradient
    e_plus, e_minus = sp.Symbol("m^+"), sp.Symbol("m^-")
    a_plus, a_minus = sp.Function("A^+"), sp.Function("A^-")
    c = sp.Function("c_G")(p)
    expected_g = sp.Symbol("E[g]")

    # Step 3 is computed: substitute the score identities into the exchangeability form.
    mixed = p * e_plus * mu_p + (1 - p) * e_minus * mu_m
    collapsed = sp.factor(sp.simplify(
        mixed.subs(mu_m, -p * mu_p / (1 - p)).subs(mu_p, grad_p / p)))

    sigma_k = sp.sqrt(k * (G - k)) / G
    c_sum = sp.Sum(binomial_pmf(j, G - 1, p) * (a_plus(j + 1) - a_minus(j)), (j, 0, G - 1))
    sigma_sum = sp.Sum(binomial_pmf(k, G, p) * sigma_k, (k, 1, G - 1))
    a1, a2 = std_attenuation_series(p)
    steps = [
        Step("Setting: one prompt with success probability p, G i.i.d. responses, binary rewards, "
             "scores s_i = grad log pi(o_i), and g = (1/G) sum_i A_i s_i with A_i = A+(k) for a "
             "correct and A-(k) for an incorrect response, k the number of correct ones. "
             "Write mu+- = E[s | r = +-] (one coordinate theta of the score). Since E[s] = 0:",
             p * mu_p + (1 - p) * mu_m, 0),
        Step("and since grad p = E[r s] = p E[s | r = 1]:", grad_p, p * mu_p),
        Step("Exchangeability gives E[g] = E[A_1 s_1]. Given r_1, the score s_1 is independent of "
             "the other G - 1 rewards, of which J ~ Binomial(G-1, p) are correct, so k = 1 + J "
             "when r_1 = 1 and k = J when r_1 = 0. With m+ = E[A+(1+J)] and m- = E[A-(J)]:",
             expected_g, mixed),
        Step("Substituting mu- = -p mu+/(1-p) and p mu+ = grad p (computed):",
             expected_g, collapsed),
        Step("So E[g] = c_G(p) grad p, with the weight a polynomial in p (Bernstein form):",
             c, c_sum),
        Step("GRPO, population std, eps = 0: A+(k) = (G-k)/(G sigma_k), A-(k) = -k/(G sigma_k) "
             "with sigma_k = sqrt(k(G-k))/G, and Binomial(G-1, p) at k-1 equals k/(G p) times "
             "Binomial(G, p) at k (and (G-k)/(G(1-p)) times it at k for the other case). "
             "Hence the weight is the mean group std over p(1-p):", c,
             sigma_sum / (p * (1 - p))),
        Step("G = 2 (computed): every disagreeing pair has A = +-1, and 2-GRPO is unbiased for "
             "grad p:", sp.Function("c_2")(p), expected_gradient_weight(2)),
        Step("G = 3 (computed): the gap A+(j+1) - A-(j) equals sqrt(2) for j = 0, 1, 2:",
             sp.Function("c_3")(p), expected_gradient_weight(3)),
        Step("G = 4 (computed), a genuine polynomial, symmetric under p -> 1 - p:",
             sp.Function("c_4")(p), expected_gradient_weight(4)),
        Step("Other conventions: Dr. GRPO has gap (G-1)/G for every j, RLOO gap 1, and Bessel's "
             "std multiplies the GRPO weight by sqrt((G-1)/G) (b_G, Bessel):",
             sp.Function("b_G")(p), sp.sqrt((G - 1) / G) * c),
        Step("Large G: sigma_k concentrates at sqrt(p(1-p)); by the delta method "
             "E[sigma]/sqrt(p(1-p)) = 1 + a1/G + a2/G^2 + O(G^-3) with (a1, a2) =",
             sp.Tuple(sp.Symbol("a_1"), sp.Symbol("a_2")), sp.Tuple(a1, a2)),
        Step("so the weight tends to the arcsine weight:",
             sp.Limit(c, G, sp.oo), limit_weight(p)),
        Step("Implied objective: E[g] = grad f_G(p) with f_G = integral of c_G from 0 to p; "
             "f_2 = p and f_3 = sqrt(2) p (computed):",
             sp.Tuple(sp.Function("f_2")(p), sp.Function("f_3")(p)),
             sp.Tuple(implied_objective(2), implied_objective(3))),
        Step("and the limit objective 2 arcsin(sqrt(p)) has derivative (computed):",
             sp.Derivative(limit_objective(p), p), sp.diff(limit_objective(p), p)),
    ]
    return Derivation(
        name="expected-gradient",
        title="Expected gradient of a count-based group estimator",
        steps=steps,
        claims=[
            "egrad.c2-equals-one", "egrad.c3-equals-sqrt2", "egrad.values",
            "egrad.sigma-relation", "egrad.dr-grpo", "egrad.rloo", "egrad.bessel-factor",
            "egrad.softmax-bandit", "egrad.large-g-limit", "egrad.sigma-attenuation",
            "egrad.implied-objective", "egrad.per-g-expressions",
        ],
    )
