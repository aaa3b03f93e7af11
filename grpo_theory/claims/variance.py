r"""Claims about variance identities: products, batch means, prompts and rollouts.

Every moment is derived from a finite distribution with symbolic probabilities and symbolic values
(:mod:`grpo_theory.symbolic.variance`), so a proved identity holds for every distribution on a
support of the stated size. Batch statements enumerate the product distribution of the batch for
each stated batch shape.
"""

from __future__ import annotations

import sympy as sp

from grpo_theory.claims._core import (
    Evidence,
    Kind,
    Outcome,
    prove_cases,
    prove_identity,
    refuted,
    register,
)
from grpo_theory.symbolic.variance import (
    between_covariance,
    canonical_form,
    covariance,
    cross_covariance,
    expectation,
    flatten_two_level,
    grouped_mean_distribution,
    iid_mean_distribution,
    product_variance_formula,
    product_variance_trace_formula,
    symbolic_pmf,
    symbolic_values,
    variance,
    within_covariance,
)

__all__: list[str] = []

_N_OUTCOMES = 3
"""Support size of the joint pmfs in the product-identity proofs."""


def _zero_mean_joint(dim: int | None) -> tuple[list, list, list]:
    """A 3-outcome joint pmf of (r, g) with symbolic values, with E[g] = 0 imposed.

    The last value of ``g`` (each coordinate, for vectors) is solved from :math:`E[g] = 0`.
    """
    q = symbolic_pmf(_N_OUTCOMES)
    r = symbolic_values(_N_OUTCOMES, "r")
    g = symbolic_values(_N_OUTCOMES, "g", dim=dim)
    mean = expectation(q, g)
    if dim is None:
        g = [*g[:-1], _solve_for(mean, g[-1])]
    else:
        g = [*g[:-1], sp.Matrix([_solve_for(m, s) for m, s in zip(mean, g[-1], strict=True)])]
    return q, r, g


def _solve_for(expr: sp.Expr, sym: sp.Symbol) -> sp.Expr:
    """The unique solution of the linear equation ``expr = 0`` for ``sym``."""
    solved, value = sp.solve_linear(expr, symbols=[sym])
    if solved != sym:
        raise ValueError(f"{expr} = 0 cannot be solved for {sym}")
    return value


def _product_identity_sides(q: list, r: list, g: list) -> tuple[sp.Expr, sp.Expr]:
    """Var(r g) from the pmf, and the identity's right-hand side with moments from the pmf."""
    rg = [ri * gi for ri, gi in zip(r, g, strict=True)]
    r2 = [ri**2 for ri in r]
    vector = isinstance(g[0], sp.MatrixBase)
    g2 = [gi.dot(gi) for gi in g] if vector else [gi**2 for gi in g]
    formula = product_variance_trace_formula if vector else product_variance_formula
    rhs = formula(
        variance(q, g),
        variance(q, r),
        expectation(q, r),
        covariance(q, r2, g2),
        cross_covariance(q, r, g),
    )
    return variance(q, rg), rhs


