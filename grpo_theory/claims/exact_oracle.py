r"""Claims checked with the enumeration oracle on softmax bandits.

The oracle (:mod:`grpo_theory.exact.enumeration`) sums over every multiset of outcomes of a group,
so its moments are exact up to rounding. Each check draws random softmax bandits from fixed seeds
and compares the oracle with the closed forms of :mod:`grpo_theory.exact.binary`, with the true
gradient :math:`\nabla_z\,\mathbb E_\pi[r] = \pi\odot(r - \pi^\top r)` (computed without scores),
or with a brute-force sum over prompt tuples. A check reports the largest error and, when a
tolerance is exceeded, the case where it happened.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import integrate, stats

from grpo_theory.claims._core import Evidence, Kind, Outcome, refuted, register
from grpo_theory.exact.bandit import (
    bandit_estimator_moments,
    batch_moments,
    beta_difficulty_moments,
    reward_gradient,
    softmax,
)
from grpo_theory.exact.binary import count_sums
from grpo_theory.exact.enumeration import (
    multinomial_log_weights,
    multiset_count,
    multisets,
    oracle_moments,
)

__all__: list[str] = []

K_RANGE = range(2, 7)
"""Numbers of arms of the random bandits."""

G_RANGE = range(2, 9)
"""Group sizes of the closed-form comparison."""

TOL = 1e-12
"""Absolute tolerance of the exact comparisons (float64)."""

ESTIMATORS: tuple[tuple[str, float, float], ...] = (
    ("grpo", 0.0, 0.0),
    ("grpo", 1e-6, 0.0),
    ("grpo-bessel", 0.0, 0.0),
    ("dr-grpo", 0.0, 0.0),
    ("rloo", 0.0, 0.0),
    ("reinforce", 0.0, 0.0),
    ("reinforce", 0.0, 0.3),
)
"""Every estimator variant compared: (name, epsilon, baseline)."""


def _bandit(rng: np.random.Generator, K: int, *, binary: bool = True) -> tuple[np.ndarray, ...]:
    """Random logits and rewards; binary rewards have at least one correct and one wrong arm."""
    logits = rng.normal(0.0, 1.5, size=K)
    if binary:
        rewards = np.zeros(K)
        rewards[rng.permutation(K)[: rng.integers(1, K)]] = 1.0
    else:
        rewards = rng.normal(0.0, 1.0, size=K)
    return logits, rewards


def _max_error(cases: Iterable[tuple[dict[str, Any], float]], tol: float, what: str) -> Evidence:
    """``verified`` if every case's error is at most ``tol``, else ``refuted`` at the worst."""
    worst_case: dict[str, Any] = {}
    worst = -1.0
    n = 0
    for case, err in cases:
        n += 1
        if math.isnan(err):  # a nan error is the worst possible
            err = math.inf
        if err > worst:
            worst, worst_case = err, case
    if n == 0:
        raise ValueError("no case was checked")
    details = {"cases": n, "max_error": worst, "tolerance": tol, "worst_case": worst_case}
    if worst <= tol:
        return Evidence(Outcome.VERIFIED, f"{what}: max error {worst:.3g} <= {tol:g} over {n} "
                        "cases", details)
    return refuted(f"{what}: error {worst:.3g} > {tol:g} at {worst_case}", worst_case, **details)


def _err(a: Any, b: Any) -> float:
    diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return float(diff.max()) if diff.size else 0.0


# ----------------------------------------------------------------------------------------------
# The oracle itself
# ----------------------------------------------------------------------------------------------


