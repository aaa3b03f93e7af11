r"""Exact moments of count-based group estimators under binary rewards, for any group size.

One prompt with success probability :math:`p`; a group of :math:`G` i.i.d. responses with binary
rewards and scores :math:`s_i = \nabla_\theta\log\pi_\theta(o_i)`; a count-based estimator
:math:`\hat g = \frac1G\sum_i A_i s_i` with :math:`A_i = A^\pm(k)`
(:func:`~grpo_theory.exact.estimators.count_advantages`), :math:`k` the number of correct
responses. Given :math:`k`, the :math:`k` correct responses are i.i.d. from
:math:`\pi(\cdot\mid r=1)` and the others from :math:`\pi(\cdot\mid r=0)`, so with
:math:`a(k) = \tfrac kG A^+(k)`, :math:`b(k) = \tfrac{G-k}G A^-(k)` and the conditional score
moments :math:`\mu^\pm, \Sigma^\pm` (:class:`BinaryMoments`):

.. math::

   \mathbb E[\hat g] = \mathbb E[a]\,\mu^+ + \mathbb E[b]\,\mu^-, \qquad
   \mathrm{Cov}[\hat g] = \mathbb E\Big[\tfrac{a^2}{k}\Big]\Sigma^+
     + \mathbb E\Big[\tfrac{b^2}{G-k}\Big]\Sigma^-
     + \mathrm{Var}(a)\,\mu^+\mu^{+\top} + \mathrm{Var}(b)\,\mu^-\mu^{-\top}
     + \mathrm{Cov}(a, b)\,(\mu^+\mu^{-\top} + \mu^-\mu^{+\top}),

with :math:`k \sim \mathrm{Binomial}(G, p)` (the terms with :math:`k = 0` or :math:`k = G` in the
conditional covariances vanish). Every expectation over :math:`k` is a :class:`CountSums` field
(:func:`count_sums`).

How the binomial sums are evaluated (``method="auto"``):

* Dr. GRPO, RLOO and REINFORCE: :math:`a` and :math:`b` are polynomials in :math:`k`
  (:math:`a = -b = k(G-k)/G^2` for Dr. GRPO, :math:`k(G-k)/(G(G-1))` for RLOO), so every sum is a
  polynomial moment of the binomial, in closed form.
* GRPO and GRPO with Bessel's std at :math:`\epsilon = 0`: :math:`a(k) = -b(k) = s\,\hat\sigma_k`
  with :math:`\hat\sigma_k = \sqrt{k(G-k)}/G` and :math:`s = 1` (population) or
  :math:`s = \sqrt{(G-1)/G}` (Bessel). All sums except :math:`\mathbb E[\hat\sigma_k]` and
  :math:`\mathrm{Var}(\hat\sigma_k)` are closed forms; those two are windowed binomial sums for
  small :math:`G\min(p, 1-p)` and an asymptotic series in :math:`1/G` otherwise
  (:func:`sigma_moments`).
* Any other case (:math:`\epsilon > 0`): windowed binomial sums of the tabulated
  :func:`~grpo_theory.exact.estimators.count_advantages`.

A *windowed* sum keeps the :math:`k` with :math:`|k - Gp| \le t`,
:math:`t = L/3 + \sqrt{(L/3)^2 + 2LGp(1-p)}`, :math:`L` = :data:`WINDOW_LOG_TAIL`; by Bernstein's
inequality the omitted probability is at most :math:`2e^{-L}` (:func:`binomial_window`). Its
weights follow the exact ratios :math:`\Pr(k+1)/\Pr(k) = \frac{G-k}{k+1}\frac p{1-p}` from the
window's first count and are normalised to sum to one (no binomial coefficient is formed; the
relative error is :math:`\sim 10^{-15}`). ``method="full"`` sums all :math:`k = 0..G` with
``scipy.stats.binom.pmf`` (the plain reference the fast paths are tested against).

Group sizes are unbounded: windows grow like :math:`\sqrt{Gp(1-p)}` and the series needs no
summation at all. The ``*_grid`` functions and :func:`curves` evaluate many group sizes at once.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy.stats import binom

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_probability,
    check_real,
)
from grpo_theory.exact.estimators import Estimator, as_estimator, count_advantages

__all__ = [
    "WINDOW_LOG_TAIL",
    "SERIES_ORDER",
    "SERIES_MIN_LOG_SILENT",
    "SERIES_TIERS",
    "METHODS",
    "BinaryMoments",
    "CountSums",
    "check_moments",
    "binomial_window",
    "count_sums",
    "count_sums_grid",
    "sigma_moments",
    "weight_grid",
    "covariance_trace_grid",
    "curves",
    "estimator_mean",
    "estimator_covariance",
    "estimator_moments",
    "covariance_trace",
    "expected_gradient_weight",
    "silent_probability",
    "expected_signal_groups",
    "snr",
]

WINDOW_LOG_TAIL = 40.0
r""":math:`L`: a windowed binomial sum omits probability mass at most :math:`2e^{-L}`
(:math:`\approx 8.5\times10^{-18}`)."""

METHODS = ("auto", "window", "full")
"""Ways to evaluate the binomial sums: fastest exact path, windowed sums of the advantage
tables, plain sums over all counts."""

SERIES_ORDER = 24
r"""Number of coefficients :math:`M` computed for the large-group series of the group std."""

SERIES_MIN_LOG_SILENT = 40.0
r"""The series is used only where :math:`G\log\frac1{1-\min(p,1-p)} \ge` this, i.e. where
the probability :math:`(1-\min(p,1-p))^G` of the likelier silent group (all wrong when
:math:`p < 1/2`) is below :math:`e^{-40}`: the series misses contributions of that order (the
square root in :math:`\hat\sigma_k` is not analytic at :math:`k = 0`)."""

SERIES_TIERS = ((6, 800.0), (8, 200.0), (10, 120.0), (12, 90.0), (16, 60.0), (24, 0.0))
r"""``(M, s)``: the first :math:`M + 1` terms of the series are used where :math:`Gp(1-p) \ge s`
(measured: these orders reach :math:`10^{-15}` relative accuracy for the mean and
:math:`4\times10^{-14}` for the variance from :math:`s/1.5`)."""

_SERIES_MIN_P = 1e-5  # below it the series coefficients (powers of 1/p) could overflow
_ROW_BLOCK = 128  # group sizes per block of the series evaluation
_PRECISE_SPREAD = 64.0  # above this Gp(1-p), std deviations use the exact numerator
_NEGLIGIBLE_LOG = 45.0  # exp(-45) = 2.9e-20: below double precision relative to 1
_TINY_PQ = 1e-250  # below it the std weight uses its leading small-p term
_CHUNK_ELEMENTS = 1 << 16  # (rows) x (counts) evaluated at once


# ----------------------------------------------------------------------------------------------
# Containers and validation
# ----------------------------------------------------------------------------------------------


class BinaryMoments(NamedTuple):
    r"""Conditional score moments of one prompt with binary rewards.

    Attributes:
        p: success probability :math:`p = \Pr(r = 1)` in :math:`[0, 1]`.
        mu_plus: :math:`\mu^+ = \mathbb E[s \mid r = 1]`, shape ``[D]``.
        mu_minus: :math:`\mu^- = \mathbb E[s \mid r = 0]`, shape ``[D]``.
        sigma_plus: :math:`\Sigma^+ = \mathrm{Cov}[s \mid r = 1]`, shape ``[D, D]``.
        sigma_minus: :math:`\Sigma^- = \mathrm{Cov}[s \mid r = 0]`, shape ``[D, D]``.
    """

    p: float
    mu_plus: NDArray[np.float64]
    mu_minus: NDArray[np.float64]
    sigma_plus: NDArray[np.float64]
    sigma_minus: NDArray[np.float64]


class CountSums(NamedTuple):
    r"""Binomial sums over :math:`k \sim \mathrm{Binomial}(G, p)`, arrays with the shape of ``p``.

    With :math:`a(k) = \tfrac kG A^+(k)` and :math:`b(k) = \tfrac{G-k}G A^-(k)`:

    Attributes:
        mean_a: :math:`\mathbb E[a(k)]`.
        mean_b: :math:`\mathbb E[b(k)]`.
        var_a: :math:`\mathrm{Var}(a(k))`.
        var_b: :math:`\mathrm{Var}(b(k))`.
        cov_ab: :math:`\mathrm{Cov}(a(k), b(k))`.
        within_plus: :math:`\mathbb E[a(k)^2/k;\ k > 0]`.
        within_minus: :math:`\mathbb E[b(k)^2/(G-k);\ k < G]`.
        silent: :math:`\Pr(k = 0) + \Pr(k = G)`.
    """

    mean_a: Any
    mean_b: Any
    var_a: Any
    var_b: Any
    cov_ab: Any
    within_plus: Any
    within_minus: Any
    silent: Any


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return str(method)


def _probabilities(p: Any, name: str = "p") -> tuple[NDArray[np.float64], tuple[int, ...]]:
    """``p`` validated, as a flat float array, and its shape."""
    if isinstance(p, bool) or (
        not isinstance(p, np.ndarray | list | tuple) and not np.isscalar(p)
    ):
        raise TypeError(f"{name} must be a real number or an array of them, got {p!r}")
    try:
        arr = np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or an array of them, got {p!r}") from exc
    if arr.ndim == 0:
        check_probability(float(arr), name)
    else:
        check_probability(arr, name)
    return arr.reshape(-1), arr.shape


def _shaped(values: NDArray[np.float64], shape: tuple[int, ...]) -> Any:
    """Reshape a flat result; a scalar input gives a numpy float (a 0-d value)."""
    return values.reshape(shape)[()]


def _check_common(estimator: Any, G: Any, epsilon: Any, baseline: Any) -> Estimator:
    est = as_estimator(estimator)
    check_group_size(G)
    check_nonnegative(epsilon, "epsilon")
    check_real(baseline, "baseline")
    return est


def check_moments(moments: Any) -> BinaryMoments:
    r"""Validate conditional score moments and return them as float arrays.

    The dimension :math:`D` is that of ``mu_plus``; ``mu_minus`` must have shape ``[D]`` and the
    covariances shape ``[D, D]``, finite, symmetric (to :math:`10^{-10}` of their scale) and
    positive semi-definite (smallest eigenvalue :math:`\ge -10^{-10}` times the largest).

    Args:
        moments: a :class:`BinaryMoments` (or a 5-tuple in its field order).

    Returns:
        The validated :class:`BinaryMoments` (arrays of float64).

    Example:
        >>> m = check_moments((0.5, [1.0], [-1.0], [[0.0]], [[0.0]]))
        >>> m.mu_plus.shape
        (1,)
    """
    if not isinstance(moments, tuple) or len(moments) != 5:
        raise TypeError(
            "moments must be a BinaryMoments (p, mu_plus, mu_minus, sigma_plus, sigma_minus), "
            f"got {type(moments).__name__}"
        )
    p, mu_plus, mu_minus, sigma_plus, sigma_minus = moments
    check_probability(p, "moments.p")
    arrays = {}
    for name, value in (("mu_plus", mu_plus), ("mu_minus", mu_minus),
                        ("sigma_plus", sigma_plus), ("sigma_minus", sigma_minus)):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"moments.{name} must be a real array") from exc
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"moments.{name} must be finite")
        arrays[name] = arr
    mp = arrays["mu_plus"]
    if mp.ndim != 1 or mp.size == 0:
        raise ValueError(f"moments.mu_plus must be a non-empty vector [D], got shape {mp.shape}")
    D = mp.size
    if arrays["mu_minus"].shape != (D,):
        raise ValueError(
            f"moments.mu_minus must have shape ({D},) like mu_plus, got {arrays['mu_minus'].shape}"
        )
    for name in ("sigma_plus", "sigma_minus"):
        s = arrays[name]
        if s.shape != (D, D):
            raise ValueError(f"moments.{name} must have shape ({D}, {D}), got {s.shape}")
        scale = max(1.0, float(np.max(np.abs(s))))
        if np.max(np.abs(s - s.T)) > 1e-10 * scale:
            raise ValueError(f"moments.{name} must be symmetric")
        eig = np.linalg.eigvalsh((s + s.T) / 2)
        if eig[0] < -1e-10 * max(scale, float(eig[-1])):
            raise ValueError(
                f"moments.{name} must be positive semi-definite, smallest eigenvalue {eig[0]:.3g}"
            )
    return BinaryMoments(float(p), mp, arrays["mu_minus"], arrays["sigma_plus"],
                         arrays["sigma_minus"])


# ----------------------------------------------------------------------------------------------
# Binomial windows and probabilities
# ----------------------------------------------------------------------------------------------


def binomial_window(G: int, p: ArrayLike) -> tuple[Any, Any]:
    r"""Count window :math:`[k_{lo}, k_{hi}]` holding all but :math:`2e^{-L}` of the binomial mass.

    Bernstein's inequality for a sum of :math:`G` independent variables in :math:`[0, 1]` with
    variance :math:`Gp(1-p)` gives

    .. math::

       \Pr(|k - Gp| \ge t) \le 2\exp\Big(-\frac{t^2}{2(Gp(1-p) + t/3)}\Big) = 2e^{-L}
       \quad\text{for}\quad t = \frac L3 + \sqrt{\frac{L^2}9 + 2LGp(1-p)},

    with :math:`L` = :data:`WINDOW_LOG_TAIL`. The window is
    :math:`k_{lo} = \max(0, \lceil Gp - t\rceil)`, :math:`k_{hi} = \min(G, \lfloor Gp + t\rfloor)`.

    Args:
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]`.

    Returns:
        ``(k_lo, k_hi)``, integers with the shape of ``p``.

    Example:
        >>> [int(k) for k in binomial_window(4, 0.5)]
        [0, 4]
    """
    check_group_size(G)
    flat, shape = _probabilities(p)
    lo, hi = _window(np.full(flat.size, int(G)), flat)
    return _shaped(lo, shape), _shaped(hi, shape)


def _window(G: NDArray[np.int64], p: NDArray[np.float64]
            ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    L = WINDOW_LOG_TAIL
    mean = G * p
    t = L / 3 + np.sqrt((L / 3) ** 2 + 2 * L * mean * (1 - p))
    lo = np.clip(np.ceil(mean - t), 0, G).astype(np.int64)
    hi = np.clip(np.floor(mean + t), 0, G).astype(np.int64)
    return lo, hi


def _row_pmf(
    G: NDArray[np.int64], p: NDArray[np.float64], full: bool
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    r"""Binomial probabilities of row ``i`` (:math:`\mathrm{Bin}(G_i, p_i)`) on its count window.

    Returns ``k [n, W]`` (clipped into ``0..G_i``), ``w [n, W]`` (0 outside the row's window)
    and the rows' modes ``m [n]``. With ``full`` the window is ``0..G_i`` and every probability
    comes from ``scipy.stats.binom.pmf`` (the plain reference). Otherwise the window is
    :func:`binomial_window` (for :math:`p > 1/2` that of :math:`G - k`, which has success
    probability :math:`1-p`); the weights start at 1 at :math:`k_{lo}`, follow the exact ratios
    :math:`\Pr(k+1)/\Pr(k) = \frac{G-k}{k+1}\frac{p}{1-p}` upwards and are divided by their sum
    (the window misses at most :math:`2e^{-L}` of the mass).
    """
    Gc = G[:, None]
    mode = np.clip(np.floor((G + 1) * p), 0, G).astype(np.int64)
    if full:
        k = np.arange(int(G.max()) + 1)[None, :]
        w = binom.pmf(k, Gc, p[:, None])
        inside = k <= Gc
        return np.minimum(k, Gc), np.where(inside, w, 0.0), mode
    flip = p > 0.5  # walk the counts of the likelier outcome: k -> G - k, p -> 1 - p
    pr = np.where(flip, 1.0 - p, p)
    lo, hi = _window(G, pr)
    W = int(np.max(hi - lo)) + 1
    k = lo[:, None] + np.arange(W)[None, :]
    inside = k <= hi[:, None]
    k = np.minimum(k, Gc)
    w = np.zeros(k.shape)
    w[:, 0] = 1.0
    if W > 1:
        ratio = (Gc - k[:, :-1]) * (pr / (1.0 - pr))[:, None] / (k[:, :-1] + 1.0)
        ratio = np.where(inside[:, 1:], ratio, 0.0)
        np.cumprod(ratio, axis=1, out=w[:, 1:])
    w /= w.sum(axis=1, keepdims=True)
    k = np.where(flip[:, None], Gc - k, k)
    return k, w, mode


def _sorted_chunks(width: NDArray[np.int64]):
    """Yield index arrays of rows, sorted by width, each chunk within the element budget."""
    order = np.argsort(width, kind="stable")
    ws = width[order]
    start = 0
    while start < order.size:
        stop = min(order.size, start + max(1, _CHUNK_ELEMENTS // int(ws[start])))
        while stop > start + 1 and (stop - start) * int(ws[stop - 1]) > _CHUNK_ELEMENTS:
            stop = start + max(1, (stop - start) // 2)
        yield order[start:stop]
        start = stop


def _row_blocks(G: NDArray[np.int64], p: NDArray[np.float64], full: bool):
    """Yield ``(rows, k, w, mode)`` over chunks of rows sorted by window width."""
    if full:
        width = G + 1
    else:
        lo, hi = _window(G, p)
        width = hi - lo + 1
    for rows in _sorted_chunks(width):
        k, w, mode = _row_pmf(G[rows], p[rows], full)
        yield rows, k, w, mode


def _binomial_expectation(n: int, p: NDArray[np.float64], table: NDArray[np.float64],
                          full: bool) -> NDArray[np.float64]:
    r""":math:`\sum_j \Pr(J = j)\,v_j` for :math:`J\sim\mathrm{Binomial}(n, p)`, per ``p``."""
    out = np.empty(p.size)
    for rows, k, w, _ in _row_blocks(np.full(p.size, n), p, full):
        out[rows] = np.einsum("ij,ij->i", w, table[k])
    return out


def _binomial_sums(G: int, p: NDArray[np.float64], a: NDArray[np.float64],
                   b: NDArray[np.float64], full: bool) -> CountSums:
    """All :class:`CountSums` of the tables ``a(k)``, ``b(k)`` by (windowed or full) summation.

    Variances and the covariance are sums of products of deviations from the mean, with the
    deviations measured from the table value at the mode (no cancellation when the spread is
    orders of magnitude below the mean).
    """
    kf = np.arange(G + 1, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_within = np.where(kf > 0, a * a / kf, 0.0)
        b_within = np.where(kf < G, b * b / (G - kf), 0.0)
    fields = [np.empty(p.size) for _ in range(7)]
    mean_a, mean_b, var_a, var_b, cov_ab, within_plus, within_minus = fields
    for rows, k, w, mode in _row_blocks(np.full(p.size, G), p, full):
        da = a[k] - a[mode][:, None]
        db = b[k] - b[mode][:, None]
        dev_a = np.einsum("ij,ij->i", w, da)
        dev_b = np.einsum("ij,ij->i", w, db)
        mean_a[rows] = a[mode] + dev_a
        mean_b[rows] = b[mode] + dev_b
        da -= dev_a[:, None]
        db -= dev_b[:, None]
        wda = w * da
        var_a[rows] = np.einsum("ij,ij->i", wda, da)
        cov_ab[rows] = np.einsum("ij,ij->i", wda, db)
        var_b[rows] = np.einsum("ij,ij->i", w * db, db)
        within_plus[rows] = np.einsum("ij,ij->i", w, a_within[k])
        within_minus[rows] = np.einsum("ij,ij->i", w, b_within[k])
    return CountSums(mean_a, mean_b, var_a, var_b, cov_ab, within_plus, within_minus,
                     _silent(np.float64(G), p))


@functools.lru_cache(maxsize=64)
def _tables(est: Estimator, G: int, epsilon: float, baseline: float
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``a(k)``, ``b(k)`` for ``k = 0..G`` and the gaps ``A+(j+1) - A-(j)``, ``j = 0..G-1``."""
    k = np.arange(G + 1)
    plus, minus = count_advantages(est, G, k, epsilon, baseline)
    a = k / G * plus
    b = (G - k) / G * minus
    gaps = plus[1:] - minus[:-1]
    for arr in (a, b, gaps):
        arr.setflags(write=False)
    return a, b, gaps


def _silent(G: Any, p: Any) -> Any:
    return np.power(p, G) + np.power(1.0 - p, G)


def _one_minus_power(x: Any, n: Any) -> Any:
    r""":math:`1 - (1 - x)^n` without cancellation for small :math:`x`."""
    with np.errstate(divide="ignore"):
        return -np.expm1(n * np.log1p(-x))


# ----------------------------------------------------------------------------------------------
# The group std: windowed sums and the large-group series
# ----------------------------------------------------------------------------------------------


def _sigma_direct(G: NDArray[np.int64], p: NDArray[np.float64], full: bool
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Mean and variance of :math:`\hat\sigma_k` for rows :math:`k\sim\mathrm{Bin}(G_i, p_i)`.

    Windowed (``full=False``): the counts :math:`k_{lo}, \dots, k_{lo}+W-1` from
    :func:`binomial_window` (the rows of a chunk share the widest row's width :math:`W`; extra
    counts only add terms), with unnormalised weights :math:`u_{k_{lo}} = 1`,
    :math:`u_{k+1} = u_k\frac{G-k}{k+1}\frac p{1-p}` (the exact probability ratios) and
    :math:`\Pr(k) = u_k/\sum_j u_j` (the window holds all but :math:`2e^{-L}` of the mass, so the
    normalisation changes nothing at double precision and spares an evaluation of the
    binomial coefficient). The variance is the weighted mean square deviation from the mean
    (two passes, no cancellation). ``full=True``: the plain sum over every :math:`k = 0..G` with
    ``scipy.stats.binom.pmf``. With ``full`` or a spread :math:`Gp(1-p) > 64` the deviations are
    measured from the value at the mode :math:`m` with the exact integer numerator
    :math:`k(G-k) - m(G-m) = (k-m)(G-k-m)`: the variance of a large group is many orders of
    magnitude below :math:`\hat\sigma^2` (about :math:`1/(8G^2)` at :math:`p = 1/2`), and
    rounding in :math:`\hat\sigma_k` itself would otherwise dominate it.
    """
    mean = np.empty(p.size)
    var = np.empty(p.size)
    if full:
        lo = np.zeros(p.size, dtype=np.int64)
        width = G + 1
    else:
        lo, hi = _window(G, p)
        width = hi - lo + 1
    for rows in _sorted_chunks(width):
        g = G[rows].astype(float)[:, None]
        pr = p[rows][:, None]
        W = int(width[rows].max())
        kf = lo[rows].astype(float)[:, None] + np.arange(W, dtype=float)[None, :]
        gk = g - kf
        np.maximum(gk, 0.0, out=gk)
        if full:
            w = binom.pmf(kf, g, pr)
        else:
            w = np.empty(kf.shape)
            w[:, 0] = 1.0
            if W > 1:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    ratio = gk[:, :-1] * (pr / (1.0 - pr))
                    ratio /= kf[:, :-1] + 1.0
                np.cumprod(ratio, axis=1, out=w[:, 1:])
        if full or float(np.max(g[:, 0] * pr[:, 0] * (1.0 - pr[:, 0]))) > _PRECISE_SPREAD:
            # deviations from the value at the mode with the exact integer numerator
            total = w.sum(axis=1)
            m = np.clip(np.floor((g + 1.0) * pr), 0.0, g)
            sig_m = np.sqrt(m * (g - m)) / g
            den = np.sqrt(kf * gk) / g
            den += sig_m
            den *= g * g
            with np.errstate(divide="ignore", invalid="ignore"):
                d = (kf - m) * (g - kf - m) / den
            d[den == 0] = 0.0
            dev = np.einsum("ij,ij->i", w, d) / total
            mean[rows] = sig_m[:, 0] + dev
            d -= dev[:, None]
            d *= d
            var[rows] = np.einsum("ij,ij->i", w, d) / total
            continue
        total = w.sum(axis=1)
        d = kf * gk
        np.sqrt(d, out=d)  # G sigma_k
        centre = np.einsum("ij,ij->i", w, d) / total  # G E[sigma]
        d -= centre[:, None]
        d *= d
        g1 = g[:, 0]
        mean[rows] = centre / g1
        var[rows] = np.einsum("ij,ij->i", w, d) / (total * g1 * g1)
    return mean, var


@functools.lru_cache(maxsize=4)
def _series_constants(order: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Factorials ``n!`` and ``binom(1/2, n)`` for ``n = 0..2 order``."""
    n = np.arange(2 * order + 1)
    fact = np.array([float(math.factorial(int(i))) for i in n])
    half = np.array([float(special.binom(0.5, int(i))) for i in n])
    return fact, half


def _series_coefficients(p: NDArray[np.float64], order: int = SERIES_ORDER
                         ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Coefficients :math:`C_m(p)`, :math:`V_m(p)` of the large-group series of the group std.

    With :math:`\hat\sigma_k = \sqrt{pq}\,h(y)`, :math:`q = 1-p`, :math:`y = k/G - p` and
    :math:`h(y) = \sqrt{(1 + y/p)(1 - y/q)}`,

    .. math::

       \frac{\mathbb E[\hat\sigma_k]}{\sqrt{pq}} = \sum_{n} \mu_n\,h_n\,G^{-n}
         \simeq \sum_{m=0}^{M} C_m\,G^{-m}, \qquad
       \frac{\mathrm{Var}(\hat\sigma_k)}{pq} = 1 - \frac1G - \Big(\sum_m C_m G^{-m}\Big)^2
         \simeq \sum_{m=1}^{M} V_m\,G^{-m},

    where :math:`h_n` are the Taylor coefficients of :math:`h` and :math:`\mu_n` the central
    moments of :math:`k` (:math:`\mathbb E[h^2] = 1 - 1/G` exactly). The central moment
    generating function is :math:`(q e^{-pt} + p e^{qt})^G = \exp(G\ell(t))`, so
    :math:`\mu_n = \sum_r G^r\, n!\,[t^n]\,\ell(t)^r/r!` and

    .. math::

       C_m = \sum_{n=m+1}^{2m} n!\,[t^n]\frac{\ell(t)^{n-m}}{(n-m)!}\;h_n, \qquad
       V_1 = \frac{(1-2p)^2}{4pq}, \qquad V_m = -\sum_{i=0}^{m} C_i C_{m-i}\ (m \ge 2),

    with :math:`C_0 = 1`; :math:`C_1 = -1/(8pq)`. The series arithmetic is numeric, per
    :math:`p` (entries that overflow for tiny :math:`p` come back non-finite).
    """
    N = 2 * order
    fact, half = _series_constants(order)
    q = 1.0 - p
    n_idx = np.arange(N + 1)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # S(t) = q e^{-pt} + p e^{qt} = 1 + sum_{n>=2} s_n t^n, and ell = log S.
        s = (q * (-p) ** n_idx + p * q ** n_idx) / fact[:, None]
        s[0], s[1] = 0.0, 0.0
        ell = np.zeros_like(s)
        for n in range(2, N + 1):  # n ell_n = n s_n - sum_{2<=j<=n-2} j ell_j s_{n-j}
            conv = np.einsum("j,jk,jk->k", np.arange(2, n - 1), ell[2:n - 1], s[n - 2:1:-1])
            ell[n] = s[n] - conv / n
        # Taylor coefficients of h = sqrt(1 + y/p) sqrt(1 - y/q).
        up = half[:, None] * p ** -n_idx
        uq = half[:, None] * (-1.0 / q) ** n_idx
        h = np.zeros_like(s)
        for i in range(N + 1):
            h[i:] += up[i] * uq[:N + 1 - i]
        # ell^r / r! truncated at t^N; C_m collects n = m + r with 2r <= n <= 2m.
        coef = np.zeros((order + 1, p.size))
        coef[0] = 1.0
        power = np.zeros_like(s)
        power[0] = 1.0
        for r in range(1, order + 1):
            nxt = np.zeros_like(s)
            for j in range(2, N - 2 * (r - 1) + 1):
                nxt[j:] += ell[j] * power[:N + 1 - j]
            power = nxt / r
            for n in range(2 * r, min(N, r + order) + 1):
                coef[n - r] += fact[n] * power[n] * h[n]
        var = np.zeros_like(coef)
        var[1] = (1.0 - 2.0 * p) ** 2 / (4.0 * p * q)
        for m in range(2, order + 1):
            var[m] = -(2.0 * coef[m] + np.einsum("ik,ik->k", coef[1:m], coef[m - 1:0:-1]))
    return coef, var


_SERIES_CACHE: dict[bytes, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
_SERIES_LOCK = threading.Lock()


def _cached_series(p: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`_series_coefficients` of a sorted probability vector, kept for the last few."""
    key = p.tobytes()
    with _SERIES_LOCK:
        hit = _SERIES_CACHE.get(key)
    if hit is not None:
        return hit
    coef, var = _series_coefficients(p)
    for arr in (coef, var):
        arr.setflags(write=False)
    with _SERIES_LOCK:
        if len(_SERIES_CACHE) >= 8:
            _SERIES_CACHE.pop(next(iter(_SERIES_CACHE)))
        _SERIES_CACHE[key] = (coef, var)
    return coef, var


def _sigma_grid(Gs: NDArray[np.int64], p: NDArray[np.float64], method: str
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Mean and variance of :math:`\hat\sigma_k` on the grid ``Gs [nG] x p [np]``.

    :math:`\hat\sigma_k` is symmetric under :math:`k \to G-k`, so :math:`p` is reflected into
    :math:`[0, 1/2]`. With ``method="auto"`` an entry uses the series when
    :math:`G\log\frac1{1-\min(p,1-p)} \ge` :data:`SERIES_MIN_LOG_SILENT` (the probability of a
    silent group is below :math:`e^{-40}`) and :math:`\min(p, 1-p) \ge 10^{-5}`, with the
    number of terms from :data:`SERIES_TIERS` by :math:`Gp(1-p)`; windowed sums elsewhere.
    """
    pr = np.minimum(p, 1.0 - p)
    order = np.argsort(pr, kind="stable")
    ps = pr[order]
    pq = ps * (1.0 - ps)
    nlq = -np.log1p(-ps)
    mean = np.empty((Gs.size, p.size))
    var = np.empty((Gs.size, p.size))
    direct = np.ones(mean.shape, dtype=bool)
    if method == "auto":
        base = int(np.searchsorted(ps, _SERIES_MIN_P))
        coef, vcoef = _cached_series(ps[base:])
        finite = np.isfinite(coef).all(axis=0) & np.isfinite(vcoef).all(axis=0)
        # series columns start after the last one whose coefficients overflowed (smallest p)
        bad = np.flatnonzero(~finite)
        first = base + (int(bad[-1]) + 1 if bad.size else 0)
        for r0 in range(0, Gs.size, _ROW_BLOCK):
            rows = slice(r0, min(Gs.size, r0 + _ROW_BLOCK))
            g = Gs[rows].astype(float)
            x = (1.0 / g)[:, None]
            lam_min = g.min() * pq
            # columns where some row of the block may use the series
            c0 = max(first, int(np.searchsorted(g.max() * nlq, SERIES_MIN_LOG_SILENT)))
            bounds = [int(np.searchsorted(lam_min, t)) for _, t in SERIES_TIERS]
            hi = p.size
            for (terms, _), lo_t in zip(SERIES_TIERS, bounds, strict=True):
                lo = max(c0, lo_t)
                if lo < hi:
                    cs = slice(lo, hi)
                    c = coef[:terms + 1, lo - base:hi - base]
                    v = vcoef[:terms + 1, lo - base:hi - base]
                    hm = np.broadcast_to(c[terms], (g.size, hi - lo)).copy()
                    hv = np.broadcast_to(v[terms], (g.size, hi - lo)).copy()
                    for m in range(terms - 1, -1, -1):
                        hm *= x
                        hm += c[m]
                        hv *= x
                        hv += v[m]
                    hm *= np.sqrt(pq[cs])
                    hv *= pq[cs]
                    mean[rows, cs] = hm
                    var[rows, cs] = hv
                    direct[rows, cs] = (g[:, None] * nlq[cs]) < SERIES_MIN_LOG_SILENT
                hi = min(hi, lo)
    r_idx, c_idx = np.nonzero(direct)
    if r_idx.size:
        m, v = _sigma_direct(Gs[r_idx], ps[c_idx], method == "full")
        mean[r_idx, c_idx] = m
        var[r_idx, c_idx] = v
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return mean[:, inverse], var[:, inverse]


def sigma_moments(G: int, p: ArrayLike, *, method: str = "auto") -> tuple[Any, Any]:
    r"""Mean and variance of the population group std :math:`\hat\sigma_k = \sqrt{k(G-k)}/G`.

    :math:`k \sim \mathrm{Binomial}(G, p)`. For GRPO at :math:`\epsilon = 0`,
    :math:`a(k) = -b(k) = \hat\sigma_k`, so :math:`\mathbb E[a] = \mathbb E[\hat\sigma_k]`,
    :math:`\mathrm{Var}(a) = \mathrm{Var}(\hat\sigma_k)` and
    :math:`c_G(p) = \mathbb E[\hat\sigma_k]/(p(1-p))`. With ``method="auto"`` the values come
    from the large-group series where :math:`G` is large enough for :math:`p`
    (:data:`SERIES_MIN_LOG_SILENT`, :data:`SERIES_TIERS`), from windowed sums elsewhere.

    Args:
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]`.
        method: one of :data:`METHODS`.

    Returns:
        ``(mean, variance)``, each with the shape of ``p``.

    Example:
        >>> [float(x) for x in sigma_moments(2, 0.5)]
        [0.25, 0.0625]
    """
    check_group_size(G)
    method = _check_method(method)
    flat, shape = _probabilities(p)
    mean, var = _sigma_grid(np.array([int(G)]), flat, method)
    return _shaped(mean[0], shape), _shaped(var[0], shape)


# ----------------------------------------------------------------------------------------------
# Count sums on a grid of group sizes and probabilities
# ----------------------------------------------------------------------------------------------


def _sigma_scale(est: Estimator, G: NDArray[np.float64]) -> NDArray[np.float64]:
    r""":math:`s` with :math:`a(k) = s\hat\sigma_k` for the std-normalised rules at
    :math:`\epsilon = 0`: 1, or :math:`\sqrt{(G-1)/G}` with Bessel's std."""
    if est is Estimator.GRPO_BESSEL:
        return np.sqrt((G - 1.0) / G)
    return np.ones_like(G)