@register(
    "var.product-identity",
    title="Variance of a product with a zero-mean factor",
    statement=r"""
    For scalar random variables $r$ and $g$ with $\mathbb E[g] = 0$:
    $$\mathrm{Var}(r g) = \mathrm{Var}(g)\big(\mathrm{Var}(r) + \mathbb E[r]^2\big)
      + \mathrm{Cov}(r^2, g^2) - \mathrm{Cov}(r, g)^2.$$
    Proved on every joint pmf of $(r, g)$ with 3 outcomes (symbolic probabilities and values),
    the constraint $\mathbb E[g] = 0$ imposed by solving for one value of $g$.
    """,
    source="paper v2 §2.3, Eq. 7 (v3 App. B.1, Eq. 11)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _product_identity() -> Evidence:
    lhs, rhs = _product_identity_sides(*_zero_mean_joint(None))
    return prove_identity(lhs, rhs, what="3-outcome joint pmf, E[g] = 0", simplifier=canonical_form)


@register(
    "var.product-identity-trace",
    title="Variance of a product with a zero-mean vector factor (traces)",
    statement=r"""
    For a scalar $r$ and a vector $g \in \mathbb R^2$ with $\mathbb E[g] = 0$, with variances
    and covariances read as traces:
    $$\mathrm{tr\,Var}(r g) = \mathrm{tr\,Var}(g)\big(\mathrm{Var}(r) + \mathbb E[r]^2\big)
      + \mathrm{Cov}(r^2, \|g\|^2) - \|\mathrm{Cov}(r, g)\|^2.$$
    Proved on every 3-outcome joint pmf of $(r, g)$ with symbolic probabilities and values.
    """,
    source="derived (trace form of paper v2 §2.3, Eq. 7)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _product_identity_trace() -> Evidence:
    lhs, rhs = _product_identity_sides(*_zero_mean_joint(2))
    return prove_identity(lhs, rhs, what="3-outcome joint pmf, g in R^2, E[g] = 0",
                          simplifier=canonical_form)


@register(
    "var.product-identity-needs-zero-mean",
    title="The product-variance identity needs E[g] = 0",
    statement=r"""
    Without the assumption $\mathbb E[g] = 0$, the identity
    $\mathrm{Var}(r g) = \mathrm{Var}(g)(\mathrm{Var}(r) + \mathbb E[r]^2)
    + \mathrm{Cov}(r^2, g^2) - \mathrm{Cov}(r, g)^2$ holds for every joint distribution.
    """,
    source="derived (the assumption of paper v2 §2.3, Eq. 7 dropped)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.REFUTED,
)
def _product_identity_needs_zero_mean() -> Evidence:
    q = symbolic_pmf(_N_OUTCOMES)
    r = symbolic_values(_N_OUTCOMES, "r")
    g = symbolic_values(_N_OUTCOMES, "g")
    lhs, rhs = _product_identity_sides(q, r, g)
    residual = canonical_form(lhs - rhs)
    if residual == 0:
        return Evidence(Outcome.PROVED, "the residual vanishes without E[g] = 0",
                        {"residual": "0"})
    # A concrete distribution: r uniform on {0, 1, 2}, g = 1 constant (so E[g] = 1).
    third = sp.Rational(1, 3)
    point = {q[0]: third, q[1]: third, r[0]: 0, r[1]: 1, r[2]: 2, g[0]: 1, g[1]: 1, g[2]: 1}
    lhs_v, rhs_v = sp.nsimplify(lhs.subs(point)), sp.nsimplify(rhs.subs(point))
    if sp.simplify(lhs_v - rhs_v) == 0:
        return Evidence(Outcome.INCONCLUSIVE, f"residual {residual} is not identically zero, "
                        "but the chosen distribution satisfies the identity",
                        {"residual": str(residual)})
    return refuted(
        f"r uniform on {{0, 1, 2}}, g = 1 (E[g] = 1): Var(r g) = {lhs_v}, "
        f"right-hand side = {rhs_v}",
        {"r": [0, 1, 2], "g": [1, 1, 1], "probs": ["1/3"] * 3,
         "var_rg": str(lhs_v), "rhs": str(rhs_v)},
        residual=str(residual),
    )


BATCH_SIZES = (1, 2, 3)
"""Batch sizes for which the product distribution of the batch mean is enumerated."""


@register(
    "var.batch-mean",
    title="The mean of B i.i.d. samples has variance Var(g)/B",
    statement=r"""
    For $B$ i.i.d. samples $g_1, \dots, g_B$ and $\hat g_B = \frac1B\sum_{i=1}^B g_i$:
    $\mathrm{Var}(\hat g_B) = \mathrm{Var}(g)/B$, which is strictly decreasing in $B$ when
    $\mathrm{Var}(g) > 0$. Proved by enumerating the product distribution for $B = 1, 2, 3$ on
    every 3-point distribution (symbolic probabilities and values); monotonicity for every
    $B \ge 1$.
    """,
    source="paper v2 Def. 5.2 and Lemma 5.3 (v3 Def. C.2, Lemma C.3)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _batch_mean() -> Evidence:
    q = symbolic_pmf(3)
    x = symbolic_values(3, "x")
    var_one = variance(q, x)
    cases = []
    for B in BATCH_SIZES:
        ps, vs = iid_mean_distribution(q, x, B)
        cases.append((f"B={B}", variance(ps, vs), var_one / B))
    enumerated = prove_cases(cases, scope="B in 1..3, every 3-point distribution",
                             simplifier=canonical_form)
    if enumerated.outcome is not Outcome.PROVED:
        return enumerated
    B = sp.Symbol("B", positive=True, integer=True)
    V = sp.Symbol("V", positive=True)
    decrease = sp.factor(V / B - V / (B + 1))
    if decrease.is_positive is not True:
        return Evidence(Outcome.INCONCLUSIVE, f"Var/B - Var/(B+1) = {decrease}: sign unknown",
                        {"decrease": str(decrease)})
    return Evidence(
        Outcome.PROVED,
        f"{enumerated.summary}; Var/B - Var/(B+1) = {decrease} > 0 for every B >= 1, Var > 0",
        {**enumerated.details, "decrease": str(decrease)},
    )


def _two_level(prompts: int = 2, outcomes: int = 2) -> tuple[list, list, list]:
    """Prompts with symbolic probabilities, each with its own symbolic outcome pmf and values."""
    w = symbolic_pmf(prompts, "w")
    u = [symbolic_pmf(outcomes, f"u{j}_") for j in range(1, prompts + 1)]
    x = [symbolic_values(outcomes, f"x{j}_") for j in range(1, prompts + 1)]
    return w, u, x


@register(
    "var.prompt-batch-decomposition",
    title="Variance of a batch of Q prompts",
    statement=r"""
    For $Q$ i.i.d. prompts and a per-prompt estimator $h$ (drawn given the prompt):
    $$\mathrm{Var}\Big(\frac1Q\sum_{j=1}^Q h_j\Big)
      = \frac{\mathrm{Var}_q\,\mathbb E[h \mid q] + \mathbb E_q\,\mathrm{Var}(h \mid q)}{Q}.$$
    Proved for $Q = 1, 2, 3$ by enumerating a two-level distribution: 2 prompts with symbolic
    probabilities, each with 2 outcomes of symbolic probabilities and values.
    """,
    source="derived (law of total variance applied to paper v2 Lemma 5.3)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _prompt_batch() -> Evidence:
    w, u, x = _two_level()
    between = between_covariance(w, u, x, x)
    within = within_covariance(w, u, x, x)
    flat_p, flat_x = flatten_two_level(w, u, x)
    cases = []
    for Q in (1, 2, 3):
        ps, vs = iid_mean_distribution(flat_p, flat_x, Q)
        cases.append((f"Q={Q}", variance(ps, vs), (between + within) / Q))
    return prove_cases(cases, scope="Q in 1..3, 2 prompts x 2 outcomes, all symbolic",
                       simplifier=canonical_form)


@register(
    "var.rollouts-iid-as-printed",
    title="Q prompts x G rollouts as QG i.i.d. samples",
    statement=r"""
    For a batch of $Q$ prompts with $G$ rollouts each, the batch-mean gradient has variance
    $\mathrm{Var}(g)/(QG)$, where $\mathrm{Var}(g)$ is the variance of one rollout's gradient
    (Lemma 5.3 applied with $B = QG$ rollouts).
    """,
    source="paper v2 §5.3, Lemma 5.3 with B = QG (v3 App. C.2)",
    kind=Kind.EXACT,
    expected=Outcome.REFUTED,
)
def _rollouts_iid() -> Evidence:
    # Two equally likely prompts; every rollout of prompt 1 has gradient +1, of prompt 2, -1.
    half = sp.Rational(1, 2)
    w, u, x = [half, half], [[1], [1]], [[1], [-1]]
    Q, G = 2, 2
    g_p, g_v = grouped_mean_distribution(w, u, x, G)
    b_p, b_v = iid_mean_distribution(g_p, g_v, Q)
    actual = sp.nsimplify(variance(b_p, b_v))
    flat_p, flat_x = flatten_two_level(w, u, x)
    printed = sp.nsimplify(variance(flat_p, flat_x) / (Q * G))
    if actual == printed:
        return Evidence(Outcome.INCONCLUSIVE, f"both variances equal {actual}", {})
    return refuted(
        f"Q={Q} prompts x G={G} rollouts, two equally likely prompts with per-rollout gradient "
        f"+1 and -1: Var(batch mean) = {actual} by enumeration, Var(g)/(QG) = {printed}",
        {"prompt_probs": ["1/2", "1/2"], "gradient_given_prompt": [1, -1], "Q": Q, "G": G,
         "var_batch_mean": str(actual), "var_printed": str(printed)},
    )


@register(
    "var.rollouts-grouped",
    title="Variance of a batch of Q prompts x G rollouts",
    statement=r"""
    For $Q$ i.i.d. prompts, each with $G$ rollouts whose gradients $g$ are i.i.d. given the
    prompt, the batch mean $\hat g = \frac1{QG}\sum_{j=1}^Q\sum_{i=1}^G g_{ji}$ has
    $$\mathrm{Var}(\hat g) = \frac1Q\Big(\mathrm{Var}_q\,\mathbb E[g \mid q]
      + \frac{\mathbb E_q\,\mathrm{Var}(g \mid q)}{G}\Big).$$
    Proved for every $(Q, G)$ with $Q \le 3$, $G \le 3$ by enumerating a two-level
    distribution: 2 prompts with symbolic probabilities, each with 2 outcomes of symbolic
    probabilities and values.
    """,
    source="derived (corrects paper v2 §5.3 / Lemma 5.3 with B = QG)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
    corrects="var.rollouts-iid-as-printed",
)
def _rollouts_grouped() -> Evidence:
    w, u, x = _two_level()
    between = between_covariance(w, u, x, x)
    within = within_covariance(w, u, x, x)
    cases = []
    for Q in (1, 2, 3):
        for G in (1, 2, 3):
            g_p, g_v = grouped_mean_distribution(w, u, x, G)
            b_p, b_v = iid_mean_distribution(g_p, g_v, Q)
            cases.append((f"Q={Q}, G={G}", variance(b_p, b_v), (between + within / G) / Q))
    return prove_cases(cases, scope="Q in 1..3, G in 1..3, 2 prompts x 2 outcomes, symbolic",
                       simplifier=canonical_form)


@register(
    "var.total-covariance",
    title="Law of total covariance for positive and negative gradients",
    statement=r"""
    For $g^+$ and $g^-$ drawn given a prompt $p$:
    $$\mathrm{Cov}(g^+, g^-) = \mathbb E_p\big[\mathrm{Cov}(g^+, g^- \mid p)\big]
      + \mathrm{Cov}_p\big(\mathbb E[g^+ \mid p], \mathbb E[g^- \mid p]\big),$$
    and when $g^+$ and $g^-$ are conditionally independent given $p$ the first term is 0.
    Proved on 2 prompts with symbolic probabilities, each with a 3-outcome joint pmf of
    $(g^+, g^-)$ (general case) or a product of two 2-outcome pmfs (independent case).
    """,
    source="paper v3 App. B.8",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _total_covariance() -> Evidence:
    w = symbolic_pmf(2, "w")
    u = [symbolic_pmf(3, f"u{j}_") for j in (1, 2)]
    a = [symbolic_values(3, f"a{j}_") for j in (1, 2)]
    b = [symbolic_values(3, f"b{j}_") for j in (1, 2)]
    flat_p, flat_a = flatten_two_level(w, u, a)
    _, flat_b = flatten_two_level(w, u, b)
    general = prove_identity(
        covariance(flat_p, flat_a, flat_b),
        within_covariance(w, u, a, b) + between_covariance(w, u, a, b),
        what="general joint pmf given the prompt", simplifier=canonical_form,
    )
    if general.outcome is not Outcome.PROVED:
        return general
    # Conditionally independent: given prompt j, (g+, g-) = (a_jk, b_jl) w.p. s_jk t_jl.
    s = [symbolic_pmf(2, f"s{j}_") for j in (1, 2)]
    t = [symbolic_pmf(2, f"t{j}_") for j in (1, 2)]
    pa = [symbolic_values(2, f"a{j}_") for j in (1, 2)]
    pb = [symbolic_values(2, f"b{j}_") for j in (1, 2)]
    idx = [(k, m) for k in range(2) for m in range(2)]
    u_ind = [[s[j][k] * t[j][m] for k, m in idx] for j in range(2)]
    a_ind = [[pa[j][k] for k, _ in idx] for j in range(2)]
    b_ind = [[pb[j][m] for _, m in idx] for j in range(2)]
    independent = prove_identity(within_covariance(w, u_ind, a_ind, b_ind), 0,
                                 what="conditionally independent: within term",
                                 simplifier=canonical_form)
    if independent.outcome is not Outcome.PROVED:
        return independent
    ip, ia = flatten_two_level(w, u_ind, a_ind)
    _, ib = flatten_two_level(w, u_ind, b_ind)
    total = prove_identity(covariance(ip, ia, ib), between_covariance(w, u_ind, a_ind, b_ind),
                           what="conditionally independent: Cov = between term",
                           simplifier=canonical_form)
    if total.outcome is not Outcome.PROVED:
        return total
    return Evidence(
        Outcome.PROVED,
        "law of total covariance proved on 2 prompts x 3-outcome joint pmfs; with conditional "
        "independence (2 x 2 product pmfs) the within term is 0 and Cov = between term",
        {"residual": "0"},
    )
