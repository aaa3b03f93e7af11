r"""The exact theory along a training trajectory of the tabular bandit trainer.

At the trainer's checkpoints the tabular policy is a list of softmax bandits, one per training
prompt, so the exact layer (:func:`grpo_theory.exact.bandit.batch_moments`) gives the moments of
the step's gradient estimate at those parameters; this module puts them next to what training
measures.

**The trainer's batch law.** A step's :math:`Q` prompts are a uniformly random subset of the
:math:`N` training prompts (a slice of a uniformly random order), i.e. drawn *without*
replacement, while :func:`~grpo_theory.exact.bandit.batch_moments` draws them i.i.d. The within
part is the same under both laws; the between part gains the finite-population factor
(derived):

.. math::

    \mathrm{Cov}\Big[\frac1Q\sum_{j}\hat g_{q_j}\Big]
    = \underbrace{\tfrac1Q\,\mathbb E_q\,\mathrm{Cov}[\hat g\mid q]}_{\text{within}}
    + \frac{N - Q}{N - 1}\,\underbrace{\tfrac1Q\,\mathrm{Cov}_q\,\mathbb E[\hat g\mid q]}
    _{\text{between}},

and the mean is unchanged. At :math:`\rho = 1` the trainer's first update follows
:math:`-\nabla L = \frac1Q\sum_q \frac1G\sum_i A_{q,i}(e_{a_{q,i}} - \pi_q)` in block :math:`q`,
exactly the estimator of the exact layer (:func:`first_step_gradients`,
:func:`gradient_sampler`).

**Silent groups (discards).** A group is silent when its :math:`G` rewards are equal. Given the
policy and the step's prompts, prompt :math:`q` with success rate :math:`p_q` is silent with
probability :math:`s_G(p_q) = p_q^G + (1-p_q)^G`, so the expected silent fraction of a step is
the batch average of :math:`s_G(p_q)` (:func:`predicted_silent`), and over the training prompts
:math:`\mathbb E_q[s_G(p_q)]`. Paper v3 App. D.3 (Table 3) estimates the discard rate of 2-GRPO
from the mean reward :math:`\bar r` as :math:`1 - \bar r^2 - (1-\bar r)^2 = 2\bar r(1-\bar r)`
(:func:`printed_discard_rate`), which is the probability that a pair is *kept*. The plug-in
:math:`s_G(\bar r)` (:func:`plugin_silent_rate`) is a lower bound by Jensen's inequality
(:math:`s_G` is convex): :math:`\mathbb E_q s_G(p_q) \ge s_G(\mathbb E_q p_q)`.

**Agreement of the measured silent fraction** (:func:`discard_agreement`). Order the
:math:`n = STQ` silent indicators :math:`X_i` of :math:`S` seeds, :math:`T` steps and :math:`Q`
prompts; given everything drawn before (the policy, the step's prompts), :math:`X_i` is Bernoulli
with the predicted probability :math:`\pi_i`, so :math:`\sum_i (X_i - \pi_i)` is a martingale
with increments in intervals of length 1, and Azuma-Hoeffding gives

.. math::

    P\Big(\Big|\frac1n\sum_i (X_i - \pi_i)\Big| \ge \sqrt{\frac{\log(2/\delta)}{2n}}\Big)
    \le \delta.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from grpo_theory._validate import check_group_size
from grpo_theory.exact.bandit import batch_moments
from grpo_theory.experiments.bandit import (
    BanditConfig,
    epoch_batches,
    make_optimiser,
    make_train,
    make_update,
    schedule,
)
from grpo_theory.experiments.bandit_env import BanditTask, TaskSpec, init_params
from grpo_theory.montecarlo.engine import as_key
from grpo_theory.montecarlo.stats import (
    empirical_bernstein_radius,
    mean_abs_advantage_bound,
)

__all__ = [
    "EXACT_ESTIMATORS",
    "GradientMoments",
    "DiscardAgreement",
    "TrajectoryRow",
    "Trajectory",
    "TRAJECTORY_CONFIG",
    "silent_probability",
    "printed_discard_rate",
    "plugin_silent_rate",
    "exact_estimator",
    "exact_gradient_moments",
    "first_step_gradients",
    "gradient_sampler",
    "gradient_draws",
    "gradient_norm_bound",
    "trace_agreement",
    "predicted_silent",
    "discard_agreement",
    "run_trajectory",
]

EXACT_ESTIMATORS = {"grpo": "grpo", "2-grpo": "grpo", "grpo-bessel": "grpo-bessel",
                    "dr-grpo": "dr-grpo", "rloo": "rloo", "reinforce": "reinforce"}
"""Trainer estimators and the exact layer's name for each (online DPO has no counterpart)."""