def _polynomial_sums(est: Estimator, G: NDArray[np.float64], p: NDArray[np.float64],
                     baseline: float) -> CountSums:
    r"""Closed forms for Dr. GRPO, RLOO and REINFORCE (``G [nG, 1]``, ``p [np]``).

    Dr. GRPO and RLOO have :math:`a = -b = u/\kappa` with :math:`u = k(G-k)` and
    :math:`\kappa = G^2` or :math:`G(G-1)`. With :math:`\nu = G(G-1)p(1-p)`:
    :math:`\mathbb E[u] = \nu`, :math:`\mathrm{Var}(u) = \nu\,((G-1) - 2(2G-3)p(1-p))`,
    :math:`\mathbb E[u^2/k; k>0] = \mathbb E[k(G-k)^2] = \nu(1 + (G-2)(1-p))` and
    :math:`\mathbb E[u^2/(G-k); k<G] = \nu(1 + (G-2)p)`. REINFORCE with baseline :math:`\beta`
    has :math:`a = (1-\beta)k/G`, :math:`b = -\beta(G-k)/G`.
    """
    q = 1.0 - p
    pq = p * q
    silent = _silent(G, p)
    if est is Estimator.REINFORCE:
        c = 1.0 - baseline
        z = np.zeros_like(silent)
        return CountSums(
            mean_a=c * p + z, mean_b=-baseline * q + z,
            var_a=c * c * pq / G, var_b=baseline * baseline * pq / G,
            cov_ab=c * baseline * pq / G,
            within_plus=c * c * p / G, within_minus=baseline * baseline * q / G,
            silent=silent)
    kappa = G * G if est is Estimator.DR_GRPO else G * (G - 1.0)
    nu = G * (G - 1.0) * pq
    mean_a = nu / kappa
    var_a = nu * ((G - 1.0) - 2.0 * (2.0 * G - 3.0) * pq) / kappa**2
    return CountSums(
        mean_a=mean_a, mean_b=-mean_a, var_a=var_a, var_b=var_a.copy(), cov_ab=-var_a,
        within_plus=nu * (1.0 + (G - 2.0) * q) / kappa**2,
        within_minus=nu * (1.0 + (G - 2.0) * p) / kappa**2,
        silent=silent)


