r"""Claims: GRPO's group estimator is a contrastive (positives minus negatives) estimator.

With binary rewards, :math:`k` of :math:`G` correct, the group estimator
:math:`\frac1G\sum_i A_i f(o_i)` equals :math:`w(k,G)(\bar f^+ - \bar f^-)` under every
convention; the weight :math:`w` is what distinguishes them. The identities are proved with
:math:`k` and :math:`G - k` symbolic positive integers (so :math:`1 \le k \le G-1`), and checked
against the general advantage formula for every binary group up to :math:`G = 64` (the slow
test tier runs the same check up to :math:`G = 128`). Two further
facts behind the contrastive reading are proved here: the mean baseline is the control variate
with coefficient 1, and PPO clipping splits by the sign of the advantage.
"""

from __future__ import annotations

import sympy as sp
from sympy.solvers.solveset import NonlinearError

from grpo_theory.claims._core import (
    Evidence,
    Kind,
    Outcome,
    prove_cases,
    prove_identity,
    refuted,
    register,
)
from grpo_theory.symbolic.advantages import Convention, binary_advantages
from grpo_theory.symbolic.contrastive import (
    baseline_estimator,
    baseline_split,
    clipped_objective,
    contrastive_coefficients,
    contrastive_form,
    contrastive_weight,
    contrastive_weight_closed_form,
    control_variate_coefficient,
    estimator_coefficients,
    group_estimator,
    sign_split_objective,
)

__all__ = ["EXHAUSTIVE_G_MAX", "SMALL_G_MAX", "exhaustive_check"]

EXHAUSTIVE_G_MAX = 64
"""Largest group size of the exhaustive check against the general advantage formula."""

SMALL_G_MAX = 8
"""Group sizes up to this are also checked with the full symbolic estimator expression."""

_K, _M = sp.symbols("k m", positive=True, integer=True)
_J = sp.Symbol("j", nonnegative=True, integer=True)
_EPS = sp.Symbol("epsilon", nonnegative=True)
_FP, _FN = sp.symbols("fbar_plus fbar_minus", real=True)


def _subgroup_identity(conv: Convention, eps: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r"""``(lhs, rhs)`` of the contrastive form with :math:`k`, :math:`m = G-k` symbolic.

    The left side groups the estimator by subgroup through the advantages
    (:math:`\frac1G[k A^+ \bar f^+ + m A^- \bar f^-]`); the right side is the closed-form weight
    times the difference of the subgroup means.
    """
    G = _K + _M
    A_plus, A_minus = binary_advantages(_K, G, conv, eps)
    lhs = (_K * A_plus * _FP + _M * A_minus * _FN) / G
    rhs = contrastive_weight_closed_form(_K, G, conv, eps) * (_FP - _FN)
    return lhs, rhs


def _shift_m(expr: sp.Expr) -> sp.Expr:
    """``simplify`` after writing :math:`m = j + 1`, :math:`j \\ge 0`, so that
    :math:`G - 1 = k + j > 0` is known to sympy."""
    return sp.simplify(sp.sympify(expr).subs(_M, _J + 1))


def _linear_simplifier(variables: list[sp.Symbol]):
    r"""A simplifier for expressions linear in ``variables``: 0 iff every coefficient is 0.

    An affine form :math:`c_0 + \sum_i c_i x_i` (coefficients free of the :math:`x_i`) vanishes
    identically iff :math:`c_0 = 0` and every :math:`c_i = 0`. ``sympy.linear_eq_to_matrix``
    extracts the coefficients (and raises if the form is not affine, in which case the whole
    expression is simplified instead); each coefficient is then simplified alone, which is much
    faster than simplifying the whole form.
    """

    def simplify(expr: sp.Expr) -> sp.Expr:
        expr = sp.sympify(expr)
        present = [x for x in variables if x in expr.free_symbols]
        if not present:
            return sp.simplify(expr)
        try:
            A, b = sp.linear_eq_to_matrix([expr], present)
        except NonlinearError:
            return sp.simplify(expr)
        if all(c == 0 or sp.simplify(c) == 0 for c in [*A, *b]):
            return sp.Integer(0)
        return sp.simplify(expr)

    return simplify


def _all_proved(parts: list[tuple[str, Evidence]], summary: str, **details: object) -> Evidence:
    for label, ev in parts:
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, f"{label}: {ev.summary}", {**ev.details, "part": label})
    return Evidence(Outcome.PROVED, summary,
                    {"residual": "0", "parts": [label for label, _ in parts], **details})