TRAJECTORY_CONFIG = BanditConfig(
    task=TaskSpec(n_prompts=64, n_arms=8, difficulty=("beta", 1.0, 1.0), test_fraction=0.25,
                  seed=1),
    policy="tabular", estimator="2-grpo", group_size=2, prompts_per_step=16, epochs=10,
    learning_rate=0.3, optimiser="adam", eval_k=(1, 8),
)
"""A small tabular run: 48 training prompts, 8 arms, 2-GRPO at 16 prompts, 30 steps."""


def silent_probability(p: Any, G: int) -> np.ndarray:
    r""":math:`s_G(p) = p^G + (1-p)^G`, the probability that :math:`G` binary rewards agree.

    Example:
        >>> float(silent_probability(0.5, 2))
        0.5
    """
    G = check_group_size(G)
    p = np.asarray(p, dtype=float)
    return p**G + (1.0 - p) ** G


def printed_discard_rate(rbar: Any) -> np.ndarray:
    r"""Paper v3 App. D.3's estimate :math:`1 - \bar r^2 - (1 - \bar r)^2` (a keep probability).

    Example:
        >>> float(printed_discard_rate(0.5))
        0.5
    """
    r = np.asarray(rbar, dtype=float)
    return 1.0 - r**2 - (1.0 - r) ** 2


def plugin_silent_rate(rbar: Any, G: int = 2) -> np.ndarray:
    r"""The plug-in :math:`s_G(\bar r)`, a lower bound on :math:`\mathbb E_q s_G(p_q)` (Jensen).

    Example:
        >>> float(plugin_silent_rate(0.25))
        0.625
    """
    return silent_probability(rbar, G)


def exact_estimator(config: BanditConfig) -> str:
    """The exact layer's estimator name for ``config`` (tabular policy, binary rewards).

    Example:
        >>> exact_estimator(TRAJECTORY_CONFIG)
        'grpo'
    """
    if config.policy != "tabular":
        raise ValueError(f"policy must be 'tabular' for the exact layer, got {config.policy!r}")
    if config.task.reward != "binary":
        raise ValueError(f"task reward must be 'binary' for the exact layer, "
                         f"got {config.task.reward!r}")
    if config.estimator not in EXACT_ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(EXACT_ESTIMATORS)} for the exact "
                         f"layer, got {config.estimator!r}")
    return EXACT_ESTIMATORS[config.estimator]


@dataclasses.dataclass(frozen=True)
class GradientMoments:
    """Exact moments of a step's gradient estimate at given tabular parameters.

    Vectors live on the training prompts' logits, flattened in ``train_idx`` order
    (:math:`D = N_{\\mathrm{train}} K`).

    Attributes:
        mean: the expected estimate ``[D]``.
        target: the gradient of the mean training success ``[D]``.
        within_trace: trace of the within part.
        between_trace: trace of the between part for i.i.d. prompts.
        cov_trace: trace under the trainer's law (without replacement).
        cov_trace_iid: trace for i.i.d. prompts (:func:`~grpo_theory.exact.bandit.batch_moments`).
        bias_sq: :math:`\\|\\mathrm{mean} - \\mathrm{target}\\|^2`.
        snr: :math:`\\|\\mathrm{mean}\\|^2` over ``cov_trace``.
        silent: expected silent fraction over the training prompts.
        success: mean training success.
    """

    mean: np.ndarray
    target: np.ndarray
    within_trace: float
    between_trace: float
    cov_trace: float
    cov_trace_iid: float
    bias_sq: float
    snr: float
    silent: float
    success: float


def _train_prompts(params: Any, task: BanditTask) -> list[tuple[np.ndarray, np.ndarray]]:
    z = np.asarray(params, dtype=float)
    r = np.asarray(task.rewards, dtype=float)
    return [(z[q], r[q]) for q in np.asarray(task.train_idx)]


