r"""Claims about the expected gradient of count-based group estimators under binary rewards.

For one prompt with success probability :math:`p`, every count-based estimator has
:math:`\mathbb E[\hat g] = c_G(p)\,\nabla_\theta p` with a scalar weight :math:`c_G(p)`
(:mod:`grpo_theory.symbolic.expected_gradient`). The claims pin down that weight: exactly for
small groups and every convention, through an independent enumeration on a softmax bandit, and
numerically (log-space binomial sums) for groups of thousands.
"""

from __future__ import annotations

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
from grpo_theory.symbolic.expected_gradient import (
    P,
    advantage_gap,
    expected_gradient_weight,
    expected_gradient_weight_numeric,
    expected_group_std,
    expected_group_std_numeric,
    implied_objective,
    limit_objective,
    limit_weight,
    softmax_bandit_expected_gradient,
    std_attenuation_series,
)

G_RANGE = range(2, 17)
"""Group sizes over which per-group-size identities are proved exactly."""

_SCOPE = f"every G in {G_RANGE.start}..{G_RANGE.stop - 1}, p symbolic"


def _polynomial_simplify(expr: sp.Basic) -> sp.Basic:
    """``expand``, falling back to ``simplify`` when that does not give 0.

    The weights are polynomials in :math:`p` whose coefficients are rational combinations of
    square roots of integers, which sympy keeps in a canonical form: an expanded difference is
    0 exactly when the difference is.
    """
    if isinstance(expr, sp.MatrixBase):
        m = expr.applyfunc(_polynomial_simplify)
        return sp.Integer(0) if m.is_zero_matrix else m
    expanded = sp.expand(expr)
    return sp.Integer(0) if expanded == 0 else sp.simplify(expanded)


def _rational_simplify(expr: sp.Basic) -> sp.Basic:
    """Put a rational function over one denominator and expand the numerator; ``simplify``
    what remains when that is not 0."""
    if isinstance(expr, sp.MatrixBase):
        m = expr.applyfunc(_rational_simplify)
        return sp.Integer(0) if m.is_zero_matrix else m
    num, den = sp.fraction(sp.together(expr))
    num = sp.expand(num)
    return sp.Integer(0) if num == 0 else sp.simplify(num / den)


def _exp_simplify(theta: tuple[sp.Symbol, ...]):
    """Simplifier for softmax-bandit expressions: write :math:`x_a = e^{\\theta_a} > 0`."""
    xs = sp.symbols(f"x1:{len(theta) + 1}", positive=True)
    subs = {sp.exp(t): x for t, x in zip(theta, xs, strict=True)}

    def simplifier(expr: sp.Basic) -> sp.Basic:
        return _rational_simplify(sp.sympify(expr).subs(subs))

    return simplifier


def _d_dp(expr: sp.Expr) -> sp.Expr:
    """Derivative in :math:`p` of an expanded polynomial, term by term.

    (Differentiating the whole sum at once is needlessly slow in sympy for some degrees.)
    """
    return sp.Add(*[sp.diff(term, P) for term in sp.Add.make_args(sp.expand(expr))])


def _all_proved(parts: list[tuple[str, Evidence]], summary: str) -> Evidence:
    """The first part that is not proved, or a combined ``proved``."""
    for label, ev in parts:
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, f"{label}: {ev.summary}", {**ev.details, "part": label})
    return Evidence(Outcome.PROVED, summary, {"parts": [label for label, _ in parts],
                                              "residual": "0"})