def _std_sums(est: Estimator, G: NDArray[np.float64], p: NDArray[np.float64],
              sigma: tuple[NDArray[np.float64], NDArray[np.float64]]) -> CountSums:
    r"""GRPO / Bessel at :math:`\epsilon = 0`: :math:`a = -b = s\hat\sigma_k` (``G [nG, 1]``).

    :math:`\mathbb E[\hat\sigma_k^2/k; k>0] = \mathbb E[(G-k)/G^2; k > 0]
    = (1-p)(1 - (1-p)^{G-1})/G` and
    :math:`\mathbb E[\hat\sigma_k^2/(G-k); k<G] = p(1 - p^{G-1})/G`.
    """
    s = _sigma_scale(est, G)
    s2 = s * s
    mean_sigma, var_sigma = sigma
    q = 1.0 - p
    var_a = s2 * var_sigma
    mean_a = s * mean_sigma
    return CountSums(
        mean_a=mean_a, mean_b=-mean_a, var_a=var_a, var_b=var_a.copy(), cov_ab=-var_a,
        within_plus=s2 * q * _one_minus_power(p, G - 1.0) / G,
        within_minus=s2 * p * _one_minus_power(q, G - 1.0) / G,
        silent=_silent(G, p))


def _has_closed_form(est: Estimator, epsilon: float) -> str | None:
    if est in (Estimator.DR_GRPO, Estimator.RLOO, Estimator.REINFORCE):
        return "polynomial"
    if epsilon == 0.0:
        return "std"
    return None


