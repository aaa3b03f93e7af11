r"""Claims: 2-GRPO, a group of two responses.

A binary pair that disagrees gets advantages :math:`\pm\kappa` with a constant :math:`\kappa` that
depends only on the convention (population or Bessel std, :math:`\epsilon`, Dr. GRPO, RLOO), and
a pair that agrees gets 0. So all conventions give the same 2-GRPO estimator up to the step size,
and each trainer's constant can be read off exactly. The claims also cover the paper's
Prop 5.1: the expected 2-GRPO advantage given a response's reward (exact, by enumeration), the
large-group limit it is compared with (exact binomial sums up to :math:`2N = 40000`), and the
probability that a pair carries no signal.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

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
from grpo_theory.symbolic.advantages import Convention
from grpo_theory.symbolic.two_grpo import (
    PAPER_CONSTANT,
    TRAINER_CONVENTIONS,
    conditional_mean_advantage,
    conditional_mean_advantage_float,
    pair_advantages,
    pair_constant,
    trainer_constants_table,
)

__all__ = ["PUBLISHED_VALUES", "CASE1_P", "CASE1_N", "CASE1_ATOL", "CASE1_RATE_BOUND"]

_EPS = sp.Symbol("epsilon", nonnegative=True)
_P = sp.Symbol("p", positive=True)
_BINARY_PAIRS = ((1, 0), (0, 1), (1, 1), (0, 0))


def _vec_simplify(expr: sp.Basic) -> sp.Basic:
    """``simplify`` entry-wise, so that a zero matrix compares equal to ``0``."""
    if isinstance(expr, sp.MatrixBase):
        m = expr.applyfunc(sp.simplify)
        return sp.Integer(0) if m.is_zero_matrix else m
    return sp.simplify(expr)


def _pair_claim(conv: Convention, kappa: sp.Expr, eps: sp.Expr, extra=()) -> Evidence:
    """``pair_advantages`` of (1, 0) and (0, 1) are (kappa, -kappa) and (-kappa, kappa)."""
    cases = [
        (f"{conv.value}, rewards (1, 0)", sp.Matrix(pair_advantages(1, 0, conv, eps)),
         sp.Matrix([kappa, -kappa])),
        (f"{conv.value}, rewards (0, 1)", sp.Matrix(pair_advantages(0, 1, conv, eps)),
         sp.Matrix([-kappa, kappa])),
        *extra,
    ]
    return prove_cases(cases, scope="both orderings of a disagreeing binary pair"
                       + (", epsilon >= 0 symbolic" if eps is _EPS else ""),
                       simplifier=_vec_simplify)


@register(
    "two-grpo.population",
    title="Population std: a disagreeing pair gets +-1/(1+2 epsilon)",
    statement=r"""
    With $G = 2$, binary rewards $r_1 \ne r_2$, the population std ($\hat\sigma = 1/2$) and
    $\epsilon \ge 0$ added to it, the correct response gets $A^+ = \frac{1/2}{1/2+\epsilon}
    = \frac1{1+2\epsilon}$ and the incorrect one $A^- = -\frac1{1+2\epsilon}$; as
    $\epsilon \to 0$, $A^\pm \to \pm 1$.
    """,
    source="paper v2 §5.1 (Eq. 14) and Prop 5.1 case 2",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _population() -> Evidence:
    kappa = 1 / (1 + 2 * _EPS)
    limit = sp.limit(pair_constant(Convention.GRPO, _EPS), _EPS, 0, "+")
    return _pair_claim(Convention.GRPO, kappa, _EPS,
                       extra=[("limit epsilon -> 0+", limit, sp.Integer(1))])


@register(
    "two-grpo.bessel",
    title="Bessel std: a disagreeing pair gets +-1/sqrt(2)",
    statement=r"""
    With Bessel's correction the std of a disagreeing binary pair is $1/\sqrt2$, so
    $A^\pm = \pm\frac{1/2}{1/\sqrt2 + \epsilon} = \pm\frac{1}{\sqrt2 + 2\epsilon}$, which is
    $\pm 1/\sqrt2 \approx \pm 0.7071$ at $\epsilon = 0$ (not the paper's $\pm 1$).
    """,
    source="derived (torch.std as used by verl, TRL, OpenRLHF, oat, tunix)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _bessel() -> Evidence:
    general = _pair_claim(Convention.GRPO_BESSEL, 1 / (sp.sqrt(2) + 2 * _EPS), _EPS)
    if general.outcome is not Outcome.PROVED:
        return general
    at_zero = _pair_claim(Convention.GRPO_BESSEL, 1 / sp.sqrt(2), sp.Integer(0))
    if at_zero.outcome is not Outcome.PROVED:
        return at_zero
    return Evidence(Outcome.PROVED, "A+- = +-1/(sqrt(2) + 2 epsilon) for epsilon >= 0 symbolic, "
                    "+-1/sqrt(2) at epsilon = 0, both orderings", {"residual": "0"})


@register(
    "two-grpo.dr-grpo",
    title="Dr. GRPO: a disagreeing pair gets +-1/2",
    statement=r"""
    With mean-centred advantages (Dr. GRPO) a disagreeing binary pair gets $A^\pm = \pm\frac12$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _dr() -> Evidence:
    return _pair_claim(Convention.DR_GRPO, sp.Rational(1, 2), sp.Integer(0))


@register(
    "two-grpo.rloo",
    title="RLOO: a disagreeing pair gets +-1",
    statement=r"""
    With the leave-one-out baseline (RLOO) a disagreeing binary pair gets $A^\pm = \pm 1$: each
    response's baseline is the other response's reward.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _rloo() -> Evidence:
    return _pair_claim(Convention.RLOO, sp.Integer(1), sp.Integer(0))


@register(
    "two-grpo.agreeing-pair-zero",
    title="A pair that agrees gets zero advantages",
    statement=r"""
    If $r_1 = r_2$ (in particular both correct or both incorrect), both advantages are $0$ under
    every convention (for the std-normalised conventions with any $\epsilon \ge 0$, using
    $0/0 := 0$ at $\epsilon = 0$): such a pair contributes nothing to the update.
    """,
    source="paper v2 §5.1 (the indicator 1(r1 != r2) in Eq. 14)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _agreeing() -> Evidence:
    c = sp.Symbol("c", real=True)
    eps_pos = sp.Symbol("epsilon", positive=True)
    cases = []
    for conv in Convention:
        for value in (0, 1):
            for eps in (sp.Integer(0), eps_pos):
                cases.append((f"{conv.value}, rewards ({value}, {value}), epsilon = {eps}",
                              sp.Matrix(pair_advantages(value, value, conv, eps)),
                              sp.zeros(2, 1)))
        cases.append((f"{conv.value}, rewards (c, c), epsilon > 0",
                      sp.Matrix(pair_advantages(c, c, conv, eps_pos)), sp.zeros(2, 1)))
    return prove_cases(cases, scope="all conventions, both agreeing binary pairs (epsilon 0 or "
                       "symbolic > 0) and a symbolic equal pair (c, c)",
                       simplifier=_vec_simplify)


@register(
    "two-grpo.same-estimator",
    title="All conventions give the same 2-GRPO estimator up to the step size",
    statement=r"""
    For each convention there is a constant $\kappa$ (independent of the pair) such that for
    every binary pair $(r_1, r_2) \in \{0,1\}^2$ its advantages are $\kappa$ times the
    population-std advantages at $\epsilon = 0$. Hence for all per-response values $f_1, f_2$:
    $\frac12\sum_i A_i f_i = \kappa\cdot\frac12\sum_i A^{\mathrm{pop}}_i f_i$, which is
    $\frac\kappa2\big(f(o^+) - f(o^-)\big)$ on a disagreeing pair and $0$ otherwise, with
    $\kappa = \frac1{1+2\epsilon}$ (population), $\frac1{\sqrt2+2\epsilon}$ (Bessel),
    $\frac12$ (Dr. GRPO), $1$ (RLOO).
    """,
    source="derived (paper v2 §5.1 for the population std)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _same_estimator() -> Evidence:
    f1, f2 = sp.symbols("f1 f2", real=True)
    cases = []
    kappas = {}
    for conv in Convention:
        eps = _EPS if conv in (Convention.GRPO, Convention.GRPO_BESSEL) else sp.Integer(0)
        kappa = pair_constant(conv, eps)  # read off one pair, then used for every pair
        kappas[conv.value] = str(sp.simplify(kappa))
        for r1, r2 in _BINARY_PAIRS:
            A = pair_advantages(r1, r2, conv, eps)
            A_pop = pair_advantages(r1, r2, Convention.GRPO, 0)
            cases.append((f"{conv.value}, pair ({r1}, {r2}), advantages",
                          sp.Matrix(A), kappa * sp.Matrix(A_pop)))
            estimator = (A[0] * f1 + A[1] * f2) / 2
            if r1 == r2:
                target = sp.Integer(0)
            else:
                f_plus, f_minus = (f1, f2) if r1 == 1 else (f2, f1)
                target = kappa / 2 * (f_plus - f_minus)
            cases.append((f"{conv.value}, pair ({r1}, {r2}), estimator", estimator, target))
    ev = prove_cases(cases, scope="all conventions x all four binary pairs, epsilon >= 0 "
                     "symbolic, f1 and f2 symbolic", simplifier=_vec_simplify)
    if ev.outcome is not Outcome.PROVED:
        return ev
    return Evidence(Outcome.PROVED, ev.summary, {**ev.details, "kappa": kappas})


def _float_constant(convention: Convention, epsilon: float) -> float:
    """The pair constant from plain float arithmetic (numpy), independent of sympy."""
    r = np.array([1.0, 0.0])
    centred = r[0] - r.mean()
    if convention is Convention.GRPO:
        return float(centred / (np.std(r, ddof=0) + epsilon))
    if convention is Convention.GRPO_BESSEL:
        return float(centred / (np.std(r, ddof=1) + epsilon))
    if convention is Convention.DR_GRPO:
        return float(centred)
    return float(r[0] - (r.sum() - r[0]) / (len(r) - 1))


PUBLISHED_VALUES = {
    "verl grpo": (0.7071058, 5e-8),
    "EasyDeL grpo": (0.9998, 5e-5),
    "TRL grpo": (0.7070, 5e-5),
    "OpenRLHF group_norm": (0.7071, 5e-5),
    "oat grpo": (0.7071, 5e-5),
    "tunix grpo": (0.7071, 5e-5),
    "Dr. GRPO mode": (0.5, 0.0),
    "RLOO": (1.0, 0.0),
    "paper theory": (1.0, 0.0),
}
"""Rounded constants as usually quoted (value, half a unit in the last digit)."""


@register(
    "two-grpo.trainer-constants",
    title="Each trainer's 2-GRPO step-size constant",
    statement=r"""
    The constant $\kappa$ (advantage of the correct response of a disagreeing pair) under each
    surveyed trainer's convention is: TRL ($\mathrm{Bessel}$, $\epsilon = 10^{-4}$)
    $\frac{1/2}{1/\sqrt2 + 10^{-4}} \approx 0.70701$; verl (Bessel, $10^{-6}$) $\approx 0.7071058$;
    OpenRLHF (Bessel, $10^{-9}$), oat (Bessel, $10^{-8}$) $\approx 0.7071068$; tunix (Bessel,
    $10^{-6}$) $\approx 0.7071058$; EasyDeL (population, $10^{-4}$)
    $\frac{5000}{5001} \approx 0.9998$; Dr. GRPO mode $\frac12$; RLOO $1$; the paper's theory
    (population, $\epsilon \to 0$) $1$. Relative to the paper, a Bessel trainer takes steps
    about $1/\sqrt2$ as large on every disagreeing pair.
    """,
    source="derived from the trainers' code: huggingface/trl@f2cd577, verl-project/verl@1dda039, "
           "OpenRLHF/OpenRLHF@3c3be62, sail-sg/oat@c1a074c, google/tunix@c7d8950, "
           "erfanzar/EasyDeL@090a03b",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _trainer_constants() -> Evidence:
    rows = trainer_constants_table()
    if [r.name for r in rows] != [t.name for t in TRAINER_CONVENTIONS]:
        return refuted("the table's rows do not follow TRAINER_CONVENTIONS",
                       [r.name for r in rows])
    exact = [float(sp.N(row.constant, 30)) for row in rows]
    independent = [_float_constant(t.convention, float(t.epsilon)) for t in TRAINER_CONVENTIONS]
    agree = verify_close(exact, independent, atol=1e-12,
                         what="exact constants vs float arithmetic")
    if agree.outcome is not Outcome.VERIFIED:
        return agree
    ratios = verify_close([r.ratio for r in rows], [r.value / float(PAPER_CONSTANT) for r in rows],
                          atol=1e-15, what="ratio to the paper's constant")
    if ratios.outcome is not Outcome.VERIFIED:
        return ratios
    # the closed forms verl = 0.5/(1/sqrt(2) + 1e-6), EasyDeL = 0.5/(0.5 + 1e-4)
    by_name = {r.name: r for r in rows}
    closed = verify_close(
        [by_name["verl grpo"].value, by_name["EasyDeL grpo"].value],
        [0.5 / (1 / math.sqrt(2) + 1e-6), 0.5 / (0.5 + 1e-4)], atol=1e-15,
        what="closed forms")
    if closed.outcome is not Outcome.VERIFIED:
        return closed
    for name, (quoted, half_ulp) in PUBLISHED_VALUES.items():
        if abs(by_name[name].value - quoted) > half_ulp + 1e-15:
            return refuted(f"{name}: constant {by_name[name].value:.10f} does not round to the "
                           f"quoted {quoted}", {"name": name, "value": by_name[name].value})
    return Evidence(
        Outcome.VERIFIED,
        f"{len(rows)} constants: exact sympy values match independent float arithmetic to "
        f"{agree.details['max_error']:.2g} (tolerance 1e-12) and round to the quoted values",
        {"max_error": agree.details["max_error"], "atol": 1e-12,
         "table": [{"name": r.name, "std": r.std, "epsilon": str(r.epsilon),
                    "constant": str(r.constant), "value": r.value, "ratio": r.ratio}
                   for r in rows]},
    )


def _pair_enumeration(eps: sp.Expr) -> dict[int, sp.Expr]:
    r"""``E[Y_1 | X_1 = x]`` for a pair of i.i.d. Bernoulli(p) rewards, by enumerating the four
    outcomes: :math:`\mathbb E[Y_1 \mathbb 1\{X_1 = x\}] / \Pr(X_1 = x)`."""
    prob = {1: _P, 0: 1 - _P}
    out = {}
    for x in (0, 1):
        joint = sp.Integer(0)
        for x1 in (0, 1):
            for x2 in (0, 1):
                y1 = pair_advantages(x1, x2, Convention.GRPO, eps)[0]
                joint += prob[x1] * prob[x2] * y1 * (1 if x1 == x else 0)
        out[x] = joint / prob[x]
    return out


@register(
    "two-grpo.prop51-case2",
    title="2-GRPO's expected advantage given the reward (Prop 5.1, case 2)",
    statement=r"""
    For a pair of i.i.d. Bernoulli($p$) rewards $X_1, X_2$ and population-std advantages
    $Y_1 = (X_1 - \hat\mu)/(\hat\sigma + \epsilon)$ (0 for an agreeing pair):
    $\mathbb E[Y_1 \mid X_1 = 1] = \frac{1-p}{1+2\epsilon}$ and
    $\mathbb E[Y_1 \mid X_1 = 0] = -\frac{p}{1+2\epsilon}$; as $\epsilon \to 0$ both are
    $x - p$.
    """,
    source="paper v2 Prop 5.1 case 2 (Eq. 16) / v3 Prop C.1 (Eq. 27)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _prop51_case2() -> Evidence:
    cond = _pair_enumeration(_EPS)
    via_sum = {x: conditional_mean_advantage(2, _P, x, Convention.GRPO, _EPS) for x in (0, 1)}
    cases = [
        ("E[Y | X = 1] (enumeration)", cond[1], (1 - _P) / (1 + 2 * _EPS)),
        ("E[Y | X = 0] (enumeration)", cond[0], -_P / (1 + 2 * _EPS)),
        ("E[Y | X = 1] (binomial sum)", via_sum[1], (1 - _P) / (1 + 2 * _EPS)),
        ("E[Y | X = 0] (binomial sum)", via_sum[0], -_P / (1 + 2 * _EPS)),
        ("limit epsilon -> 0, x = 1", sp.limit(cond[1], _EPS, 0, "+"), 1 - _P),
        ("limit epsilon -> 0, x = 0", sp.limit(cond[0], _EPS, 0, "+"), -_P),
    ]
    return prove_cases(cases, scope="exact enumeration of the 4 outcomes, p and epsilon "
                       "symbolic")


CASE1_P = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Success probabilities at which the case-1 limit is checked."""
CASE1_N = (1250, 2500, 5000, 10000, 20000)
"""Group sizes at which the case-1 limit is checked (the error must shrink along them)."""
CASE1_ATOL = 2e-4
r"""Tolerance on :math:`|\mathbb E[Y \mid X = x] - \text{limit}|` at the largest :math:`N`."""
CASE1_RATE_BOUND = 20.0
r"""Bound on :math:`N\,|2N(E - \text{limit}) - c(p)|`: the error is
:math:`c(p)/(2N) + O(1/N^2)`."""


def _case1_limits() -> dict[int, sp.Expr]:
    r"""Case-1 limits :math:`(x - p)/\sqrt{p(1-p)}` for :math:`x \in \{0, 1\}`."""
    return {x: (x - _P) / sp.sqrt(_P * (1 - _P)) for x in (0, 1)}


def _case1_first_order() -> dict[int, sp.Expr]:
    r"""First-order coefficient :math:`c(p)` with :math:`\mathbb E - L \approx c(p)/G`.

    Given :math:`X_1 = x`, :math:`\hat p = (x + J)/G` with :math:`J \sim \mathrm{Bin}(G-1, p)`:
    its mean is :math:`p + (x - p)/G` and its variance :math:`p(1-p)/G + O(G^{-2})`, so a
    second-order expansion of :math:`h_x(\hat p) = (x - \hat p)/\sqrt{\hat p(1-\hat p)}` gives
    :math:`c = h_x'(p)(x - p) + h_x''(p)\,p(1-p)/2`.
    """
    q = sp.Symbol("q", positive=True)
    out = {}
    for x in (0, 1):
        h = (x - q) / sp.sqrt(q * (1 - q))
        out[x] = (sp.diff(h, q) * (x - q) + sp.diff(h, q, 2) * q * (1 - q) / 2).subs(q, _P)
    return out


@register(
    "two-grpo.prop51-case1-limit",
    title="Large-group GRPO's expected advantage given the reward (Prop 5.1, case 1)",
    statement=r"""
    For $2N$ i.i.d. Bernoulli($p$) rewards, population std, $\epsilon = 0$ and $Y_i = 0$ when
    $\hat\sigma = 0$: $\mathbb E[Y_i \mid X_i = 1] \to \sqrt{(1-p)/p} = \frac{1-p}{\sqrt{p(1-p)}}$
    and $\mathbb E[Y_i \mid X_i = 0] \to -\sqrt{p/(1-p)}$ as $N \to \infty$, i.e.
    $\frac{x - p}{\sqrt{p(1-p)}}$, with an error $c(p)/(2N) + O(N^{-2})$ that shrinks like $1/N$.
    """,
    source="paper v2 Prop 5.1 case 1 (Eq. 15) / v3 Prop C.1 (Eq. 26)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _prop51_case1() -> Evidence:
    a, b = sp.symbols("a b", positive=True)  # p = a/(a+b), a+b = 1: a tidy display of c(p)
    limits = {x: sp.lambdify(_P, e) for x, e in _case1_limits().items()}
    first = {x: sp.lambdify(_P, e) for x, e in _case1_first_order().items()}
    errors, scaled, points = [], [], []
    for p in CASE1_P:
        for x in (0, 1):
            for N in CASE1_N:
                mean = conditional_mean_advantage_float(2 * N, p, x, Convention.GRPO, 0.0)
                err = mean - float(limits[x](p))
                if N == CASE1_N[-1]:
                    errors.append(err)
                scaled.append(N * (2 * N * err - float(first[x](p))))
                points.append({"p": p, "x": x, "N": N, "error": err})
    at_largest = verify_close(errors, np.zeros(len(errors)), atol=CASE1_ATOL,
                              what=f"|E - limit| at N = {CASE1_N[-1]}")
    if at_largest.outcome is not Outcome.VERIFIED:
        return at_largest
    rate = verify_close(scaled, np.zeros(len(scaled)), atol=CASE1_RATE_BOUND,
                        what="N |2N error - c(p)|")
    if rate.outcome is not Outcome.VERIFIED:
        return rate
    return Evidence(
        Outcome.VERIFIED,
        f"exact binomial sums (log space) for p in {CASE1_P}, N in {CASE1_N}: "
        f"|E - limit| <= {at_largest.details['max_error']:.3g} at N = {CASE1_N[-1]} "
        f"(tolerance {CASE1_ATOL:g}); N |2N error - c(p)| <= "
        f"{rate.details['max_error']:.3g} (bound {CASE1_RATE_BOUND:g}), so the error is "
        "c(p)/(2N) + O(1/N^2)",
        {"max_error": at_largest.details["max_error"], "atol": CASE1_ATOL,
         "rate_max": rate.details["max_error"], "rate_bound": CASE1_RATE_BOUND,
         "first_order": {str(x): str(sp.simplify(sp.simplify(e.subs(_P, a / (a + b)))
                                                 .subs(b, 1 - a)).subs(a, _P))
                         for x, e in _case1_first_order().items()},
         "points": points},
    )


@register(
    "two-grpo.limit-ratio",
    title="The two limits of Prop 5.1 differ by the factor 1/sqrt(p(1-p))",
    statement=r"""
    For $0 < p < 1$ and $x \in \{0, 1\}$, the large-group limit
    $\frac{x - p}{\sqrt{p(1-p)}}$ (with $\sqrt{(1-p)/p}$ at $x = 1$ and $-\sqrt{p/(1-p)}$ at
    $x = 0$) is $\frac{1}{\sqrt{p(1-p)}}$ times the 2-GRPO limit $x - p$.
    """,
    source="paper v2 Prop 5.1 (discussion after Eq. 16)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _limit_ratio() -> Evidence:
    a, b = sp.symbols("a b", positive=True)
    p_ab = a / (a + b)  # any p in (0, 1)
    case2 = {x: sp.limit(e, _EPS, 0, "+") for x, e in _pair_enumeration(_EPS).items()}
    case1 = _case1_limits()
    cases = []
    for x in (0, 1):
        cases.append((f"ratio at x = {x}", (case1[x] / case2[x]).subs(_P, p_ab),
                      (1 / sp.sqrt(_P * (1 - _P))).subs(_P, p_ab)))
    cases.append(("x = 1 form", case1[1].subs(_P, p_ab), sp.sqrt((1 - _P) / _P).subs(_P, p_ab)))
    cases.append(("x = 0 form", case1[0].subs(_P, p_ab), -sp.sqrt(_P / (1 - _P)).subs(_P, p_ab)))
    return prove_cases(cases, scope="p = a/(a+b) with a, b > 0 symbolic (any p in (0, 1)); "
                       "case-2 limit from the exact enumeration")


@register(
    "two-grpo.discard-probability",
    title="A pair agrees with probability p^2 + (1-p)^2 >= 1/2",
    statement=r"""
    For a pair of i.i.d. Bernoulli($p$) rewards, $\Pr(r_1 = r_2) = p^2 + (1-p)^2$ (the pair is
    discarded) and $\Pr(r_1 \ne r_2) = 2p(1-p) \le \frac12$, with equality only at $p = \frac12$.
    """,
    source="derived (the paper's v3 App. D.3 discard rate)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _discard() -> Evidence:
    p = sp.Symbol("p", real=True)
    prob = {1: p, 0: 1 - p}
    agree = sum(prob[x1] * prob[x2] for x1 in (0, 1) for x2 in (0, 1) if x1 == x2)
    disagree = sum(prob[x1] * prob[x2] for x1 in (0, 1) for x2 in (0, 1) if x1 != x2)
    parts = [
        ("P(agree)", prove_identity(agree, p**2 + (1 - p) ** 2, what="P(agree)")),
        ("P(disagree)", prove_identity(disagree, 2 * p * (1 - p), what="P(disagree)")),
        ("total", prove_identity(agree + disagree, 1, what="total probability")),
        # 1/2 - 2p(1-p) is a square over 2, hence >= 0, and 0 only at p = 1/2
        ("gap is a square", prove_identity(sp.Rational(1, 2) - disagree, (1 - 2 * p) ** 2 / 2,
                                           what="1/2 - P(disagree)")),
    ]
    for label, ev in parts:
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, f"{label}: {ev.summary}", dict(ev.details))
    critical = sp.solve(sp.diff(disagree, p), p)
    if critical != [sp.Rational(1, 2)] or sp.simplify(disagree.subs(p, critical[0])) != \
            sp.Rational(1, 2):
        return refuted("the maximum of 2p(1-p) is not 1/2 at p = 1/2", str(critical))
    return Evidence(Outcome.PROVED, "enumeration of the 4 outcomes; 1/2 - 2p(1-p) = "
                    "(1-2p)^2/2 >= 0, the only critical point is p = 1/2 where 2p(1-p) = 1/2",
                    {"residual": "0", "maximiser": "1/2"})


@register(
    "two-grpo.dr-grpo-factor",
    title="2-GRPO equals 2 x 2-Dr.GRPO (sqrt(2) x with Bessel's std)",
    statement=r"""
    For every binary pair $(r_1, r_2) \in \{0,1\}^2$, the population-std GRPO advantages at
    $\epsilon = 0$ are exactly $2$ times the Dr. GRPO (mean-centred) advantages, and the
    Bessel-std ones $\sqrt2$ times: 2-GRPO and 2-Dr.GRPO differ only by a learning-rate factor.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _dr_factor() -> Evidence:
    cases = []
    for r1, r2 in _BINARY_PAIRS:
        dr = sp.Matrix(pair_advantages(r1, r2, Convention.DR_GRPO))
        cases.append((f"population, pair ({r1}, {r2})",
                      sp.Matrix(pair_advantages(r1, r2, Convention.GRPO)), 2 * dr))
        cases.append((f"Bessel, pair ({r1}, {r2})",
                      sp.Matrix(pair_advantages(r1, r2, Convention.GRPO_BESSEL)), sp.sqrt(2) * dr))
    return prove_cases(cases, scope="all four binary pairs, epsilon = 0",
                       simplifier=_vec_simplify)