def exact_gradient_moments(params: Any, config: BanditConfig,
                           task: BanditTask | None = None) -> GradientMoments:
    r"""Exact moments of the trainer's first-update gradient estimate at ``params``.

    Args:
        params: tabular parameters ``[N, K]``.
        config: the configuration (tabular policy, binary rewards, a GRPO-family estimator).
        task: the task (default ``config.task.build()``).

    Returns:
        :class:`GradientMoments` (the trainer's batch law: the module docstring).

    Example:
        >>> cfg = TRAJECTORY_CONFIG
        >>> m = exact_gradient_moments(cfg.task.build().logits, cfg)
        >>> bool(m.cov_trace < m.cov_trace_iid), round(m.bias_sq, 12)
        (True, 0.0)
    """
    est = exact_estimator(config)
    task = config.task.build() if task is None else task
    N, Q, G = task.n_train, config.prompts_per_step, config.group_size
    b = batch_moments(_train_prompts(params, task), G, Q, est, epsilon=config.adv_epsilon,
                      baseline=config.baseline)
    within = float(np.trace(b.within))
    between = float(np.trace(b.between))
    fpc = (N - Q) / (N - 1) if N > 1 else 0.0
    cov = within + fpc * between
    p = np.array([m.p for m in b.prompts])
    return GradientMoments(
        mean=b.mean, target=b.target, within_trace=within, between_trace=between,
        cov_trace=cov, cov_trace_iid=within + between, bias_sq=b.bias_sq,
        snr=float(b.mean @ b.mean / cov) if cov > 0 else math.inf,
        silent=float(np.mean(silent_probability(p, G))), success=float(p.mean()),
    )


def _grad_fn(config: BanditConfig, task: BanditTask) -> Callable:
    """``g(params, idx, key) -> [D]``: minus the first update's gradient on the train rows."""
    update = make_update(config, task)
    opt = make_optimiser(config)
    train_idx = jnp.asarray(task.train_idx)

    def g(params, idx, key):
        _, _, info = update(params, opt.init(params), idx, key)
        return -info["grad"][train_idx].ravel()

    return g


def first_step_gradients(config: BanditConfig, keys: Any, task: BanditTask | None = None,
                         chunk: int = 4096) -> np.ndarray:
    """The first step's gradient estimate of ``train(key)`` for each key, ``[S, D]``.

    Step 0 of :func:`~grpo_theory.experiments.bandit.make_train` trains on
    ``epoch_batches(key)[0]`` with rollouts from ``fold_in(split(key)[1], 0)`` at the initial
    parameters; this returns minus the gradient of its first update on the training rows.

    Args:
        config: the configuration (tabular policy).
        keys: ``[S]`` PRNG keys (the training seeds).
        task: the task (default ``config.task.build()``).
        chunk: keys per compiled call.

    Returns:
        ``[S, D]`` float64.

    Example:
        >>> g = first_step_gradients(TRAJECTORY_CONFIG, jax.random.split(jax.random.key(0), 3))
        >>> g.shape
        (3, 384)
    """
    exact_estimator(config)
    task = config.task.build() if task is None else task
    g = _grad_fn(config, task)
    params0 = init_params(task, "tabular", config.dtype)

    @jax.jit
    def one(key):
        idx = epoch_batches(key, config, task)[0]
        return g(params0, idx, jax.random.fold_in(jax.random.split(key)[1], 0))

    fn = jax.jit(jax.vmap(one))
    keys = jnp.asarray(keys)
    parts = [np.asarray(fn(keys[i:i + chunk]), dtype=float) for i in range(0, keys.shape[0],
                                                                             chunk)]
    return np.concatenate(parts, axis=0)


