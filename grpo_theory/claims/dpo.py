r"""Claims about DPO, its gradient, and its relation to 2-GRPO.

The policies are parametric with symbolic real logits: a softmax over :math:`K = 3` outcomes and
an autoregressive policy over length-2 sequences (:mod:`grpo_theory.symbolic.dpo`). Identities
are proved for all values of the logits, the reference logits and :math:`\beta > 0`.

Proofs go through :func:`_rational_form`: the logits are written as :math:`\theta = \log a` with
:math:`a > 0` (a bijection of :math:`\mathbb R` onto :math:`(0, \infty)`), and every exponential
of :math:`\pm` the DPO margin is replaced by a fresh positive symbol :math:`U` (or :math:`1/U`).
The residual then becomes a rational function; if it cancels to 0 for independent :math:`U` it is
0 in particular at :math:`U = e^{\text{margin}}`. A residual that does not cancel is handed back
in the original variables, so that any counterexample is searched for at genuine points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

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
from grpo_theory.symbolic.dpo import (
    Policy,
    dpo_gradient,
    dpo_gradient_closed_form,
    dpo_margin,
    dpo_weight,
    importance_ratio,
    importance_ratio_gradient,
    kl_optimal_policy,
    kl_regularized_objective,
    log_partition,
    neg_log_sigmoid,
    prob,
    reference_substitution,
    score,
    sequence_policy,
    sigmoid,
    softmax_policy,
    token_coefficient_gradient,
    two_grpo_pair_gradient,
    two_grpo_pair_weight,
    two_grpo_surrogate,
)

BETA = sp.Symbol("beta", positive=True)
"""DPO's temperature, a positive symbol."""

K = 3
"""Number of outcomes of the softmax policy used in the proofs."""

V = 2
"""Vocabulary of the length-2 sequence policy used in the proofs."""

_SOFTMAX_SCOPE = f"softmax over K = {K} outcomes, logits, reference logits and beta symbolic"
_SEQUENCE_SCOPE = (f"length-2 sequences over a vocabulary of {V} ({V ** 2} outcomes, "
                   f"{V + V ** 2} logits), logits, reference logits and beta symbolic")


def _softmax_pair() -> tuple[Policy, Policy]:
    return softmax_policy(K), softmax_policy(K, "phi")


def _sequence_pair() -> tuple[Policy, Policy]:
    return sequence_policy(V), sequence_policy(V, "phi")


def _ordered_pairs(policy: Policy) -> list[tuple[int, int]]:
    n = len(policy.outcomes)
    return [(w, l) for w in range(n) for l in range(n) if w != l]


def _label(policy: Policy, w: int, l: int) -> str:
    return f"y_w={policy.outcomes[w]}, y_l={policy.outcomes[l]}"


def _rational_form(
    expr: Any,
    policies: Iterable[Policy],
    margins: Sequence[sp.Expr] = (),
    extra: Mapping[sp.Symbol, sp.Expr] | None = None,
) -> Any:
    r"""The expression as a cancelled rational function (see the module docstring).

    ``extra`` maps further real symbols to logs of positive ones (for example rewards
    :math:`r = \beta\log c`), applied together with the logits.
    """
    exps = []
    for margin in margins:
        exps.append((sp.expand(margin), sp.Dummy("U", positive=True)))

    def replace_margin(e: sp.Expr) -> sp.Expr:
        arg = sp.expand(e.args[0])
        for m, U in exps:
            if sp.expand(arg - m) == 0:
                return U
            if sp.expand(arg + m) == 0:
                return 1 / U
        return e

    out = sp.sympify(expr)
    if exps:
        out = out.replace(lambda x: isinstance(x, sp.exp) and not x.args[0].is_Symbol,
                          replace_margin)
    positive: dict[sp.Symbol, sp.Expr] = {p: sp.log(sp.Dummy(f"a_{p.name}", positive=True))
                                          for pol in policies for p in pol.params}
    positive.update(extra or {})
    out = out.xreplace(positive)

    def reduce(e: sp.Expr) -> sp.Expr:
        return sp.cancel(sp.together(sp.expand_log(e)))

    if isinstance(out, sp.MatrixBase):
        return out.applyfunc(reduce)
    return reduce(out)


def _rational_simplifier(
    policies: Iterable[Policy],
    margins: Sequence[sp.Expr] = (),
    extra: Mapping[sp.Symbol, sp.Expr] | None = None,
) -> Callable[[Any], Any]:
    """A ``simplifier=`` for the check helpers: 0 if the rational form cancels, else the input."""
    policies = list(policies)

    def simplifier(expr: Any) -> Any:
        reduced = _rational_form(expr, policies, margins, extra)
        zero = reduced.is_zero_matrix if isinstance(reduced, sp.MatrixBase) else reduced == 0
        return sp.Integer(0) if zero else expr

    return simplifier