def _grid_sums(est: Estimator, Gs: NDArray[np.int64], p: NDArray[np.float64], epsilon: float,
               baseline: float, method: str, sigma: Any = None) -> CountSums:
    """:class:`CountSums` with fields ``[nG, np]``; ``sigma`` may carry shared std moments."""
    G = Gs.astype(float)[:, None]
    kind = _has_closed_form(est, epsilon) if method == "auto" else None
    if kind == "polynomial":
        return _polynomial_sums(est, G, p, baseline)
    if kind == "std":
        return _std_sums(est, G, p, sigma if sigma is not None else _sigma_grid(Gs, p, method))
    fields = [np.empty((Gs.size, p.size)) for _ in CountSums._fields]
    for i, g in enumerate(Gs):
        a, b, _ = _tables(est, int(g), epsilon, baseline)
        for f, v in zip(fields, _binomial_sums(int(g), p, a, b, method == "full"), strict=True):
            f[i] = v
    return CountSums(*fields)


def _grid_weights(est: Estimator, Gs: NDArray[np.int64], p: NDArray[np.float64],
                  epsilon: float, baseline: float, method: str, sigma: Any = None
                  ) -> NDArray[np.float64]:
    r""":math:`c_G(p)` on the grid ``[nG, np]``.

    Std-normalised rules at :math:`\epsilon = 0`: :math:`s\,\mathbb E[\hat\sigma_k]/(p(1-p))`;
    where :math:`p(1-p) <` 1e-250 (including :math:`p \in \{0, 1\}`) the first term of the
    expansion in :math:`\min(p, 1-p)`, :math:`s\,G\hat\sigma_1(1-\min(p,1-p))^{G-2}
    = s\sqrt{G-1}\,(1-\min(p,1-p))^{G-2}`, whose relative error is below
    :math:`G\min(p,1-p) < 10^{-240}G`.
    """
    G = Gs.astype(float)[:, None]
    kind = _has_closed_form(est, epsilon) if method == "auto" else None
    if kind == "polynomial":
        value = (G - 1.0) / G if est is Estimator.DR_GRPO else np.ones_like(G)
        return np.broadcast_to(value, (Gs.size, p.size)).copy()
    if kind == "std":
        mean_sigma, _ = sigma if sigma is not None else _sigma_grid(Gs, p, method)
        pr = np.minimum(p, 1.0 - p)
        pq = pr * (1.0 - pr)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = mean_sigma / pq
        tiny = np.flatnonzero(pq < _TINY_PQ)
        if tiny.size:
            out[:, tiny] = np.sqrt(G - 1.0) * np.power(1.0 - pr[tiny], G - 2.0)
        if est is Estimator.GRPO_BESSEL:
            out *= _sigma_scale(est, G)
        return out
    out = np.empty((Gs.size, p.size))
    for i, g in enumerate(Gs):
        _, _, gaps = _tables(est, int(g), epsilon, baseline)
        out[i] = _binomial_expectation(int(g) - 1, p, gaps, method == "full")
    return out