def gradient_sampler(config: BanditConfig, params: Any, task: BanditTask | None = None
                     ) -> Callable[[jax.Array, int], jax.Array]:
    """An engine sampler of the trainer's gradient estimate at fixed ``params``.

    One draw: a uniformly random subset of :math:`Q` training prompts (the trainer's batch law)
    and the first update's gradient (negated, training rows) with fresh rollouts.

    Args:
        config: the configuration (tabular policy).
        params: tabular parameters ``[N, K]``.
        task: the task (default ``config.task.build()``).

    Returns:
        ``sampler(key, n) -> [n, D]`` for :func:`~grpo_theory.montecarlo.engine.mc_moments`.

    Example:
        >>> s = gradient_sampler(TRAJECTORY_CONFIG, TRAJECTORY_CONFIG.task.build().logits)
        >>> s(jax.random.key(0), 2).shape
        (2, 384)
    """
    exact_estimator(config)
    task = config.task.build() if task is None else task
    g = _grad_fn(config, task)
    params = jnp.asarray(params, config.dtype)
    train_idx = jnp.asarray(task.train_idx)
    Q = config.prompts_per_step

    def one(key):
        k_idx, k_roll = jax.random.split(key)
        idx = jax.random.permutation(k_idx, train_idx)[:Q]
        return g(params, idx, k_roll)

    def sampler(key, n):
        return jax.vmap(one)(jax.random.split(key, n))

    return sampler


@functools.lru_cache(maxsize=8)
def _draw_fn(config: BanditConfig, n: int) -> Callable:
    task = config.task.build()
    g = _grad_fn(config, task)
    train_idx = jnp.asarray(task.train_idx)
    Q = config.prompts_per_step

    def one(params, key):
        k_idx, k_roll = jax.random.split(key)
        return g(params, jax.random.permutation(k_idx, train_idx)[:Q], k_roll)

    return jax.jit(lambda params, key: jax.vmap(one, in_axes=(None, 0))(
        params, jax.random.split(key, n)))


def gradient_draws(config: BanditConfig, params: Any, key: Any, n: int) -> np.ndarray:
    """``n`` draws of the trainer's gradient estimate at ``params`` (one compilation per config).

    The draws of :func:`gradient_sampler` with the task ``config.task.build()``, with
    ``params`` an argument of the compiled function (so every checkpoint reuses it).

    Args:
        config: the configuration (tabular policy).
        params: tabular parameters ``[N, K]``.
        key: a PRNG key or an int seed.
        n: number of draws, ``>= 2``.

    Returns:
        ``[n, D]`` float64.

    Example:
        >>> cfg = TRAJECTORY_CONFIG
        >>> gradient_draws(cfg, cfg.task.build().logits, 0, 4).shape
        (4, 384)
    """
    exact_estimator(config)
    n = check_group_size(n, "n", minimum=2)
    fn = _draw_fn(config, n)
    return np.asarray(fn(jnp.asarray(params, config.dtype), as_key(key)), dtype=float)


def gradient_norm_bound(config: BanditConfig, task: BanditTask | None = None) -> float:
    r"""A bound on the norm of a step's gradient estimate.

    Prompts occupy disjoint blocks, so :math:`\|\hat g_B\|^2 = Q^{-2}\sum_j\|\hat g_{q_j}\|^2
    \le Q^{-1}\max\|\hat g_q\|^2`, and :math:`\|\hat g_q\| \le \bar A\,\sqrt 2` with
    :math:`\bar A` the bound on :math:`\frac1G\sum_i|A_i|` of
    :func:`~grpo_theory.montecarlo.stats.mean_abs_advantage_bound` and
    :math:`\|e_a - \pi\| \le \sqrt 2`.

    Example:
        >>> round(gradient_norm_bound(TRAJECTORY_CONFIG), 6)
        0.353553
    """
    task = config.task.build() if task is None else task
    est = exact_estimator(config)
    a = mean_abs_advantage_bound(est, config.group_size, [0.0, 1.0], config.adv_epsilon,
                                 config.baseline)
    return a * math.sqrt(2.0) / math.sqrt(config.prompts_per_step)


