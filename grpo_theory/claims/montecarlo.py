r"""Claims: the Monte Carlo layer agrees with the exact layer, and its test can tell when not.

Each agreement claim draws :math:`N = 2^{20}` groups of an estimator on a softmax bandit with the
JAX engine (:mod:`grpo_theory.montecarlo`) and tests the sample mean vector and the covariance
trace against the exact moments (:mod:`grpo_theory.exact.bandit`: closed forms for binary rewards,
the enumeration oracle for real rewards). The test (:func:`grpo_theory.montecarlo.stats.
check_against_exact`) uses Bernstein and empirical-Bernstein bounds for bounded draws, so its
false-positive probability is at most :math:`10^{-6}` per bandit at this :math:`N`, with no
normal approximation. Keys are fixed; the bandits (number of arms, logits, which arms are
correct) are drawn from a seeded generator. Two power claims show that the same test rejects a
deliberately wrong estimator, including one whose mean is right and only its variance is wrong.
"""

from __future__ import annotations

import functools
import zlib

import jax
import numpy as np

from grpo_theory.claims._core import Evidence, Kind, Outcome, register
from grpo_theory.exact.estimators import Estimator
from grpo_theory.montecarlo.bandit import TABLE_MAX, bandit_sampler
from grpo_theory.montecarlo.stats import DEFAULT_DELTA, AgreementCheck, bandit_agreement

__all__: list[str] = []

