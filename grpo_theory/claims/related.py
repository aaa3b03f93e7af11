r"""Claims: results of related papers, and the paper's exploration bound (Prop 5.4).

* Yang et al. 2026 ("Your group-relative advantage is biased"): on non-degenerate binary groups
  the group mean overestimates the success probability of hard prompts and underestimates it on
  easy ones. The closed forms are proved symbolically, the tail formula is checked against an
  enumeration of reward vectors in exact rational arithmetic, and the printed averages of
  Corollary 1 are recomputed by quadrature.
* Bay & Yearick 2026: the group-std identity for binary rewards, the silent-group rate, the
  first-order group-size budget (which, read as a guarantee, falls short) and the gradient-mass
  comparison of GRPO with Dr. GRPO. The large-group attenuation itself is
  ``egrad.sigma-attenuation`` and the mean std is ``egrad.sigma-relation``.
* Mroueh 2025: the closed-form KL-regularised policy of one iteration, the success-probability
  recurrence, success amplification, its fixed points and their local stability, and the
  mean-only and mirror variants.
* Paper v2 Prop 5.4: exploration on hard prompts, and why the bound does not separate 2-GRPO
  from 16-GRPO.

The numeric functions are in :mod:`grpo_theory.exact.related`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import numpy as np
import sympy as sp
from scipy import optimize, special

from grpo_theory.claims._core import (
    Evidence,
    Kind,
    Outcome,
    prove_cases,
    prove_identity,
    refuted,
    register,
    verify_close,
)
from grpo_theory.exact.related import (
    Side,
    average_overestimate_probability,
    conditional_bias,
    conditional_mean_success,
    conditional_mean_success_sum,
    conditional_tail_probability,
    conditional_tail_probability_direct,
    expected_squared_std,
    exploration_probability,
    frozen_exploration_probability,
    gradient_mass_ratio,
    group_size_budget,
    kl_regularised_objective,
    minimal_group_size,
    mroueh_fixed_points,
    mroueh_iterate,
    mroueh_logit_map,
    mroueh_map,
    mroueh_map_derivative,
    mroueh_optimal_policy,
    mroueh_weights,
    overestimate_probability,
    silent_group_rate,
    std_attenuation_error,
)
from grpo_theory.symbolic.advantages import population_std
from grpo_theory.symbolic.expected_gradient import expected_group_std

__all__ = [
    "YANG_G_RANGE",
    "COROLLARY1_PRINTED",
    "COROLLARY1_UNIT_PRINTED",
    "BUDGET_P",
    "BUDGET_EPS",
    "MROUEH_CONFIGS",
]

_P = sp.Symbol("p", positive=True)

YANG_G_RANGE = range(2, 17)
"""Group sizes over which the closed forms of Yang et al. are proved for symbolic p."""

_YANG_SCOPE = f"every G in {YANG_G_RANGE.start}..{YANG_G_RANGE.stop - 1}, p symbolic"


def _rational_simplify(expr: sp.Basic) -> sp.Basic:
    """One denominator, expanded numerator; ``simplify`` only if that is not already 0."""
    num, den = sp.fraction(sp.together(expr))
    num = sp.expand(num)
    return sp.Integer(0) if num == 0 else sp.simplify(num / den)


def _binomial_pmf(k: int, G: int, p: sp.Expr = _P) -> sp.Expr:
    return sp.binomial(G, k) * p**k * (1 - p) ** (G - k)


def _nondegenerate_expr(G: sp.Expr, p: sp.Expr = _P) -> sp.Expr:
    return 1 - (1 - p) ** G - p**G


def _mean_given_s_closed(G: sp.Expr, p: sp.Expr = _P) -> sp.Expr:
    return (p - p**G) / _nondegenerate_expr(G, p)


def _mean_given_s_sum(G: int, p: sp.Expr = _P) -> sp.Expr:
    num = sp.Add(*[sp.Rational(k, G) * _binomial_pmf(k, G, p) for k in range(1, G)])
    den = sp.Add(*[_binomial_pmf(k, G, p) for k in range(1, G)])
    return num / den


def _bias_printed(G: sp.Expr, p: sp.Expr = _P) -> sp.Expr:
    return (p * (1 - p) ** G + p ** (G + 1) - p**G) / _nondegenerate_expr(G, p)


def _all_passed(parts: list[tuple[str, Evidence]], outcome: Outcome, summary: str,
                **details) -> Evidence:
    """The first part whose outcome is not ``outcome``, or the combined evidence."""
    for label, ev in parts:
        if ev.outcome is not outcome:
            return Evidence(ev.outcome, f"{label}: {ev.summary}", {**ev.details, "part": label})
    return Evidence(outcome, summary, {"parts": [label for label, _ in parts], **details})


# ----------------------------------------------------------------------------------------------
# Yang et al. 2026
# ----------------------------------------------------------------------------------------------


@register(
    "related.yang-conditional-mean",
    title="The group mean given a non-degenerate group",
    statement=r"""
    Let $R \sim \mathrm{Binomial}(G, p)$, $\hat p = R/G$ and $S = \{1 \le R \le G-1\}$. Then
    $\mathbb E[\hat p \mid S] = \dfrac{p - p^G}{1 - (1-p)^G - p^G}$ for $0 < p < 1$.
    """,
    source="Yang et al. 2026, App. D.1 (Eq. 32)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _yang_conditional_mean() -> Evidence:
    exact = prove_cases(
        ((f"G={G}", _mean_given_s_sum(G), _mean_given_s_closed(G)) for G in YANG_G_RANGE),
        scope=_YANG_SCOPE + "; the conditional binomial sum against the closed form",
        simplifier=_rational_simplify)
    if exact.outcome is not Outcome.PROVED:
        return exact
    p = np.concatenate([np.geomspace(1e-6, 0.5, 40), 1 - np.geomspace(1e-6, 0.5, 40)])
    errors = [np.max(np.abs(conditional_mean_success(G, p) - conditional_mean_success_sum(G, p)))
              for G in (2, 3, 8, 64, 1000)]
    numeric = verify_close(errors, np.zeros(len(errors)), atol=1e-12,
                           what="float closed form vs log-space sum, G = 2, 3, 8, 64, 1000")
    if numeric.outcome is not Outcome.VERIFIED:
        return numeric
    return Evidence(Outcome.PROVED, f"{exact.summary}; floats agree to "
                    f"{numeric.details['max_error']:.2g} for G up to 1000, p in [1e-6, 1 - 1e-6]",
                    {**exact.details, "float_max_error": numeric.details["max_error"]})


@register(
    "related.yang-bias",
    title="Size of the baseline bias (Lemma 2), and 1/2 - p for pairs",
    statement=r"""
    For every $G \ge 2$ and $0 < p < 1$: $\mathbb E[\hat p \mid S] - p =
    \dfrac{p(1-p)^G + p^{G+1} - p^G}{1 - (1-p)^G - p^G}$; with $\hat A = r - \hat p$ and
    $A = r - p$ this is $A - \mathbb E[\hat A \mid S]$. For $G = 2$ it equals $\tfrac12 - p$
    (on $S$ a pair always has $\hat p = \tfrac12$).
    """,
    source="Yang et al. 2026, Lemma 2; the G = 2 value derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _yang_bias() -> Evidence:
    G = sp.Symbol("G", integer=True, positive=True)
    general = prove_identity(_mean_given_s_closed(G) - _P, _bias_printed(G),
                             what="G symbolic, from the closed form of E[p_hat | S]")
    per_g = prove_cases(
        ((f"G={n}", _mean_given_s_sum(n) - _P, _bias_printed(n)) for n in range(2, 9)),
        scope="every G in 2..8, p symbolic, from the binomial sum",
        simplifier=_rational_simplify)
    pair = prove_identity(_bias_printed(2), sp.Rational(1, 2) - _P, what="G = 2",
                          simplifier=_rational_simplify)
    return _all_passed([("G symbolic", general), ("per G", per_g), ("G = 2", pair)],
                       Outcome.PROVED,
                       "Lemma 2 proved with G symbolic (simplify) and against the binomial sum "
                       "for every G in 2..8; at G = 2 it is 1/2 - p", residual="0")


@register(
    "related.yang-sign",
    title="The group mean overestimates p iff p < 1/2 (Theorem 1)",
    statement=r"""
    For every $G \ge 2$ and $0 < p < 1$: $\mathbb E[\hat p \mid S] > p$ if $p < \tfrac12$,
    $\mathbb E[\hat p \mid S] < p$ if $p > \tfrac12$ and equality at $p = \tfrac12$. So the
    group-relative advantage is biased low on hard prompts, $\mathbb E[\hat A \mid S] < A$, and
    high on easy ones. The reason: the numerator of Lemma 2 factors as
    $p(1-p)\big[(1-p)^{G-1} - p^{G-1}\big]$ and the denominator is $\Pr(S) > 0$.
    """,
    source="Yang et al. 2026, Theorem 1 (proof in App. D.1)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _yang_sign() -> Evidence:
    n = sp.Symbol("n", integer=True, nonnegative=True)  # G = n + 1 >= 1
    G = n + 1
    numerator = _P * (1 - _P) ** G + _P ** (G + 1) - _P**G
    factored = _P * (1 - _P) * ((1 - _P) ** (G - 1) - _P ** (G - 1))
    factor = prove_identity(numerator, factored, what="numerator factorisation, G symbolic",
                            simplifier=lambda e: sp.simplify(sp.expand(e, power_exp=True)))
    if factor.outcome is not Outcome.PROVED:
        return factor
    # Per G, exact real-root counting of the integer polynomials on (0, 1).
    x = sp.Symbol("x")
    checked = []
    for m in YANG_G_RANGE:
        diff = sp.Poly((1 - x) ** (m - 1) - x ** (m - 1), x)
        den = sp.Poly(_nondegenerate_expr(m, x), x)
        roots = diff.count_roots(0, 1)
        half = diff.eval(sp.Rational(1, 2))
        quarter = diff.eval(sp.Rational(1, 4))
        if m > 2 and (roots != 1 or half != 0 or quarter <= 0):
            return refuted(f"G={m}: (1-p)^(G-1) - p^(G-1) does not change sign only at 1/2",
                           {"G": m, "roots_in_[0,1]": roots})
        if m == 2 and diff.as_expr() != 1 - 2 * x:
            return refuted("G=2: (1-p) - p is not 1 - 2p", {"G": 2})
        den_roots = den.count_roots(0, 1) - 2  # the polynomial vanishes at 0 and 1 only
        if den_roots != 0 or den.eval(sp.Rational(1, 2)) <= 0:
            return refuted(f"G={m}: Pr(S) has a root inside (0, 1)", {"G": m})
        checked.append(m)
    grid = np.array([0.01, 0.1, 0.3, 0.49, 0.51, 0.7, 0.9, 0.99])
    for m in (2, 5, 32, 256):
        bias = conditional_bias(m, grid)
        if np.any(np.sign(bias) != np.sign(0.5 - grid)):
            i = int(np.argmax(np.sign(bias) != np.sign(0.5 - grid)))
            return refuted(f"float bias has the wrong sign at G={m}, p={grid[i]}",
                           {"G": m, "p": float(grid[i]), "bias": float(bias[i])})
    return Evidence(
        Outcome.PROVED,
        "numerator = p(1-p)[(1-p)^(G-1) - p^(G-1)] with G symbolic; for G >= 2, t -> t^(G-1) "
        "is strictly increasing on t > 0, so the bracket has the sign of (1-p) - p = 1 - 2p; "
        "Pr(S) = 1 - (1-p)^G - p^G > 0 since p^G + (1-p)^G < p + (1-p) = 1; per G in 2..16 "
        "the sign pattern is also confirmed by exact root counting, and float values for "
        "G = 2, 5, 32, 256 have the predicted sign",
        {"residual": "0", "root_counted_G": checked})


def _enumerated_counts(G: int) -> Counter:
    """How many reward vectors in {0,1}^G have each number of successes (by enumeration)."""
    return Counter(sum(v) for v in itertools.product((0, 1), repeat=G))


def _tail_formula_exact(G: int, p: Fraction, eps: Fraction, side: Side) -> Fraction:
    if side is Side.OVER:
        lo, hi = math.floor(G * (p + eps)) + 1, G - 1
    else:
        lo, hi = 1, math.ceil(G * (p - eps)) - 1
    num = sum((math.comb(G, k) * p**k * (1 - p) ** (G - k) for k in range(lo, hi + 1)),
              Fraction(0))
    return num / (1 - (1 - p) ** G - p**G)


def _tail_enumerated_exact(G: int, p: Fraction, eps: Fraction, side: Side) -> Fraction:
    num = den = Fraction(0)
    for k, count in _enumerated_counts(G).items():
        if not 1 <= k <= G - 1:
            continue
        weight = count * p**k * (1 - p) ** (G - k)
        den += weight
        dev = Fraction(k, G) - p if side is Side.OVER else p - Fraction(k, G)
        if dev > eps:
            num += weight
    return num / den


_TAIL_P = tuple(Fraction(a, b) for a, b in ((1, 9), (1, 5), (1, 4), (2, 7), (1, 3), (3, 8),
                                             (1, 2), (5, 8), (2, 3), (4, 5), (8, 9)))
_TAIL_EPS = (Fraction(0), Fraction(1, 40), Fraction(1, 10), Fraction(1, 8), Fraction(1, 4))


@register(
    "related.yang-tail",
    title="The tail probability of the baseline error (Theorem 2)",
    statement=r"""
    For $G \ge 2$, $0 < p < 1$ and $\epsilon \ge 0$:
    $\Pr(\hat p - p > \epsilon \mid S) = \dfrac{\sum_{k=\lfloor G(p+\epsilon)\rfloor+1}^{G-1}
    \binom Gk p^k(1-p)^{G-k}}{1 - (1-p)^G - p^G}$ and, symmetrically,
    $\Pr(p - \hat p > \epsilon \mid S) = \dfrac{\sum_{k=1}^{\lceil G(p-\epsilon)\rceil-1}
    \binom Gk p^k(1-p)^{G-k}}{1 - (1-p)^G - p^G}$ (an empty sum is 0). The theorem states the
    first for hard prompts with $0 < \epsilon < \mathbb E[\hat p \mid S] - p$, where it is the
    probability that $A - \hat A > \epsilon$.
    """,
    source="Yang et al. 2026, Theorem 2",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _yang_tail() -> Evidence:
    n_exact = 0
    for G in range(2, 11):
        for p in _TAIL_P:
            for eps in _TAIL_EPS:
                for side in Side:
                    formula = _tail_formula_exact(G, p, eps, side)
                    enumerated = _tail_enumerated_exact(G, p, eps, side)
                    if formula != enumerated:
                        return refuted(
                            f"G={G}, p={p}, epsilon={eps}, {side.value}: formula {formula} != "
                            f"enumeration {enumerated}",
                            {"G": G, "p": str(p), "epsilon": str(eps), "side": side.value})
                    n_exact += 1
    grid = np.linspace(0.013, 0.987, 61)
    errors, skipped = [], 0
    for G in (2, 3, 7, 16, 64, 300):
        for eps in (0.0, 0.017, 0.061, 0.2):
            for side in Side:
                # Points where G(p +- epsilon) is within rounding of an integer sit on the edge
                # of the event, where floats may fall either way: leave them to the exact part.
                edge = G * (grid + eps if side is Side.OVER else grid - eps)
                keep = np.abs(edge - np.round(edge)) > 1e-9
                skipped += int((~keep).sum())
                p = grid[keep]
                errors.append(np.max(np.abs(conditional_tail_probability(G, p, eps, side)
                                            - conditional_tail_probability_direct(G, p, eps,
                                                                                  side))))
    ev = verify_close(errors, np.zeros(len(errors)), atol=1e-12,
                      what="floats: index-bound formula vs the event tested per count")
    if ev.outcome is not Outcome.VERIFIED:
        return ev
    return Evidence(
        Outcome.VERIFIED,
        f"equal in exact rational arithmetic against an enumeration of all 2^G reward vectors "
        f"at {n_exact} points (G = 2..10, 11 rational p, epsilon in {{0, 1/40, 1/10, 1/8, 1/4}} "
        f"incl. points where G(p +- epsilon) is an integer, both sides); {ev.summary} for "
        f"G up to 300 ({skipped} float points on the event's edge left to the exact part)",
        {"exact_points": n_exact, "edge_points_skipped": skipped, **ev.details})


@register(
    "related.yang-sure-bias",
    title="Below 1/G the baseline always overestimates (Corollary 3)",
    statement=r"""
    On $S$, $\hat p \in [\tfrac1G, \tfrac{G-1}G]$. Hence for $p < \tfrac1G$,
    $\Pr(\hat p > p \mid S) = 1$ ($\hat A < A$ surely), and for $p > \tfrac{G-1}G$,
    $\Pr(\hat p < p \mid S) = 1$. The thresholds are sharp: for $\tfrac1G \le p < 1$,
    $\Pr(\hat p > p \mid S) < 1$, and for $0 < p \le \tfrac{G-1}G$, $\Pr(\hat p < p \mid S) < 1$.
    """,
    source="Yang et al. 2026, Corollary 3; sharpness derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _yang_sure_bias() -> Evidence:
    points = 0
    for G in range(2, 33):
        below = [Fraction(1, G) * Fraction(j, 7) for j in (1, 3, 6)]
        above = [Fraction(1, G), Fraction(1, G) + Fraction(1, 7 * G), Fraction(G - 1, G)]
        for p in below:
            if _tail_formula_exact(G, p, Fraction(0), Side.OVER) != 1:
                return refuted(f"G={G}, p={p} < 1/G: Pr(p_hat > p | S) != 1", {"G": G})
            if _tail_formula_exact(G, 1 - p, Fraction(0), Side.UNDER) != 1:
                return refuted(f"G={G}, p={1 - p} > (G-1)/G: Pr(p_hat < p | S) != 1", {"G": G})
            points += 2
        for p in above:
            if p < 1 and _tail_formula_exact(G, p, Fraction(0), Side.OVER) >= 1:
                return refuted(f"G={G}, p={p} >= 1/G: Pr(p_hat > p | S) = 1", {"G": G})
            if 0 < 1 - p and _tail_formula_exact(G, 1 - p, Fraction(0), Side.UNDER) >= 1:
                return refuted(f"G={G}, p={1 - p}: Pr(p_hat < p | S) = 1", {"G": G})
            points += 2
    grid = np.linspace(0.001, 0.999, 999)
    for G in (2, 4, 8, 64, 512):
        sure = grid < 1 / G
        over = overestimate_probability(G, grid)
        if np.any(np.abs(over[sure] - 1) > 1e-12) or np.any(over[~sure] >= 1 - 1e-12):
            return refuted(f"floats at G={G} do not switch from 1 at p = 1/G", {"G": G})
    return Evidence(
        Outcome.VERIFIED,
        f"exact rational values at {points} points for G = 2..32 (1 below 1/G and above "
        "(G-1)/G, < 1 at and beyond the thresholds); floats on a 999-point grid for G = 2, 4, "
        "8, 64, 512 switch exactly at 1/G",
        {"exact_points": points})


COROLLARY1_PRINTED = {
    (6, 0.25): 0.8278,
    (8, 0.25): 0.7811,
    (4, 0.5): 0.7770,
    (6, 0.5): 0.6897,
    (8, 0.5): 0.6409,
}
"""Printed averages :math:`P(G, 0, b)` of :math:`\\Pr(\\hat p > p\\mid S)` over
:math:`p \\sim U(0, b)`, keyed by ``(G, b)`` (four decimals)."""

COROLLARY1_UNIT_PRINTED = {(2, 0.25): 0.99999, (4, 0.25): 0.99999, (2, 0.5): 0.99999}
"""The printed entries of the same table given to five decimals."""


def _gauss_average(G: int, lower: float, upper: float, side: Side = Side.OVER,
                   nodes: int = 48) -> float:
    """The average of :func:`overestimate_probability` by Gauss-Legendre on each smooth piece."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    cuts = [lower] + [k / G for k in range(1, G) if lower < k / G < upper] + [upper]
    total = 0.0
    for a, b in itertools.pairwise(cuts):
        pts = (b - a) / 2 * x + (a + b) / 2
        total += (b - a) / 2 * float(w @ conditional_tail_probability(G, pts, 0.0, side))
    return total / (upper - lower)