def _grid_trace(est: Estimator, Gs: NDArray[np.int64], p: NDArray[np.float64], epsilon: float,
                baseline: float, method: str, summ: list[NDArray[np.float64]],
                sigma: Any = None) -> NDArray[np.float64]:
    r"""Covariance traces on the grid ``[nG, np]`` (summaries broadcast against ``p``).

    For the rules with :math:`a = -b` (Dr. GRPO, RLOO, GRPO at :math:`\epsilon = 0`) the trace is
    :math:`\mathbb E[a^2/k]\,\mathrm{tr}\Sigma^+ + \mathbb E[b^2/(G-k)]\,\mathrm{tr}\Sigma^-
    + \mathrm{Var}(a)\,\|\mu^+ - \mu^-\|^2`. For Dr. GRPO and RLOO, with
    :math:`\nu/\kappa^2 = G(G-1)p(1-p)/\kappa^2`, it is
    :math:`\frac{G(G-1)}{\kappa^2}\,p(1-p)\,(A(p) + G\,B(p))` with
    :math:`A = (1-2q)\mathrm{tr}\Sigma^+ + (1-2p)\mathrm{tr}\Sigma^- + (6pq-1)D`,
    :math:`B = q\,\mathrm{tr}\Sigma^+ + p\,\mathrm{tr}\Sigma^- + (1-4pq)D`,
    :math:`D = \|\mu^+ - \mu^-\|^2` (from :func:`_polynomial_sums`); REINFORCE's trace is a
    function of :math:`p` over :math:`G`.
    """
    tsp, tsm, mps, mms, mdot = summ
    G = Gs.astype(float)[:, None]
    kind = _has_closed_form(est, epsilon) if method == "auto" else None
    if kind == "polynomial":
        q = 1.0 - p
        pq = p * q
        if est is Estimator.REINFORCE:
            c = 1.0 - baseline
            f = (pq * (c * c * mps + baseline * baseline * mms + 2.0 * c * baseline * mdot)
                 + c * c * p * tsp + baseline * baseline * q * tsm)
            return np.broadcast_to(f, (Gs.size, p.size)) / G
        D = mps + mms - 2.0 * mdot
        A = pq * ((1.0 - 2.0 * q) * tsp + (1.0 - 2.0 * p) * tsm + (6.0 * pq - 1.0) * D)
        B = pq * (q * tsp + p * tsm + (1.0 - 4.0 * pq) * D)
        kappa = G * G if est is Estimator.DR_GRPO else G * (G - 1.0)
        factor = G * (G - 1.0) / (kappa * kappa)
        return factor * A + (factor * G) * B
    if kind == "std":
        _, var_sigma = sigma if sigma is not None else _sigma_grid(Gs, p, method)
        s2 = _sigma_scale(est, G) ** 2
        D = mps + mms - 2.0 * mdot
        q = 1.0 - p
        out = var_sigma * D
        # E[sigma^2/k; k>0] = q (1 - q^(G-1)) / G and E[sigma^2/(G-k); k<G] = p (1 - p^(G-1)) / G;
        # the powers matter (above e^-45 relative) only where (G-1) log(1/q) (or log(1/p)) < 45.
        with np.errstate(divide="ignore"):
            log_q, log_p = np.log1p(-p), np.log(p)
        need = (Gs.min() - 1.0) * np.minimum(-log_q, -log_p) < _NEGLIGIBLE_LOG
        if not need.any():
            out += (q * tsp + p * tsm) / G
        else:
            easy = np.flatnonzero(~need)
            cols = np.flatnonzero(need)
            out[:, easy] += (q * tsp + p * tsm)[easy] / G
            out[:, cols] += ((q * tsp)[cols] * -np.expm1((G - 1.0) * log_q[cols])
                             + (p * tsm)[cols] * -np.expm1((G - 1.0) * log_p[cols])) / G
        out *= s2
        return out
    return _trace(_grid_sums(est, Gs, p, epsilon, baseline, method), *summ)


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def count_sums(
    estimator: Estimator | str,
    G: int,
    p: ArrayLike,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    method: str = "auto",
) -> CountSums:
    r"""The binomial sums that give the mean and covariance of a count-based estimator.

    .. math::

       \mathbb E[a(k)],\ \mathbb E[b(k)],\ \mathrm{Var}(a),\ \mathrm{Var}(b),\
       \mathrm{Cov}(a, b),\ \mathbb E\Big[\frac{a^2}{k}; k > 0\Big],\
       \mathbb E\Big[\frac{b^2}{G-k}; k < G\Big],\ \Pr(k \in \{0, G\})

    for :math:`k \sim \mathrm{Binomial}(G, p)`, :math:`a(k) = \tfrac kG A^+(k)`,
    :math:`b(k) = \tfrac{G-k}G A^-(k)`.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]` (scalar or array).
        epsilon: :math:`\epsilon \ge 0` added to the std (std-normalised estimators).
        baseline: constant baseline of ``reinforce``.
        method: one of :data:`METHODS` (``"auto"``: closed forms and series where available).

    Returns:
        A :class:`CountSums` whose fields have the shape of ``p`` (numpy floats for a scalar).

    Example:
        >>> s = count_sums("grpo", 2, 0.5)
        >>> float(s.mean_a), float(s.within_plus), float(s.silent)
        (0.25, 0.125, 0.5)
    """
    est = _check_common(estimator, G, epsilon, baseline)
    method = _check_method(method)
    flat, shape = _probabilities(p)
    sums = _grid_sums(est, np.array([int(G)]), flat, float(epsilon), float(baseline), method)
    return CountSums(*(_shaped(np.asarray(f, dtype=float)[0], shape) for f in sums))