def trace_agreement(draws_or_moments: Any, exact: GradientMoments, norm_bound: float,
                    delta: float = 1e-6, slack: float = 0.0) -> dict[str, Any]:
    r"""Test a covariance trace against the exact one with false-positive probability ``delta``.

    With :math:`Y_i = \|x_i - \mu\|^2` about the exact mean :math:`\mu`,
    :math:`\mathbb E Y = \mathrm{tr}\,\Sigma` and :math:`0 \le Y \le (b + \|\mu\|)^2`; the
    two-sided empirical Bernstein radius (:func:`~grpo_theory.montecarlo.stats.
    empirical_bernstein_radius`) plus ``slack`` times the range bounds the error.

    Args:
        draws_or_moments: draws ``[n, D]`` or an :class:`~grpo_theory.montecarlo.engine.
            MCMoments`.
        exact: the exact moments.
        norm_bound: :math:`b \ge \|x\|`.
        delta: false-positive probability.
        slack: extra allowance as a fraction of the range (a law off by total variation
            :math:`\tau` moves :math:`\mathbb E Y` by at most :math:`\tau` times the range).

    Returns:
        ``{"n", "trace_measured", "trace_exact", "radius", "agrees", "ratio"}``.
    """
    mu = np.asarray(exact.mean, dtype=float)
    if hasattr(draws_or_moments, "squared_deviation"):
        n = int(draws_or_moments.n)
        y_mean, y_var = draws_or_moments.squared_deviation(mu)
    else:
        x = np.asarray(draws_or_moments, dtype=float)
        y = np.sum((x - mu) ** 2, axis=1)
        n, y_mean, y_var = y.size, float(y.mean()), float(y.var(ddof=1))
    y_range = (norm_bound + float(np.linalg.norm(mu))) ** 2
    radius = empirical_bernstein_radius(y_var, y_range, n, delta) + slack * y_range
    err = abs(y_mean - exact.cov_trace)
    return {"n": n, "trace_measured": float(y_mean), "trace_exact": exact.cov_trace,
            "radius": radius, "agrees": bool(err <= radius), "ratio": err / radius}


def predicted_silent(checkpoints: Any, batches: Any, task: BanditTask, G: int) -> np.ndarray:
    r"""Expected silent fraction of every step given its policy and prompts.

    Args:
        checkpoints: ``[S, T + 1, N, K]`` tabular parameters before each step (and after the
            last), e.g. ``train(key)["checkpoints"]`` with ``checkpoint_every=1``.
        batches: ``[S, T, Q]`` the prompts of each step (:func:`~grpo_theory.experiments.
            bandit.epoch_batches`).
        task: the task.
        G: group size.

    Returns:
        ``[S, T]`` the batch averages of :math:`s_G(p_q)`.
    """
    s = silent_probability(_rates(np.asarray(checkpoints, float)[:, :-1], task), G)  # [S,T,N]
    b = np.asarray(batches)
    return np.take_along_axis(s, b, axis=2).mean(axis=2)


@dataclasses.dataclass(frozen=True)
class DiscardAgreement:
    """The measured silent fraction over training against its exact prediction.

    Attributes:
        n: silent indicators (seeds times steps times prompts).
        measured: their mean.
        predicted: the mean of their predicted probabilities.
        radius: the Azuma-Hoeffding radius at ``delta``.
        delta: false-positive probability.
        printed: the mean of the printed formula at the steps' exact mean success.
        plugin: the mean of the plug-in :math:`s_G(\\bar r)` at the same.
    """

    n: int
    measured: float
    predicted: float
    radius: float
    delta: float
    printed: float
    plugin: float

    @property
    def agrees(self) -> bool:
        """``|measured - predicted| <= radius``."""
        return abs(self.measured - self.predicted) <= self.radius

    @property
    def printed_rejected(self) -> bool:
        """The printed formula is off by more than the radius."""
        return abs(self.measured - self.printed) > self.radius

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**dataclasses.asdict(self), "agrees": self.agrees,
                "printed_rejected": self.printed_rejected}


def discard_agreement(measured: Any, predicted: Any, Q: int, rbar: Any, G: int = 2,
                      delta: float = 1e-6) -> DiscardAgreement:
    """Compare per-step silent fractions with their predictions (Azuma-Hoeffding radius).

    Args:
        measured: ``[S, T]`` measured silent fractions.
        predicted: ``[S, T]`` predicted ones (:func:`predicted_silent`).
        Q: prompts per step (indicators per entry).
        rbar: ``[S, T]`` the steps' exact mean success (batch averages of :math:`p_q`).
        G: group size.
        delta: false-positive probability.

    Returns:
        :class:`DiscardAgreement`.

    Example:
        >>> a = discard_agreement(np.full((4, 4), 0.5), np.full((4, 4), 0.5), 16, 0.5)
        >>> a.agrees, round(a.radius, 4)
        (True, 0.1683)
    """
    m = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if m.shape != p.shape:
        raise ValueError(f"measured and predicted must have the same shape, got {m.shape} "
                         f"and {p.shape}")
    Q = check_group_size(Q, "Q", minimum=1)
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    n = m.size * Q
    r = np.broadcast_to(np.asarray(rbar, dtype=float), m.shape)
    return DiscardAgreement(
        n=n, measured=float(m.mean()), predicted=float(p.mean()),
        radius=math.sqrt(math.log(2.0 / delta) / (2.0 * n)), delta=delta,
        printed=float(printed_discard_rate(r).mean()),
        plugin=float(plugin_silent_rate(r, G).mean()),
    )