@register(
    "related.yang-cor1-values",
    title="Corollary 1's averages to four decimals",
    statement=r"""
    Let $P(G; 0, b) = \frac1b\int_0^b \Pr(\hat p > p \mid S)\,dp$ (the chance that
    $\hat A < A$ for $p \sim U(0, b)$). Then, to four decimals: $P(6; 0, \tfrac14) = 0.8278$,
    $P(8; 0, \tfrac14) = 0.7811$, $P(4; 0, \tfrac12) = 0.7770$, $P(6; 0, \tfrac12) = 0.6897$
    and $P(8; 0, \tfrac12) = 0.6409$.
    """,
    source="Yang et al. 2026, Corollary 1 (table of P(G, 0, 0.25) and P(G, 0, 0.5))",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _yang_cor1_values() -> Evidence:
    keys = list(COROLLARY1_PRINTED)
    quad = [average_overestimate_probability(G, 0.0, b) for G, b in keys]
    gauss = [_gauss_average(G, 0.0, b) for G, b in keys]
    agree = verify_close(quad, gauss, atol=1e-10,
                         what="adaptive quadrature vs Gauss-Legendre, split at k/G")
    if agree.outcome is not Outcome.VERIFIED:
        return agree
    ev = verify_close(quad, [COROLLARY1_PRINTED[k] for k in keys], atol=5e-5,
                      what="computed vs printed (half a unit in the fourth decimal)")
    values = {f"G={G}, b={b}": round(v, 7) for (G, b), v in zip(keys, quad, strict=True)}
    return Evidence(ev.outcome, f"{ev.summary}; computed {values}",
                    {**ev.details, "values": values,
                     "quadrature_agreement": agree.details["max_error"]})


@register(
    "related.yang-cor1-unit-as-printed",
    title="Corollary 1's table prints 0.99999 for the surely-biased cases",
    statement=r"""
    To five decimals, $P(2; 0, \tfrac14) = P(4; 0, \tfrac14) = P(2; 0, \tfrac12) = 0.99999$.
    """,
    source="Yang et al. 2026, Corollary 1 (table entries for G = 2 and 4)",
    kind=Kind.EXACT,
    expected=Outcome.REFUTED,
)
def _yang_cor1_unit_as_printed() -> Evidence:
    keys = list(COROLLARY1_UNIT_PRINTED)
    values = [average_overestimate_probability(G, 0.0, b) for G, b in keys]
    return verify_close(values, [COROLLARY1_UNIT_PRINTED[k] for k in keys], atol=5e-6,
                        what="computed vs printed 0.99999 (half a unit in the fifth decimal)")


@register(
    "related.yang-cor1-unit",
    title="Those averages are exactly 1",
    statement=r"""
    $P(2; 0, \tfrac14) = P(4; 0, \tfrac14) = P(2; 0, \tfrac12) = 1$ exactly: for $p < \tfrac1G$
    every $k \in \{1, \dots, G-1\}$ has $k/G > p$, so $\Pr(\hat p > p \mid S) = 1$ on the whole
    interval (Corollary 3), and $b \le \tfrac1G$ in all three cases. The printed 0.99999 is a
    quadrature artefact.
    """,
    source="derived (Yang et al. 2026, Corollaries 1 and 3)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
    corrects="related.yang-cor1-unit-as-printed",
)
def _yang_cor1_unit() -> Evidence:
    cases = []
    for G, b in COROLLARY1_UNIT_PRINTED:
        if not Fraction(b).limit_denominator(100) <= Fraction(1, G):
            return refuted(f"b = {b} exceeds 1/G for G = {G}", {"G": G, "b": b})
        # On (0, b) the tail sum runs over every k in 1..G-1: it is Pr(S), so the ratio is 1.
        tail = sp.Add(*[_binomial_pmf(k, G) for k in range(1, G)])
        cases.append((f"G={G}, b={b}: tail sum / Pr(S)", tail / _nondegenerate_expr(G),
                      sp.Integer(1)))
    ev = prove_cases(cases, scope="the three entries, p symbolic", simplifier=_rational_simplify)
    if ev.outcome is not Outcome.PROVED:
        return ev
    numeric = [average_overestimate_probability(G, 0.0, b) for G, b in COROLLARY1_UNIT_PRINTED]
    check = verify_close(numeric, np.ones(len(numeric)), atol=1e-12, what="quadrature")
    if check.outcome is not Outcome.VERIFIED:
        return check
    return Evidence(Outcome.PROVED, f"b <= 1/G in each case and {ev.summary}; quadrature gives 1 "
                    f"to {check.details['max_error']:.1g}", {**ev.details, "quadrature": numeric})


@register(
    "related.yang-corollary-bounds",
    title="The probability bounds of Corollaries 1 and 2",
    statement=r"""
    For every $2 \le G \le 8$: $P(G; 0, \tfrac12) > 0.63$, $P(G; 0, \tfrac14) > 0.78$ and
    $P(G; 0, \tfrac18) = 1$, and the mirror statements hold for
    $\frac1b\int_{1-b}^1 \Pr(\hat p < p \mid S)\,dp$ (easy prompts). For every $G \ge 6$
    (checked for $6 \le G \le 64$): $P(G; 0, \tfrac2G) > 0.78$, and its mirror on
    $(\tfrac{G-2}G, 1)$.
    """,
    source="Yang et al. 2026, Corollaries 1 and 2",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _yang_corollary_bounds() -> Evidence:
    worst: dict[str, tuple[float, int]] = {}
    checks = [(b, bound) for b, bound in ((0.5, 0.63), (0.25, 0.78), (0.125, None))]
    for G in range(2, 9):
        for b, bound in checks:
            hard = _gauss_average(G, 0.0, b, Side.OVER)
            easy = _gauss_average(G, 1 - b, 1.0, Side.UNDER)
            for label, value in (("hard", hard), ("easy", easy)):
                ok = abs(value - 1) < 1e-12 if bound is None else value > bound
                if not ok:
                    return refuted(f"Corollary 1, G={G}, b={b} ({label}): {value:.6f} "
                                   f"{'!= 1' if bound is None else f'<= {bound}'}",
                                   {"G": G, "b": b, "value": value})
                key = f"cor1 b={b}"
                if key not in worst or value < worst[key][0]:
                    worst[key] = (value, G)
    for G in range(6, 65):
        hard = _gauss_average(G, 0.0, 2 / G, Side.OVER)
        easy = _gauss_average(G, 1 - 2 / G, 1.0, Side.UNDER)
        for label, value in (("hard", hard), ("easy", easy)):
            if not value > 0.78:
                return refuted(f"Corollary 2, G={G} ({label}): {value:.6f} <= 0.78",
                               {"G": G, "value": value})
            if "cor2" not in worst or value < worst["cor2"][0]:
                worst["cor2"] = (value, G)
    summary = ", ".join(f"{k}: min {v:.4f} at G={G}" for k, (v, G) in worst.items())
    return Evidence(Outcome.VERIFIED, f"all bounds hold, both sides ({summary})",
                    {"minima": {k: {"value": v, "G": G} for k, (v, G) in worst.items()}})


# ----------------------------------------------------------------------------------------------
# Bay & Yearick 2026
# ----------------------------------------------------------------------------------------------


@register(
    "related.bay-binary-std",
    title="The std of a binary group is sqrt(k(G-k))/G",
    statement=r"""
    A group of $G$ binary rewards with $k$ ones has mean $k/G$ and population std
    $\hat\sigma_k = \sqrt{\tfrac kG(1-\tfrac kG)} = \dfrac{\sqrt{k(G-k)}}{G}$, for every
    $0 \le k \le G$.
    """,
    source="Bay and Yearick 2026 (group-standard-deviation identity)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _bay_binary_std() -> Evidence:
    k = sp.Symbol("k", nonnegative=True)
    m = sp.Symbol("m", nonnegative=True)  # m = G - k incorrect responses
    G = k + m
    mean = k / G
    variance = (k * (1 - mean) ** 2 + m * mean**2) / G
    general = prove_identity(variance, k * m / G**2, what="variance, k and G - k symbolic",
                             simplifier=_rational_simplify)
    root = prove_identity(sp.sqrt(variance), sp.sqrt(k * m) / G,
                          what="std, k and G - k symbolic")
    cases = prove_cases(
        ((f"G={n}, k={j}", population_std([1] * j + [0] * (n - j)), sp.sqrt(j * (n - j)) / n)
         for n in range(2, 13) for j in range(n + 1)),
        scope="every G in 2..12 and k in 0..G, std of the explicit reward vector")
    return _all_passed([("variance", general), ("std", root), ("per vector", cases)],
                       Outcome.PROVED, "variance k(G-k)/G^2 and std sqrt(k(G-k))/G with k, G-k "
                       "symbolic; also for every explicit 0/1 vector with G in 2..12",
                       residual="0")


@register(
    "related.bay-silent-rate",
    title="A binary group is silent with probability p^G + (1-p)^G",
    statement=r"""
    For $G$ i.i.d. Bernoulli($p$) rewards, the probability that the group's std is zero (all
    correct or all wrong, so every std-normalised advantage vanishes) is $p^G + (1-p)^G$.
    """,
    source="Bay and Yearick 2026 (silent-group rate)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _bay_silent_rate() -> Evidence:
    cases = []
    for G in range(2, 13):
        vectors = np.array(list(itertools.product((0, 1), repeat=G)))
        silent = vectors[vectors.std(axis=1) == 0]
        rate = sp.Add(*[_P ** int(v.sum()) * (1 - _P) ** int(G - v.sum()) for v in silent])
        cases.append((f"G={G}", rate, _P**G + (1 - _P) ** G))
    ev = prove_cases(cases, scope="enumeration of all 2^G reward vectors, G in 2..12, "
                     "p symbolic", simplifier=lambda e: sp.expand(e))
    if ev.outcome is not Outcome.PROVED:
        return ev
    p = np.linspace(0, 1, 41)
    float_check = verify_close(silent_group_rate(40, p), p**40 + (1 - p) ** 40, atol=1e-15,
                               what="float rate at G = 40")
    if float_check.outcome is not Outcome.VERIFIED:
        return float_check
    return ev


BUDGET_P = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
"""Success probabilities of the group-size budget checks (the error is symmetric in p)."""

BUDGET_EPS = (0.05, 0.02, 0.01, 0.005)
"""Relative errors of the group-size budget checks."""


@register(
    "related.bay-budget-as-guarantee",
    title="The group-size budget 1/(8 eps p(1-p)), read as a guarantee",
    statement=r"""
    Let $e_G(p) = 1 - \mathbb E[\hat\sigma_G]/\sqrt{p(1-p)}$ be the relative attenuation of the
    mean group std. For every $0 < p < 1$ and $\epsilon > 0$, every group size
    $G \ge \frac{1}{8\epsilon p(1-p)}$ has $e_G(p) \le \epsilon$.
    """,
    source="Bay and Yearick 2026 (group-size budget), read as a sufficient condition",
    kind=Kind.EXACT,
    expected=Outcome.REFUTED,
)
def _bay_budget_as_guarantee() -> Evidence:
    failures = []
    for p in BUDGET_P:
        for eps in BUDGET_EPS:
            G = max(2, math.ceil(group_size_budget(p, eps) - 1e-9))
            err = std_attenuation_error(G, p)
            if err > eps * (1 + 1e-9):
                failures.append({"p": p, "epsilon": eps, "G": G, "error": err})
    if not failures:
        return Evidence(Outcome.VERIFIED, "the budget reached the target at every grid point",
                        {"points": len(BUDGET_P) * len(BUDGET_EPS)})
    exact = next(f for f in failures if f["p"] == 0.5 and f["epsilon"] == 0.01)
    return refuted(
        f"the smallest G allowed by the budget misses the target at {len(failures)} of "
        f"{len(BUDGET_P) * len(BUDGET_EPS)} grid points, e.g. p = 1/2, epsilon = 0.01, "
        f"G = {exact['G']} (the budget exactly): e_G = {exact['error']:.6f} > 0.01; the "
        "second-order term of the attenuation is positive (egrad.sigma-attenuation)",
        exact, failures=failures)


@register(
    "related.bay-budget",
    title="The budget is right to first order but a few responses short",
    statement=r"""
    Let $G_{\min}(\epsilon, p)$ be the smallest $G \ge 2$ with $e_G(p) \le \epsilon$. For
    $p \in \{0.05, 0.1, 0.2, 0.3, 0.4, 0.5\}$ (and, by symmetry, $1 - p$) and
    $\epsilon \in \{0.05, 0.02, 0.01, 0.005\}$:
    $\frac{1}{8\epsilon p(1-p)} < G_{\min}(\epsilon, p) \le \frac{1}{8\epsilon p(1-p)}
    + \frac{7}{8p(1-p)}$, and $e_G(p)$ decreases in $G$ up to $G_{\min}$. So the first-order
    budget is never enough on this grid, but it is short by at most $7/(8p(1-p))$ responses:
    $G_{\min} \le \frac{1 + 7\epsilon}{8\epsilon p(1-p)}$ (the second-order term
    $(7 - 16p(1-p))/(128 p^2(1-p)^2 G^2)$ of the attenuation accounts for about half of that
    slack as $\epsilon \to 0$).
    """,
    source="derived (corrects the budget of Bay and Yearick 2026 read as a guarantee)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
    corrects="related.bay-budget-as-guarantee",
)
def _bay_budget() -> Evidence:
    rows = []
    for p in BUDGET_P:
        q = p * (1 - p)
        for eps in BUDGET_EPS:
            budget = float(group_size_budget(p, eps))
            g_min = minimal_group_size(p, eps)
            sizes = np.arange(2, g_min + 1)
            errors = np.array([std_attenuation_error(int(G), p) for G in sizes])
            if np.any(np.diff(errors) >= 0):
                i = int(np.argmax(np.diff(errors) >= 0))
                return refuted(f"e_G(p) does not decrease at G={sizes[i]}, p={p}",
                               {"p": p, "G": int(sizes[i])})
            slack = g_min - budget
            if not 0 < slack <= 7 / (8 * q):
                return refuted(f"p={p}, epsilon={eps}: G_min = {g_min} is not in "
                               f"({budget:.3f}, {budget + 7 / (8 * q):.3f}]",
                               {"p": p, "epsilon": eps, "G_min": g_min, "budget": budget})
            rows.append({"p": p, "epsilon": eps, "budget": round(budget, 3), "G_min": g_min,
                         "slack_over_7/(8q)": round(slack * 8 * q / 7, 3)})
    worst = max(rows, key=lambda r: r["slack_over_7/(8q)"])
    return Evidence(Outcome.VERIFIED,
                    f"budget < G_min <= budget + 7/(8p(1-p)) at all {len(rows)} grid points "
                    f"(largest slack {worst['slack_over_7/(8q)']} x 7/(8p(1-p)) at "
                    f"p={worst['p']}, epsilon={worst['epsilon']}); e_G decreasing up to G_min",
                    {"rows": rows})


@register(
    "related.bay-gradient-mass",
    title="GRPO moves gradient mass to extreme prompts relative to Dr. GRPO (G >= 4)",
    statement=r"""
    Per prompt, GRPO's expected gain is $\mathbb E[\hat\sigma_k]$ and Dr. GRPO's is
    $\mathbb E[\hat\sigma_k^2] = \frac{G-1}{G}\,p(1-p)$ (for every $G$). Their ratio
    $\rho_G(p) = \mathbb E[\hat\sigma_k]/\mathbb E[\hat\sigma_k^2]$ is the constant $2$ for
    $G = 2$ and $3/\sqrt2$ for $G = 3$ (no difficulty reweighting), while for $G \ge 4$ it is
    symmetric about $\tfrac12$ and strictly decreasing on $(0, \tfrac12]$ (checked for
    $G = 4..64, 256, 1024$), from $G/\sqrt{G-1}$ at $p \to 0$; and
    $\rho_G(p)\sqrt{p(1-p)} \to 1$ as $G \to \infty$: the large-group weights are
    $\sqrt{p(1-p)}$ against $p(1-p)$.
    """,
    source="Bay and Yearick 2026 (gradient-mass weights); the small-G cases derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _bay_gradient_mass() -> Evidence:
    G = sp.Symbol("G", integer=True, positive=True)
    # k ~ Binomial(G, p): E[k] = Gp, E[k^2] = Gp(1-p) + G^2 p^2, so E[k(G-k)]/G^2 is:
    second = (G * (G * _P) - (G * _P * (1 - _P) + G**2 * _P**2)) / G**2
    dr = prove_identity(second, (G - 1) / G * _P * (1 - _P), what="E[sigma^2], G symbolic")
    small = prove_cases(
        [("G=2", expected_group_std(2), 2 * sp.Rational(1, 2) * _P * (1 - _P)),
         ("G=3", expected_group_std(3), 3 / sp.sqrt(2) * sp.Rational(2, 3) * _P * (1 - _P))],
        scope="G = 2, 3, p symbolic: E[sigma] = rho E[sigma^2]",
        simplifier=lambda e: sp.simplify(sp.expand(e)))
    for label, ev in (("Dr. GRPO gain", dr), ("G = 2, 3", small)):
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, f"{label}: {ev.summary}", dict(ev.details))
    p = np.linspace(0.002, 0.5, 250)
    sizes = [*range(4, 65), 256, 1024]
    for n in sizes:
        rho = gradient_mass_ratio(n, p)
        if np.any(np.diff(rho) >= 0):
            i = int(np.argmax(np.diff(rho) >= 0))
            return refuted(f"rho_{n} does not decrease at p = {p[i]:.3f}",
                           {"G": n, "p": float(p[i])})
        mirror = gradient_mass_ratio(n, 1 - p[:-1])
        if np.max(np.abs(mirror - rho[:-1])) > 1e-9 * np.max(rho):
            return refuted(f"rho_{n} is not symmetric about 1/2", {"G": n})
    edge = verify_close([gradient_mass_ratio(n, 1e-7) for n in (4, 16, 64)],
                        [n / math.sqrt(n - 1) for n in (4, 16, 64)], rtol=1e-5, atol=0,
                        what="rho_G at p = 1e-7 vs G/sqrt(G-1)")
    grid = np.linspace(0.05, 0.95, 19)
    limit = verify_close(gradient_mass_ratio(4096, grid) * np.sqrt(grid * (1 - grid)),
                         np.ones_like(grid), atol=1e-3,
                         what="rho_4096(p) sqrt(p(1-p)) vs 1 on p = 0.05..0.95")
    for ev in (edge, limit):
        if ev.outcome is not Outcome.VERIFIED:
            return ev
    sq = verify_close(expected_squared_std(37, grid), 36 / 37 * grid * (1 - grid), atol=1e-13,
                      what="binomial sum E[sigma^2] at G = 37")
    if sq.outcome is not Outcome.VERIFIED:
        return sq
    return Evidence(
        Outcome.VERIFIED,
        "E[sigma^2] = (G-1)/G p(1-p) with G symbolic; rho_2 = 2 and rho_3 = 3/sqrt(2) exactly; "
        f"rho_G strictly decreasing on 250 points of (0, 1/2] and symmetric for G = 4..64, 256, "
        f"1024; {edge.summary}; {limit.summary}",
        {"residual": "0", "edge_max_error": edge.details["max_error"],
         "limit_max_error": limit.details["max_error"]})


# ----------------------------------------------------------------------------------------------
# Mroueh 2025
# ----------------------------------------------------------------------------------------------

_PREF = sp.Symbol("p_ref", positive=True)
_BETA = sp.Symbol("beta", positive=True)
_EPS = sp.Symbol("epsilon", nonnegative=True)


def _sym_weights(p: sp.Expr = _P, eps: sp.Expr = _EPS) -> tuple[sp.Expr, sp.Expr]:
    root = sp.sqrt(p * (1 - p) + eps)
    return (1 - p) / root, p / root


def _sym_h(p: sp.Expr = _P) -> sp.Expr:
    return 1 / (1 + (1 - _PREF) / _PREF * sp.exp(-1 / (_BETA * sp.sqrt(p * (1 - p) + _EPS))))


def _tilted_success(p_anchor: sp.Expr, w_plus: sp.Expr, w_minus: sp.Expr) -> sp.Expr:
    """Success probability of the tilt of a policy with success probability ``p_anchor``."""
    z = p_anchor * sp.exp(w_plus / _BETA) + (1 - p_anchor) * sp.exp(-w_minus / _BETA)
    return p_anchor * sp.exp(w_plus / _BETA) / z


def _logit(x: sp.Expr) -> sp.Expr:
    return sp.log(x / (1 - x))


@register(
    "related.mroueh-weights",
    title="The whitened-advantage weights",
    statement=r"""
    With $\omega_+ = \frac{1-p}{\sqrt{p(1-p)+\varepsilon}}$ and
    $\omega_- = \frac{p}{\sqrt{p(1-p)+\varepsilon}}$: $\omega_+ + \omega_- =
    \frac{1}{\sqrt{p(1-p)+\varepsilon}}$; $\omega_+ p - \omega_-(1-p) = 0$ (the calibrated reward
    has mean zero under the sampling policy); for $r \in \{0, 1\}$,
    $\frac{r - p}{\sqrt{p(1-p)+\varepsilon}} = \omega_+\mathbb 1_{r=1} - \omega_-\mathbb 1_{r=0}$;
    and $\omega_\pm/\beta$ equal the mean-only weights ($1-p$, $p$) divided by
    $\beta_{\mathrm{eff}} = \beta\sqrt{p(1-p)+\varepsilon}$.
    """,
    source="Mroueh 2025; the zero-mean identity and the effective beta derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mroueh_weights() -> Evidence:
    wp, wm = _sym_weights()
    root = sp.sqrt(_P * (1 - _P) + _EPS)
    beta_eff = _BETA * root
    ev = prove_cases(
        [("sum", wp + wm, 1 / root),
         ("zero mean", wp * _P - wm * (1 - _P), sp.Integer(0)),
         ("r = 1", (1 - _P) / root, wp),
         ("r = 0", (0 - _P) / root, -wm),
         ("effective beta, +", wp / _BETA, (1 - _P) / beta_eff),
         ("effective beta, -", wm / _BETA, _P / beta_eff)],
        scope="p, epsilon, beta symbolic")
    if ev.outcome is not Outcome.PROVED:
        return ev
    p = np.linspace(0.0, 1.0, 101)
    plus, minus = mroueh_weights(p, 0.01)
    check = verify_close(plus + minus, 1 / np.sqrt(p * (1 - p) + 0.01), atol=1e-12,
                         what="float weights")
    return ev if check.outcome is Outcome.VERIFIED else check


_POLICY_CASES = (
    # (number of outcomes, indices of correct outcomes, beta, epsilon, seed)
    (6, (0, 3), 0.5, 0.0, 1),
    (6, (1,), 1.0, 0.01, 2),
    (8, (2, 5, 6), 4.0, 0.1, 3),
    (5, (0, 1, 2, 3), 0.25, 0.001, 4),
)


@register(
    "related.mroueh-optimal-policy",
    title="The KL-regularised optimum is an exponential tilt of the reference",
    statement=r"""
    On a finite set of outcomes with binary rewards, for $\beta > 0$ and any real
    $\omega_\pm$, the objective $L(\pi) = \omega_+\Pr_\pi(r=1) - \omega_-\Pr_\pi(r=0) -
    \beta\,\mathrm{KL}(\pi\,\|\,\pi_{\mathrm{ref}})$ is maximised by
    $\pi^*(o) \propto \pi_{\mathrm{ref}}(o)\exp\big((\omega_+\mathbb 1_{r(o)=1} -
    \omega_-\mathbb 1_{r(o)=0})/\beta\big)$; indeed
    $L(\pi) = \beta\log Z - \beta\,\mathrm{KL}(\pi\,\|\,\pi^*)$ for every $\pi$.
    """,
    source="Mroueh 2025 (closed-form iteration policy)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _mroueh_optimal_policy() -> Evidence:
    policy_errors, gibbs_errors, objective_gaps = [], [], []
    for K, correct_idx, beta, eps, seed in _POLICY_CASES:
        rng = np.random.default_rng(seed)
        ref = rng.dirichlet(np.ones(K))
        correct = np.zeros(K, dtype=int)
        correct[list(correct_idx)] = 1
        p_ref = float(ref[correct == 1].sum())
        wp, wm = mroueh_weights(p_ref, eps)
        closed = mroueh_optimal_policy(ref, correct, wp, wm, beta)
        reward = np.where(correct == 1, wp, -wm)

        def negative(theta, ref=ref, reward=reward, beta=beta):
            pi = special.softmax(theta)
            grad_pi = reward - beta * (np.log(pi / ref) + 1)
            value = pi @ reward - beta * np.sum(pi * np.log(pi / ref))
            return -value, -(pi * (grad_pi - pi @ grad_pi))

        res = optimize.minimize(negative, np.zeros(K), jac=True, method="BFGS",
                                options={"gtol": 1e-13, "maxiter": 10_000})
        numeric = special.softmax(res.x)
        policy_errors.append(float(np.max(np.abs(numeric - closed))))
        objective_gaps.append(kl_regularised_objective(numeric, ref, correct, wp, wm, beta)
                              - kl_regularised_objective(closed, ref, correct, wp, wm, beta))
        log_z = special.logsumexp(np.log(ref) + reward / beta)
        for pi in rng.dirichlet(np.ones(K), size=20):
            kl = float(np.sum(pi * np.log(pi / closed)))
            gibbs_errors.append(kl_regularised_objective(pi, ref, correct, wp, wm, beta)
                                - (beta * log_z - beta * kl))
    parts = [
        verify_close(policy_errors, np.zeros(len(policy_errors)), atol=1e-7,
                     what="BFGS maximiser vs closed form"),
        verify_close(gibbs_errors, np.zeros(len(gibbs_errors)), atol=1e-12,
                     what="L(pi) = beta log Z - beta KL(pi || pi*) at 80 random pi"),
    ]
    for ev in parts:
        if ev.outcome is not Outcome.VERIFIED:
            return ev
    if max(objective_gaps) > 1e-12:
        return refuted("the numerical maximiser beats the closed form",
                       {"gap": max(objective_gaps)})
    return Evidence(Outcome.VERIFIED, f"{parts[0].summary}; {parts[1].summary}; the closed form's "
                    "objective is never beaten", {"policy_errors": policy_errors,
                                                  "gibbs_max_error": parts[1].details["max_error"]})


@register(
    "related.mroueh-recurrence",
    title="The success probability follows p_n = h(p_{n-1})",
    statement=r"""
    If $\pi_n$ is the tilt of $\pi_{\mathrm{ref}}$ with the weights $\omega_\pm(p_{n-1})$, its
    success probability is $p_n = h(p_{n-1})$ with
    $h(p) = \Big(1 + \frac{1-p_{\mathrm{ref}}}{p_{\mathrm{ref}}}
    e^{-1/(\beta\sqrt{p(1-p)+\varepsilon})}\Big)^{-1}$, i.e.
    $\mathrm{logit}\,p_n = \mathrm{logit}\,p_{\mathrm{ref}} +
    \frac{1}{\beta\sqrt{p_{n-1}(1-p_{n-1})+\varepsilon}}$.
    """,
    source="Mroueh 2025 (success-probability recurrence)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mroueh_recurrence() -> Evidence:
    wp, wm = _sym_weights()
    p_next = _tilted_success(_PREF, wp, wm)
    increment = 1 / (_BETA * sp.sqrt(_P * (1 - _P) + _EPS))
    ev = prove_cases(
        [("p_n = h(p_{n-1})", p_next, _sym_h()),
         # odds form; taking logs (a monotone map of positive numbers) gives the logit form
         ("odds h/(1-h)", _sym_h() / (1 - _sym_h()), _PREF / (1 - _PREF) * sp.exp(increment))],
        scope="p, p_ref, beta, epsilon symbolic; the logit form is the log of the odds identity")
    if ev.outcome is not Outcome.PROVED:
        return ev
    # The same through the numeric closed-form policy on a 4-outcome set.
    ref = np.array([0.1, 0.15, 0.3, 0.45])
    correct = np.array([1, 1, 0, 0])
    errors = []
    for p_prev in (0.05, 0.25, 0.5, 0.9):
        wp_n, wm_n = mroueh_weights(p_prev, 0.01)
        pi = mroueh_optimal_policy(ref, correct, wp_n, wm_n, 0.7)
        errors.append(float(pi[:2].sum()) - mroueh_map(p_prev, 0.25, 0.7, 0.01))
    check = verify_close(errors, np.zeros(4), atol=1e-14, what="numeric policy vs h")
    return ev if check.outcome is Outcome.VERIFIED else check


@register(
    "related.mroueh-amplification",
    title="Success amplification: h(p) > p_ref for every p",
    statement=r"""
    For $0 < p_{\mathrm{ref}} < 1$, $\beta > 0$, $\varepsilon \ge 0$ and every $p$ (with
    $p(1-p) + \varepsilon > 0$): $h(p) > p_{\mathrm{ref}}$. With
    $c = (1-p_{\mathrm{ref}})/p_{\mathrm{ref}}$ and $w = e^{1/(\beta\sqrt{p(1-p)+\varepsilon})} - 1
    > 0$, $h(p) - p_{\mathrm{ref}} = \frac{cw}{(1+c)(1+c+w)}$. Hence every fixed point
    $p^* = h(p^*)$, and every iterate $p_n$ with $n \ge 1$, exceeds $p_{\mathrm{ref}}$.
    """,
    source="Mroueh 2025 (success amplification); the closed-form gap derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mroueh_amplification() -> Evidence:
    c, w, x = sp.symbols("c w x", positive=True)
    h_cw = 1 / (1 + c / (1 + w))
    gap = sp.factor(sp.together(h_cw - 1 / (1 + c)))
    sub = prove_identity(_sym_h().subs(_PREF, 1 / (1 + c)).subs(
        1 / (_BETA * sp.sqrt(_P * (1 - _P) + _EPS)), x), h_cw.subs(w, sp.exp(x) - 1),
        what="h with p_ref = 1/(1+c), e^x = 1 + w")
    form = prove_identity(gap, c * w / ((1 + c) * (1 + c + w)), what="gap")
    for ev in (sub, form):
        if ev.outcome is not Outcome.PROVED:
            return ev
    if gap.is_positive is not True:
        return Evidence(Outcome.INCONCLUSIVE, f"sympy cannot decide the sign of {gap}",
                        {"gap": str(gap)})
    p = np.linspace(0.0, 1.0, 20001)[1:-1]
    worst = math.inf
    for p_ref in (0.01, 0.2, 0.5, 0.9):
        for beta in (0.1, 1.0, 10.0, 100.0):
            for eps in (0.0, 1e-6, 0.1):
                margin = float(np.min(mroueh_map(p, p_ref, beta, eps) - p_ref))
                if margin <= 0:
                    return refuted(f"h(p) <= p_ref on the grid at p_ref={p_ref}, beta={beta}, "
                                   f"epsilon={eps}", {"margin": margin})
                worst = min(worst, margin / (p_ref * (1 - p_ref)))
    return Evidence(Outcome.PROVED,
                    "h(p) - p_ref = c w/((1+c)(1+c+w)) with c, w > 0 (sympy: positive); "
                    f"on a 19999-point grid for 48 (p_ref, beta, epsilon) the smallest gap "
                    f"is {worst:.3g} p_ref(1-p_ref) > 0",
                    {"gap": str(gap), "residual": "0"})


@register(
    "related.mroueh-derivative",
    title="The derivative of h",
    statement=r"""
    $h'(p) = -\,h(p)\big(1-h(p)\big)\dfrac{1-2p}{2\beta\,(p(1-p)+\varepsilon)^{3/2}}$, so $h$
    decreases on $(0, \tfrac12)$ and increases on $(\tfrac12, 1)$, with its minimum
    $\sigma(\mathrm{logit}\,p_{\mathrm{ref}} + 2/(\beta\sqrt{1+4\varepsilon}))$ at
    $p = \tfrac12$.
    """,
    source="derived from Mroueh 2025",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mroueh_derivative() -> Evidence:
    h = _sym_h()
    variance = _P * (1 - _P) + _EPS
    formula = -h * (1 - h) * (1 - 2 * _P) / (2 * _BETA * variance ** sp.Rational(3, 2))
    ev = prove_cases(
        [("h'", sp.diff(h, _P), formula),
         ("h(1/2)", h.subs(_P, sp.Rational(1, 2)),
          1 / (1 + sp.exp(-(_logit(_PREF) + 2 / (_BETA * sp.sqrt(1 + 4 * _EPS))))))],
        scope="p, p_ref, beta, epsilon symbolic")
    if ev.outcome is not Outcome.PROVED:
        return ev
    p = np.linspace(0.01, 0.99, 99)
    step = 1e-6
    fd = (mroueh_map(p + step, 0.3, 0.8, 0.05) - mroueh_map(p - step, 0.3, 0.8, 0.05)) / (2 * step)
    check = verify_close(mroueh_map_derivative(p, 0.3, 0.8, 0.05), fd, atol=1e-7,
                         what="float derivative vs central differences")
    if check.outcome is not Outcome.VERIFIED:
        return check
    return Evidence(Outcome.PROVED, f"{ev.summary}; h(1-h) > 0 and the denominator is > 0, so "
                    f"h' has the sign of 2p - 1; {check.summary}", dict(ev.details))


MROUEH_CONFIGS = (
    # (p_ref, beta, epsilon)
    (0.5, 1.0, 0.1),
    (0.2, 1.0, 1e-3),
    (0.05, 1.0, 1e-3),
    (0.5, 2.0, 1e-3),
    (0.8, 5.0, 1e-2),
    (0.2, 20.0, 1e-3),
    (0.3, 0.3, 0.05),
)
"""Parameters at which fixed points are located and their stability is tested."""

_ITERATIONS = 600
"""Iterations of the stability test (the attracting slopes here have modulus below 0.5)."""


@register(
    "related.mroueh-fixed-points",
    title="Fixed points exceed p_ref; they attract iff |h'(p*)| < 1",
    statement=r"""
    For each $(p_{\mathrm{ref}}, \beta, \varepsilon)$ in a set of seven parameter choices, $h$
    has one or three fixed points, all above $p_{\mathrm{ref}}$. A fixed point with
    $|h'(p^*)| < 1$ attracts: iterates started within $10^{-3}$ (in logit) converge to it. One
    with $|h'(p^*)| > 1$ repels: the first step multiplies a small offset by about
    $|h'(p^*)|$, and iterates leave its neighbourhood. Iterating from $p_0 = p_{\mathrm{ref}}$
    converges to the smallest fixed point, which is attracting.
    """,
    source="Mroueh 2025 (fixed point and local convergence); checked numerically",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _mroueh_fixed_points() -> Evidence:
    found = []
    for p_ref, beta, eps in MROUEH_CONFIGS:
        points = mroueh_fixed_points(p_ref, beta, eps)
        anchor = float(special.logit(p_ref))
        if len(points) not in (1, 3):
            return refuted(f"{len(points)} fixed points at {(p_ref, beta, eps)}",
                           {"config": [p_ref, beta, eps]})
        for fp in points:
            residual = mroueh_logit_map(fp.logit, p_ref, beta, eps) - fp.logit
            if abs(residual) > 1e-9 * (1 + abs(fp.logit)) or not fp.logit > anchor:
                return refuted(f"bad fixed point {fp} at {(p_ref, beta, eps)}",
                               {"residual": residual})
            if fp.p < 1 - 1e-6:
                slope_p = mroueh_map_derivative(fp.p, p_ref, beta, eps)
                if abs(slope_p - fp.slope) > 1e-8 * (1 + abs(slope_p)):
                    return refuted("slope in logit and p coordinates differ", {"fp": str(fp)})
            delta = 1e-3
            for sign in (1, -1):
                x0 = fp.logit + sign * delta
                x1 = mroueh_logit_map(x0, p_ref, beta, eps)
                x = x1
                for _ in range(_ITERATIONS):
                    x = mroueh_logit_map(x, p_ref, beta, eps)
                if fp.stable:
                    if abs(x - fp.logit) > 1e-8 * (1 + abs(fp.logit)):
                        return refuted(f"iterates near an attracting fixed point "
                                       f"(h' = {fp.slope:.3f}) do not converge",
                                       {"config": [p_ref, beta, eps], "p": fp.p})
                else:
                    ratio = abs(x1 - fp.logit) / delta
                    if abs(ratio - abs(fp.slope)) > 0.05 * abs(fp.slope) or \
                            abs(x - fp.logit) < 100 * delta:
                        return refuted(f"iterates near a repelling fixed point "
                                       f"(h' = {fp.slope:.3f}) stay", {"ratio": ratio})
        start = mroueh_iterate(p_ref, beta, eps, _ITERATIONS, logits=True)[-1]
        lowest = points[0]
        if not lowest.stable or abs(start - lowest.logit) > 1e-8 * (1 + abs(lowest.logit)):
            return refuted(f"iteration from p_ref does not reach the smallest fixed point at "
                           f"{(p_ref, beta, eps)}", {"reached_logit": float(start)})
        found.append({"config": [p_ref, beta, eps],
                      "fixed_points": [{"p": fp.p, "logit": fp.logit, "slope": fp.slope}
                                       for fp in points]})
    n_three = sum(len(f["fixed_points"]) == 3 for f in found)
    return Evidence(Outcome.VERIFIED,
                    f"{len(found)} parameter choices ({n_three} with three fixed points): every "
                    "fixed point exceeds p_ref, attracting iff |h'| < 1 "
                    f"({_ITERATIONS} iterations from +-1e-3), and iteration from p_ref reaches "
                    "the smallest one",
                    {"fixed_points": found})


@register(
    "related.mroueh-mean-only",
    title="Mean-only normalisation reaches its fixed point in one step",
    statement=r"""
    With mean-only advantages the weights are $1-p$ and $p$, which sum to $1$; the tilted
    policy's success probability is then
    $\sigma(\mathrm{logit}\,p_{\mathrm{ref}} + 1/\beta)$ whatever $p_{n-1}$ is, so $h$ is
    constant and $p_n = \sigma(\mathrm{logit}\,p_{\mathrm{ref}} + 1/\beta)$ for every $n \ge 1$.
    """,
    source="derived from Mroueh 2025",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mroueh_mean_only() -> Evidence:
    target = 1 / (1 + sp.exp(-(_logit(_PREF) + 1 / _BETA)))
    p_next = _tilted_success(_PREF, 1 - _P, _P)
    ev = prove_cases([("p_n", p_next, target), ("d p_n / d p", sp.diff(p_next, _P), 0)],
                     scope="p, p_ref, beta symbolic")
    if ev.outcome is not Outcome.PROVED:
        return ev
    runs = [mroueh_iterate(p_ref, beta, 0.0, 5, "mean-only") for p_ref, beta in
            ((0.1, 0.5), (0.5, 1.0), (0.9, 3.0))]
    expected = [np.r_[p_ref, np.full(5, special.expit(special.logit(p_ref) + 1 / beta))]
                for p_ref, beta in ((0.1, 0.5), (0.5, 1.0), (0.9, 3.0))]
    check = verify_close(np.concatenate(runs), np.concatenate(expected), atol=1e-15,
                         what="iterates")
    return ev if check.outcome is Outcome.VERIFIED else check


@register(
    "related.mroueh-mirror",
    title="Mirror iteration increases the success probability to 1",
    statement=r"""
    If each iteration regularises towards the previous policy instead of the reference
    ($\pi_n \propto \pi_{n-1} e^{(\omega_+\mathbb 1_{r=1} - \omega_-\mathbb 1_{r=0})/\beta}$), then
    $\mathrm{logit}\,p_n = \mathrm{logit}\,p_{n-1} + \frac{1}{\beta\sqrt{p_{n-1}(1-p_{n-1})
    +\varepsilon}}$. Since $p(1-p) \le \tfrac14$, each increment is at least
    $\frac{2}{\beta\sqrt{1+4\varepsilon}}$, so $\mathrm{logit}\,p_n \ge \mathrm{logit}\,p_0 +
    \frac{2n}{\beta\sqrt{1+4\varepsilon}}$: $p_n$ increases strictly and tends to $1$.
    """,
    source="derived from Mroueh 2025 (mirror variant)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mroueh_mirror() -> Evidence:
    wp, wm = _sym_weights()
    p_next = _tilted_success(_P, wp, wm)  # the anchor is the previous policy itself
    increment = 1 / (_BETA * sp.sqrt(_P * (1 - _P) + _EPS))
    ev = prove_cases(
        [("odds p_n/(1-p_n)", p_next / (1 - p_next), _P / (1 - _P) * sp.exp(increment)),
         ("1/4 - p(1-p)", sp.Rational(1, 4) - _P * (1 - _P), (_P - sp.Rational(1, 2)) ** 2)],
        scope="p, beta, epsilon symbolic; the logit form is the log of the odds identity")
    if ev.outcome is not Outcome.PROVED:
        return ev
    for p0, beta, eps in ((0.01, 5.0, 0.01), (0.3, 1.0, 1e-4), (0.9, 20.0, 0.1)):
        x = mroueh_iterate(p0, beta, eps, 400, "mirror", logits=True)
        bound = x[0] + 2 * np.arange(x.size) / (beta * math.sqrt(1 + 4 * eps))
        if np.any(np.diff(x) <= 0) or np.any(x < bound - 1e-9 * np.abs(bound)):
            return refuted(f"mirror iterates not increasing above the bound at p0={p0}",
                           {"p0": p0, "beta": beta, "epsilon": eps})
    return Evidence(Outcome.PROVED, f"{ev.summary}; logit iterates (400 steps, three settings) "
                    "strictly increase and stay above the linear bound", dict(ev.details))


# ----------------------------------------------------------------------------------------------
# Paper v2 Prop 5.4
# ----------------------------------------------------------------------------------------------


def _schedule_gap(policies: int, rollouts: int) -> tuple[sp.Expr, list[sp.Symbol]]:
    r""":math:`P_{\text{schedule}} - P_{\text{frozen}}` with :math:`1-p_0 = a` and
    :math:`1-p_i = a/(1+s_i)` (:math:`s_i \ge 0` is :math:`p_i \ge p_0`), as one fraction."""
    a = sp.Symbol("a", positive=True)
    s = list(sp.symbols(f"s1:{policies}", nonnegative=True))
    one_minus = [a] + [a / (1 + si) for si in s]
    schedule = 1 - sp.Mul(*[f**rollouts for f in one_minus])
    frozen = 1 - a ** (rollouts * policies)
    return sp.factor(sp.together(schedule - frozen)), [a, *s]


def _nonnegative_fraction(expr: sp.Expr, symbols: list[sp.Symbol]) -> bool:
    """Numerator: a polynomial with nonnegative coefficients; denominator: the same."""
    num, den = sp.fraction(sp.together(expr))
    polys = [sp.Poly(sp.expand(num), *symbols), sp.Poly(sp.expand(den), *symbols)]
    return all(all(c >= 0 for c in poly.coeffs()) for poly in polys) and not polys[1].is_zero


@register(
    "related.prop54-exploration",
    title="Exploration on hard prompts (Prop 5.4)",
    statement=r"""
    Let $p_0, \dots, p_{m-1} \in [0, 1]$ with $p_i \ge p_0$ for all $i$. Then
    $P_{m\times 2} = 1 - \prod_{i=0}^{m-1}(1-p_i)^2 \ge 1 - (1-p_0)^{2m} = P_{2m}$: two rollouts
    from each of $m$ successive policies find a success at least as often as $2m$ rollouts of
    the first. (Proof: with $a = 1 - p_0$ and $1 - p_i = a/(1+s_i)$, $s_i \ge 0$, the difference
    is $a^{2m}\big(\prod_i(1+s_i)^2 - 1\big)/\prod_i(1+s_i)^2$, a ratio of polynomials with
    nonnegative coefficients; $p_0 = 1$ or some $p_i = 1$ are immediate.)
    """,
    source="paper v2 Prop 5.4 (Eqs. 19-20) / v3 Prop C.4",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _prop54() -> Evidence:
    for m in range(2, 6):
        gap, symbols = _schedule_gap(m, 2)
        a, s = symbols[0], symbols[1:]
        expected = a ** (2 * m) * (sp.Mul(*[(1 + si) ** 2 for si in s]) - 1) / sp.Mul(
            *[(1 + si) ** 2 for si in s])
        ev = prove_identity(gap, expected, what=f"m={m}, difference", simplifier=_rational_simplify)
        if ev.outcome is not Outcome.PROVED:
            return ev
        if not _nonnegative_fraction(gap, symbols):
            return Evidence(Outcome.INCONCLUSIVE, f"m={m}: a coefficient is negative",
                            {"gap": str(gap)})
    # Monotonicity: dP/dp_j = 2(1 - p_j) prod_{i != j}(1 - p_i)^2 >= 0, and P_{m x 2} = P_{2m}
    # when every p_i = p_0.
    ps = sp.symbols("p0:4", nonnegative=True)
    total = 1 - sp.Mul(*[(1 - x) ** 2 for x in ps])
    mono = prove_cases(
        [(f"dP/dp{j}", sp.diff(total, ps[j]),
          2 * (1 - ps[j]) * sp.Mul(*[(1 - x) ** 2 for i, x in enumerate(ps) if i != j]))
         for j in range(4)] + [("all equal", total.subs({x: ps[0] for x in ps[1:]}),
                                1 - (1 - ps[0]) ** 8)],
        scope="m = 4, p_i symbolic", simplifier=lambda e: sp.expand(e))
    if mono.outcome is not Outcome.PROVED:
        return mono
    return Evidence(Outcome.PROVED,
                    "for m = 2..5 the difference equals a^(2m)(prod(1+s_i)^2 - 1)/prod(1+s_i)^2, "
                    "numerator and denominator polynomials with nonnegative coefficients; "
                    "monotone in each p_j (m = 4, derivative identity) with equality at "
                    "p_i = p_0", {"residual": "0", "m": [2, 3, 4, 5]})


@register(
    "related.prop54-no-separation",
    title="Prop 5.4's bound holds for 16-GRPO's schedule too",
    statement=r"""
    16-GRPO spends the same $2m$ rollouts as $m/8$ rounds of 16 rollouts from policies
    $p'_0 = p_0, p'_1, \dots$ For $p'_j \ge p_0$:
    $1 - \prod_{j<m/8}(1-p'_j)^{16} \ge 1 - (1-p_0)^{2m}$ (proved for $m = 8, 16$; the same
    monotonicity argument covers every $m$). So the
    proposition's bound does not separate 2-GRPO from 16-GRPO, and its assumption
    ($p_i \ge p_0$) orders neither schedule above the other: both orders occur under it.
    """,
    source="derived (caveat to paper v2 Prop 5.4)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _prop54_no_separation() -> Evidence:
    for rounds in (1, 2):
        gap, symbols = _schedule_gap(rounds, 16)
        if not _nonnegative_fraction(gap, symbols):
            return Evidence(Outcome.INCONCLUSIVE, f"{rounds} rounds: a coefficient is negative",
                            {"gap": str(gap)})
    # m = 16: 2-GRPO samples 16 policies, 16-GRPO two; both start at p0.
    p0 = Fraction(1, 20)
    flat = [p0] * 16
    improving = [p0 + Fraction(i, 400) for i in range(16)]

    def schedule(ps: list[Fraction], n: int) -> Fraction:
        prod = Fraction(1)
        for x in ps:
            prod *= (1 - x) ** n
        return 1 - prod

    cases = {
        "2-GRPO stalls, 16-GRPO improves": (schedule(flat, 2), schedule([p0, 2 * p0], 16)),
        "2-GRPO improves, 16-GRPO stalls": (schedule(improving, 2), schedule([p0, p0], 16)),
    }
    (a2, a16), (b2, b16) = cases.values()
    frozen = schedule([p0], 32)
    if not (a2 < a16 and b2 > b16 and min(a2, a16, b2, b16) >= frozen):
        return refuted("the two orders do not both occur", {k: [str(x), str(y)]
                                                            for k, (x, y) in cases.items()})
    # The float helpers agree with the exact values.
    check = verify_close(
        [exploration_probability([float(x) for x in flat]),
         exploration_probability([0.05, 0.1], 16), frozen_exploration_probability(0.05, 32)],
        [float(a2), float(a16), float(frozen)], atol=1e-14, what="float helpers")
    if check.outcome is not Outcome.VERIFIED:
        return check
    return Evidence(
        Outcome.PROVED,
        "16-rollout rounds: the difference is a nonnegative-coefficient fraction for 1 and 2 "
        f"rounds (m = 8, 16); with m = 16 and p0 = 1/20, P(2-GRPO) = {float(a2):.4f} < "
        f"P(16-GRPO) = {float(a16):.4f} when only 16-GRPO improves, and {float(b2):.4f} > "
        f"{float(b16):.4f} when only 2-GRPO does; both >= P_2m = {float(frozen):.4f}",
        {"cases": {k: [float(x), float(y)] for k, (x, y) in cases.items()},
         "frozen": float(frozen)})