def _convention_claim(conv: Convention, eps: sp.Expr, eps0_rhs: sp.Expr | None,
                      simplifier=sp.simplify) -> Evidence:
    lhs, rhs = _subgroup_identity(conv, eps)
    G = _K + _M
    parts = [
        ("estimator = w (fbar+ - fbar-)",
         prove_identity(lhs, rhs, what="contrastive form", simplifier=simplifier)),
        ("w from the advantages = closed form",
         prove_identity(contrastive_weight(_K, G, conv, eps),
                        contrastive_weight_closed_form(_K, G, conv, eps),
                        what="weight", simplifier=simplifier)),
    ]
    if eps0_rhs is not None:
        parts.append(("w at epsilon = 0",
                      prove_identity(contrastive_weight_closed_form(_K, G, conv, 0), eps0_rhs,
                                     what="epsilon = 0", simplifier=simplifier)))
    return _all_proved(
        parts,
        f"{conv.value}: proved with k, m = G - k symbolic positive integers"
        + (", epsilon >= 0 symbolic" if eps is _EPS else ""),
    )


_P_HAT = _K / (_K + _M)


@register(
    "grpo.contrastive-form",
    title="GRPO's estimator is sqrt(p(1-p)) times positives minus negatives",
    statement=r"""
    Binary rewards, $k$ of $G$ responses correct with $1 \le k \le G-1$, $\hat p = k/G$, GRPO
    advantages with the population std and $\epsilon \ge 0$ added to it. For every
    per-response quantity $f$:
    $$\frac1G\sum_{i=1}^G A_i f(o_i) = w\,\big(\bar f^+ - \bar f^-\big),\qquad
    w = \frac{\hat p(1-\hat p)}{\sqrt{\hat p(1-\hat p)} + \epsilon},$$
    where $\bar f^\pm$ are the means of $f$ over the correct and incorrect responses. At
    $\epsilon = 0$, $w = \sqrt{\hat p(1-\hat p)} = \sqrt{\widehat{\mathrm{Var}}_G}$: GRPO is an
    $N$-vs-$M$ contrastive estimator.
    """,
    source="paper v2 Prop 3.1 (Eq. 10) / v3 Prop 3.2 (Eq. 7), App. B.2-B.3",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _contrastive_population() -> Evidence:
    return _convention_claim(Convention.GRPO, _EPS, sp.sqrt(_P_HAT * (1 - _P_HAT)))


@register(
    "grpo.contrastive-form.bessel",
    title="With Bessel's std the contrastive weight shrinks by sqrt((G-1)/G)",
    statement=r"""
    Same setting with Bessel's correction ($\hat\sigma\sqrt{G/(G-1)} + \epsilon$ in the
    denominator): $\frac1G\sum_i A_i f(o_i) = w\,(\bar f^+ - \bar f^-)$ with
    $w = \frac{\hat p(1-\hat p)}{\sqrt{G/(G-1)}\sqrt{\hat p(1-\hat p)} + \epsilon}$, which at
    $\epsilon = 0$ is $\sqrt{\tfrac{G-1}G}\sqrt{\hat p(1-\hat p)}$.
    """,
    source="derived (Bessel-corrected std as in torch.std)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _contrastive_bessel() -> Evidence:
    G = _K + _M
    return _convention_claim(Convention.GRPO_BESSEL, _EPS,
                             sp.sqrt((G - 1) / G) * sp.sqrt(_P_HAT * (1 - _P_HAT)),
                             simplifier=_shift_m)


@register(
    "grpo.contrastive-form.dr-grpo",
    title="Dr. GRPO's contrastive weight is p(1-p)",
    statement=r"""
    Same setting with mean-centred advantages $A_i = r_i - \bar r$ (Dr. GRPO):
    $\frac1G\sum_i A_i f(o_i) = \hat p(1-\hat p)\,(\bar f^+ - \bar f^-)$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _contrastive_dr() -> Evidence:
    return _convention_claim(Convention.DR_GRPO, sp.Integer(0), None)


@register(
    "grpo.contrastive-form.rloo",
    title="RLOO's contrastive weight is G/(G-1) p(1-p)",
    statement=r"""
    Same setting with leave-one-out advantages
    $A_i = r_i - \frac1{G-1}\sum_{j\ne i} r_j$ (RLOO):
    $\frac1G\sum_i A_i f(o_i) = \frac{G}{G-1}\hat p(1-\hat p)\,(\bar f^+ - \bar f^-)$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _contrastive_rloo() -> Evidence:
    return _convention_claim(Convention.RLOO, sp.Integer(0), None, simplifier=_shift_m)


def exhaustive_check(g_max: int = EXHAUSTIVE_G_MAX, conventions=tuple(Convention),
                     epsilon: sp.Expr = _EPS) -> Evidence:
    r"""Coefficient-by-coefficient check of the contrastive form for every binary group.

    For each convention, each :math:`G` in ``2..g_max`` and each :math:`k` in ``1..G-1`` the
    advantages of the reward vector :math:`(1^k, 0^{G-k})` come from ``group_advantages``; the
    estimator :math:`\frac1G\sum_i A_i f_i` is linear in :math:`f_1, \dots, f_G`, so it equals
    the contrastive form iff every coefficient :math:`A_i/G` equals :math:`w/k` (correct) or
    :math:`-w/(G-k)` (incorrect). Identical expressions are compared once.
    """
    checked = 0
    for conv in conventions:
        eps = epsilon if conv in (Convention.GRPO, Convention.GRPO_BESSEL) else sp.Integer(0)
        for G in range(2, g_max + 1):
            for k in range(1, G):
                rewards = [sp.Integer(1)] * k + [sp.Integer(0)] * (G - k)
                got = estimator_coefficients(rewards, conv, eps)
                want = contrastive_coefficients(k, G, conv, eps)
                for lo, hi in ((0, k), (k, G)):
                    # every coefficient of the subgroup, each distinct expression once
                    pairs = set(zip(got[lo:hi], want[lo:hi], strict=True))
                    for a, b in pairs:
                        if a - b == 0:  # sympy's automatic evaluation already cancels
                            continue
                        label = f"{conv.value}, G={G}, k={k}"
                        ev = prove_identity(a, b, what=label)
                        if ev.outcome is not Outcome.PROVED:
                            return Evidence(ev.outcome, f"coefficient {a} vs {b}: {ev.summary}",
                                            {**ev.details, "case": label})
                checked += 1
    return Evidence(
        Outcome.PROVED,
        f"all {checked} cases (conventions x G in 2..{g_max} x k in 1..G-1): every coefficient "
        "of the estimator equals that of the contrastive form",
        {"cases": checked, "scope": f"G in 2..{g_max}, k in 1..G-1, "
         f"conventions {[c.value for c in conventions]}, epsilon symbolic", "residual": "0"},
    )


@register(
    "grpo.contrastive-form.exhaustive",
    title="The contrastive form holds for every binary group up to G = 64",
    statement=r"""
    For every $G \in \{2, \dots, 64\}$, every $k \in \{1, \dots, G-1\}$ and each convention
    (GRPO with population or Bessel std and symbolic $\epsilon \ge 0$, Dr. GRPO, RLOO), the
    advantages of the reward vector $(1, \dots, 1, 0, \dots, 0)$ with $k$ ones, computed from
    the general formula, give $\frac1G\sum_i A_i f_i = w(k, G)(\bar f^+ - \bar f^-)$ for
    symbolic $f_1, \dots, f_G$, with $w$ the closed-form weight of the convention.
    """,
    source="paper v2 Prop 3.1 (Eq. 10), and derived for the other conventions",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _contrastive_exhaustive() -> Evidence:
    # The full symbolic expressions for small groups (any ordering of the rewards) ...
    cases = []
    for conv in Convention:
        eps = _EPS if conv in (Convention.GRPO, Convention.GRPO_BESSEL) else 0
        for G in range(2, SMALL_G_MAX + 1):
            f = list(sp.symbols(f"f1:{G + 1}", real=True))
            for k in range(1, G):
                # positives at positions 0, 2, 4, ... first: not the ordering (1^k, 0^(G-k))
                rewards = _interleaved(k, G)
                cases.append((f"{conv.value}, G={G}, k={k}",
                              group_estimator(rewards, f, conv, eps),
                              contrastive_form(rewards, f, conv, eps)))
    f = list(sp.symbols(f"f1:{SMALL_G_MAX + 1}", real=True))
    small = prove_cases(cases, scope=f"G in 2..{SMALL_G_MAX}, k in 1..G-1, all conventions",
                        simplifier=_linear_simplifier(f))
    if small.outcome is not Outcome.PROVED:
        return small
    # ... and coefficient by coefficient up to G = EXHAUSTIVE_G_MAX.
    big = exhaustive_check()
    if big.outcome is not Outcome.PROVED:
        return big
    return Evidence(
        Outcome.PROVED,
        f"{big.summary}; full estimator expressions equal for G <= {SMALL_G_MAX}",
        {**big.details, "small_groups": small.summary},
    )


def _interleaved(k: int, G: int) -> list[int]:
    """A binary reward vector with ``k`` ones spread over the group."""
    order = list(range(0, G, 2)) + list(range(1, G, 2))
    r = [0] * G
    for i in order[:k]:
        r[i] = 1
    return r


@register(
    "grpo.silent-groups-vanish",
    title="Silent groups contribute nothing",
    statement=r"""
    If all $G$ rewards are equal ($k = 0$ or $k = G$), the group estimator
    $\frac1G\sum_i A_i f(o_i)$ is $0$ for every $f$ under every convention (for the
    std-normalised conventions with any $\epsilon \ge 0$, using $0/0 := 0$ at $\epsilon = 0$).
    """,
    source="paper v2 §3.2 (all-positive or all-negative groups contribute nothing); derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _silent_groups() -> Evidence:
    cases = []
    eps_pos = sp.Symbol("epsilon", positive=True)
    for conv in Convention:
        for G in range(2, 17):
            f = list(sp.symbols(f"f1:{G + 1}", real=True))
            for value in (0, 1):
                for eps in (0, eps_pos):
                    cases.append((f"{conv.value}, G={G}, all rewards {value}, eps={eps}",
                                  group_estimator([value] * G, f, conv, eps), sp.Integer(0)))
    general = prove_cases(cases, scope="G in 2..16, k in {0, G}, all conventions, "
                          "epsilon in {0, symbolic > 0}")
    if general.outcome is not Outcome.PROVED:
        return general
    # With G symbolic: the subgroup weights (k/G) A+ and ((G-k)/G) A- vanish at k = 0 and
    # k = G (a subgroup with no member has weight 0, the other has advantage 0).
    G = sp.Symbol("G", integer=True, positive=True)
    sym_cases = []
    for conv in Convention:
        for kk in (sp.Integer(0), G):
            A_plus, A_minus = binary_advantages(kk, G, conv, eps_pos)
            sym_cases.append((f"{conv.value}, k={kk}, G symbolic",
                              sp.Matrix([kk / G * A_plus, (G - kk) / G * A_minus]),
                              sp.zeros(2, 1)))
    symbolic = prove_cases(sym_cases, scope="G symbolic, all conventions, epsilon > 0 symbolic")
    if symbolic.outcome is not Outcome.PROVED:
        return symbolic
    return Evidence(Outcome.PROVED, f"{general.summary}; with G symbolic the subgroup weights "
                    "vanish at k = 0 and k = G under every convention",
                    {"cases": general.details["cases"], "scope": general.details["scope"],
                     "residual": "0"})



@register(
    "grpo.mean-baseline-coefficient",
    title="The mean baseline is a control variate with coefficient 1",
    statement=r"""
    Binary rewards with $G^+ \ge 1$ correct and $G^- \ge 1$ incorrect responses, any baseline
    $b \ne 1$ and per-response values $g_i$:
    $$\frac1G\sum_{i=1}^G (r_i - b)\,g_i = \frac1G\big[G^+(1-b)\,\bar g^+ - G^- b\,\bar g^-\big]
    = \frac{G^+(1-b)}{G}\big(\bar g^+ - c\,\bar g^-\big),\qquad c = \frac{G^- b}{G^+(1-b)},$$
    and the mean baseline $b = G^+/G$ gives $c = 1$ and
    $\frac1G\sum_i (r_i - \bar r) g_i = \hat p(1-\hat p)(\bar g^+ - \bar g^-)$.
    """,
    source="paper v2 §4.2 (Eqs. 11-12)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _mean_baseline() -> Evidence:
    b = sp.Symbol("b", real=True)
    gp, gn = sp.symbols("gbar_plus gbar_minus", real=True)
    Gp, Gn = _K, _M
    G = Gp + Gn
    # (1) the subgroup split for concrete groups with symbolic g_i and b
    cases = []
    for n in range(2, SMALL_G_MAX + 1):
        g = list(sp.symbols(f"g1:{n + 1}", real=True))
        for kk in range(1, n):
            rewards = _interleaved(kk, n)
            pos = [gi for gi, ri in zip(g, rewards, strict=True) if ri == 1]
            neg = [gi for gi, ri in zip(g, rewards, strict=True) if ri == 0]
            wp, wn = baseline_split(kk, n - kk, b)
            split = wp * sp.Add(*pos) / len(pos) + wn * sp.Add(*neg) / len(neg)
            cases.append((f"G={n}, G+={kk}", baseline_estimator(rewards, g, b), split))
    split_ev = prove_cases(cases, scope=f"G in 2..{SMALL_G_MAX}, G+ in 1..G-1, g_i and b "
                           "symbolic",
                           simplifier=_linear_simplifier(
                               list(sp.symbols(f"g1:{SMALL_G_MAX + 1}", real=True))))
    # (2) the control-variate form with G+, G- symbolic
    wp, wn = baseline_split(Gp, Gn, b)
    c = control_variate_coefficient(Gp, Gn, b)
    cv = prove_identity(wp * gp + wn * gn, Gp * (1 - b) / G * (gp - c * gn),
                        what="control-variate form")
    # (3) the mean baseline gives c = 1, and the weight p(1-p)
    c_mean = prove_identity(control_variate_coefficient(Gp, Gn, Gp / G), 1, what="c at b = G+/G")
    w_mean = prove_identity(baseline_split(Gp, Gn, Gp / G)[0], _P_HAT * (1 - _P_HAT),
                            what="weight at b = G+/G")
    return _all_proved(
        [("subgroup split", split_ev), ("control-variate form", cv),
         ("c = 1 for the mean baseline", c_mean), ("weight p(1-p)", w_mean)],
        "split proved for every G <= 8 and G+ (symbolic g_i, b); control-variate form and "
        "c = 1 at b = G+/G proved with G+, G- symbolic positive integers",
    )


@register(
    "grpo.clip-sign-split",
    title="Clipping splits by the sign of the advantage",
    statement=r"""
    For $0 < \epsilon < 1$, every ratio $\rho$ and every advantage $A$:
    $\min\big(\rho A,\ \mathrm{clip}(\rho, 1-\epsilon, 1+\epsilon)A\big) = A\min(\rho, 1+\epsilon)
    = A\,\mathcal C^+_\epsilon(\rho)$ if $A > 0$, and
    $= A\max(\rho, 1-\epsilon) = A\,\mathcal C^-_\epsilon(\rho)$ if $A < 0$. Positives are
    clipped only from above, negatives only from below.
    """,
    source="paper v2 §1 (the C+ / C- notation) and App. B.2; derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _clip_sign_split() -> Evidence:
    eps = sp.Symbol("epsilon", positive=True)
    a = sp.Symbol("a", positive=True)
    d = sp.Symbol("d", positive=True)
    d0 = sp.Symbol("d", nonnegative=True)
    s = sp.Symbol("s", nonnegative=True)
    # The three regions of rho, each written with positive parameters so that sympy can decide
    # every min/max: rho < 1-eps, 1-eps <= rho < 1+eps, rho >= 1+eps.
    regions = {
        "rho < 1-eps (rho = 1 - eps - d, d > 0)": 1 - eps - d,
        "1-eps <= rho < 1+eps (rho = 1 - eps + 2 eps s/(1+s), s >= 0)":
            1 - eps + 2 * eps * s / (1 + s),
        "rho >= 1+eps (rho = 1 + eps + d, d >= 0)": 1 + eps + d0,
    }
    cases = []
    analysis = {}
    for label, rho in regions.items():
        for sign, A in (("A > 0", a), ("A < 0", -a)):
            lhs = sp.Min(rho * A, sp.Min(sp.Max(rho, 1 - eps), 1 + eps) * A)
            rhs = A * (sp.Min(rho, 1 + eps) if sign == "A > 0" else sp.Max(rho, 1 - eps))
            cases.append((f"{label}, {sign}", lhs, rhs))
            analysis[f"{label}, {sign}"] = f"lhs = {lhs}, rhs = {rhs}"
            # the implementation's functions agree with the textbook expressions
            cases.append((f"{label}, {sign}, implementation",
                          clipped_objective(rho, A, eps), sign_split_objective(rho, A, eps)))
    symbolic = prove_cases(cases, scope="three regions of rho x sign of A, epsilon > 0, "
                           "|A| > 0 symbolic")
    if symbolic.outcome is not Outcome.PROVED:
        return symbolic
    # A = 0 and a grid of exact rationals (boundaries included) through the implementation.
    grid_eps = [sp.Rational(1, 10), sp.Rational(1, 5), sp.Rational(1, 2), sp.Rational(9, 10)]
    grid_A = [sp.Integer(-3), sp.Rational(-1, 7), sp.Integer(0), sp.Rational(2, 5), sp.Integer(5)]
    n = 0
    for e in grid_eps:
        rhos = [sp.Integer(0), 1 - e, 1 + e, sp.Integer(1), sp.Rational(1, 3), sp.Integer(4),
                1 - e / 2, 1 + e / 2, 1 - 2 * e if e < sp.Rational(1, 2) else e / 3]
        for r in rhos:
            for A in grid_A:
                lhs, rhs = clipped_objective(r, A, e), sign_split_objective(r, A, e)
                if lhs != rhs:
                    return refuted(f"rho={r}, A={A}, epsilon={e}: {lhs} != {rhs}",
                                   {"rho": str(r), "A": str(A), "epsilon": str(e)})
                n += 1
    return Evidence(
        Outcome.PROVED,
        f"{symbolic.summary}; A = 0 and {n} exact rational points (region boundaries "
        "included) agree",
        {"residual": "0", "regions": analysis, "grid_points": n,
         "region_analysis": "rho < 1-eps: clip = 1-eps, so for A>0 min(rho A, (1-eps) A) = "
         "rho A and for A<0 it is (1-eps) A; 1-eps <= rho <= 1+eps: clip = rho, both sides "
         "rho A; rho > 1+eps: clip = 1+eps, so for A>0 the min is (1+eps) A and for A<0 it "
         "is rho A. In every region this is A min(rho, 1+eps) for A>0 and A max(rho, 1-eps) "
         "for A<0."},
    )
