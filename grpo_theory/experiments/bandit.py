r"""A jitted policy-gradient trainer on a bandit data set: GRPO-family estimators and online DPO.

**Protocol** (the fixed-data-set loop of paper v2 App. C.1). The training prompts of a
:class:`~grpo_theory.experiments.bandit_env.BanditTask` are visited for :math:`E` epochs, each
epoch in a fresh random order cut into :math:`\lfloor N_{\mathrm{train}}/Q\rfloor` mini-batches
of :math:`Q` prompts (the last partial batch is dropped), so a run has
:math:`E\lfloor N_{\mathrm{train}}/Q\rfloor` steps. A step:

1. draws :math:`G` arms for each of its :math:`Q` prompts from the current ("old") policy
   :math:`\pi_{\mathrm{old}}` and reads their rewards;
2. computes one group of advantages per prompt with :mod:`grpo_theory.policy_gradient.advantages`
   (``grpo``: population std; ``grpo-bessel``: Bessel's std; ``2-grpo``: ``grpo`` at
   :math:`G = 2`; ``dr-grpo``; ``rloo``; ``reinforce`` with a constant baseline);
3. makes ``inner_steps`` passes over the batch, each split in ``minibatches`` optimiser updates,
   on the clipped surrogate of :func:`grpo_theory.policy_gradient.losses.policy_loss` with token
   ratios over sequences of length 1,

   .. math::

       L(\theta) = \frac1Q\sum_{q}\frac1G\sum_{i=1}^G
       \max\big(-\rho_{q,i}A_{q,i},\ -\mathrm{clip}(\rho_{q,i}, 1-\epsilon_{\mathrm{low}},
       1+\epsilon_{\mathrm{high}})A_{q,i}\big),\qquad
       \rho_{q,i} = \frac{\pi_\theta(a_{q,i}\mid q)}{\pi_{\mathrm{old}}(a_{q,i}\mid q)},

   or, for ``online-dpo``, on :func:`grpo_theory.policy_gradient.dpo.online_dpo_loss` (DPO over
   the disagreeing pairs of each group, reference = the initial or the old policy).

At the first update :math:`\rho = 1`, so :math:`-\nabla L` is the plain score-function estimator
:math:`\frac1Q\sum_q\frac1G\sum_i A_{q,i}\nabla_\theta\log\pi_\theta(a_{q,i}\mid q)` (with one
update per step this is the whole step). The learning rate is either constant or scaled linearly
with :math:`Q` against a reference :math:`Q_{\mathrm{ref}}` (paper v2 App. C.1: 16-GRPO at
32 prompts :math:`\times` 16 rollouts vs 2-GRPO at 256 :math:`\times` 2 with an 8-times learning
rate).

**Outputs.** :func:`make_train` returns a pure function ``train(key)`` whose steps run in
:func:`jax.lax.scan`; ``jax.vmap(train)(keys)`` runs many seeds at once. Per step it records the
exact train/test success and Pass@k of the updated policy, the fraction of silent groups (all
rewards equal), the rollouts consumed so far, the loss, the gradient norm, the clipped fraction
and the batch's mean reward; it also keeps the parameters every ``checkpoint_every`` steps.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array, lax

from grpo_theory._validate import (
    check_group_size,
    check_nonnegative,
    check_positive,
    check_real,
)
from grpo_theory.experiments.bandit_env import (
    POLICY_FAMILIES,
    BanditTask,
    TaskSpec,
    evaluate,
    init_params,
    prompt_logits,
)
from grpo_theory.montecarlo.engine import resolve_dtype
from grpo_theory.policy_gradient.advantages import (
    dr_grpo_advantages,
    grpo_advantages,
    reinforce_advantages,
    rloo_advantages,
)
from grpo_theory.policy_gradient.dpo import online_dpo_loss
from grpo_theory.policy_gradient.losses import policy_loss

__all__ = [
    "ESTIMATORS",
    "LR_RULES",
    "OPTIMISERS",
    "DPO_REFERENCES",
    "BanditConfig",
    "Schedule",
    "schedule",
    "effective_learning_rate",
    "make_optimiser",
    "check_update_rule",
    "advantage_fn",
    "sample_batch",
    "epoch_batches",
    "make_update",
    "make_train",
    "time_train",
]

ESTIMATORS = ("grpo", "grpo-bessel", "2-grpo", "dr-grpo", "rloo", "reinforce", "online-dpo")
"""Update rules: the GRPO-family advantages (clipped surrogate) and online DPO."""

LR_RULES = ("constant", "scaled")
"""``constant``: the learning rate as given; ``scaled``: times
:math:`Q / Q_{\\mathrm{ref}}`."""

OPTIMISERS = ("adam", "sgd")
"""optax optimisers."""

DPO_REFERENCES = ("initial", "old")
"""Reference policy of online DPO: the initial policy (fixed) or the step's sampling policy."""