@register(
    "egrad.c2-equals-one",
    title="2-GRPO is an unbiased estimator of the gradient of the success probability",
    statement=r"""
    With the population std and $\epsilon = 0$, $c_2(p) = 1$ for every $p \in [0, 1]$: the
    expected per-prompt 2-GRPO gradient is exactly $\nabla_\theta p_\theta$.
    """,
    source="derived (2-GRPO of paper v2 §5.1, Eq. 14)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _c2() -> Evidence:
    return prove_identity(expected_gradient_weight(2), 1, what="c_2(p)",
                          simplifier=_polynomial_simplify)


@register(
    "egrad.c3-equals-sqrt2",
    title="GRPO with three responses has the constant weight sqrt(2)",
    statement=r"""
    With the population std and $\epsilon = 0$, $c_3(p) = \sqrt 2$ for every $p \in [0, 1]$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _c3() -> Evidence:
    return prove_identity(expected_gradient_weight(3), sp.sqrt(2), what="c_3(p)",
                          simplifier=_polynomial_simplify)


_VALUES = {4: 1.6160, 8: 1.8557, 16: 1.9341}


@register(
    "egrad.values",
    title="The weight at p = 1/2 for G = 4, 8, 16",
    statement=r"""
    With the population std and $\epsilon = 0$: $c_4(\tfrac12) \approx 1.6160$,
    $c_8(\tfrac12) \approx 1.8557$ and $c_{16}(\tfrac12) \approx 1.9341$ (to four decimals).
    """,
    source="derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _values() -> Evidence:
    half = sp.Rational(1, 2)
    exact = {G: expected_gradient_weight(G, p=half) for G in _VALUES}
    ev = verify_close([float(sp.N(v, 30)) for v in exact.values()], list(_VALUES.values()),
                      atol=5e-5, what="exact c_G(1/2), G = 4, 8, 16, vs the rounded values")
    return Evidence(ev.outcome, ev.summary,
                    {**ev.details, "exact": {str(G): str(v) for G, v in exact.items()}})


@register(
    "egrad.sigma-relation",
    title="The GRPO weight is the mean group std over p(1 - p)",
    statement=r"""
    With the population std and $\epsilon = 0$, for every $G \ge 2$ and $p \in (0, 1)$:
    $c_G(p) = \mathbb E[\hat\sigma_G]/(p(1-p))$, where $\hat\sigma_G = \sqrt{k(G-k)}/G$ and
    $k \sim \mathrm{Binomial}(G, p)$.
    """,
    source="derived; the mean std is Bay & Yearick 2026's expected per-prompt gain",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _sigma_relation() -> Evidence:
    # Multiplied out: p(1-p) c_G(p) = E[sigma_G], an identity of polynomials.
    cases = ((f"G={G}", P * (1 - P) * expected_gradient_weight(G), expected_group_std(G))
             for G in G_RANGE)
    return prove_cases(cases, scope=_SCOPE, simplifier=_polynomial_simplify)


@register(
    "egrad.dr-grpo",
    title="Dr. GRPO's expected gradient is (G - 1)/G times the gradient of p",
    statement=r"""
    For Dr. GRPO (mean-centred advantages, no std) and every $G \ge 2$:
    $c_G(p) = \frac{G-1}{G}$ for every $p$.
    """,
    source="derived (Dr. GRPO, Liu et al. 2025)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _dr_grpo() -> Evidence:
    G = sp.Symbol("G", integer=True, positive=True)
    j = sp.Symbol("j", integer=True, nonnegative=True)
    general = prove_identity(advantage_gap(j, G, Convention.DR_GRPO), (G - 1) / G,
                             what="gap A+(j+1) - A-(j), G and j symbolic")
    cases = prove_cases(
        ((f"G={n}", expected_gradient_weight(n, Convention.DR_GRPO), sp.Rational(n - 1, n))
         for n in G_RANGE),
        scope=_SCOPE, simplifier=_polynomial_simplify)
    return _all_proved(
        [("G symbolic", general), ("per G", cases)],
        "the gap is (G-1)/G for every j with G symbolic, so its Binomial(G-1, p) mean is "
        f"(G-1)/G (the probabilities sum to 1); c_G = (G-1)/G also computed exactly for {_SCOPE}")


@register(
    "egrad.rloo",
    title="RLOO's expected gradient is the gradient of p",
    statement=r"""
    For RLOO (leave-one-out baseline) and every $G \ge 2$: $c_G(p) = 1$ for every $p$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _rloo() -> Evidence:
    G = sp.Symbol("G", integer=True, positive=True)
    j = sp.Symbol("j", integer=True, nonnegative=True)
    general = prove_identity(advantage_gap(j, G, Convention.RLOO), 1,
                             what="gap A+(j+1) - A-(j), G and j symbolic")
    cases = prove_cases(
        ((f"G={n}", expected_gradient_weight(n, Convention.RLOO), sp.Integer(1))
         for n in G_RANGE),
        scope=_SCOPE, simplifier=_polynomial_simplify)
    return _all_proved(
        [("G symbolic", general), ("per G", cases)],
        "the gap is 1 for every j with G symbolic, so c_G = 1; also computed exactly for "
        + _SCOPE)


@register(
    "egrad.bessel-factor",
    title="Bessel's correction scales the weight by sqrt((G-1)/G)",
    statement=r"""
    With $\epsilon = 0$, the weight of GRPO with Bessel's std (``torch.std``) is
    $c^{\mathrm{Bessel}}_G(p) = \sqrt{\tfrac{G-1}{G}}\,c_G(p)$ for every $G \ge 2$ and $p$;
    in particular $c^{\mathrm{Bessel}}_2 = 1/\sqrt2$.
    """,
    source="derived (verl/TRL std convention)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _bessel_factor() -> Evidence:
    cases = ((f"G={G}", expected_gradient_weight(G, Convention.GRPO_BESSEL),
              sp.sqrt(sp.Rational(G - 1, G)) * expected_gradient_weight(G)) for G in G_RANGE)
    return prove_cases(cases, scope=_SCOPE, simplifier=_polynomial_simplify)


_BANDIT_CASES = (
    # (arm rewards, G, convention, weight as a function of the success probability)
    ((1, 0, 0), 2, Convention.GRPO, lambda p: sp.Integer(1)),
    ((1, 1, 0), 2, Convention.GRPO, lambda p: sp.Integer(1)),
    ((1, 0, 0), 3, Convention.GRPO, lambda p: sp.sqrt(2)),
    ((1, 1, 0), 3, Convention.GRPO, lambda p: sp.sqrt(2)),
    ((1, 0, 0), 2, Convention.GRPO_BESSEL, lambda p: 1 / sp.sqrt(2)),
    ((1, 1, 0), 2, Convention.GRPO_BESSEL, lambda p: 1 / sp.sqrt(2)),
    ((1, 0, 0), 3, Convention.DR_GRPO, lambda p: sp.Rational(2, 3)),
    ((1, 1, 0), 3, Convention.RLOO, lambda p: sp.Integer(1)),
    # A group size whose weight genuinely depends on p.
    ((1, 0, 0), 4, Convention.GRPO, lambda p: expected_gradient_weight(4, p=p, expand=False)),
)


@register(
    "egrad.softmax-bandit",
    title="Exact enumeration on a softmax bandit confirms the weights",
    statement=r"""
    On a 3-armed softmax bandit with symbolic logits $\theta$, binary arm rewards (one correct
    arm, or two), score $\nabla_\theta\log\pi_a = e_a - \pi$ and no clipping, summing over every
    group of arms gives: $\mathbb E[\hat g_{\text{2-GRPO}}] = \nabla_\theta p$,
    $\mathbb E[\hat g_{\text{3-GRPO}}] = \sqrt2\,\nabla_\theta p$ and, with Bessel's std,
    $\mathbb E[\hat g_{\text{2-GRPO}}] = \nabla_\theta p/\sqrt2$, where
    $p = \sum_a \pi_a r_a$; likewise Dr. GRPO ($G = 3$: $\tfrac23\nabla_\theta p$), RLOO
    ($G = 3$: $\nabla_\theta p$) and GRPO with $G = 4$ ($c_4(p)\,\nabla_\theta p$).
    """,
    source="derived (exact enumeration)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _softmax_bandit() -> Evidence:
    cases = []
    for rewards, G, conv, weight in _BANDIT_CASES:
        out = softmax_bandit_expected_gradient(rewards, G, conv)
        label = f"rewards {rewards}, G={G}, {conv.value}"
        ev = prove_identity(out.expected_gradient,
                            weight(out.success_probability) * out.success_gradient,
                            what=label, simplifier=_exp_simplify(out.theta))
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, ev.summary, {**ev.details, "case": label})
        cases.append(label)
    return Evidence(Outcome.PROVED,
                    f"E[g] = c_G(p) grad p exactly, logits symbolic, in all {len(cases)} cases",
                    {"cases": cases, "residual": "0"})


_LIMIT_GRID = np.round(np.linspace(0.05, 0.95, 19), 2)
_LIMIT_G = (256, 1024, 4096)


@register(
    "egrad.large-g-limit",
    title="Large groups: the GRPO weight tends to the arcsine weight",
    statement=r"""
    With the population std and $\epsilon = 0$, $c_G(p)\sqrt{p(1-p)} \to 1$ as
    $G \to \infty$ for every $p \in (0, 1)$: large-group GRPO ascends $2\arcsin\sqrt p$
    rather than $p$. Checked in floating point with log-space binomial weights on the grid
    $p \in \{0.05, 0.10, \dots, 0.95\}$: at $G = 4096$ the ratio is within $10^{-3}$ of 1,
    and its distance to 1 shrinks by a factor of at least 3 from $G = 256$ to 1024 to 4096
    at every grid point (the rate $1/(8Gp(1-p))$ predicts 4).
    """,
    source="derived (paper v2 Prop 5.1 Case 1; Bay & Yearick 2026, arcsine weight)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _large_g_limit() -> Evidence:
    scale = np.sqrt(_LIMIT_GRID * (1 - _LIMIT_GRID))
    errors = {G: np.abs(expected_gradient_weight_numeric(G, _LIMIT_GRID) * scale - 1)
              for G in _LIMIT_G}
    for small, large in zip(_LIMIT_G, _LIMIT_G[1:], strict=False):
        factor = errors[small] / errors[large]
        if np.any(factor < 3):
            i = int(np.argmin(factor))
            return refuted(f"error shrinks only by {factor[i]:.3g} from G={small} to G={large} "
                           f"at p={_LIMIT_GRID[i]}", {"p": float(_LIMIT_GRID[i]), "G": large},
                           errors={str(G): e for G, e in errors.items()})
    ev = verify_close(expected_gradient_weight_numeric(4096, _LIMIT_GRID) * scale,
                      np.ones_like(_LIMIT_GRID), atol=1e-3,
                      what="c_4096(p) sqrt(p(1-p)) vs 1 on p = 0.05..0.95")
    worst = {str(G): float(e.max()) for G, e in errors.items()}
    return Evidence(ev.outcome, f"{ev.summary}; max error by G: {worst}",
                    {**ev.details, "max_error_by_G": worst})


_ATTENUATION_P = (0.3, 0.5)
_ATTENUATION_G = np.unique(np.round(np.geomspace(64, 4096, 129)).astype(int))
"""129 group sizes spaced geometrically from 64 to 4096 (both included)."""


@register(
    "egrad.sigma-attenuation",
    title="Large-group attenuation of the mean group std",
    statement=r"""
    $\mathbb E[\hat\sigma_G]/\sqrt{p(1-p)} = 1 - \frac{1}{8Gp(1-p)} + O(G^{-2})$. Checked in
    floating point for 129 group sizes spaced geometrically from $G = 64$ to $G = 4096$ at
    $p \in \{0.3, 0.5\}$: the scaled remainder
    $G^2\big(\mathbb E[\hat\sigma_G]/\sqrt{p(1-p)} - 1 + \frac{1}{8Gp(1-p)}\big)$ stays within
    $[-1, 0]$, and it lies within $4/G$ of the delta-method constant
    $a_2(p) = -\frac{16p^2 - 16p + 7}{128p^2(1-p)^2}$ ($-3/8$ at $p = \tfrac12$).
    """,
    source="Bay & Yearick 2026 (large-G attenuation); second-order constant derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _sigma_attenuation() -> Evidence:
    G = _ATTENUATION_G
    details = {}
    for p in _ATTENUATION_P:
        q = p * (1 - p)
        ratio = np.array([expected_group_std_numeric(int(n), p) for n in G]) / np.sqrt(q)
        scaled = G.astype(float) ** 2 * (ratio - (1 - 1 / (8 * G * q)))
        a2 = float(std_attenuation_series(sp.nsimplify(p))[1])
        if np.any(np.abs(scaled + 0.5) > 0.5):
            i = int(np.argmax(np.abs(scaled + 0.5)))
            return refuted(f"G^2 x remainder = {scaled[i]:.4g} outside [-1, 0] at G={G[i]}, p={p}",
                           {"G": int(G[i]), "p": p, "scaled": float(scaled[i])})
        gap = np.abs(scaled - a2) * G
        if np.any(gap > 4):
            i = int(np.argmax(gap))
            return refuted(f"G^2 x remainder = {scaled[i]:.6g} is not within 4/G of a2 = {a2:.6g} "
                           f"at G={G[i]}, p={p}", {"G": int(G[i]), "p": p})
        details[str(p)] = {"a2": a2, "scaled_at_64": float(scaled[0]),
                           "scaled_at_4096": float(scaled[-1]),
                           "max_G_times_gap": float(gap.max())}
    return Evidence(Outcome.VERIFIED,
                    f"G^2 x remainder in [-1, 0] and within 4/G of a2(p) for {G.size} group sizes "
                    f"from 64 to 4096 at p = 0.3, 0.5 ({details['0.3']['scaled_at_4096']:.4f}, "
                    f"{details['0.5']['scaled_at_4096']:.4f} at G = 4096)", details)


@register(
    "egrad.implied-objective",
    title="The objectives that GRPO ascends in expectation",
    statement=r"""
    Let $f_G(p) = \int_0^p c_G(q)\,dq$, so that $\mathbb E[\hat g] = \nabla_\theta f_G(p_\theta)$.
    With the population std and $\epsilon = 0$: $f_2(p) = p$, $f_3(p) = \sqrt2\,p$,
    $f_G' = c_G$ and $f_G(0) = 0$ for every $G$ in $2..16$, and the large-group objective
    $2\arcsin\sqrt p$ has derivative $1/\sqrt{p(1-p)}$, the limit weight.
    """,
    source="derived; Bay & Yearick 2026 (arcsine difficulty weight)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _implied_objective() -> Evidence:
    parts = [
        ("f_2", prove_identity(implied_objective(2), P, simplifier=_polynomial_simplify)),
        ("f_3", prove_identity(implied_objective(3), sp.sqrt(2) * P,
                               simplifier=_polynomial_simplify)),
        ("f_G' = c_G", prove_cases(
            ((f"G={G}", _d_dp(implied_objective(G)), expected_gradient_weight(G))
             for G in G_RANGE), scope=_SCOPE, simplifier=_polynomial_simplify)),
        ("f_G(0) = 0", prove_cases(
            ((f"G={G}", implied_objective(G).subs(P, 0), sp.Integer(0)) for G in G_RANGE),
            scope="every G in 2..16")),
        ("limit", prove_identity(sp.diff(limit_objective(P), P), limit_weight(P),
                                 what="d/dp 2 arcsin sqrt(p)")),
    ]
    return _all_proved(parts, "f_2 = p, f_3 = sqrt(2) p, f_G' = c_G and f_G(0) = 0 for every G "
                       "in 2..16, and d/dp 2 arcsin sqrt(p) = 1/sqrt(p(1-p)), all by simplify")


@register(
    "egrad.per-g-expressions",
    title="The weight is a polynomial, symmetric in difficulty",
    statement=r"""
    With the population std and $\epsilon = 0$, for every $G$ in $2..16$ the weight $c_G(p)$ is
    a polynomial in $p$ of degree at most $G - 2$ with $c_G(p) = c_G(1-p)$: a prompt solved
    with probability $p$ and one solved with probability $1 - p$ get the same weight.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _per_g_expressions() -> Evidence:
    degrees = {}
    for G in G_RANGE:
        c = expected_gradient_weight(G)
        if not c.is_polynomial(P):
            return refuted(f"c_{G}(p) is not a polynomial in p", {"G": G, "expression": str(c)})
        degrees[str(G)] = sp.degree(c, P)
        if degrees[str(G)] > G - 2:
            return refuted(f"c_{G}(p) has degree {degrees[str(G)]} > G - 2", {"G": G})
    ev = prove_cases(((f"G={G}", expected_gradient_weight(G),
                       expected_gradient_weight(G, p=1 - P)) for G in G_RANGE),
                     scope=_SCOPE, simplifier=_polynomial_simplify)
    if ev.outcome is not Outcome.PROVED:
        return ev
    return Evidence(Outcome.PROVED,
                    f"polynomial of degree <= G-2 and c_G(p) = c_G(1-p): {ev.summary}",
                    {**ev.details, "degrees": degrees})