def _numeric(expr: Any, point: dict[sp.Symbol, Any]) -> list[float]:
    """Entries of ``expr`` at ``point``, evaluated exactly then rounded to floats."""
    value = sp.sympify(expr).subs(point)
    entries = list(value) if isinstance(value, sp.MatrixBase) else [value]
    return [float(sp.N(e, 30)) for e in entries]


def _point_text(point: dict[sp.Symbol, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in point.items()}


# ----------------------------------------------------------------------------------------------
# The gradient
# ----------------------------------------------------------------------------------------------


@register(
    "dpo.logsigmoid-derivative",
    title="Derivative of the logistic loss",
    statement=r"""
    For every real $z$, with $\sigma(z) = 1/(1 + e^{-z})$:
    $\frac{d}{dz}\big(-\log\sigma(z)\big) = -\sigma(-z)$.
    """,
    source="derived (the step behind Rafailov et al. 2023's gradient)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _logsigmoid_derivative() -> Evidence:
    z = sp.Symbol("z", real=True)
    return prove_identity(sp.diff(neg_log_sigmoid(z), z), -sigmoid(-z), what="d/dz -log sigma(z)")


def _prove_gradient(theta: Policy, phi: Policy, scope: str) -> Evidence:
    n = 0
    for w, l in _ordered_pairs(theta):
        label = _label(theta, w, l)
        simplifier = _rational_simplifier([theta, phi], [dpo_margin(theta, phi, w, l, BETA)])
        ev = prove_identity(dpo_gradient(theta, phi, w, l, BETA),
                            dpo_gradient_closed_form(theta, phi, w, l, BETA),
                            what=label, simplifier=simplifier)
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, ev.summary, {**ev.details, "case": label, "scope": scope})
        n += 1
    return Evidence(Outcome.PROVED, f"sympy derivative of the loss = closed form in all {n} "
                    f"ordered pairs ({scope})", {"cases": n, "scope": scope, "residual": "0"})


_GRADIENT_STATEMENT = r"""
For {what}, every reference $\pi_{{\mathrm{{ref}}}}$ of the same form, every $\beta > 0$ and every
ordered pair $y_w \ne y_l$, the derivative of
$\mathcal L_{{\mathrm{{DPO}}}}(\theta)
= -\log\sigma\big(\hat r_\theta(y_w) - \hat r_\theta(y_l)\big)$,
$\hat r_\theta(y) = \beta\log\frac{{\pi_\theta(y)}}{{\pi_{{\mathrm{{ref}}}}(y)}}$, is
$$\nabla_\theta\mathcal L_{{\mathrm{{DPO}}}} = -\beta\,\sigma\big(\hat r_\theta(y_l)
- \hat r_\theta(y_w)\big)\big(\nabla_\theta\log\pi_\theta(y_w)
- \nabla_\theta\log\pi_\theta(y_l)\big).$$
"""


@register(
    "dpo.gradient",
    title="DPO gradient, softmax policy",
    statement=_GRADIENT_STATEMENT.format(
        what=r"a softmax policy $\pi_\theta(y) \propto e^{\theta_y}$ over $K = 3$ outcomes"),
    source="Rafailov et al. 2023; paper v2 Lemma B.1 (App. B.4), v3 Lemma B.1 (App. B.5)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _gradient_softmax() -> Evidence:
    theta, phi = _softmax_pair()
    return _prove_gradient(theta, phi, _SOFTMAX_SCOPE)


@register(
    "dpo.gradient.sequence",
    title="DPO gradient, autoregressive sequence policy",
    statement=_GRADIENT_STATEMENT.format(
        what=r"an autoregressive policy over length-2 sequences from a vocabulary of 2 "
             r"tokens, $\pi_\theta(y) = \pi_\theta(y_1)\,\pi_\theta(y_2 \mid y_1)$ with a softmax "
             r"per token whose second-token logits depend on $y_1$ (so "
             r"$\log\pi_\theta(y)$ is the sum of the token log-probabilities)"),
    source="Rafailov et al. 2023; paper v2 Lemma B.1 (App. B.4), v3 Lemma B.1 (App. B.5)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _gradient_sequence() -> Evidence:
    theta, phi = _sequence_pair()
    return _prove_gradient(theta, phi, _SEQUENCE_SCOPE)


@register(
    "dpo.implicit-reward",
    title="The implicit reward recovers reward differences",
    statement=r"""
    For a finite outcome set ($K = 3$), a reference $\pi_{\mathrm{ref}}(y) \propto e^{\phi_y}$,
    rewards $r(y) \in \mathbb R$ and $\beta > 0$, let
    $\pi^*(y) = \pi_{\mathrm{ref}}(y)\,e^{r(y)/\beta}/Z$ with
    $Z = \sum_{y'} \pi_{\mathrm{ref}}(y')\,e^{r(y')/\beta}$. Then $\pi^*$ is a stationary point of
    $J(\pi) = \mathbb E_{\pi}[r] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{\mathrm{ref}})$ over softmax
    policies (the maximiser, $J$ being strictly concave in $\pi$), its implicit reward is
    $\hat r^*(y) = \beta\log\frac{\pi^*(y)}{\pi_{\mathrm{ref}}(y)} = r(y) - \beta\log Z$, and so
    $r(y_w) - r(y_l) = \hat r^*(y_w) - \hat r^*(y_l)$: $Z$ cancels in the Bradley-Terry
    difference.
    """,
    source="Rafailov et al. 2023 (the reparametrisation behind DPO)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _implicit_reward() -> Evidence:
    theta, phi = _softmax_pair()
    r = list(sp.symbols(f"r_0:{K}", real=True))
    ref = [prob(phi, y) for y in range(K)]
    star = kl_optimal_policy(ref, r, BETA)
    log_z = log_partition(ref, r, BETA)
    # r = beta log c with c > 0 is a bijection onto the reals, like phi = log b.
    rational = _rational_simplifier(
        [theta, phi], extra={ry: BETA * sp.log(sp.Dummy(f"c_{ry.name}", positive=True))
                             for ry in r})

    def implicit(y: int) -> sp.Expr:
        return BETA * sp.log(star[y] / ref[y])

    cases = [(f"y={y}", implicit(y), r[y] - BETA * log_z) for y in range(K)]
    cases += [(f"y_w={w}, y_l={l}", implicit(w) - implicit(l), r[w] - r[l])
              for w in range(K) for l in range(K) if w < l]
    ev = prove_cases(cases, scope=f"K = {K}, rewards, reference logits and beta symbolic",
                     simplifier=rational)
    if ev.outcome is not Outcome.PROVED:
        return ev
    # pi* is the softmax with logits phi + r / beta, and the gradient of J vanishes there.
    at_star = {t: p + ry / BETA for t, p, ry in zip(theta.params, phi.params, r, strict=True)}
    same = prove_cases(
        [(f"pi_theta*(y={y}) = pi*(y)", prob(theta, y).subs(at_star), star[y]) for y in range(K)],
        scope="theta* = phi + r/beta", simplifier=rational)
    if same.outcome is not Outcome.PROVED:
        return same
    objective = kl_regularized_objective(theta, phi, r, BETA)
    grad = sp.Matrix([sp.diff(objective, t) for t in theta.params]).subs(at_star)
    stationary = prove_identity(grad, sp.zeros(K, 1), what="grad J at theta*",
                                simplifier=rational)
    if stationary.outcome is not Outcome.PROVED:
        return stationary
    return Evidence(Outcome.PROVED,
                    f"beta log(pi*/pi_ref) = r - beta log Z for every outcome and every pair "
                    f"difference; grad J = 0 at pi* ({K} outcomes, all symbols free)",
                    {"residual": "0", "cases": len(cases) + 2 * K})


# ----------------------------------------------------------------------------------------------
# DPO and 2-GRPO
# ----------------------------------------------------------------------------------------------


def _at_reference_cases(theta: Policy, phi: Policy) -> list[tuple[str, sp.Expr, sp.Expr]]:
    sub = reference_substitution(theta, phi)
    cases = []
    for w, l in _ordered_pairs(theta):
        grad = dpo_gradient(theta, phi, w, l, BETA).subs(sub)
        expected = (-BETA / 2 * (score(theta, w) - score(theta, l))).subs(sub)
        cases.append((_label(theta, w, l), grad, expected))
    return cases


@register(
    "dpo.at-reference",
    title="DPO gradient at the reference policy",
    statement=r"""
    For the $K = 3$ softmax and for the length-2 sequence policy, every $\beta > 0$ and every
    pair $y_w \ne y_l$: at $\theta = \phi$ (so $\pi_\theta = \pi_{\mathrm{ref}}$, both implicit
    rewards vanish and $\sigma(0) = \tfrac12$),
    $\nabla_\theta\mathcal L_{\mathrm{DPO}} = -\frac\beta2\big(\nabla\log\pi_\theta(y_w)
    - \nabla\log\pi_\theta(y_l)\big)$.
    """,
    source="derived (from Rafailov et al. 2023's gradient)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _at_reference() -> Evidence:
    results = []
    for (theta, phi), scope in ((_softmax_pair(), _SOFTMAX_SCOPE),
                                (_sequence_pair(), _SEQUENCE_SCOPE)):
        ev = prove_cases(_at_reference_cases(theta, phi), scope=scope,
                         simplifier=_rational_simplifier([phi]))
        if ev.outcome is not Outcome.PROVED:
            return ev
        results.append(ev.details["cases"])
    return Evidence(Outcome.PROVED, f"residual 0 in all {sum(results)} ordered pairs "
                    f"({results[0]} softmax, {results[1]} sequence)", {"residual": "0"})


@register(
    "dpo.2grpo-relation",
    title="At the reference, 2-GRPO is DPO's gradient up to -1/beta",
    statement=r"""
    For the $K = 3$ softmax and the length-2 sequence policy, every $\beta > 0$ and every
    disagreeing pair ($y_w$ correct, $y_l$ incorrect): the on-policy 2-GRPO direction (population
    std, $\epsilon = 0$, no clipping, sequence-level sum of token log-probabilities)
    $\hat g = \tfrac12\big(A^+\nabla\log\pi_\theta(y_w) + A^-\nabla\log\pi_\theta(y_l)\big)$ with
    $A^\pm = \pm1$ satisfies, at $\pi_\theta = \pi_{\mathrm{ref}}$ ($\theta = \phi$),
    $\hat g = -\frac1\beta\nabla_\theta\mathcal L_{\mathrm{DPO}}$.
    """,
    source="paper v2 §3.2 and App. B.4, v3 §3.3 and App. B.6 (the relation, made exact here)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _two_grpo_relation() -> Evidence:
    total = 0
    for (theta, phi), scope in ((_softmax_pair(), _SOFTMAX_SCOPE),
                                (_sequence_pair(), _SEQUENCE_SCOPE)):
        sub = reference_substitution(theta, phi)
        cases = [(_label(theta, w, l), two_grpo_pair_gradient(theta, w, l).subs(sub),
                  (-dpo_gradient(theta, phi, w, l, BETA) / BETA).subs(sub))
                 for w, l in _ordered_pairs(theta)]
        ev = prove_cases(cases, scope=scope, simplifier=_rational_simplifier([phi]))
        if ev.outcome is not Outcome.PROVED:
            return ev
        total += ev.details["cases"]
    return Evidence(Outcome.PROVED, f"2-GRPO pair gradient = -(1/beta) grad L_DPO at theta = phi "
                    f"in all {total} ordered pairs (softmax K = {K} and length-2 sequences)",
                    {"residual": "0"})


_OFF_REFERENCE_POINTS = (
    # (label, theta_0, theta_1, beta); all other logits and phi are 0, so theta != phi
    ("theta = (1, 0, ...), phi = 0, beta = 1", 1, 0, 1),
    ("theta = (2, -1, ...), phi = 0, beta = 1/2", 2, -1, sp.Rational(1, 2)),
)


def _off_reference_point(theta: Policy, phi: Policy, first: Any, second: Any,
                         beta: Any) -> dict[sp.Symbol, Any]:
    point: dict[sp.Symbol, Any] = {p: 0 for p in phi.params}
    point.update({p: 0 for p in theta.params})
    point[theta.params[0]] = sp.sympify(first)
    point[theta.params[1]] = sp.sympify(second)
    point[BETA] = sp.sympify(beta)
    return point


@register(
    "dpo.2grpo-relation-everywhere",
    title="2-GRPO is DPO's gradient at every theta (false)",
    statement=r"""
    Read as an identity of gradients at every parameter value: for every $\theta$ (not only at
    $\pi_\theta = \pi_{\mathrm{ref}}$), the 2-GRPO pair direction satisfies
    $\hat g = \tfrac12\big(\nabla\log\pi_\theta(y_w) - \nabla\log\pi_\theta(y_l)\big)
    = -\frac1\beta\nabla_\theta\mathcal L_{\mathrm{DPO}}$.
    """,
    source='paper v2 §3.2 "GRPO is secretly doing DPO" (read as an identity at every theta)',
    kind=Kind.SYMBOLIC,
    expected=Outcome.REFUTED,
)
def _relation_everywhere() -> Evidence:
    tried = []
    for name, (theta, phi) in (("softmax K=3", _softmax_pair()),
                               ("length-2 sequences, V=2", _sequence_pair())):
        w, l = 0, len(theta.outcomes) - 1
        residual = two_grpo_pair_gradient(theta, w, l) + dpo_gradient(theta, phi, w, l, BETA) / BETA
        for label, first, second, beta in _OFF_REFERENCE_POINTS:
            point = _off_reference_point(theta, phi, first, second, beta)
            values = _numeric(residual, point)
            margin = _numeric(dpo_margin(theta, phi, w, l, BETA), point)[0]
            tried.append(f"{name}: {label}")
            worst = max(abs(v) for v in values)
            if worst > 1e-9:
                return refuted(
                    f"{name}, {_label(theta, w, l)}, {label}: margin {margin:.6g}, "
                    f"residual g_2GRPO + (1/beta) grad L has max entry {worst:.6g}",
                    {"policy": name, "pair": _label(theta, w, l), "point": _point_text(point)},
                    residual=[f"{v:.12g}" for v in values], margin=margin,
                    explanation="per pair the two directions are parallel; the residual is "
                                "(1/2 - sigma(-margin)) (grad log pi(y_w) - grad log pi(y_l)), "
                                "zero only at margin 0")
    return Evidence(Outcome.INCONCLUSIVE, "no off-reference point gave a non-zero residual",
                    {"tried": tried})


@register(
    "dpo.2grpo-relation-weighted",
    title="Away from the reference, DPO is 2-GRPO reweighted by 2 sigma(-margin)",
    corrects="dpo.2grpo-relation-everywhere",
    statement=r"""
    For the $K = 3$ softmax and the length-2 sequence policy, every $\beta > 0$, every $\theta$
    and $\phi$ and every disagreeing pair, with the margin
    $m = \hat r_\theta(y_w) - \hat r_\theta(y_l)$:
    $-\frac1\beta\nabla_\theta\mathcal L_{\mathrm{DPO}} = 2\sigma(-m)\,\hat g$, where $\hat g$ is
    the 2-GRPO pair direction. The two directions are parallel at every $\theta$; they are equal
    exactly where $m = 0$ (in particular at $\pi_\theta = \pi_{\mathrm{ref}}$), and DPO's factor
    $2\sigma(-m)$ depends on $\theta$ and tends to $0$ as the margin grows.
    """,
    source="derived (corrects the reading of paper v2 §3.2 as an identity at every theta)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _relation_weighted() -> Evidence:
    total = 0
    for (theta, phi), scope in ((_softmax_pair(), _SOFTMAX_SCOPE),
                                (_sequence_pair(), _SEQUENCE_SCOPE)):
        for w, l in _ordered_pairs(theta):
            margin = dpo_margin(theta, phi, w, l, BETA)
            ev = prove_identity(-dpo_gradient(theta, phi, w, l, BETA) / BETA,
                                2 * sigmoid(-margin) * two_grpo_pair_gradient(theta, w, l),
                                what=_label(theta, w, l) + f" ({scope})",
                                simplifier=_rational_simplifier([theta, phi], [margin]))
            if ev.outcome is not Outcome.PROVED:
                return ev
            total += 1
    return Evidence(Outcome.PROVED, f"-(1/beta) grad L_DPO = 2 sigma(-margin) g_2GRPO at every "
                    f"theta in all {total} ordered pairs (softmax K = {K} and length-2 sequences)",
                    {"residual": "0"})


@register(
    "dpo.weight-depends-on-theta",
    title="DPO's pair weight moves with theta; 2-GRPO's does not",
    statement=r"""
    Write $m = \hat r_\theta(y_w) - \hat r_\theta(y_l)$ for the margin. DPO's pair weight
    $w_{\mathrm{DPO}}(m) = \beta\,\sigma(-m)$ has
    $\frac{d w_{\mathrm{DPO}}}{dm} = -\beta\,\sigma(m)\,\sigma(-m) < 0$ for every real $m$, and
    for the $K = 3$ softmax
    $\nabla_\theta w_{\mathrm{DPO}} = -\beta^2\sigma(m)\sigma(-m)\,(e_{y_w} - e_{y_l}) \ne 0$ at
    every $\theta$. The 2-GRPO pair direction is
    $\hat g = \tfrac12\big(\nabla\log\pi_\theta(y_w) - \nabla\log\pi_\theta(y_l)\big)$ at every
    $\theta$: its weight $\tfrac12$ per unit advantage has $\theta$-derivative identically $0$.
    """,
    source="derived (paper v3 §3.3 compares the two weights without this distinction)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _weight_depends_on_theta() -> Evidence:
    m = sp.Symbol("m", real=True)
    weight = BETA * sigmoid(-m)
    dweight = -BETA * sigmoid(m) * sigmoid(-m)
    ev = prove_identity(sp.diff(weight, m), dweight, what="d w_DPO / dm")
    if ev.outcome is not Outcome.PROVED:
        return ev
    if dweight.is_negative is not True:
        return Evidence(Outcome.INCONCLUSIVE, "could not establish -beta sigma(m) sigma(-m) < 0",
                        {"derivative": str(dweight)})
    theta, phi = _softmax_pair()
    cases_theta = []
    for w, l in _ordered_pairs(theta):
        margin = dpo_margin(theta, phi, w, l, BETA)
        wt = dpo_weight(theta, phi, w, l, BETA)
        grad = sp.Matrix([sp.diff(wt, p) for p in theta.params])
        contrast = sp.Matrix([int(i == w) - int(i == l) for i in range(K)])
        expected = dweight.subs(m, margin) * BETA * contrast
        ev = prove_identity(grad, expected, what=f"grad_theta w_DPO, {_label(theta, w, l)}",
                            simplifier=_rational_simplifier([theta, phi], [margin]))
        if ev.outcome is not Outcome.PROVED:
            return ev
        ev = prove_identity(score(theta, w) - score(theta, l), contrast,
                            what=f"score contrast = e_w - e_l, {_label(theta, w, l)}",
                            simplifier=_rational_simplifier([theta]))
        if ev.outcome is not Outcome.PROVED:
            return ev
        cases_theta.append(_label(theta, w, l))
    # 2-GRPO: the pair direction is (1/2)(s_w - s_l) at every theta, with a constant weight.
    half = two_grpo_pair_weight()
    for pol in (theta, sequence_policy(V)):
        for w, l in _ordered_pairs(pol):
            ev = prove_identity(two_grpo_pair_gradient(pol, w, l),
                                half * (score(pol, w) - score(pol, l)),
                                what=f"2-GRPO pair direction, {_label(pol, w, l)}",
                                simplifier=_rational_simplifier([pol]))
            if ev.outcome is not Outcome.PROVED:
                return ev
        derivs = [sp.diff(half, p) for p in pol.params]
        if any(d != 0 for d in derivs):
            return refuted("the 2-GRPO weight depends on theta", {"derivatives": derivs})
    return Evidence(
        Outcome.PROVED,
        "dw_DPO/dm = -beta sigma(m) sigma(-m) < 0 (sympy: is_negative); grad_theta w_DPO = "
        f"-beta^2 sigma(m) sigma(-m) (e_w - e_l) in all {len(cases_theta)} softmax pairs; "
        "2-GRPO direction = (1/2)(s_w - s_l) with d(1/2)/dtheta = 0 (softmax and sequences)",
        {"residual": "0", "dw_dm": str(dweight)})


@register(
    "dpo.weight-saturates",
    title="DPO's weight saturates; 2-GRPO's stays constant",
    statement=r"""
    With margin $m = \hat r_\theta(y_w) - \hat r_\theta(y_l)$ and $\beta > 0$: DPO's pair weight
    $\beta\sigma(-m)$ lies in $(0, \beta)$, equals $\beta/2$ exactly at $m = 0$, tends to $0$ as
    $m \to +\infty$ and to $\beta$ as $m \to -\infty$, while the 2-GRPO weight stays
    $\tfrac12$. Per pair, $-\frac1\beta\nabla\mathcal L_{\mathrm{DPO}} = 2\sigma(-m)\,\hat g$:
    the two directions are always parallel, and the relation
    $\hat g = -\frac1\beta\nabla\mathcal L_{\mathrm{DPO}}$ holds exactly on the set
    $\{\theta : \hat r_\theta(y_w) = \hat r_\theta(y_l)\}$ (which contains
    $\pi_\theta = \pi_{\mathrm{ref}}$) and nowhere else (when
    $\nabla\log\pi_\theta(y_w) \ne \nabla\log\pi_\theta(y_l)$). Away from it DPO shrinks the
    update of pairs it already ranks correctly (to $0$ as $m \to \infty$) and up to doubles that
    of pairs it ranks wrongly, whereas 2-GRPO keeps a constant weight until the policy stops
    producing disagreeing pairs.
    """,
    source="derived (where the analogy of paper v2 §3.2 / v3 §3.3 breaks)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _weight_saturates() -> Evidence:
    m = sp.Symbol("m", real=True)
    weight = BETA * sigmoid(-m)
    half = two_grpo_pair_weight()
    limits = {
        "+oo": (sp.limit(weight, m, sp.oo), sp.Integer(0)),
        "-oo": (sp.limit(weight, m, -sp.oo), BETA),
        "0": (weight.subs(m, 0), BETA / 2),
    }
    for label, (got, want) in limits.items():
        if sp.simplify(got - want) != 0:
            return refuted(f"limit at {label} is {got}, not {want}", {"margin": label})
    if half.free_symbols or half != sp.Rational(1, 2):
        return refuted(f"the 2-GRPO weight is {half}, not the constant 1/2", {"weight": str(half)})
    bounds = (weight.is_positive, sp.together(BETA - weight).is_positive)
    if bounds != (True, True):
        return Evidence(Outcome.INCONCLUSIVE, "could not establish 0 < beta sigma(-m) < beta",
                        {"bounds": str(bounds)})
    zero_set = sp.solveset(sp.Eq(sigmoid(-m), sp.Rational(1, 2)), m, sp.S.Reals)
    if zero_set != sp.FiniteSet(0):
        return Evidence(Outcome.INCONCLUSIVE, f"sigma(-m) = 1/2 solved to {zero_set}", {})
    # Per pair, -(1/beta) grad L = 2 sigma(-m) g_2GRPO, on the sequence policy, every pair.
    theta, phi = _sequence_pair()
    cases = []
    for w, l in _ordered_pairs(theta):
        margin = dpo_margin(theta, phi, w, l, BETA)
        ev = prove_identity(-dpo_gradient_closed_form(theta, phi, w, l, BETA) / BETA,
                            2 * sigmoid(-margin) * two_grpo_pair_gradient(theta, w, l),
                            what=_label(theta, w, l),
                            simplifier=_rational_simplifier([theta, phi], [margin]))
        if ev.outcome is not Outcome.PROVED:
            return ev
        cases.append(_label(theta, w, l))
    return Evidence(
        Outcome.PROVED,
        "lim_{m->+oo} beta sigma(-m) = 0, lim_{m->-oo} = beta, beta/2 at m = 0, 0 < weight < "
        "beta; the 2-GRPO weight is 1/2; sigma(-m) = 1/2 only at m = 0; "
        f"-(1/beta) grad L = 2 sigma(-m) g_2GRPO in all {len(cases)} sequence pairs",
        {"residual": "0", "zero_set": str(zero_set)})


# ----------------------------------------------------------------------------------------------
# Token-level coefficients and importance ratios
# ----------------------------------------------------------------------------------------------


@register(
    "dpo.coefficient-as-printed",
    title="Contrastive coefficient with the sequence probability (false)",
    statement=r"""
    For an autoregressive policy, $\nabla_\theta\log\pi_\theta(o)
    = \sum_t \frac{\nabla_\theta\pi_\theta(o_t \mid o_{<t})}{\pi_\theta(o)}$, i.e. DPO's
    token coefficient is $c_t = \beta\sigma(\hat r_\theta(o^-) - \hat r_\theta(o^+))/\pi_\theta(o)$
    with the sequence probability in the denominator.
    """,
    source="paper v2 Lemma B.1 (App. B.4, Eq. 27), v3 §3.3 Eq. 9",
    kind=Kind.SYMBOLIC,
    expected=Outcome.REFUTED,
)
def _coefficient_as_printed() -> Evidence:
    theta = sequence_policy(V)
    point = {p: sp.Integer(0) for p in theta.params}
    for y in range(len(theta.outcomes)):
        printed = token_coefficient_gradient(theta, y, "sequence")
        residual = printed - score(theta, y)
        values = _numeric(residual, point)
        worst = max(abs(v) for v in values)
        if worst > 1e-9:
            return refuted(
                f"length-2 sequences, V={V}, o={theta.outcomes[y]}, all logits 0 "
                f"(pi(o) = 1/4, each token 1/2): printed form - grad log pi(o) has max entry "
                f"{worst:.6g}",
                {"outcome": str(theta.outcomes[y]), "point": _point_text(point)},
                printed=[str(v) for v in printed.subs(point)],
                score=[str(v) for v in score(theta, y).subs(point)],
                residual=[f"{v:.12g}" for v in values])
    return Evidence(Outcome.INCONCLUSIVE, "no outcome gave a non-zero residual at logits 0", {})


@register(
    "dpo.coefficient-token-probability",
    title="Contrastive coefficient with the token probability",
    statement=r"""
    For an autoregressive policy, $\nabla_\theta\log\pi_\theta(o)
    = \sum_t \frac{\nabla_\theta\pi_\theta(o_t \mid o_{<t})}{\pi_\theta(o_t \mid o_{<t})}$, so
    DPO's token coefficient is
    $c_t = \beta\sigma(\hat r_\theta(o^-) - \hat r_\theta(o^+))/\pi_\theta(o_t \mid o_{<t})$.
    Proved for length-2 sequences over vocabularies of 2 and 3 tokens, every outcome, all logits
    symbolic.
    """,
    source="derived (corrects paper v2 App. B.4 Eq. 27 / v3 Eq. 9)",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
    corrects="dpo.coefficient-as-printed",
)
def _coefficient_token() -> Evidence:
    cases = []
    simplifiers = {}
    for vocab in (2, 3):
        theta = sequence_policy(vocab)
        simplifiers[vocab] = _rational_simplifier([theta])
        for y in range(len(theta.outcomes)):
            cases.append((vocab, f"V={vocab}, o={theta.outcomes[y]}",
                          token_coefficient_gradient(theta, y, "token"), score(theta, y)))
    for vocab, label, lhs, rhs in cases:
        ev = prove_identity(lhs, rhs, what=label, simplifier=simplifiers[vocab])
        if ev.outcome is not Outcome.PROVED:
            return ev
    return Evidence(Outcome.PROVED, f"residual 0 for all {len(cases)} outcomes (length 2, "
                    "V = 2 and 3, logits symbolic)", {"residual": "0", "cases": len(cases)})


@register(
    "dpo.is-ratio-gradient",
    title="Gradient of the sequence importance ratio",
    statement=r"""
    For an autoregressive policy (length-2 sequences over 2 tokens, current logits $\theta$ and
    sampling logits $\theta_{\mathrm{old}}$ symbolic) and every outcome $o$:
    $\nabla_\theta\frac{\pi_\theta(o)}{\pi_{\theta_{\mathrm{old}}}(o)}
    = \frac{\pi_\theta(o)}{\pi_{\theta_{\mathrm{old}}}(o)}
    \sum_t\nabla_\theta\log\pi_\theta(o_t \mid o_{<t})$. At $\theta = \theta_{\mathrm{old}}$ this is
    the score $\nabla_\theta\log\pi_\theta(o)$, and the gradient of the unclipped 2-GRPO
    surrogate $\tfrac12\big(A^+\rho(o_w) + A^-\rho(o_l)\big)$,
    $\rho = \pi_\theta/\pi_{\theta_{\mathrm{old}}}$,
    equals the on-policy pair direction $\tfrac12\big(A^+\nabla\log\pi(o_w)
    + A^-\nabla\log\pi(o_l)\big)$.
    """,
    source="paper v2 App. B.3, Eq. 28",
    kind=Kind.SYMBOLIC,
    expected=Outcome.PROVED,
)
def _is_ratio_gradient() -> Evidence:
    theta, old = sequence_policy(V), sequence_policy(V, "old")
    sub = reference_substitution(theta, old)
    both = _rational_simplifier([theta, old])
    at_old = _rational_simplifier([old])
    n = len(theta.outcomes)
    for y in range(n):
        ratio = importance_ratio(theta, old, y)
        grad = sp.Matrix([sp.diff(ratio, p) for p in theta.params])
        label = f"o={theta.outcomes[y]}"
        ev = prove_identity(grad, importance_ratio_gradient(theta, old, y),
                            what=f"{label}, theta free", simplifier=both)
        if ev.outcome is not Outcome.PROVED:
            return ev
        ev = prove_identity(grad.subs(sub), score(theta, y).subs(sub),
                            what=f"{label}, theta = theta_old", simplifier=at_old)
        if ev.outcome is not Outcome.PROVED:
            return ev
    pairs = _ordered_pairs(theta)
    for w, l in pairs:
        surrogate = two_grpo_surrogate(theta, old, w, l)
        grad = sp.Matrix([sp.diff(surrogate, p) for p in theta.params]).subs(sub)
        ev = prove_identity(grad, two_grpo_pair_gradient(theta, w, l).subs(sub),
                            what=f"surrogate, {_label(theta, w, l)}", simplifier=at_old)
        if ev.outcome is not Outcome.PROVED:
            return ev
    return Evidence(Outcome.PROVED,
                    f"ratio gradient = ratio x sum of token scores for all {n} outcomes "
                    f"(theta, theta_old free); = score at theta_old; surrogate gradient = 2-GRPO "
                    f"pair direction at theta_old for all {len(pairs)} ordered pairs",
                    {"residual": "0"})