def _int(x: Any, name: str, minimum: int) -> int:
    return int(check_group_size(x, name, minimum=minimum))


def _choice(value: Any, name: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {value!r}")


def check_update_rule(config: Any) -> None:
    r"""Validate the update-rule fields that every trainer configuration shares.

    The fields: ``estimator`` (:data:`ESTIMATORS`), ``group_size`` (:math:`\ge 2`; exactly 2
    for ``2-grpo``), ``prompts_per_step``, ``epochs``, ``inner_steps``, ``minibatches`` (a
    divisor of ``prompts_per_step``), ``clip_eps_low`` in :math:`[0, 1)`, ``clip_eps_high``,
    ``adv_epsilon`` (:math:`\ge 0`), ``baseline``, ``learning_rate`` (:math:`> 0`),
    ``lr_rule`` (:data:`LR_RULES`), ``lr_reference_prompts``, ``optimiser`` (:data:`OPTIMISERS`),
    ``warmup_steps``, ``max_grad_norm`` (``None`` or :math:`> 0`) and ``dpo_beta``
    (:math:`> 0`). Errors name the field and its valid range.

    Args:
        config: a configuration with these attributes (:class:`BanditConfig`,
            :class:`grpo_theory.transformer.trainer.RLConfig`).
    """
    _choice(config.estimator, "estimator", ESTIMATORS)
    G = _int(config.group_size, "group_size", 2)
    if config.estimator == "2-grpo" and G != 2:
        raise ValueError(f"group_size must be 2 for estimator '2-grpo', got {G}")
    Q = _int(config.prompts_per_step, "prompts_per_step", 1)
    _int(config.epochs, "epochs", 1)
    _int(config.inner_steps, "inner_steps", 1)
    M = _int(config.minibatches, "minibatches", 1)
    if Q % M:
        raise ValueError(f"minibatches must divide prompts_per_step ({Q}), got {M}")
    check_nonnegative(config.clip_eps_low, "clip_eps_low")
    if config.clip_eps_low >= 1:
        raise ValueError(f"clip_eps_low must be < 1, got {config.clip_eps_low!r}")
    check_nonnegative(config.clip_eps_high, "clip_eps_high")
    check_nonnegative(config.adv_epsilon, "adv_epsilon")
    check_real(config.baseline, "baseline")
    check_positive(config.learning_rate, "learning_rate")
    _choice(config.lr_rule, "lr_rule", LR_RULES)
    _int(config.lr_reference_prompts, "lr_reference_prompts", 1)
    _choice(config.optimiser, "optimiser", OPTIMISERS)
    _int(config.warmup_steps, "warmup_steps", 0)
    if config.max_grad_norm is not None:
        check_positive(config.max_grad_norm, "max_grad_norm")
    check_positive(config.dpo_beta, "dpo_beta")


@dataclasses.dataclass(frozen=True)
class BanditConfig:
    """A bandit experiment: task, policy family, update rule, batch shape and optimiser.

    Every field is validated at construction; an error names the field and its valid range.

    Attributes:
        task: the data set (:class:`~grpo_theory.experiments.bandit_env.TaskSpec`).
        policy: ``"tabular"`` or ``"shared"``.
        estimator: one of :data:`ESTIMATORS`.
        group_size: rollouts per prompt :math:`G \\ge 2` (exactly 2 for ``2-grpo``).
        prompts_per_step: prompts per step :math:`Q \\ge 1` (at most the training prompts).
        epochs: passes :math:`E \\ge 1` over the training prompts.
        inner_steps: optimisation passes over each step's rollouts (PPO epochs), ``>= 1``.
        minibatches: optimiser updates per pass (the :math:`Q` prompts split evenly).
        clip_eps_low: :math:`\\epsilon_{\\mathrm{low}} \\ge 0` (paper: 0.2).
        clip_eps_high: :math:`\\epsilon_{\\mathrm{high}} \\ge 0` (paper: 0.28).
        adv_epsilon: the :math:`\\epsilon` added to the std of ``grpo``-type advantages.
        baseline: the constant baseline of ``reinforce``.
        learning_rate: base learning rate ``> 0``.
        lr_rule: one of :data:`LR_RULES`.
        lr_reference_prompts: :math:`Q_{\\mathrm{ref}}` of the ``scaled`` rule.
        optimiser: one of :data:`OPTIMISERS`.
        warmup_steps: optimiser updates of linear warm-up from 0 (0: none).
        max_grad_norm: global-norm gradient clipping, or ``None``.
        dpo_beta: :math:`\\beta > 0` of online DPO.
        dpo_reference: one of :data:`DPO_REFERENCES`.
        eval_k: the :math:`k` of the Pass@k metrics.
        checkpoint_every: keep the parameters every this many steps (0: initial and final).
        dtype: ``"float32"`` or ``"float64"`` (needs ``jax_enable_x64``).
    """

    task: TaskSpec = TaskSpec()
    policy: str = "tabular"
    estimator: str = "2-grpo"
    group_size: int = 2
    prompts_per_step: int = 16
    epochs: int = 10
    inner_steps: int = 1
    minibatches: int = 1
    clip_eps_low: float = 0.2
    clip_eps_high: float = 0.28
    adv_epsilon: float = 0.0
    baseline: float = 0.0
    learning_rate: float = 0.1
    lr_rule: str = "constant"
    lr_reference_prompts: int = 32
    optimiser: str = "adam"
    warmup_steps: int = 0
    max_grad_norm: float | None = None
    dpo_beta: float = 1.0
    dpo_reference: str = "initial"
    eval_k: tuple[int, ...] = (1, 8, 32)
    checkpoint_every: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.task, TaskSpec):
            raise TypeError(f"task must be a TaskSpec, got {type(self.task).__name__}")
        if self.policy not in POLICY_FAMILIES:
            raise ValueError(f"policy must be one of {', '.join(POLICY_FAMILIES)}; "
                             f"got {self.policy!r}")
        check_update_rule(self)
        if self.dpo_reference not in DPO_REFERENCES:
            raise ValueError(f"dpo_reference must be one of {', '.join(DPO_REFERENCES)}; "
                             f"got {self.dpo_reference!r}")
        if not isinstance(self.eval_k, tuple) or not self.eval_k:
            raise ValueError(f"eval_k must be a non-empty tuple of integers >= 1, "
                             f"got {self.eval_k!r}")
        for k in self.eval_k:
            _int(k, "eval_k entry", 1)
        _int(self.checkpoint_every, "checkpoint_every", 0)
        dtype = resolve_dtype(self.dtype)
        if dtype == np.float64 and not jax.config.jax_enable_x64:
            raise ValueError("dtype float64 needs jax_enable_x64; use dtype='float32'")

    def replace(self, **changes: Any) -> BanditConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The static shape of a run.

    Attributes:
        n_steps: total steps :math:`E\\lfloor N_{\\mathrm{train}}/Q\\rfloor`.
        steps_per_epoch: :math:`\\lfloor N_{\\mathrm{train}}/Q\\rfloor`.
        rollouts_per_step: :math:`QG`.
        updates_per_step: ``inner_steps * minibatches``.
        learning_rate: the effective learning rate (:func:`effective_learning_rate`).
        checkpoint_steps: the steps after which parameters are kept (0 = initial).
    """

    n_steps: int
    steps_per_epoch: int
    rollouts_per_step: int
    updates_per_step: int
    learning_rate: float
    checkpoint_steps: tuple[int, ...]


def effective_learning_rate(config: BanditConfig) -> float:
    r"""The learning rate used: :math:`\eta` or :math:`\eta\,Q/Q_{\mathrm{ref}}` (``scaled``).

    Example:
        >>> effective_learning_rate(BanditConfig(prompts_per_step=256, lr_rule="scaled",
        ...                                      learning_rate=1e-3, lr_reference_prompts=32))
        0.008
    """
    lr = float(config.learning_rate)
    if config.lr_rule == "scaled":
        lr *= config.prompts_per_step / config.lr_reference_prompts
    return lr


def schedule(config: BanditConfig, task: BanditTask | None = None) -> Schedule:
    """The run's step count, checkpoint steps and effective learning rate.

    Args:
        config: the configuration.
        task: the task (default ``config.task.build()``).

    Returns:
        A :class:`Schedule`.

    Example:
        >>> s = schedule(BanditConfig(TaskSpec(n_prompts=40, test_fraction=0.2),
        ...                           prompts_per_step=8, epochs=3, checkpoint_every=5))
        >>> s.n_steps, s.steps_per_epoch, s.checkpoint_steps
        (12, 4, (0, 5, 10, 12))
    """
    task = config.task.build() if task is None else task
    Q = config.prompts_per_step
    if Q > task.n_train:
        raise ValueError(f"prompts_per_step must be at most the number of training prompts "
                         f"({task.n_train}), got {Q}")
    per_epoch = task.n_train // Q
    n = config.epochs * per_epoch
    c = config.checkpoint_every or n
    ckpt = sorted({0, *range(c, n + 1, c), n})
    return Schedule(n, per_epoch, Q * config.group_size,
                    config.inner_steps * config.minibatches, effective_learning_rate(config),
                    tuple(ckpt))


def make_optimiser(config: BanditConfig) -> optax.GradientTransformation:
    """The optax optimiser: Adam or SGD at the effective rate, optional warm-up and clipping.

    Example:
        >>> opt = make_optimiser(BanditConfig(optimiser="sgd", learning_rate=0.5))
        >>> upd, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        >>> upd.tolist()
        [-0.5, -0.5]
    """
    lr: Any = effective_learning_rate(config)
    if config.warmup_steps:
        lr = optax.linear_schedule(0.0, lr, config.warmup_steps)
    opt = optax.adam(lr) if config.optimiser == "adam" else optax.sgd(lr)
    if config.max_grad_norm is not None:
        opt = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), opt)
    return opt


def advantage_fn(config: BanditConfig) -> Callable[[Array], Array]:
    """The one-group advantage rule of ``config.estimator`` (``[G] -> [G]``).

    ``online-dpo`` has no advantages; its rule is the mean-centred one (used for logging only).

    Example:
        >>> adv = advantage_fn(BanditConfig(estimator="rloo", group_size=3))
        >>> [round(float(a), 6) for a in adv(jnp.array([1.0, 0.0, 0.0]))]
        [1.0, -0.5, -0.5]
    """
    est, eps = config.estimator, float(config.adv_epsilon)
    if est in ("grpo", "2-grpo"):
        return lambda r: grpo_advantages(r, epsilon=eps, ddof=0)
    if est == "grpo-bessel":
        return lambda r: grpo_advantages(r, epsilon=eps, ddof=1)
    if est == "rloo":
        return rloo_advantages
    if est == "reinforce":
        baseline = float(config.baseline)
        return lambda r: reinforce_advantages(r, baseline)
    return dr_grpo_advantages


def sample_batch(key: Any, logits: Any, rewards: Any, G: int) -> tuple[Array, Array, Array]:
    r"""Draw :math:`G` arms per prompt by inverse CDF, with their rewards and log-probs.

    Arm :math:`a` is drawn when :math:`F_{a-1} \le u < F_a` for a uniform :math:`u` and the
    cumulative probabilities :math:`F`.

    Args:
        key: a PRNG key.
        logits: ``[Q, K]`` logits of the sampling policy.
        rewards: ``[Q, K]`` rewards of the same prompts.
        G: rollouts per prompt.

    Returns:
        ``(arms [Q, G] int32, rewards [Q, G], logp [Q, G])``.

    Example:
        >>> arms, r, lp = sample_batch(jax.random.key(0), jnp.array([[0.0, -30.0]]),
        ...                            jnp.array([[1.0, 0.0]]), 3)
        >>> arms.tolist(), r.tolist()
        ([[0, 0, 0]], [[1.0, 1.0, 1.0]])
    """
    logits = jnp.asarray(logits)
    logp_QK = jax.nn.log_softmax(logits, axis=-1)
    cdf_QK = jnp.cumsum(jnp.exp(logp_QK), axis=-1)[:, :-1]
    u_QG = jax.random.uniform(key, (logits.shape[0], G), logits.dtype)
    arms_QG = jnp.sum(u_QG[:, :, None] >= cdf_QK[:, None, :], axis=-1, dtype=jnp.int32)
    rew_QG = jnp.take_along_axis(jnp.asarray(rewards, logits.dtype), arms_QG, axis=1)
    logp_QG = jnp.take_along_axis(logp_QK, arms_QG, axis=1)
    return arms_QG, rew_QG, logp_QG


def _cast_task(task: BanditTask, dtype: Any) -> BanditTask:
    return dataclasses.replace(
        task,
        rewards=jnp.asarray(task.rewards, dtype),
        logits=jnp.asarray(task.logits, dtype),
        features=jnp.asarray(task.features, dtype),
        initial_success=jnp.asarray(task.initial_success, dtype),
    )


def _epoch_order(k_order: Array, epoch: Array, train_idx: Array) -> Array:
    """The training prompts in the random order of ``epoch`` (argsort of random words)."""
    bits = jax.random.bits(jax.random.fold_in(k_order, epoch), train_idx.shape)
    return train_idx[jnp.argsort(bits)]


def _batch_at(order: Array, t: Array, Q: int, S: int) -> Array:
    """Prompts of step ``t``: slice ``t % S`` of its epoch's order."""
    return lax.dynamic_slice(order, ((t % S) * Q,), (Q,))