@dataclasses.dataclass(frozen=True)
class TrajectoryRow:
    """Theory and measurement at one checkpoint (the policy before step ``step``).

    Attributes:
        step: steps done.
        exact: exact gradient moments at the reference seed's parameters.
        mc_cov_trace: Monte Carlo trace of the trainer's gradient at the same parameters.
        mc_cov_trace_se: its standard error.
        mc_bias_sq: :math:`\\|\\bar x - \\mathrm{target}\\|^2 - \\widehat{\\mathrm{tr}}/n`.
        silent_measured: mean over seeds of the step's measured silent fraction.
        silent_exact: mean over seeds of :math:`\\mathbb E_q s_G(p_q)` at their parameters.
        mean_reward: mean over seeds of the step's measured batch mean reward.
        printed: :func:`printed_discard_rate` at ``mean_reward``.
        plugin: :func:`plugin_silent_rate` at ``mean_reward``.
    """

    step: int
    exact: GradientMoments
    mc_cov_trace: float
    mc_cov_trace_se: float
    mc_bias_sq: float
    silent_measured: float
    silent_exact: float
    mean_reward: float
    printed: float
    plugin: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (no vectors)."""
        e = self.exact
        return {"step": self.step, "success": e.success, "cov_trace": e.cov_trace,
                "cov_trace_iid": e.cov_trace_iid, "bias_sq": e.bias_sq, "snr": e.snr,
                "mc_cov_trace": self.mc_cov_trace, "mc_cov_trace_se": self.mc_cov_trace_se,
                "mc_bias_sq": self.mc_bias_sq, "silent_measured": self.silent_measured,
                "silent_exact": self.silent_exact, "mean_reward": self.mean_reward,
                "printed": self.printed, "plugin": self.plugin}


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """The result of :func:`run_trajectory`.

    Attributes:
        config: the configuration.
        seeds: training seeds.
        rows: one per checkpoint row.
        first_step: :func:`trace_agreement` of the seeds' first-step gradients at step 0.
        discard: the silent fraction over the whole run (:func:`discard_agreement`).
    """

    config: BanditConfig
    seeds: int
    rows: tuple[TrajectoryRow, ...]
    first_step: dict[str, Any]
    discard: DiscardAgreement

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"seeds": self.seeds, "rows": [r.as_dict() for r in self.rows],
                "first_step": self.first_step, "discard": self.discard.as_dict()}

    def table(self) -> str:
        """A Markdown table of the rows."""
        lines = ["| step | success | tr Cov exact | tr Cov MC (se) | bias² | SNR | silent "
                 "measured | silent exact | printed 2r(1-r) | plug-in s(r) |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            e = r.exact
            lines.append(f"| {r.step} | {e.success:.4f} | {e.cov_trace:.5f} | "
                         f"{r.mc_cov_trace:.5f} ({r.mc_cov_trace_se:.1g}) | {e.bias_sq:.2g} | "
                         f"{e.snr:.4f} | {r.silent_measured:.4f} | {r.silent_exact:.4f} | "
                         f"{r.printed:.4f} | {r.plugin:.4f} |")
        return "\n".join(lines)


@functools.lru_cache(maxsize=4)
def _run(config: BanditConfig, seeds: int, seed: int) -> dict[str, np.ndarray]:
    task = config.task.build()
    cfg = config.replace(checkpoint_every=1)
    keys = jax.random.split(as_key(seed), seeds)
    out = jax.jit(jax.vmap(make_train(cfg, task)))(keys)
    batches = jax.vmap(lambda k: epoch_batches(k, cfg, task))(keys)
    return {"checkpoints": np.asarray(out["checkpoints"], float),
            "silent": np.asarray(out["metrics"]["silent_fraction"], float),
            "reward": np.asarray(out["metrics"]["mean_reward"], float),
            "batches": np.asarray(batches), "keys": keys}


def run_trajectory(config: BanditConfig = TRAJECTORY_CONFIG, *, seeds: int = 64, seed: int = 0,
                   row_every: int = 10, mc_samples: int = 1 << 14,
                   first_step_seeds: int | None = None, delta: float = 1e-6) -> Trajectory:
    """Train ``seeds`` seeds and put the exact theory beside the measurements.

    Args:
        config: a tabular configuration with a GRPO-family estimator and binary rewards.
        seeds: training seeds :math:`S \\ge 2`.
        seed: seed of the run keys ``split(key(seed), S)``.
        row_every: a table row every this many steps (and step 0).
        mc_samples: Monte Carlo gradient draws per row (:func:`gradient_draws`, the trainer's
            gradient at the parameters of the reference seed, index 0).
        first_step_seeds: seeds for the first-step spread (default ``seeds``; only step 0 is
            computed, so many are cheap).
        delta: false-positive probability of each agreement test.

    Returns:
        :class:`Trajectory`.
    """
    exact_estimator(config)
    seeds = check_group_size(seeds, "seeds", minimum=2)
    row_every = check_group_size(row_every, "row_every", minimum=1)
    mc_samples = check_group_size(mc_samples, "mc_samples", minimum=2)
    task = config.task.build()
    sched = schedule(config, task)
    G, Q = config.group_size, config.prompts_per_step
    data = _run(config, seeds, seed)
    ck, silent, reward = data["checkpoints"], data["silent"], data["reward"]
    rows = []
    for step in range(0, sched.n_steps, row_every):
        params = ck[0, step]
        exact = exact_gradient_moments(params, config, task)
        x = gradient_draws(config, params, jax.random.fold_in(as_key(seed + 1), step),
                           mc_samples)
        xm = x.mean(axis=0)
        tr = float(x.var(axis=0, ddof=1).sum())
        tr_se = float(np.sum((x - xm) ** 2, axis=1).std(ddof=1) / math.sqrt(mc_samples))
        bias = float(np.sum((xm - exact.target) ** 2) - tr / mc_samples)
        silent_exact = float(np.mean(_silent_over_prompts(ck[:, step], task, G)))
        rbar = float(reward[:, step].mean())
        rows.append(TrajectoryRow(
            step=step, exact=exact, mc_cov_trace=tr, mc_cov_trace_se=tr_se, mc_bias_sq=bias,
            silent_measured=float(silent[:, step].mean()), silent_exact=silent_exact,
            mean_reward=rbar, printed=float(printed_discard_rate(rbar)),
            plugin=float(plugin_silent_rate(rbar, G)),
        ))
    n_first = seeds if first_step_seeds is None else check_group_size(
        first_step_seeds, "first_step_seeds", minimum=2)
    keys = jax.random.split(as_key(seed), n_first)
    draws = first_step_gradients(config, keys, task)
    first = trace_agreement(draws, rows[0].exact, gradient_norm_bound(config, task), delta)
    predicted = predicted_silent(ck, data["batches"], task, G)
    rbar = _batch_success(ck, data["batches"], task)
    discard = discard_agreement(silent, predicted, Q, rbar, G, delta)
    return Trajectory(config, seeds, tuple(rows), first, discard)


def _rates(z: np.ndarray, task: BanditTask) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.sum(e * np.asarray(task.rewards, float), axis=-1) / e.sum(axis=-1)


def _silent_over_prompts(params: np.ndarray, task: BanditTask, G: int) -> np.ndarray:
    """``[S]`` the mean of :math:`s_G(p_q)` over the training prompts, per seed."""
    p = _rates(np.asarray(params, float), task)[..., np.asarray(task.train_idx)]
    return silent_probability(p, G).mean(axis=-1)


def _batch_success(checkpoints: np.ndarray, batches: np.ndarray, task: BanditTask
                   ) -> np.ndarray:
    """``[S, T]`` the exact mean success of each step's prompts before the step."""
    p = _rates(np.asarray(checkpoints, float)[:, :-1], task)
    return np.take_along_axis(p, np.asarray(batches), axis=2).mean(axis=2)
