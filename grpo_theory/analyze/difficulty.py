r"""The difficulty distribution of a logged run: a beta-binomial fit of per-prompt success rates.

Each group :math:`j` of a binary-reward run has :math:`k_j` successes among :math:`n_j` rollouts
of one prompt whose success rate :math:`p_j` is unknown. Modelling the rates as draws from a
difficulty distribution :math:`p \sim \mathrm{Beta}(a, b)` makes the counts beta-binomial,

.. math::

    \Pr(k \mid n) = \binom nk \frac{B(k + a,\ n - k + b)}{B(a, b)},

and the maximum-likelihood :math:`(\hat a, \hat b)` summarise the run's difficulty: the mean
success rate :math:`\mu = a/(a+b)` and the overdispersion :math:`\rho = 1/(a+b+1)` (the
correlation of two rollouts of one prompt; :math:`\rho \to 0` when every prompt has the same
rate, :math:`\rho \to 1` when every prompt is always or never solved).

**Fit.** The log-likelihood depends on the data only through the multiplicities of the distinct
pairs :math:`(n, k)`, so a run of a million rollouts is a few hundred terms. Its gradient and
Hessian are closed forms in the digamma and trigamma functions,

.. math::

    \partial_a \ell = \textstyle\sum_j \psi(k_j + a) - \psi(n_j + a + b) - \psi(a) + \psi(a + b),
    \qquad
    \partial_a\partial_b \ell = \textstyle\sum_j \psi_1(a + b) - \psi_1(n_j + a + b),

(and symmetrically in :math:`b`). The fit maximises :math:`\ell` over
:math:`\theta = (\log a, \log b)` with these derivatives; its uncertainty is the inverse observed
information :math:`\Sigma = (-\nabla^2_\theta \ell)^{-1}` at the optimum (the normal
approximation of the maximum-likelihood estimator).

**Uncertainty of derived quantities** (:meth:`BetaBinomialFit.interval`): a function
:math:`f(a, b)` gets the delta-method interval
:math:`f(\hat\theta) \pm z\,\sqrt{\nabla f^\top \Sigma\, \nabla f}`, computed on a log or logit
scale for positive or unit-interval quantities so that the interval respects their range.

**Expected silent groups.** Under the fit, a group of :math:`n` is silent (all rewards equal)
with probability :math:`\Pr(k = 0) + \Pr(k = n) = \mathbb E_p[(1-p)^n + p^n]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from grpo_theory._validate import check_int, check_probability

__all__ = [
    "Estimate",
    "BetaBinomialFit",
    "fit_beta_binomial",
    "expected_silent",
    "goodness_of_fit",
    "window_bounds",
    "z_value",
    "json_number",
]

_LOG_BOUNDS = (-9.0, 14.0)
"""Bounds of :math:`\\log a` and :math:`\\log b` in the fit; an optimum on a bound is flagged."""


def json_number(x: float) -> float | None:
    """``x`` as a float, or ``None`` when it is not finite (JSON has no NaN or infinity)."""
    x = float(x)
    return x if np.isfinite(x) else None


def z_value(level: float) -> float:
    """The two-sided normal quantile of a confidence ``level`` in (0, 1)."""
    check_probability(level, "level", open_interval=True)
    return float(stats.norm.ppf(0.5 + level / 2.0))


@dataclass(frozen=True)
class Estimate:
    """A value with a confidence interval ``[low, high]`` at ``level``."""

    value: float
    low: float
    high: float
    level: float

    def as_dict(self) -> dict[str, float | None]:
        """The estimate as JSON-ready values (a bound that is not finite becomes ``None``)."""
        return {"value": json_number(self.value), "low": json_number(self.low),
                "high": json_number(self.high), "level": self.level}

    def covers(self, x: float) -> bool:
        """Whether ``x`` lies in ``[low, high]``."""
        return bool(self.low <= x <= self.high)


@dataclass(frozen=True)
class BetaBinomialFit:
    r"""A maximum-likelihood :math:`\mathrm{Beta}(a, b)` difficulty distribution.

    Attributes:
        a, b: the fitted parameters.
        cov_log: :math:`2\times 2` covariance of :math:`(\log\hat a, \log\hat b)` (inverse
            observed information); NaN when the information is singular.
        loglik: the maximised log-likelihood.
        n_groups, n_rollouts: the data's size.
        successes: total successes.
        converged: whether the optimiser reported success.
        at_boundary: whether the optimum sits on a parameter bound (then the rates show no
            overdispersion, or all sit at 0 or 1, and intervals are not reliable).
    """

    a: float
    b: float
    cov_log: np.ndarray
    loglik: float
    n_groups: int
    n_rollouts: int
    successes: int
    converged: bool
    at_boundary: bool

    @property
    def mean(self) -> float:
        r"""Mean success rate :math:`a/(a+b)`."""
        return self.a / (self.a + self.b)

    @property
    def overdispersion(self) -> float:
        r""":math:`\rho = 1/(a+b+1)`, the correlation of two rollouts of one prompt."""
        return 1.0 / (self.a + self.b + 1.0)

    @property
    def reliable(self) -> bool:
        """Converged, off the bounds, and with a positive-definite information matrix."""
        return self.converged and not self.at_boundary and bool(np.all(np.isfinite(self.cov_log)))

    def standard_error(self, f: Callable[[float, float], Any], scale: Any = "linear"
                       ) -> np.ndarray:
        r"""Delta-method standard error :math:`\sqrt{\nabla g^\top\Sigma\nabla g}` of
        :math:`g = s(f(a, b))` with :math:`s` the ``scale`` transform (see :meth:`interval`),
        one per output of ``f``; NaN when the fit is not :attr:`reliable`."""
        centre = np.atleast_1d(np.asarray(f(self.a, self.b), dtype=float))
        return self._delta(f, centre, _scales(scale, centre.size))[1]

    def _delta(self, f: Callable[[float, float], Any], centre: np.ndarray,
               scales: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(s(centre), standard errors)`` on the per-output scales."""
        if not self.reliable:
            return centre, np.full(centre.size, np.nan)
        theta = np.log([self.a, self.b])
        h = 1e-5
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g0 = _apply(scales, centre, 0)
            jac = np.stack([
                (_apply(scales, np.atleast_1d(np.asarray(f(*np.exp(theta + h * e)), float)), 0)
                 - _apply(scales, np.atleast_1d(np.asarray(f(*np.exp(theta - h * e)), float)),
                          0)) / (2 * h) for e in np.eye(2)], axis=-1)  # [K, 2]
            se = np.sqrt(np.einsum("ki,ij,kj->k", jac, self.cov_log, jac))
        return g0, se

    def interval(self, f: Callable[[float, float], Any], level: float = 0.95,
                 scale: Any = "linear") -> Any:
        r"""Delta-method interval of ``f(a, b)`` (a float or an array of floats).

        Args:
            f: a smooth function of :math:`(a, b)`.
            level: confidence level in (0, 1).
            scale: ``linear``, ``log`` (for positive values) or ``logit`` (for values in
                (0, 1)), or one of these per output of ``f``; the interval is symmetric on
                that scale.

        Returns:
            An :class:`Estimate`, or a list of them when ``f`` returns an array; its bounds are
            NaN when the fit is not :attr:`reliable`.
        """
        z = z_value(level)
        value = np.asarray(f(self.a, self.b), dtype=float)
        centre = np.atleast_1d(value)
        scales = _scales(scale, centre.size)
        g0, se = self._delta(f, centre, scales)
        with np.errstate(over="ignore"):
            lo, hi = _apply(scales, g0 - z * se, 1), _apply(scales, g0 + z * se, 1)
        out = [Estimate(float(c), float(min(a_, b_)), float(max(a_, b_)), level)
               for c, a_, b_ in zip(centre, lo, hi, strict=True)]
        return out[0] if value.ndim == 0 else out

    def contains(self, a: float, b: float, level: float) -> bool:
        r"""Whether :math:`(a, b)` lies in the Wald confidence ellipse of ``level`` in
        :math:`(\log a, \log b)` (:math:`\chi^2_2` quantile)."""
        d = np.log([a, b]) - np.log([self.a, self.b])
        q = float(d @ np.linalg.solve(self.cov_log, d))
        return q <= float(stats.chi2.ppf(level, df=2))

    def as_dict(self, level: float = 0.95) -> dict[str, Any]:
        """The fit, with intervals at ``level``, as plain JSON-ready values."""
        mean = self.interval(lambda a, b: a / (a + b), level, "logit")
        rho = self.interval(lambda a, b: 1.0 / (a + b + 1.0), level, "logit")
        a_ = self.interval(lambda a, b: a, level, "log")
        b_ = self.interval(lambda a, b: b, level, "log")
        return {
            "family": "beta-binomial", "a": a_.as_dict(), "b": b_.as_dict(),
            "mean": mean.as_dict(), "overdispersion": rho.as_dict(),
            "cov_log_ab": [[json_number(x) for x in row] for row in self.cov_log],
            "loglik": self.loglik,
            "groups": self.n_groups, "rollouts": self.n_rollouts, "successes": self.successes,
            "converged": self.converged, "at_boundary": self.at_boundary,
            "reliable": self.reliable,
        }