def epoch_batches(key: Any, config: BanditConfig, task: BanditTask | None = None) -> Array:
    """The prompt indices of every step of ``train(key)``, ``[n_steps, Q]``.

    Epoch :math:`e` visits the training prompts ``train_idx`` in the order that sorts
    ``bits(fold_in(k_order, e))`` (one random 32-bit word per prompt), with
    ``k_order = split(key)[0]``, cut in consecutive slices of :math:`Q` (a last partial slice
    is dropped).

    Args:
        key: the run's key.
        config: the configuration.
        task: the task (default ``config.task.build()``).

    Returns:
        ``[n_steps, Q]`` int32 prompt indices.

    Example:
        >>> cfg = BanditConfig(TaskSpec(n_prompts=6, test_fraction=0.0), prompts_per_step=3,
        ...                    epochs=2)
        >>> sorted(epoch_batches(jax.random.key(0), cfg)[:2].ravel().tolist())
        [0, 1, 2, 3, 4, 5]
    """
    task = config.task.build() if task is None else task
    sched = schedule(config, task)
    train_idx = jnp.asarray(task.train_idx)
    ts = jnp.arange(sched.n_steps, dtype=jnp.int32)

    @jax.jit
    def batches(key):
        k_order, _ = jax.random.split(key)
        S = sched.steps_per_epoch
        return jax.vmap(lambda t: _batch_at(_epoch_order(k_order, t // S, train_idx), t,
                                            config.prompts_per_step, S))(ts)

    return batches(key)


def make_update(config: BanditConfig, task: BanditTask | None = None) -> Callable:
    """One training step: sample, advantages, ``inner_steps * minibatches`` optimiser updates.

    Args:
        config: the configuration.
        task: the task (default ``config.task.build()``).

    Returns:
        ``update(params, opt_state, idx, key) -> (params, opt_state, info)`` for prompt
        indices ``idx [Q]``; ``info`` holds the batch (``arms``, ``rewards``, ``advantages``,
        ``old_logp``, all ``[Q, G]``), the first update's raw gradient ``grad`` (at
        :math:`\\theta_{\\mathrm{old}}`), and the scalars ``loss``, ``grad_norm``,
        ``clip_fraction`` (means over the step's updates), ``silent_fraction`` and
        ``mean_reward``.

    Example:
        >>> cfg = BanditConfig(TaskSpec(n_prompts=4, n_arms=3, test_fraction=0.0),
        ...                    prompts_per_step=2)
        >>> update = make_update(cfg)
        >>> p0 = init_params(cfg.task.build(), dtype=jnp.float32)
        >>> opt_state = make_optimiser(cfg).init(p0)
        >>> p1, _, info = update(p0, opt_state, jnp.array([0, 3]), jax.random.key(1))
        >>> info["arms"].shape, p1.shape
        ((2, 2), (4, 3))
    """
    task = config.task.build() if task is None else task
    dtype = resolve_dtype(config.dtype)
    tc = _cast_task(task, dtype)
    family, G, M = config.policy, config.group_size, config.minibatches
    n_updates = config.inner_steps * M
    opt = make_optimiser(config)
    adv_rule = advantage_fn(config)
    eps_low, eps_high = float(config.clip_eps_low), float(config.clip_eps_high)
    dpo = config.estimator == "online-dpo"
    beta = float(config.dpo_beta)
    params0 = init_params(task, family, dtype)

    def logp_of(params, idx, arms):
        logp_QK = jax.nn.log_softmax(prompt_logits(params, tc, family, idx), axis=-1)
        return jnp.take_along_axis(logp_QK, arms, axis=1)

    def pg_group(logp_G, old_G, adv_G):
        ones = jnp.ones((G, 1), logp_G.dtype)
        loss = policy_loss(logp_G[:, None], old_G[:, None], ones, adv_G,
                           epsilon_low=eps_low, epsilon_high=eps_high)
        ratio = jnp.exp(logp_G - old_G)
        clipped = ((adv_G > 0) & (ratio > 1 + eps_high)) | ((adv_G < 0) & (ratio < 1 - eps_low))
        return loss, jnp.mean(clipped.astype(logp_G.dtype))

    def loss_fn(params, mb):
        logp_QG = logp_of(params, mb["idx"], mb["arms"])
        if dpo:
            loss_Q = jax.vmap(lambda lp, ref, r: online_dpo_loss(lp, ref, r, beta))(
                logp_QG, mb["ref_logp"], mb["rewards"])
            return jnp.mean(loss_Q), jnp.zeros((), logp_QG.dtype)
        loss_Q, clip_Q = jax.vmap(pg_group)(logp_QG, mb["old_logp"], mb["advantages"])
        return jnp.mean(loss_Q), jnp.mean(clip_Q)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def apply(params, opt_state, mb):
        (loss, clip), grad = grad_fn(params, mb)
        updates, opt_state = opt.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, clip, grad

    def update(params, opt_state, idx, key):
        idx = jnp.asarray(idx)
        Q = idx.shape[0]
        logits_QK = prompt_logits(params, tc, family, idx)
        arms, rewards, old_logp = sample_batch(key, logits_QK, tc.rewards[idx], G)
        old_logp = lax.stop_gradient(old_logp)
        adv = jax.vmap(adv_rule)(rewards).astype(dtype)
        batch = {"idx": idx, "arms": arms, "rewards": rewards, "old_logp": old_logp,
                 "advantages": adv}
        if dpo:
            ref = old_logp if config.dpo_reference == "old" else logp_of(params0, idx, arms)
            batch["ref_logp"] = lax.stop_gradient(ref)
        mbs = jax.tree_util.tree_map(lambda x: x.reshape(M, Q // M, *x.shape[1:]), batch)
        if n_updates == 1:
            params, opt_state, loss, clip, grad = apply(
                params, opt_state, jax.tree_util.tree_map(lambda x: x[0], mbs))
            gnorm = optax.tree.norm(grad)
        else:  # one loop body for every update (compiles once); the first gradient is kept
            def body(carry, i):
                p, s, g0 = carry
                mb = jax.tree_util.tree_map(lambda x: x[i % M], mbs)
                p, s, l_i, c_i, g_i = apply(p, s, mb)
                g0 = jnp.where(i == 0, g_i, g0)
                return (p, s, g0), (l_i, c_i, optax.tree.norm(g_i))

            carry = (params, opt_state, jnp.zeros_like(params))
            (params, opt_state, grad), (ls, cs, gs) = lax.scan(body, carry,
                                                                jnp.arange(n_updates))
            loss, clip, gnorm = jnp.mean(ls), jnp.mean(cs), jnp.mean(gs)
        spread = jnp.max(rewards, axis=1) - jnp.min(rewards, axis=1)
        info = {
            "arms": arms,
            "rewards": rewards,
            "advantages": adv,
            "old_logp": old_logp,
            "grad": grad,
            "loss": loss,
            "grad_norm": gnorm,
            "clip_fraction": clip,
            "silent_fraction": jnp.mean((spread == 0).astype(dtype)),
            "mean_reward": jnp.mean(rewards),
        }
        return params, opt_state, info

    return update


def make_train(config: BanditConfig, task: BanditTask | None = None) -> Callable:
    r"""Build ``train(key)``: a pure, jittable run of the whole experiment.

    Step :math:`t` trains on ``epoch_batches(key, config, task)[t]`` (a fresh random order of
    the training prompts each epoch, drawn once at the epoch's first step) and draws its
    rollouts with ``fold_in(k_rollout, t)``, where ``(k_order, k_rollout) = split(key)``; so a
    run is a function of ``key`` alone, and ``jax.vmap(train)(keys)`` equals the separate runs.
    The steps run in one :func:`jax.lax.scan`; checkpoints are written into a buffer in the
    loop's carry.

    Args:
        config: the configuration.
        task: the task (default ``config.task.build()``; the same for every key).

    Returns:
        ``train(key) -> dict`` with

        * ``metrics``: per step (arrays ``[n_steps]``, or ``[n_steps, len(eval_k)]`` for Pass@k),
          after the step's update: ``train_success``, ``test_success``, ``train_pass_at_k``,
          ``test_pass_at_k`` (exact), ``silent_fraction``, ``mean_reward``, ``rollouts``
          (consumed so far), ``loss``, ``grad_norm``, ``clip_fraction``;
        * ``initial``: the exact metrics of the initial policy;
        * ``checkpoints``: parameters at :attr:`Schedule.checkpoint_steps`, stacked;
        * ``final_params``.

    Example:
        >>> cfg = BanditConfig(TaskSpec(n_prompts=8, n_arms=4, test_fraction=0.0),
        ...                    prompts_per_step=4, epochs=2)
        >>> out = jax.jit(make_train(cfg))(jax.random.key(0))
        >>> out["metrics"]["train_success"].shape, out["checkpoints"].shape
        ((4,), (2, 8, 4))
    """
    task = config.task.build() if task is None else task
    sched = schedule(config, task)
    dtype = resolve_dtype(config.dtype)
    tc = _cast_task(task, dtype)
    family, Q = config.policy, config.prompts_per_step
    ks = tuple(int(k) for k in config.eval_k)
    update = make_update(config, task)
    opt = make_optimiser(config)
    params0 = init_params(task, family, dtype)
    train_idx = jnp.asarray(task.train_idx)
    n, S = sched.n_steps, sched.steps_per_epoch
    c = config.checkpoint_every or n
    n_kept = len(sched.checkpoint_steps)
    rollouts = jnp.arange(1, n + 1, dtype=dtype) * sched.rollouts_per_step

    def train(key):
        k_order, k_roll = jax.random.split(key)

        def step(carry, t):
            params, opt_state, order = carry
            # a new order at each epoch start (a real branch: t is not batched under vmap)
            order = lax.cond(t % S == 0, lambda o: _epoch_order(k_order, t // S, train_idx),
                             lambda o: o, order)
            idx = _batch_at(order, t, Q, S)
            params, opt_state, info = update(params, opt_state, idx,
                                             jax.random.fold_in(k_roll, t))
            out = evaluate(params, tc, family, ks)
            for name in ("silent_fraction", "mean_reward", "loss", "grad_norm",
                         "clip_fraction"):
                out[name] = info[name]
            return (params, opt_state, order), out

        def step_and_keep(carry, t):
            state, kept = carry
            state, out = step(state, t)
            done = t + 1
            slot = jnp.where(done % c == 0, done // c, n_kept - 1)
            kept = lax.cond((done % c == 0) | (done == n),
                            lambda k: lax.dynamic_update_index_in_dim(k, state[0], slot, 0),
                            lambda k: k, kept)
            return (state, kept), out

        kept = jnp.zeros((n_kept, *params0.shape), dtype).at[0].set(params0)
        carry = ((params0, opt.init(params0), train_idx), kept)
        (state, kept), outs = lax.scan(step_and_keep, carry, jnp.arange(n, dtype=jnp.int32))
        outs["rollouts"] = rollouts
        return {
            "metrics": outs,
            "initial": evaluate(params0, tc, family, ks),
            "checkpoints": kept,
            "final_params": state[0],
        }

    return train


def time_train(config: BanditConfig, n_seeds: int = 1024, seed: int = 0,
               task: BanditTask | None = None) -> dict[str, Any]:
    """Time ``jax.jit(jax.vmap(train))`` over ``n_seeds`` keys, with and without compilation.

    Args:
        config: the configuration.
        n_seeds: number of seeds run at once.
        seed: seed of the keys.
        task: the task (default ``config.task.build()``).

    Returns:
        A dict: ``n_seeds``, ``n_steps``, ``setup_s`` (task and closures), ``compile_s``
        (trace, lower, compile), ``first_run_s``, ``with_compile_s`` (setup + compile + first
        run), ``run_s`` (a second, compiled run), ``seed_steps_per_s``, ``load_average``
        (1, 5, 15 min, when available), ``final_train_success`` (mean over seeds) and the
        device platform.

    Example:
        >>> cfg = BanditConfig(TaskSpec(n_prompts=8, n_arms=4, test_fraction=0.0),
        ...                    prompts_per_step=4, epochs=1)
        >>> sorted(time_train(cfg, n_seeds=2))[:3]
        ['compile_s', 'device', 'final_train_success']
    """
    n_seeds = _int(n_seeds, "n_seeds", 1)
    t0 = time.perf_counter()
    task = config.task.build() if task is None else task
    fn = jax.jit(jax.vmap(make_train(config, task)))
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    t1 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    t2 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t3 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t4 = time.perf_counter()
    n_steps = int(out["metrics"]["train_success"].shape[1])
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:  # pragma: no cover - platform without load averages
        load = None
    return {
        "n_seeds": n_seeds,
        "n_steps": n_steps,
        "setup_s": t1 - t0,
        "compile_s": t2 - t1,
        "first_run_s": t3 - t2,
        "with_compile_s": t3 - t0,
        "run_s": t4 - t3,
        "seed_steps_per_s": n_seeds * n_steps / max(t4 - t3, 1e-12),
        "load_average": load,
        "final_train_success": float(np.mean(out["metrics"]["train_success"][:, -1])),
        "device": jax.devices()[0].platform,
    }