def _group_sizes(G_values: Any) -> NDArray[np.int64]:
    arr = np.asarray(G_values)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"G_values must be a non-empty 1-d array of integers, got {G_values!r}")
    if arr.min() < 2:
        bad = int(np.argmin(arr))
        raise ValueError(f"G_values must be integers >= 2, got {arr[bad]} at index {bad}")
    return arr.astype(np.int64)


def count_sums_grid(
    estimator: Estimator | str,
    G_values: ArrayLike,
    p: ArrayLike,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    method: str = "auto",
) -> CountSums:
    r""":func:`count_sums` for many group sizes at once: fields ``[len(G_values), len(p)]``.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G_values: group sizes, a 1-d integer array (each ``>= 2``).
        p: success probabilities in :math:`[0, 1]`, a 1-d array (or scalar).
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.
        method: one of :data:`METHODS`.

    Returns:
        A :class:`CountSums` of 2-d arrays (row ``i``: ``G_values[i]``).

    Example:
        >>> count_sums_grid("rloo", [2, 4], [0.5]).mean_a.round(4).tolist()
        [[0.25], [0.25]]
    """
    est = _check_common(estimator, 2, epsilon, baseline)
    method = _check_method(method)
    Gs = _group_sizes(G_values)
    flat, _ = _probabilities(p)
    sums = _grid_sums(est, Gs, flat, float(epsilon), float(baseline), method)
    return CountSums(*(np.broadcast_to(np.asarray(f, dtype=float),
                                       (Gs.size, flat.size)).copy() for f in sums))


def expected_gradient_weight(
    estimator: Estimator | str,
    G: int,
    p: ArrayLike,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    method: str = "auto",
) -> Any:
    r"""The weight :math:`c_G(p)` with :math:`\mathbb E[\hat g] = c_G(p)\,\nabla_\theta p`.

    .. math::

       c_G(p) = \mathbb E[A^+(k) \mid r_1 = 1] - \mathbb E[A^-(k) \mid r_1 = 0]
              = \sum_{j=0}^{G-1}\binom{G-1}{j}p^j(1-p)^{G-1-j}\big(A^+(j+1) - A^-(j)\big).

    Closed forms: Dr. GRPO :math:`(G-1)/G`, RLOO and REINFORCE 1; GRPO at
    :math:`\epsilon = 0`: :math:`\mathbb E[\hat\sigma_k]/(p(1-p))` (times
    :math:`\sqrt{(G-1)/G}` with Bessel's std), so :math:`c_2 \equiv 1`, :math:`c_3 \equiv \sqrt2`.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]`.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce`` (the weight does not depend on it).
        method: one of :data:`METHODS`.

    Returns:
        :math:`c_G(p)` with the shape of ``p``.

    Example:
        >>> round(float(expected_gradient_weight("grpo", 3, 0.3)), 12)
        1.414213562373
    """
    est = _check_common(estimator, G, epsilon, baseline)
    method = _check_method(method)
    flat, shape = _probabilities(p)
    out = _grid_weights(est, np.array([int(G)]), flat, float(epsilon), float(baseline), method)
    return _shaped(out[0], shape)