_SCALES: dict[str, tuple[Callable, Callable]] = {
    "linear": (lambda x: x, lambda x: x),
    "log": (np.log, np.exp),
    "logit": (special.logit, special.expit),
}


def _scales(scale: Any, n: int) -> list[str]:
    scales = [scale] * n if isinstance(scale, str) else list(scale)
    if len(scales) != n or any(s not in _SCALES for s in scales):
        raise ValueError(f"scale must be one of {', '.join(_SCALES)}, or one of them per "
                         f"output ({n}); got {scale!r}")
    return scales


def _apply(scales: list[str], x: np.ndarray, direction: int) -> np.ndarray:
    """The scale transforms (``direction`` 0) or their inverses (1), per component."""
    return np.array([_SCALES[s][direction](v) for s, v in zip(scales, x, strict=True)],
                    dtype=float)


def _compress(successes: Any, sizes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = np.asarray(successes)
    n = np.asarray(sizes)
    if k.shape != n.shape or k.ndim != 1 or k.size == 0:
        raise ValueError("successes and sizes must be non-empty 1-D arrays of one shape")
    if not (np.issubdtype(k.dtype, np.integer) and np.issubdtype(n.dtype, np.integer)):
        raise TypeError("successes and sizes must be integer arrays")
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need sizes >= 1 and 0 <= successes <= sizes")
    pairs, counts = np.unique(np.stack([n, k], axis=1), axis=0, return_counts=True)
    return pairs[:, 0].astype(float), pairs[:, 1].astype(float), counts.astype(float)


def _negloglik(theta: np.ndarray, n: np.ndarray, k: np.ndarray, w: np.ndarray
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """Negative log-likelihood (without the binomial coefficients), its gradient and Hessian in
    :math:`\\theta = (\\log a, \\log b)`."""
    a, b = np.exp(theta)
    ll = w @ (special.betaln(k + a, n - k + b) - special.betaln(a, b))
    dg, tg = special.digamma, special.polygamma
    common1 = dg(a + b) - dg(n + a + b)
    la = w @ (dg(k + a) - dg(a) + common1)
    lb = w @ (dg(n - k + b) - dg(b) + common1)
    common2 = tg(1, a + b) - tg(1, n + a + b)
    laa = w @ (tg(1, k + a) - tg(1, a) + common2)
    lbb = w @ (tg(1, n - k + b) - tg(1, b) + common2)
    lab = w @ common2
    grad = np.array([a * la, b * lb])
    hess = np.array([[a * a * laa + a * la, a * b * lab], [a * b * lab, b * b * lbb + b * lb]])
    return -float(ll), -grad, -hess


def _start(n: np.ndarray, k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Method-of-moments start: mean and intra-class correlation of the rates."""
    mu = float(np.clip((w @ k) / (w @ n), 1e-3, 1 - 1e-3))
    rate = k / n
    var = float(w @ ((rate - mu) ** 2) / w.sum())
    binom = float(w @ (mu * (1 - mu) / n) / w.sum())
    rho = np.clip((var - binom) / max(mu * (1 - mu) - binom, 1e-12), 1e-3, 0.9)
    s = 1.0 / rho - 1.0
    return np.log([mu * s, (1 - mu) * s])


def fit_beta_binomial(successes: Any, sizes: Any) -> BetaBinomialFit:
    r"""Maximum-likelihood beta-binomial fit of per-group success counts.

    Args:
        successes: successes :math:`k_j` of each group, integers ``[M]``.
        sizes: rollouts :math:`n_j \ge 1` of each group, integers ``[M]``.

    Returns:
        A :class:`BetaBinomialFit`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> k = rng.binomial(8, rng.beta(2.0, 3.0, size=20_000))
        >>> fit = fit_beta_binomial(k, np.full(k.size, 8))
        >>> round(fit.a, 1), round(fit.b, 1), fit.reliable
        (2.0, 3.0, True)
    """
    n, k, w = _compress(successes, sizes)
    scale = float(w.sum())

    def fun(t: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, _ = _negloglik(t, n, k, w)
        return value / scale, grad / scale

    res = optimize.minimize(fun, _start(n, k, w), jac=True, method="L-BFGS-B",
                            bounds=[_LOG_BOUNDS] * 2,
                            options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
    theta = _newton_polish(res.x, n, k, w)
    value, grad, hess = _negloglik(theta, n, k, w)
    converged = bool(np.max(np.abs(grad)) <= 1e-7 * scale)
    at_boundary = bool(np.any(np.abs(theta - np.array(_LOG_BOUNDS)[:, None].T) < 1e-3))
    try:
        eig = np.linalg.eigvalsh(hess)
        cov = np.linalg.inv(hess) if eig.min() > 0 else np.full((2, 2), np.nan)
    except np.linalg.LinAlgError:
        cov = np.full((2, 2), np.nan)
    logc = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    a, b = np.exp(theta)
    return BetaBinomialFit(
        a=float(a), b=float(b), cov_log=cov, loglik=float(-value + w @ logc),
        n_groups=int(scale), n_rollouts=int(w @ n), successes=int(w @ k),
        converged=converged, at_boundary=at_boundary)


def _newton_polish(theta: np.ndarray, n: np.ndarray, k: np.ndarray, w: np.ndarray,
                   steps: int = 30) -> np.ndarray:
    """Newton steps with the exact Hessian from the quasi-Newton optimum (step halving, within
    the bounds), so that the gradient vanishes to rounding."""
    lo, hi = _LOG_BOUNDS
    value, grad, hess = _negloglik(theta, n, k, w)
    for _ in range(steps):
        if np.linalg.eigvalsh(hess).min() <= 0:
            break
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4:
            cand = np.clip(theta - t * step, lo, hi)
            cand_value, cand_grad, cand_hess = _negloglik(cand, n, k, w)
            if cand_value <= value:
                break
            t /= 2
        else:
            break
        if np.max(np.abs(cand - theta)) < 1e-13:
            theta = cand
            break
        theta, value, grad, hess = cand, cand_value, cand_grad, cand_hess
    return theta


def expected_silent(a: float, b: float, sizes: Any) -> Any:
    r"""Probability that a group of each size is silent under :math:`p \sim \mathrm{Beta}(a,b)`:
    :math:`\mathbb E[p^n + (1-p)^n] = \frac{B(a + n, b) + B(a, b + n)}{B(a, b)}`.

    Example:
        >>> round(float(expected_silent(1.0, 1.0, 2)), 6)  # uniform p: E[p^2 + (1-p)^2] = 2/3
        0.666667
    """
    n = np.asarray(sizes, dtype=float)
    base = special.betaln(a, b)
    return np.exp(special.betaln(a + n, b) - base) + np.exp(special.betaln(a, b + n) - base)


def goodness_of_fit(fit: BetaBinomialFit, successes: Any, sizes: Any,
                    min_expected: float = 5.0) -> dict[str, Any]:
    r"""Pearson :math:`\chi^2` test of the fitted beta-binomial against the observed counts.

    For every group size, the histogram of :math:`k` is compared with its expectation; bins with
    an expected count below ``min_expected`` are pooled with their neighbours. The statistics of
    all sizes add up, with two degrees of freedom removed for the fitted parameters.

    Returns:
        ``{"statistic", "dof", "p_value"}`` (``p_value`` NaN when there are too few bins).
    """
    k = np.asarray(successes)
    n = np.asarray(sizes)
    stat, dof = 0.0, 0
    for size in np.unique(n):
        mine = k[n == size]
        observed = np.bincount(mine, minlength=int(size) + 1).astype(float)
        expected = mine.size * stats.betabinom.pmf(np.arange(size + 1), size, fit.a, fit.b)
        obs, exp = _pool(observed, expected, min_expected)
        if obs.size >= 2:
            stat += float(np.sum((obs - exp) ** 2 / exp))
            dof += obs.size - 1
    dof -= 2
    p = float(stats.chi2.sf(stat, dof)) if dof > 0 else float("nan")
    return {"statistic": stat, "dof": int(dof), "p_value": p}


def _pool(observed: np.ndarray, expected: np.ndarray, minimum: float
          ) -> tuple[np.ndarray, np.ndarray]:
    obs, exp = [], []
    o_acc = e_acc = 0.0
    for o, e in zip(observed, expected, strict=True):
        o_acc += o
        e_acc += e
        if e_acc >= minimum:
            obs.append(o_acc)
            exp.append(e_acc)
            o_acc = e_acc = 0.0
    if e_acc > 0 and exp:
        obs[-1] += o_acc
        exp[-1] += e_acc
    return np.array(obs), np.array(exp)


def window_bounds(steps: Sequence[int] | np.ndarray, group_step: np.ndarray, windows: int
                  ) -> list[tuple[int, int]]:
    """Split the run's steps into at most ``windows`` contiguous ranges holding about equal
    numbers of groups; returns ``(first_step, last_step)`` per window."""
    check_int(windows, "windows", 1)
    steps = np.asarray(steps)
    per_step = np.searchsorted(group_step, steps, side="right") - np.searchsorted(
        group_step, steps, side="left")
    cum = np.cumsum(per_step) / per_step.sum()
    edges = np.searchsorted(cum, np.arange(1, windows) / windows, side="left")
    bounds, start = [], 0
    for e in [*edges.tolist(), steps.size - 1]:
        stop = max(e, start)
        if stop >= start and start < steps.size:
            bounds.append((int(steps[start]), int(steps[stop])))
            start = stop + 1
    return bounds