@register(
    "oracle.multiset-count",
    title="The oracle sums each outcome multiset once, with weights summing to one",
    statement=r"""
    For $K$ outcomes and a group of size $G$, the oracle sums over exactly
    $\binom{G+K-1}{K-1}$ count vectors $n \in \mathbb N^K$ with $\sum_k n_k = G$, each once, and
    for every policy $\pi$ the multinomial weights
    $\frac{G!}{\prod_k n_k!}\prod_k \pi_k^{n_k}$ sum to $1$. Checked for every $K \in 2..6$ and
    $G \in 2..8$; where $K^G \le 20000$ the multisets are also compared with the sorted
    ordered groups.
    """,
    source="derived (stars and bars; the multinomial theorem)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _multiset_count() -> Evidence:
    rng = np.random.default_rng(20251001)
    for K in K_RANGE:
        for G in G_RANGE:
            counts = multisets(K, G)
            expected = math.comb(G + K - 1, K - 1)
            case = {"K": K, "G": G}
            if counts.shape != (expected, K) or multiset_count(K, G) != expected:
                return refuted(f"K={K}, G={G}: {counts.shape[0]} multisets, expected {expected}",
                               case, found=int(counts.shape[0]), expected=expected)
            if np.any(counts < 0) or np.any(counts.sum(axis=1) != G):
                return refuted(f"K={K}, G={G}: a row is not a count vector of size G", case)
            if len({tuple(row) for row in counts.tolist()}) != expected:
                return refuted(f"K={K}, G={G}: a multiset is listed twice", case)
            if K**G <= 20000:
                ordered = {tuple(np.bincount(t, minlength=K))
                           for t in itertools.product(range(K), repeat=G)}
                if ordered != {tuple(row) for row in counts.tolist()}:
                    return refuted(f"K={K}, G={G}: multisets differ from the ordered groups",
                                   case)
            pi = rng.dirichlet(np.ones(K))
            total = float(np.exp(multinomial_log_weights(pi, counts)).sum())
            moments = oracle_moments(pi, np.eye(K) - pi, rng.integers(0, 2, K), G, "grpo")
            if moments.n_multisets != expected:
                return refuted(f"K={K}, G={G}: the oracle summed {moments.n_multisets} terms",
                               case)
            for name, value in (("weights", total), ("oracle weights", moments.weight_sum)):
                if abs(value - 1.0) > TOL:
                    return refuted(f"K={K}, G={G}: {name} sum to {value!r}", case,
                                   weight_sum=value)
    cells = len(K_RANGE) * len(G_RANGE)
    return Evidence(
        Outcome.VERIFIED,
        f"counts equal C(G+K-1, K-1), multisets distinct, weights sum to 1 within {TOL:g} in "
        f"all {cells} cases (K in 2..6, G in 2..8)",
        {"cases": cells, "tolerance": TOL},
    )


@register(
    "oracle.closed-form-agreement",
    title="Closed forms agree with the enumeration oracle",
    statement=r"""
    For softmax bandits with binary rewards, $K \in 2..6$ arms and group sizes $G \in 2..8$, the
    closed-form mean $\mathbb E[\hat g]$ and covariance $\mathrm{Cov}[\hat g]$ of every
    estimator (GRPO with population std and $\epsilon \in \{0, 10^{-6}\}$, GRPO with Bessel's
    std, Dr. GRPO, RLOO, REINFORCE with baseline $0$ and $0.3$), and its probability of a silent
    group, agree with the enumeration oracle to $10^{-12}$.
    """,
    source="derived (conditional independence of positives and negatives given the count)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _closed_form_agreement() -> Evidence:
    def cases() -> Iterable[tuple[dict[str, Any], float]]:
        for K in K_RANGE:
            for G in G_RANGE:
                seed = 1000 * K + G
                logits, rewards = _bandit(np.random.default_rng(seed), K)
                for name, eps, base in ESTIMATORS:
                    exact = bandit_estimator_moments(logits, rewards, G, name, eps, "exact", base)
                    oracle = bandit_estimator_moments(logits, rewards, G, name, eps, "enumerate",
                                                      base)
                    err = max(_err(exact.mean, oracle.mean), _err(exact.cov, oracle.cov),
                              abs(exact.silent_probability - oracle.silent_probability))
                    yield {"K": K, "G": G, "seed": seed, "estimator": name, "epsilon": eps,
                           "baseline": base}, err

    return _max_error(cases(), TOL, "closed form vs oracle (mean, covariance, silent prob.)")


# ----------------------------------------------------------------------------------------------
# Expected gradients
# ----------------------------------------------------------------------------------------------


def _oracle_mean(logits: np.ndarray, rewards: np.ndarray, G: int, estimator: str) -> np.ndarray:
    pi = softmax(logits)
    return oracle_moments(pi, np.eye(pi.size) - pi, rewards, G, estimator).mean


@register(
    "oracle.unbiased-2grpo",
    title="2-GRPO is an unbiased estimator of the gradient of the success probability",
    statement=r"""
    For a softmax bandit with binary rewards, no clipping and scores $\nabla_z\log\pi$, the group
    of two with population std and $\epsilon = 0$ satisfies $\mathbb E[\hat g] = \nabla_z p$
    exactly; with Bessel's std, $\mathbb E[\hat g] = \nabla_z p/\sqrt2$. Checked with the oracle
    on 40 random bandits ($K \in 2..6$) to $10^{-12}$.
    """,
    source="paper v2 Prop 5.1, Case 2 (its expectation, made exact for the gradient); derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _unbiased_2grpo() -> Evidence:
    def cases() -> Iterable[tuple[dict[str, Any], float]]:
        for seed in range(40):
            rng = np.random.default_rng(7000 + seed)
            K = int(K_RANGE[seed % len(K_RANGE)])
            logits, rewards = _bandit(rng, K)
            grad = reward_gradient(logits, rewards)
            for name, scale in (("grpo", 1.0), ("grpo-bessel", 1.0 / math.sqrt(2.0))):
                mean = _oracle_mean(logits, rewards, 2, name)
                yield {"seed": 7000 + seed, "K": K, "estimator": name}, _err(mean, scale * grad)

    return _max_error(cases(), TOL, "E[2-GRPO] vs grad p (and grad p / sqrt 2 with Bessel)")


@register(
    "oracle.rloo-unbiased-continuous",
    title="RLOO is unbiased for real-valued rewards",
    statement=r"""
    For any real rewards and any group size $G \ge 2$, the leave-one-out estimator
    $\hat g = \frac1G\sum_i \big(r_i - \frac1{G-1}\sum_{j\ne i} r_j\big)\nabla\log\pi(o_i)$
    satisfies $\mathbb E[\hat g] = \nabla\,\mathbb E_\pi[r]$: the baseline of response $i$ is
    independent of it and $\mathbb E_\pi[\nabla\log\pi] = 0$. Checked with the oracle on random
    softmax bandits with Gaussian rewards, $K \in 2..6$, $G \in 2..6$, to $10^{-12}$.
    """,
    source="derived (leave-one-out baseline; Kool et al. 2019)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _rloo_continuous() -> Evidence:
    return _continuous_weight("rloo", lambda G: 1.0, seed0=8000)


@register(
    "oracle.dr-grpo-continuous",
    title="Dr. GRPO shrinks the gradient by (G - 1)/G for real-valued rewards",
    statement=r"""
    For any real rewards and any group size $G \ge 2$, the mean-centred estimator
    $\hat g = \frac1G\sum_i (r_i - \bar r)\nabla\log\pi(o_i)$ satisfies
    $\mathbb E[\hat g] = \frac{G-1}{G}\nabla\,\mathbb E_\pi[r]$: the group mean includes
    $r_i$ with weight $1/G$. Checked with the oracle on random softmax bandits with Gaussian
    rewards, $K \in 2..6$, $G \in 2..6$, to $10^{-12}$.
    """,
    source="derived (Dr. GRPO, Liu et al. 2025)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _dr_grpo_continuous() -> Evidence:
    return _continuous_weight("dr-grpo", lambda G: (G - 1) / G, seed0=9000)


def _continuous_weight(estimator: str, weight: Any, seed0: int) -> Evidence:
    def cases() -> Iterable[tuple[dict[str, Any], float]]:
        for K in K_RANGE:
            for G in range(2, 7):
                seed = seed0 + 10 * K + G
                logits, rewards = _bandit(np.random.default_rng(seed), K, binary=False)
                mean = _oracle_mean(logits, rewards, G, estimator)
                target = weight(G) * reward_gradient(logits, rewards)
                yield {"seed": seed, "K": K, "G": G}, _err(mean, target)

    return _max_error(cases(), TOL, f"E[{estimator}] vs weight x grad E[r], real rewards")


# ----------------------------------------------------------------------------------------------
# Many prompts
# ----------------------------------------------------------------------------------------------


def _brute_force_batch(prompts: list, G: int, Q: int, estimator: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the batch estimator over every ordered tuple of Q prompts."""
    per = [bandit_estimator_moments(z, r, G, estimator, method="enumerate") for z, r in prompts]
    sizes = [m.mean.size for m in per]
    D = sum(sizes)
    starts = np.cumsum([0, *sizes[:-1]])
    means, covs = [], []
    for m, s in zip(per, starts, strict=True):
        mu, c = np.zeros(D), np.zeros((D, D))
        mu[s:s + m.mean.size] = m.mean
        c[s:s + m.mean.size, s:s + m.mean.size] = m.cov
        means.append(mu)
        covs.append(c)
    N = len(prompts)
    first = np.zeros(D)
    second = np.zeros((D, D))
    for tup in itertools.product(range(N), repeat=Q):
        cond_mean = sum(means[j] for j in tup) / Q
        cond_cov = sum(covs[j] for j in tup) / Q**2
        first += cond_mean / N**Q
        second += (cond_cov + np.outer(cond_mean, cond_mean)) / N**Q
    return first, second - np.outer(first, first)


@register(
    "oracle.batch-decomposition",
    title="Batch covariance: within prompts plus between prompts, and only Q shrinks the latter",
    statement=r"""
    For a batch of $Q$ prompts drawn uniformly with replacement from a list of softmax bandits
    with separate parameters, and $G$ rollouts each, the batch estimator
    $\frac1Q\sum_j\hat g_{q_j}$ has covariance
    $\frac1Q\mathbb E_q\mathrm{Cov}[\hat g\mid q] + \frac1Q\mathrm{Cov}_q\mathbb E[\hat g\mid q]$
    (checked against a sum over all ordered prompt tuples, $Q \in 1..3$, with per-prompt
    moments from the oracle, for GRPO, Dr. GRPO and RLOO). Both parts scale exactly as $1/Q$, and
    for Dr. GRPO the between-prompt part is
    $\big(\frac{G-1}G\big)^2\frac1Q\mathrm{Cov}_q(\nabla p_q)$, which grows with $G$: more
    rollouts per prompt never shrink it. Tolerance $10^{-12}$.
    """,
    source="derived (law of total covariance; corrects the i.i.d.-rollout reading of paper v2 "
    "Lemma 5.3)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _batch_decomposition() -> Evidence:
    rng = np.random.default_rng(31415)
    prompts = [_bandit(rng, K) for K in (2, 3, 4)]

    def cases() -> Iterable[tuple[dict[str, Any], float]]:
        for estimator in ("grpo", "dr-grpo", "rloo"):
            G = 3
            one = batch_moments(prompts, G, 1, estimator)
            for Q in (1, 2, 3):
                batch = batch_moments(prompts, G, Q, estimator)
                mean, cov = _brute_force_batch(prompts, G, Q, estimator)
                case = {"estimator": estimator, "G": G, "Q": Q}
                yield {**case, "part": "total vs tuples"}, max(_err(batch.mean, mean),
                                                               _err(batch.cov, cov))
                yield {**case, "part": "1/Q scaling"}, max(
                    _err(Q * batch.within, one.within), _err(Q * batch.between, one.between))
        grads = []
        for z, r in prompts:
            grads.append(reward_gradient(z, r))
        D = sum(g.size for g in grads)
        embedded = np.zeros((len(grads), D))
        start = 0
        for i, g in enumerate(grads):
            embedded[i, start:start + g.size] = g
            start += g.size
        centred = embedded - embedded.mean(axis=0)
        cov_grad = centred.T @ centred / len(grads)
        previous = -1.0
        for G in (2, 4, 8, 32):
            for Q in (1, 4):
                batch = batch_moments(prompts, G, Q, "dr-grpo")
                expected = ((G - 1) / G) ** 2 * cov_grad / Q
                yield {"estimator": "dr-grpo", "G": G, "Q": Q, "part": "between"}, _err(
                    batch.between, expected)
            trace = float(np.trace(batch_moments(prompts, G, 1, "dr-grpo").between))
            yield {"G": G, "part": "between grows with G"}, 0.0 if trace > previous else 1.0
            previous = trace

    return _max_error(cases(), TOL, "batch covariance decomposition")


@register(
    "oracle.beta-quadrature-exact",
    title="Gauss-Jacobi quadrature with G + 2 nodes is exact for Beta-distributed difficulty",
    statement=r"""
    For prompts with success probability $p \sim \mathrm{Beta}(a, b)$ and a shared scalar
    parameter (score $r - p$), the batch mean, the within-prompt variance
    $\mathbb E_p\mathrm{Var}[\hat g\mid p]$ and the between-prompt variance
    $\mathrm{Var}_p\mathbb E[\hat g\mid p]$ computed by Gauss-Jacobi quadrature with $G + 2$
    nodes agree with tanh-sinh quadrature against the Beta density to a relative $10^{-9}$ (the
    integrands are polynomials in $p$ of degree at most $2G + 2$). Checked for GRPO, Dr. GRPO
    and RLOO, $G \in \{2, 3, 5, 8\}$, $(a, b) \in \{(1, 1), (0.5, 2), (3, 1.5)\}$.
    """,
    source="derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _beta_quadrature() -> Evidence:
    def conditional(estimator: str, G: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # mu+ = 1 - p, mu- = -p, Sigma+- = 0: the binomial sums give the moments given p.
        s = count_sums(estimator, G, p)
        mean = s.mean_a * (1.0 - p) - s.mean_b * p
        var = s.var_a * (1.0 - p) ** 2 + s.var_b * p**2 - 2.0 * s.cov_ab * p * (1.0 - p)
        return mean, var

    def expect(f: Any, a: float, b: float) -> float:
        res = integrate.tanhsinh(lambda p: f(p) * stats.beta.pdf(p, a, b), 0.0, 1.0,
                                 atol=1e-15, rtol=1e-13)
        return float(res.integral)

    def cases() -> Iterable[tuple[dict[str, Any], float]]:
        for a, b in ((1.0, 1.0), (0.5, 2.0), (3.0, 1.5)):
            for estimator in ("grpo", "dr-grpo", "rloo"):
                for G in (2, 3, 5, 8):
                    quad = beta_difficulty_moments(a, b, G, 1, estimator)
                    m1 = expect(lambda p, e=estimator, g=G: conditional(e, g, p)[0], a, b)
                    m2 = expect(lambda p, e=estimator, g=G: conditional(e, g, p)[0] ** 2, a, b)
                    var = expect(lambda p, e=estimator, g=G: conditional(e, g, p)[1], a, b)
                    computed = np.array([quad.mean[0], quad.within[0, 0], quad.between[0, 0]])
                    expected = np.array([m1, var, m2 - m1**2])
                    rel = float(np.max(np.abs(computed - expected) / np.abs(expected)))
                    yield {"a": a, "b": b, "estimator": estimator, "G": G}, rel

    return _max_error(cases(), 1e-9, "Gauss-Jacobi vs tanh-sinh quadrature (relative)")