def weight_grid(
    estimator: Estimator | str,
    G_values: ArrayLike,
    p: ArrayLike,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    method: str = "auto",
) -> NDArray[np.float64]:
    r""":func:`expected_gradient_weight` for many group sizes: shape ``[len(G_values), len(p)]``.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G_values: group sizes, a 1-d integer array (each ``>= 2``).
        p: success probabilities in :math:`[0, 1]`, a 1-d array (or scalar).
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.
        method: one of :data:`METHODS`.

    Returns:
        :math:`c_G(p)`, row ``i`` for ``G_values[i]``.

    Example:
        >>> weight_grid("grpo", [2, 3], [0.1, 0.9]).round(6).tolist()
        [[1.0, 1.0], [1.414214, 1.414214]]
    """
    est = _check_common(estimator, 2, epsilon, baseline)
    method = _check_method(method)
    Gs = _group_sizes(G_values)
    flat, _ = _probabilities(p)
    return _grid_weights(est, Gs, flat, float(epsilon), float(baseline), method)


def estimator_mean(
    estimator: Estimator | str,
    G: int,
    moments: BinaryMoments,
    epsilon: float = 0.0,
    baseline: float = 0.0,
) -> NDArray[np.float64]:
    r"""Exact mean of one prompt's estimator, :math:`\mathbb E[a]\,\mu^+ + \mathbb E[b]\,\mu^-`.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2``.
        moments: the prompt's :class:`BinaryMoments`.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.

    Returns:
        The mean gradient, shape ``[D]``.

    Example:
        >>> m = BinaryMoments(0.5, [1.0, 0.0], [-1.0, 0.0], [[0.0, 0.0]] * 2, [[0.0, 0.0]] * 2)
        >>> estimator_mean("grpo", 2, m).tolist()
        [0.5, 0.0]
    """
    return estimator_moments(estimator, G, moments, epsilon, baseline)[0]


def estimator_covariance(
    estimator: Estimator | str,
    G: int,
    moments: BinaryMoments,
    epsilon: float = 0.0,
    baseline: float = 0.0,
) -> NDArray[np.float64]:
    r"""Exact covariance of the estimator of one prompt (law of total covariance over :math:`k`).

    .. math::

       \mathrm{Cov}[\hat g] = \mathbb E\Big[\tfrac{a^2}{k}\Big]\Sigma^+
         + \mathbb E\Big[\tfrac{b^2}{G-k}\Big]\Sigma^-
         + \mathrm{Var}(a)\,\mu^+\mu^{+\top} + \mathrm{Var}(b)\,\mu^-\mu^{-\top}
         + \mathrm{Cov}(a,b)\,(\mu^+\mu^{-\top} + \mu^-\mu^{+\top}).

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2``.
        moments: the prompt's :class:`BinaryMoments`.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.

    Returns:
        The covariance, shape ``[D, D]`` (symmetric).

    Example:
        >>> m = BinaryMoments(0.5, [1.0], [-1.0], [[0.0]], [[0.0]])
        >>> estimator_covariance("grpo", 2, m).tolist()  # a = -b = 1/2 w.p. 1/2, else 0
        [[0.25]]
    """
    return estimator_moments(estimator, G, moments, epsilon, baseline)[1]


