r"""Claims about group advantages (GRPO with population or Bessel std, Dr. GRPO, RLOO).

Each identity is proved with the rewards as free symbols, for every group size in a stated range
(the advantage of a symbolic group of size :math:`G` is a different expression for each
:math:`G`), or with :math:`G` itself symbolic where the statement allows it.
"""

from __future__ import annotations

import sympy as sp

from grpo_theory.claims._core import Evidence, Kind, Outcome, prove_cases, prove_identity, register
from grpo_theory.symbolic.advantages import Convention, binary_advantages, group_advantages

G_RANGE = range(2, 9)
"""Group sizes over which per-group-size identities are proved symbolically."""

_SCOPE = f"every G in {G_RANGE.start}..{G_RANGE.stop - 1}, rewards symbolic"


def _rewards(G: int) -> list[sp.Symbol]:
    return list(sp.symbols(f"r1:{G + 1}", real=True))


def _std_conventions() -> tuple[Convention, ...]:
    return (Convention.GRPO, Convention.GRPO_BESSEL)


@register(
    "adv.sum-zero",
    title="Advantages sum to zero",
    statement=r"""
    For every convention (GRPO with population or Bessel std and any $\epsilon \ge 0$,
    Dr. GRPO, RLOO) and every reward vector $r \in \mathbb R^G$: $\sum_{i=1}^G A_i = 0$.
    """,
    source="derived (property of the paper's Eq. 4 advantage and its variants)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _sum_zero() -> Evidence:
    eps = sp.Symbol("epsilon", nonnegative=True)
    cases = (
        (f"{conv.value}, G={G}", sp.Add(*group_advantages(_rewards(G), conv, eps)), sp.Integer(0))
        for conv in Convention
        for G in G_RANGE
    )
    return prove_cases(cases, scope=_SCOPE + ", all four conventions")


@register(
    "adv.unit-population-variance",
    title="GRPO advantages have unit population variance",
    statement=r"""
    With the population std and $\epsilon = 0$, for any reward vector with $\hat\sigma > 0$:
    $\frac1G \sum_{i=1}^G A_i^2 = 1$.
    """,
    source="derived (paper Eq. 4 with population std)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _unit_population_variance() -> Evidence:
    cases = []
    for G in G_RANGE:
        A = group_advantages(_rewards(G), Convention.GRPO, 0)
        cases.append((f"G={G}", sp.Add(*[a**2 for a in A]) / G, sp.Integer(1)))
    return prove_cases(cases, scope=_SCOPE)


@register(
    "adv.unit-sample-variance",
    title="Bessel-normalised advantages have unit sample variance",
    statement=r"""
    With Bessel's correction and $\epsilon = 0$, for any reward vector with $\hat\sigma > 0$:
    $\frac1{G-1} \sum_{i=1}^G A_i^2 = 1$.
    """,
    source="derived (verl/TRL convention, torch.std)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _unit_sample_variance() -> Evidence:
    cases = []
    for G in G_RANGE:
        A = group_advantages(_rewards(G), Convention.GRPO_BESSEL, 0)
        cases.append((f"G={G}", sp.Add(*[a**2 for a in A]) / (G - 1), sp.Integer(1)))
    return prove_cases(cases, scope=_SCOPE)


@register(
    "adv.shift-invariance",
    title="Advantages are invariant to a reward shift",
    statement=r"""
    For every convention and every $c \in \mathbb R$: $A_i(r + c\mathbf 1) = A_i(r)$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _shift_invariance() -> Evidence:
    c = sp.Symbol("c", real=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    cases = []
    for conv in Convention:
        for G in G_RANGE:
            r = _rewards(G)
            shifted = group_advantages([x + c for x in r], conv, eps)
            base = group_advantages(r, conv, eps)
            cases.append((f"{conv.value}, G={G}", sp.Matrix(shifted) - sp.Matrix(base),
                          sp.zeros(G, 1)))
    return prove_cases(cases, scope=_SCOPE + ", all four conventions")



@register(
    "adv.scale-invariance-std",
    title="Std-normalised advantages are invariant to positive scaling",
    statement=r"""
    For GRPO (population or Bessel std) with $\epsilon = 0$ and every $\lambda > 0$:
    $A_i(\lambda r) = A_i(r)$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _scale_invariance() -> Evidence:
    lam = sp.Symbol("lambda", positive=True)
    cases = []
    for conv in _std_conventions():
        for G in range(2, 6):  # simplify of sqrt(lambda^2 ...) grows quickly with G
            r = _rewards(G)
            diff = sp.Matrix(group_advantages([lam * x for x in r], conv, 0)) - sp.Matrix(
                group_advantages(r, conv, 0))
            cases.append((f"{conv.value}, G={G}", diff, sp.zeros(G, 1)))
    return prove_cases(cases, scope="every G in 2..5, rewards symbolic")


@register(
    "adv.scale-equivariance-centred",
    title="Centred and leave-one-out advantages scale with the rewards",
    statement=r"""
    For Dr. GRPO and RLOO and every $\lambda > 0$: $A_i(\lambda r) = \lambda A_i(r)$.
    """,
    source="derived",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _scale_equivariance() -> Evidence:
    lam = sp.Symbol("lambda", positive=True)
    cases = []
    for conv in (Convention.DR_GRPO, Convention.RLOO):
        for G in G_RANGE:
            r = _rewards(G)
            diff = sp.Matrix(group_advantages([lam * x for x in r], conv)) - lam * sp.Matrix(
                group_advantages(r, conv))
            cases.append((f"{conv.value}, G={G}", diff, sp.zeros(G, 1)))
    return prove_cases(cases, scope=_SCOPE)


@register(
    "adv.scale-epsilon-breaks-invariance",
    title="With epsilon > 0, std-normalised advantages are not scale invariant",
    statement=r"""
    For GRPO with $\epsilon > 0$, $A_i(\lambda r) = A_i(r)$ for all $\lambda > 0$ is false:
    the $\epsilon$ makes the advantage of a low-spread group shrink.
    """,
    source="derived (implementations add epsilon = 1e-4 .. 1e-9 to the std)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.REFUTED,
)
def _epsilon_breaks_invariance() -> Evidence:
    lam = sp.Symbol("lambda", positive=True)
    eps = sp.Symbol("epsilon", positive=True)
    r = [sp.Integer(1), sp.Integer(0)]
    lhs = group_advantages([lam * x for x in r], Convention.GRPO, eps)[0]
    rhs = group_advantages(r, Convention.GRPO, eps)[0]
    return prove_identity(lhs, rhs, what="rewards (1, 0), first advantage")


@register(
    "adv.rloo-centred-ratio",
    title="RLOO advantages are G/(G-1) times the centred ones",
    statement=r"""
    For every $G \ge 2$ and every reward vector:
    $A_i^{\mathrm{RLOO}} = \frac{G}{G-1}\,(r_i - \bar r)$.
    """,
    source="derived (the form verl's rloo estimator computes)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _rloo_ratio() -> Evidence:
    # G symbolic: with S the sum of the rewards, RLOO_i = r_i - (S - r_i)/(G - 1).
    G = sp.Symbol("G", integer=True, positive=True)
    r_i, S = sp.symbols("r_i S", real=True)
    general = prove_identity(r_i - (S - r_i) / (G - 1), G / (G - 1) * (r_i - S / G),
                             what="G symbolic")
    if general.outcome is not Outcome.PROVED:
        return general
    # And through the implementation, for each concrete group size.
    cases = []
    for n in G_RANGE:
        r = _rewards(n)
        diff = sp.Matrix(group_advantages(r, Convention.RLOO)) - sp.Rational(n, n - 1) * sp.Matrix(
            group_advantages(r, Convention.DR_GRPO))
        cases.append((f"G={n}", diff, sp.zeros(n, 1)))
    impl = prove_cases(cases, scope=_SCOPE)
    if impl.outcome is not Outcome.PROVED:
        return impl
    return Evidence(Outcome.PROVED, "proved with G symbolic, and through group_advantages for "
                    f"{_SCOPE}", {"residual": "0"})


@register(
    "adv.silent-group-zero",
    title="A group with equal rewards gets zero advantages",
    statement=r"""
    If $r_1 = \dots = r_G$, every convention gives $A_i = 0$ for all $i$ (for the std-normalised
    conventions with $\epsilon = 0$, by the convention $0/0 := 0$).
    """,
    source="derived (a silent group carries no signal)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _silent_group() -> Evidence:
    c = sp.Symbol("c", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    cases = []
    for conv in Convention:
        for G in G_RANGE:
            cases.append((f"{conv.value}, G={G}, eps>0",
                          sp.Matrix(group_advantages([c] * G, conv, eps)), sp.zeros(G, 1)))
            cases.append((f"{conv.value}, G={G}, eps=0, rewards 1",
                          sp.Matrix(group_advantages([1] * G, conv, 0)), sp.zeros(G, 1)))
    return prove_cases(cases, scope=_SCOPE + ", all four conventions")


@register(
    "adv.binary-population",
    title="Binary-reward GRPO advantages",
    statement=r"""
    With binary rewards, $\hat p = k/G$ with $1 \le k \le G-1$, population std and
    $\epsilon = 0$:
    $A^+ = \frac{1-\hat p}{\sqrt{\hat p(1-\hat p)}} = \sqrt{\frac{1-\hat p}{\hat p}}$
    and $A^- = -\sqrt{\frac{\hat p}{1-\hat p}}$.
    """,
    source="paper v2 App. B.2, Eq. 21",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _binary_population() -> Evidence:
    # k positives and m negatives, both >= 1, so that G = k + m and 0 < p_hat < 1.
    k, m = sp.symbols("k m", positive=True, integer=True)
    A_plus, A_minus = binary_advantages(k, k + m, Convention.GRPO, 0)
    p_hat = k / (k + m)
    plus = prove_identity(A_plus, sp.sqrt((1 - p_hat) / p_hat), what="A+")
    if plus.outcome is not Outcome.PROVED:
        return plus
    minus = prove_identity(A_minus, -sp.sqrt(p_hat / (1 - p_hat)), what="A-")
    if minus.outcome is not Outcome.PROVED:
        return minus
    # The count-based formula agrees with the general one on every binary group up to G = 8.
    cases = []
    for G in G_RANGE:
        for kk in range(1, G):
            general = group_advantages([1] * kk + [0] * (G - kk), Convention.GRPO)
            Ap, Am = binary_advantages(kk, G, Convention.GRPO)
            cases.append((f"G={G}, k={kk}", sp.Matrix([general[0] - Ap, general[-1] - Am]),
                          sp.zeros(2, 1)))
    agree = prove_cases(cases, scope="every G in 2..8 and k in 1..G-1")
    if agree.outcome is not Outcome.PROVED:
        return agree
    return Evidence(Outcome.PROVED, "A+ and A- proved with k, G-k symbolic positive integers; "
                    "count-based and general formulas agree for every G in 2..8, k in 1..G-1",
                    {"residual": "0"})