N_SAMPLES = 1 << 20
GROUP_SIZES = (2, 3, 4, 8, 16)
ORACLE_GROUP_SIZES = (2, 3, 4)


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _binary_bandit(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """3 to 8 arms, normal logits, each arm correct with probability 1/2 (at least one each)."""
    K = int(rng.integers(3, 9))
    logits = rng.normal(size=K)
    rewards = (rng.random(K) < 0.5).astype(float)
    rewards[rng.permutation(K)[:2]] = [1.0, 0.0]
    return logits, rewards


def _real_bandit(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """4 arms, normal logits, rewards uniform on [0, 1]."""
    return rng.normal(size=4), rng.random(4)


def _evidence(checks: list[tuple[str, AgreementCheck]], details: dict) -> Evidence:
    rows = [{"case": name, **c.as_dict()} for name, c in checks]
    worst_name, worst = max(checks, key=lambda nc: nc[1].worst_ratio)
    details = {**details, "checks": rows, "samples": N_SAMPLES, "delta_per_check": DEFAULT_DELTA}
    if all(c.agrees for _, c in checks):
        return Evidence(Outcome.VERIFIED,
                        f"{len(checks)} bandits, N = {N_SAMPLES} each: every mean coordinate and "
                        f"trace within its radius (worst error/radius {worst.worst_ratio:.2f}, "
                        f"{worst_name}; false-positive probability <= {DEFAULT_DELTA:g} each)",
                        details)
    return Evidence(Outcome.REFUTED, f"{worst_name}: {worst.summary()}",
                    {**details, "counterexample": worst_name})


def _x64(check):
    """Run a check with JAX's float64 mode on (and restore the caller's mode afterwards)."""

    @functools.wraps(check)
    def wrapped() -> Evidence:
        with jax.enable_x64(True):
            return check()

    return wrapped


def _agreement(estimator: str, sizes: tuple[int, ...], real: bool) -> Evidence:
    rng = np.random.default_rng(_seed(f"{estimator}-{real}"))
    checks = []
    for G in sizes:
        z, r = _real_bandit(rng) if real else _binary_bandit(rng)
        c = bandit_agreement(jax.random.key(_seed(f"{estimator}-{G}-{real}")), z, r, G,
                             estimator, N_SAMPLES)
        checks.append((f"G = {G}, K = {z.size}", c))
    return _evidence(checks, {"estimator": estimator, "group_sizes": list(sizes)})


def _register_binary(est: Estimator) -> None:
    @register(
        f"mc.binary.{est.value}",
        title=f"Monte Carlo moments of {est.value} match the exact engine (binary rewards)",
        statement=rf"""
        For the `{est.value}` estimator
        $\hat g = \frac1G\sum_i A_i (e_{{a_i}} - \pi)$ on softmax bandits with binary rewards and
        $G \in \{{2, 3, 4, 8, 16\}}$, the Monte Carlo mean vector and covariance trace over
        $N = 2^{{20}}$ groups agree with the exact closed forms: no coordinate and no trace
        leaves its Bernstein radius at false-positive probability $10^{{-6}}$.
        """,
        source="derived (Monte Carlo against the exact engine)",
        kind=Kind.STATISTICAL,
        expected=Outcome.VERIFIED,
    )
    @_x64
    def _check() -> Evidence:
        return _agreement(est.value, GROUP_SIZES, real=False)


def _register_real(est: Estimator) -> None:
    @register(
        f"mc.oracle.{est.value}",
        title=f"Monte Carlo moments of {est.value} match the enumeration oracle (real rewards)",
        statement=rf"""
        For the `{est.value}` estimator on 4-armed softmax bandits with rewards drawn uniformly
        from $[0, 1]$ and $G \in \{{2, 3, 4\}}$, the Monte Carlo mean vector and covariance trace
        over $N = 2^{{20}}$ groups agree with the enumeration oracle's exact moments at
        false-positive probability $10^{{-6}}$ per bandit.
        """,
        source="derived (Monte Carlo against the enumeration oracle)",
        kind=Kind.STATISTICAL,
        expected=Outcome.VERIFIED,
    )
    @_x64
    def _check() -> Evidence:
        return _agreement(est.value, ORACLE_GROUP_SIZES, real=True)


for _est in Estimator:
    _register_binary(_est)
for _est in Estimator:
    _register_real(_est)


@register(
    "mc.power.wrong-std",
    title="The agreement test rejects GRPO drawn with the wrong standard deviation",
    statement=r"""
    Draws of GRPO with Bessel's std, tested against the exact moments of GRPO with the
    population std, are rejected by the same test at $N = 2^{20}$, both at $G = 2$ (advantages
    off by $\sqrt 2$) and at $G = 16$ (off by $\sqrt{16/15}$, about 3%).
    """,
    source="derived (power of the Monte Carlo checks)",
    kind=Kind.STATISTICAL,
    expected=Outcome.VERIFIED,
)
@_x64
def _power_wrong_std() -> Evidence:
    rng = np.random.default_rng(_seed("power-wrong-std"))
    rows = []
    for G in (2, 16):
        z, r = _binary_bandit(rng)
        c = bandit_agreement(jax.random.key(_seed(f"power-std-{G}")), z, r, G, "grpo", N_SAMPLES,
                             draw_estimator="grpo-bessel")
        rows.append((G, c))
    details = {"checks": [{"G": G, **c.as_dict()} for G, c in rows]}
    if all(not c.agrees for _, c in rows):
        return Evidence(Outcome.VERIFIED, "rejected at every G: error/radius "
                        + ", ".join(f"{c.worst_ratio:.1f} (G = {G})" for G, c in rows), details)
    G = next(G for G, c in rows if c.agrees)
    return Evidence(Outcome.REFUTED, f"the wrong std was not detected at G = {G}",
                    {**details, "counterexample": {"G": G}})


@register(
    "mc.power.variance-only",
    title="The trace test rejects an estimator whose mean is right and variance wrong",
    statement=r"""
    REINFORCE drawn with a constant baseline $b = 1/2$ has the same mean as with $b = 0$
    ($\mathbb E[b\,(e_a - \pi)] = 0$) but a different covariance. Tested against the exact
    moments at $b = 0$ with $N = 2^{20}$, $G \in \{2, 16\}$, the covariance-trace test rejects.
    (The mean test may reject too: its radius assumes the variance of the null hypothesis.)
    """,
    source="derived (power of the Monte Carlo checks)",
    kind=Kind.STATISTICAL,
    expected=Outcome.VERIFIED,
)
@_x64
def _power_variance_only() -> Evidence:
    rng = np.random.default_rng(_seed("power-variance-only"))
    rows = []
    for G in (2, 16):
        z, r = _binary_bandit(rng)
        c = bandit_agreement(jax.random.key(_seed(f"power-var-{G}")), z, r, G, "reinforce",
                             N_SAMPLES, draw_baseline=0.5)
        rows.append((G, c))
    details = {"checks": [{"G": G, **c.as_dict()} for G, c in rows]}
    ok = all(not c.trace_agrees for _, c in rows)
    text = ", ".join(f"G = {G}: mean {'passes' if c.mean_agrees else 'rejected'}, trace "
                     f"error/radius {abs(c.trace_mc - c.trace_exact) / c.trace_radius:.1f}"
                     for G, c in rows)
    if ok:
        return Evidence(Outcome.VERIFIED, text, details)
    return Evidence(Outcome.REFUTED, text, {**details, "counterexample": text})


@register(
    "mc.paths-agree",
    title="The two sampling paths give the same draws",
    statement=r"""
    From the same random words, the per-rollout path (evaluate the advantage rule on the $G$
    rewards), the arm-count path (affine advantages $A_i = \alpha r_{a_i} + \beta$ from the arm
    counts) and, where $K^G \le 4096$, the table path (every ordered group tabulated) give the
    same $\hat g$, to $10^{-12}$ in float64, for every named estimator and
    $G \in \{2, 3, 8, 16\}$, with binary and real rewards.
    """,
    source="derived",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
@_x64
def _paths_agree() -> Evidence:
    rng = np.random.default_rng(_seed("paths"))
    worst, where = 0.0, ""
    for real in (False, True):
        z, r = _real_bandit(rng) if real else _binary_bandit(rng)
        for est in Estimator:
            for G in (2, 3, 8, 16):
                key = jax.random.key(_seed(f"paths-{est.value}-{G}-{real}"))
                paths = ("rollouts", "counts") + (("table",) if z.size**G <= TABLE_MAX else ())
                draws = [np.asarray(bandit_sampler(z, r, G, est, baseline=0.25, path=p,
                                                   dtype="float64",
                                                   with_silent=True)(key, 4096))
                         for p in paths]
                err = max(float(np.max(np.abs(d - draws[0]))) for d in draws[1:])
                if err >= worst:
                    worst, where = err, f"{est.value}, G = {G}, {'real' if real else 'binary'}"
    details = {"max_abs_difference": worst, "worst_case": where, "draws_per_case": 4096}
    if worst <= 1e-12:
        return Evidence(Outcome.VERIFIED, f"largest difference {worst:.2g} ({where})", details)
    return Evidence(Outcome.REFUTED, f"paths differ by {worst:.3g} ({where})",
                    {**details, "counterexample": where})


@register(
    "lab.tabular-cross-covariance-nonpositive",
    title="Across tabular prompts, positive and negative scores are anti-correlated",
    statement=r"""
    For prompts with separate parameter blocks (a tabular softmax policy) drawn with
    probabilities $w_q$, the covariance of the scores of a positive and a negative response to
    the same prompt is
    $\mathrm{tr}\,\mathrm{Cov}(g^+, g^-) = -\sum_q w_q(1 - w_q)\,\frac{p_q}{1-p_q}\,
    \|\mu_q^+\|^2 \le 0$, because $p_q\mu_q^+ + (1-p_q)\mu_q^- = \mathbb E[e_a - \pi_q] = 0$.
    So the optimal control-variate coefficient is $c^* \le 0$, and the contrast $g^+ - g^-$
    ($c = 1$) has a larger variance than $g^+$ alone: Prop 4.1's premise $\mathrm{Cov} > 0$
    needs parameters shared between prompts. Checked on 200 random prompt lists.
    """,
    source="derived (the premise of paper v2 Prop 4.1 and the sign of v3 App. B.8, Table 2)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _tabular_cross_covariance() -> Evidence:
    from grpo_theory.exact.bandit import softmax_bandit_moments
    from grpo_theory.montecarlo.lab import control_variate_exact

    rng = np.random.default_rng(_seed("tabular-cross-covariance"))
    worst_gap, largest_c, worst_increase = 0.0, -np.inf, np.inf
    for _ in range(200):
        n = int(rng.integers(2, 9))
        prompts = [_binary_bandit(rng) for _ in range(n)]
        w = rng.dirichlet(np.ones(n))
        stats = control_variate_exact(prompts, "across", weights=w)
        closed = 0.0
        for wq, (z, r) in zip(w, prompts, strict=True):
            m = softmax_bandit_moments(z, r)
            closed -= wq * (1 - wq) * m.p / (1 - m.p) * float(m.mu_plus @ m.mu_plus)
        worst_gap = max(worst_gap, abs(stats.covariance - closed))
        largest_c = max(largest_c, stats.covariance)
        worst_increase = min(worst_increase, stats.var_c1 - stats.var_plus)
    details = {"lists": 200, "max_abs_gap_closed_form": worst_gap,
               "largest_covariance": largest_c, "smallest_var_c1_minus_var_plus": worst_increase}
    if worst_gap <= 1e-12 and largest_c <= 0 and worst_increase >= 0:
        return Evidence(Outcome.VERIFIED,
                        f"closed form matches to {worst_gap:.1g}; largest covariance "
                        f"{largest_c:.3g} <= 0; Var(g+ - g-) - Var(g+) >= {worst_increase:.3g}",
                        details)
    return Evidence(Outcome.REFUTED, f"gap {worst_gap:.3g}, largest covariance {largest_c:.3g}",
                    {**details, "counterexample": details})