def estimator_moments(
    estimator: Estimator | str,
    G: int,
    moments: BinaryMoments,
    epsilon: float = 0.0,
    baseline: float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Mean ``[D]`` and covariance ``[D, D]`` of one prompt's estimator in one call.

    See :func:`estimator_mean` and :func:`estimator_covariance`.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2``.
        moments: the prompt's :class:`BinaryMoments`.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.

    Returns:
        ``(mean, covariance)``.

    Example:
        >>> m = BinaryMoments(0.25, [3.0], [-1.0], [[1.0]], [[2.0]])
        >>> mean, cov = estimator_moments("rloo", 4, m)
        >>> round(float(mean[0]), 12)  # RLOO is unbiased for grad p = p mu+
        0.75
    """
    est = _check_common(estimator, G, epsilon, baseline)
    m = check_moments(moments)
    s = _grid_sums(est, np.array([int(G)]), np.array([m.p]), float(epsilon), float(baseline),
                   "auto")
    ma, mb, va, vb, cab, wp, wm = (float(np.ravel(f)[0]) for f in s[:7])
    mean = ma * m.mu_plus + mb * m.mu_minus
    pp = np.outer(m.mu_plus, m.mu_plus)
    mm = np.outer(m.mu_minus, m.mu_minus)
    pm = np.outer(m.mu_plus, m.mu_minus)
    cov = wp * m.sigma_plus + wm * m.sigma_minus + va * pp + vb * mm + cab * (pm + pm.T)
    return mean, (cov + cov.T) / 2


def covariance_trace(
    estimator: Estimator | str,
    G: int,
    p: ArrayLike,
    tr_sigma_plus: ArrayLike,
    tr_sigma_minus: ArrayLike,
    mu_plus_sq: ArrayLike,
    mu_minus_sq: ArrayLike,
    mu_dot: ArrayLike,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    method: str = "auto",
) -> Any:
    r"""Trace of the estimator's covariance from scalar summaries of the score moments.

    .. math::

       \mathrm{tr}\,\mathrm{Cov}[\hat g] = \mathbb E\Big[\tfrac{a^2}{k}\Big]\mathrm{tr}\Sigma^+
         + \mathbb E\Big[\tfrac{b^2}{G-k}\Big]\mathrm{tr}\Sigma^-
         + \mathrm{Var}(a)\,\|\mu^+\|^2 + \mathrm{Var}(b)\,\|\mu^-\|^2
         + 2\,\mathrm{Cov}(a,b)\,\mu^+\!\cdot\mu^-.

    All array arguments broadcast against each other.

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]`.
        tr_sigma_plus: :math:`\mathrm{tr}\,\Sigma^+ \ge 0`.
        tr_sigma_minus: :math:`\mathrm{tr}\,\Sigma^- \ge 0`.
        mu_plus_sq: :math:`\|\mu^+\|^2 \ge 0`.
        mu_minus_sq: :math:`\|\mu^-\|^2 \ge 0`.
        mu_dot: :math:`\mu^+\cdot\mu^-` (at most :math:`\|\mu^+\|\|\mu^-\|` in size).
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.
        method: one of :data:`METHODS`.

    Returns:
        The trace, with the broadcast shape of the arguments.

    Example:
        >>> float(covariance_trace("grpo", 2, 0.5, 0.0, 0.0, 1.0, 1.0, -1.0))
        0.25
    """
    est = _check_common(estimator, G, epsilon, baseline)
    method = _check_method(method)
    _probabilities(p)
    bp, tsp, tsm, mps, mms, mdot = _summaries(
        p, tr_sigma_plus, tr_sigma_minus, mu_plus_sq, mu_minus_sq, mu_dot)
    shape = bp.shape
    summ = [x.reshape(-1) for x in (tsp, tsm, mps, mms, mdot)]
    trace = _grid_trace(est, np.array([int(G)]), bp.reshape(-1), float(epsilon),
                        float(baseline), method, summ)
    return _shaped(np.broadcast_to(trace, (1, bp.size))[0], shape)


_SUMMARY_NAMES = ("tr_sigma_plus", "tr_sigma_minus", "mu_plus_sq", "mu_minus_sq", "mu_dot")


def _summaries(p: Any, *values: Any) -> list[NDArray[np.float64]]:
    """Validate the scalar moment summaries and broadcast them with ``p``."""
    arrays = []
    for name, value in zip(_SUMMARY_NAMES, values, strict=True):
        if isinstance(value, bool):
            raise TypeError(f"{name} must be a real number or array, got {value!r}")
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a real number or array, got {value!r}") from exc
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
        if name != "mu_dot" and np.any(arr < 0):
            raise ValueError(f"{name} must be >= 0")
        arrays.append(arr)
    try:
        out = np.broadcast_arrays(np.asarray(p, dtype=float), *arrays)
    except ValueError:
        raise ValueError(
            f"p, {', '.join(_SUMMARY_NAMES)} must broadcast together, got shapes "
            f"{[np.shape(x) for x in (p, *values)]}") from None
    _, _, _, mps, mms, mdot = out
    if np.any(mdot * mdot > mps * mms * (1 + 1e-12) + 1e-300):
        raise ValueError(
            "mu_dot must satisfy mu_dot^2 <= mu_plus_sq * mu_minus_sq (Cauchy-Schwarz)")
    return out


def covariance_trace_grid(
    estimator: Estimator | str,
    G_values: ArrayLike,
    p: ArrayLike,
    tr_sigma_plus: ArrayLike,
    tr_sigma_minus: ArrayLike,
    mu_plus_sq: ArrayLike,
    mu_minus_sq: ArrayLike,
    mu_dot: ArrayLike,
    epsilon: float = 0.0,
    baseline: float = 0.0,
    *,
    method: str = "auto",
) -> NDArray[np.float64]:
    r""":func:`covariance_trace` for many group sizes: shape ``[len(G_values), len(p)]``.

    The summaries broadcast against the 1-d ``p`` (one value per probability, or a scalar).

    Args:
        estimator: one of :class:`~grpo_theory.exact.estimators.Estimator`.
        G_values: group sizes, a 1-d integer array (each ``>= 2``).
        p: success probabilities in :math:`[0, 1]`, a 1-d array.
        tr_sigma_plus: :math:`\mathrm{tr}\,\Sigma^+ \ge 0`.
        tr_sigma_minus: :math:`\mathrm{tr}\,\Sigma^- \ge 0`.
        mu_plus_sq: :math:`\|\mu^+\|^2 \ge 0`.
        mu_minus_sq: :math:`\|\mu^-\|^2 \ge 0`.
        mu_dot: :math:`\mu^+\cdot\mu^-`.
        epsilon: :math:`\epsilon \ge 0` added to the std.
        baseline: constant baseline of ``reinforce``.
        method: one of :data:`METHODS`.

    Returns:
        The traces, row ``i`` for ``G_values[i]``.

    Example:
        >>> covariance_trace_grid("grpo", [2], [0.5], 0.0, 0.0, 1.0, 1.0, -1.0).tolist()
        [[0.25]]
    """
    est = _check_common(estimator, 2, epsilon, baseline)
    method = _check_method(method)
    Gs = _group_sizes(G_values)
    flat, _ = _probabilities(p)
    if flat.ndim != 1 or np.ndim(p) > 1:
        raise ValueError("p must be a scalar or a 1-d array")
    bp, *summ = _summaries(flat, tr_sigma_plus, tr_sigma_minus, mu_plus_sq, mu_minus_sq, mu_dot)
    trace = _grid_trace(est, Gs, bp, float(epsilon), float(baseline), method, summ)
    return np.broadcast_to(trace, (Gs.size, bp.size)).copy()


def curves(
    estimators: Any,
    G_values: ArrayLike,
    p: ArrayLike,
    tr_sigma_plus: ArrayLike,
    tr_sigma_minus: ArrayLike,
    mu_plus_sq: ArrayLike,
    mu_minus_sq: ArrayLike,
    mu_dot: ArrayLike,
    *,
    block: int = 256,
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    r"""Weight and covariance-trace curves of several estimators on a ``G x p`` grid.

    Equal to :func:`weight_grid` and :func:`covariance_trace_grid` per estimator (at
    :math:`\epsilon = 0`, baseline 0), but the moments of the group std are computed once per
    block of group sizes and shared by GRPO and GRPO-Bessel.

    Args:
        estimators: a sequence of :class:`~grpo_theory.exact.estimators.Estimator` names.
        G_values: group sizes, a 1-d integer array (each ``>= 2``).
        p: success probabilities in :math:`[0, 1]`, a 1-d array.
        tr_sigma_plus, tr_sigma_minus, mu_plus_sq, mu_minus_sq, mu_dot: the moment summaries
            of :func:`covariance_trace`, broadcasting against ``p``.
        block: group sizes processed together.

    Returns:
        ``{estimator: (weights, traces)}``, each ``[len(G_values), len(p)]``.

    Example:
        >>> out = curves(["grpo", "rloo"], [2, 3], [0.5], 1.0, 1.0, 0.25, 0.25, -0.25)
        >>> out["grpo"][0].round(6).tolist()
        [[1.0], [1.414214]]
    """
    ests = [as_estimator(e) for e in estimators]
    Gs = _group_sizes(G_values)
    flat, _ = _probabilities(p)
    check_group_size(block, "block", minimum=1)
    bp, *summ = _summaries(flat, tr_sigma_plus, tr_sigma_minus, mu_plus_sq, mu_minus_sq, mu_dot)
    summ = [np.broadcast_to(x, bp.shape) for x in summ]
    out = {e.value: (np.empty((Gs.size, bp.size)), np.empty((Gs.size, bp.size))) for e in ests}
    needs_sigma = any(_has_closed_form(e, 0.0) == "std" for e in ests)
    if needs_sigma:  # the series coefficients, once, before the blocks share them
        _sigma_grid(Gs[:1], bp, "auto")

    def work(start: int) -> None:
        g = Gs[start:start + int(block)]
        rows = slice(start, start + g.size)
        sigma = _sigma_grid(g, bp, "auto") if needs_sigma else None
        done: dict[Estimator, Estimator] = {}
        for e in ests:
            w, t = out[e.value]
            std_pair = {Estimator.GRPO: Estimator.GRPO_BESSEL,
                        Estimator.GRPO_BESSEL: Estimator.GRPO}.get(e)
            if std_pair in done:  # Bessel = population GRPO scaled by s = sqrt((G-1)/G)
                s_e = _sigma_scale(e, g.astype(float))[:, None]
                s_o = _sigma_scale(std_pair, g.astype(float))[:, None]
                w_o, t_o = out[std_pair.value]
                w[rows] = w_o[rows] * (s_e / s_o)
                t[rows] = t_o[rows] * (s_e / s_o) ** 2
            else:
                w[rows] = _grid_weights(e, g, bp, 0.0, 0.0, "auto", sigma)
                t[rows] = _grid_trace(e, g, bp, 0.0, 0.0, "auto", summ, sigma)
            done[e] = e

    starts = range(0, Gs.size, int(block))
    workers = min(len(starts), max(1, os.cpu_count() or 1))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, starts))
    else:
        for start in starts:
            work(start)
    return out


def _trace(s: CountSums, tsp: Any, tsm: Any, mps: Any, mms: Any, mdot: Any) -> Any:
    return (s.within_plus * tsp + s.within_minus * tsm + s.var_a * mps + s.var_b * mms
            + 2.0 * s.cov_ab * mdot)


def silent_probability(G: int, p: ArrayLike) -> Any:
    r"""Probability :math:`p^G + (1-p)^G` that a group has no reward spread (no signal).

    Args:
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]`.

    Returns:
        The probability, with the shape of ``p``.

    Example:
        >>> float(silent_probability(2, 0.5))
        0.5
    """
    check_group_size(G)
    flat, shape = _probabilities(p)
    return _shaped(_silent(int(G), flat), shape)


def expected_signal_groups(Q: int, G: int, p: ArrayLike) -> Any:
    r"""Expected number of the :math:`Q` groups that carry signal: :math:`Q(1 - p^G - (1-p)^G)`.

    Args:
        Q: number of prompts (groups), ``>= 1``.
        G: group size ``>= 2``.
        p: success probabilities in :math:`[0, 1]` (one value for all prompts, or one per
            prompt: then the result is per prompt and sums to the batch's expectation).

    Returns:
        The expectation, with the shape of ``p``.

    Example:
        >>> float(expected_signal_groups(8, 2, 0.5))
        4.0
    """
    check_group_size(Q, "Q", minimum=1)
    check_group_size(G)
    flat, shape = _probabilities(p)
    return _shaped(Q * (1.0 - _silent(int(G), flat)), shape)


def snr(mean: ArrayLike, cov: ArrayLike) -> float:
    r"""Signal-to-noise ratio :math:`\|\mathbb E\hat g\|^2 / \mathrm{tr}\,\mathrm{Cov}[\hat g]`.

    A zero trace gives ``inf`` when the mean is non-zero (a deterministic, informative
    estimator) and ``nan`` when both vanish (no signal and no noise: undefined).

    Args:
        mean: the mean, shape ``[D]``.
        cov: the covariance ``[D, D]`` (its diagonal must be ``>= 0``).

    Returns:
        The ratio as a float.

    Example:
        >>> snr([3.0, 4.0], [[1.0, 0.0], [0.0, 4.0]])
        5.0
    """
    m = np.asarray(mean, dtype=float)
    c = np.asarray(cov, dtype=float)
    if m.ndim != 1:
        raise ValueError(f"mean must be a vector [D], got shape {m.shape}")
    if c.shape != (m.size, m.size):
        raise ValueError(f"cov must have shape ({m.size}, {m.size}) like mean, got {c.shape}")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c))):
        raise ValueError("mean and cov must be finite")
    if np.any(np.diag(c) < 0):
        raise ValueError("cov must have a non-negative diagonal")
    signal = float(m @ m)
    noise = float(np.trace(c))
    if noise == 0.0:
        return math.inf if signal > 0 else math.nan
    return signal / noise
