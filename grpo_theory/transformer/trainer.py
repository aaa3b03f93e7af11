r"""RL from verifiable rewards on a tiny transformer: the paper's training loop in miniature.

**Protocol** (paper v2 App. C.1, as in :mod:`grpo_theory.experiments.bandit`). The training
prompts of a :class:`~grpo_theory.transformer.tasks.SequenceTask` are visited for :math:`E`
epochs, each in a fresh random order cut into :math:`\lfloor N_{\mathrm{train}}/Q\rfloor`
mini-batches of :math:`Q` prompts. A step:

1. samples :math:`G` completions of each prompt from the current ("old") policy
   :math:`\pi_{\mathrm{old}}` (:func:`~grpo_theory.transformer.sampling.sample_completions`, at
   ``temperature``) and scores them (exact match, or partial credit);
2. computes one group of advantages per prompt with the rule of ``estimator``
   (:func:`grpo_theory.experiments.bandit.advantage_fn`: GRPO with the population or Bessel std,
   2-GRPO, Dr. GRPO, RLOO, REINFORCE);
3. makes ``inner_steps`` passes over the step's rollouts, each in ``minibatches`` optimiser
   updates (prompts shuffled between passes), on

   .. math::

       L(\theta) = \mathrm{agg}_{i,t}\Big[\max\big(-\rho_{i,t}A_i,\
       -\mathrm{clip}(\rho_{i,t}, 1-\epsilon_{\mathrm{low}}, 1+\epsilon_{\mathrm{high}})A_i\big)
       \Big] + \beta_{\mathrm{KL}}\,\mathrm{agg}_{i,t}\big[k(\theta; i, t)\big],\qquad
       \rho_{i,t} = \frac{\pi_\theta(y_{i,t}\mid q, y_{i,<t})}
                         {\pi_{\mathrm{old}}(y_{i,t}\mid q, y_{i,<t})},

   with the token-level (or GSPO sequence-level) ratio, the loss aggregation ``aggregation``
   over the minibatch's tokens (:func:`grpo_theory.policy_gradient.losses.policy_loss`: the
   minibatch's sequences form one table, so ``token-mean`` averages over all of its tokens as
   verl does) and the KL estimator ``kl_estimator`` toward the reference (the model the run
   started from); or, for ``online-dpo``, the DPO loss over the disagreeing pairs of each group
   (:func:`grpo_theory.policy_gradient.dpo.online_dpo_loss`) with the starting model as
   reference.

The old policy's log-probabilities are recomputed by one forward pass on the sampled sequences,
so at the first update :math:`\rho = 1` exactly and :math:`-\nabla L` is the score-function
estimator. The learning rate is constant or scaled with :math:`Q` (the paper's 8-times rate for
2-GRPO at 256 prompts), with optional linear warm-up and global-norm clipping
(:func:`grpo_theory.experiments.bandit.make_optimiser`).

**Evaluation.** Every ``eval_every`` steps (and before the first and after the last) the
held-out prompts are sampled ``eval_samples`` = :math:`k` times at temperature 1 and scored by
exact match: Mean@k is the mean success over prompts and samples, Pass@k the fraction of
prompts with at least one success among the :math:`k`.

**Time, checkpoints, resumption.** The training time is the wall time of the steps alone
(sampling and updates, each step waited for), not of evaluation or checkpointing. With a
``store`` the whole state (parameters, optimiser state, step, history, training time) is
written atomically every ``checkpoint_every`` steps and at the end; :func:`train` started again
with the same settings resumes from the last checkpoint. Every step's randomness is
``fold_in(key, step)``, so a resumed run is the run that was interrupted.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import numbers
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from grpo_theory._io import ResultStore
from grpo_theory._validate import check_nonnegative, check_positive
from grpo_theory.experiments.bandit import (
    ESTIMATORS,
    advantage_fn,
    check_update_rule,
    make_optimiser,
)
from grpo_theory.policy_gradient.dpo import online_dpo_loss
from grpo_theory.policy_gradient.kl import KL_ESTIMATORS, kl_estimate
from grpo_theory.policy_gradient.losses import AGGREGATIONS, aggregate_loss, policy_loss
from grpo_theory.transformer.model import ModelConfig, Transformer, init_model, token_log_probs
from grpo_theory.transformer.sampling import sample_completions, success_rates
from grpo_theory.transformer.tasks import REWARD_KINDS, SequenceTask, reward

__all__ = [
    "ESTIMATORS",
    "RLConfig",
    "TrainResult",
    "steps_per_epoch",
    "make_step",
    "evaluate",
    "train",
]

RATIO_LEVELS = ("token", "sequence")
"""Importance ratios: per token, or GSPO's per sequence."""


def _int(x: Any, name: str, minimum: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or int(x) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(x)


def _choice(x: Any, name: str, valid: tuple[str, ...]) -> None:
    if x not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {x!r}")


@dataclasses.dataclass(frozen=True)
class RLConfig:
    """The update rule, batch shape, optimiser and evaluation of a transformer RL run.

    Every field is validated at construction; an error names the field and its valid range.

    Attributes:
        estimator: one of :data:`ESTIMATORS`.
        group_size: rollouts per prompt :math:`G \\ge 2` (exactly 2 for ``2-grpo``).
        prompts_per_step: prompts per step :math:`Q \\ge 1`.
        epochs: passes :math:`E \\ge 1` over the training prompts.
        inner_steps: optimisation passes over each step's rollouts (PPO epochs), ``>= 1``.
        minibatches: optimiser updates per pass (the :math:`Q` prompts split evenly).
        clip_eps_low: :math:`\\epsilon_{\\mathrm{low}} \\in [0, 1)` (paper: 0.2).
        clip_eps_high: :math:`\\epsilon_{\\mathrm{high}} \\ge 0` (paper: 0.28).
        ratio_level: ``"token"`` or ``"sequence"`` (GSPO).
        aggregation: a loss aggregation of :data:`~grpo_theory.policy_gradient.losses.
            AGGREGATIONS`.
        kl_coef: :math:`\\beta_{\\mathrm{KL}} \\ge 0` (0: no KL term).
        kl_estimator: ``"k1"``, ``"k2"`` or ``"k3"``.
        adv_epsilon: the :math:`\\epsilon` added to the std of ``grpo``-type advantages.
        baseline: the constant baseline of ``reinforce``.
        learning_rate: base learning rate ``> 0``.
        lr_rule: ``"constant"`` or ``"scaled"`` (times :math:`Q/Q_{\\mathrm{ref}}`).
        lr_reference_prompts: :math:`Q_{\\mathrm{ref}}` of the ``scaled`` rule.
        optimiser: ``"adam"`` or ``"sgd"``.
        warmup_steps: optimiser updates of linear warm-up from 0 (0: none).
        max_grad_norm: global-norm gradient clipping, or ``None``.
        temperature: sampling temperature :math:`\\tau > 0` of the rollouts.
        reward: ``"binary"`` (exact match) or ``"partial"`` (partial credit).
        dpo_beta: :math:`\\beta > 0` of online DPO.
        eval_every: steps between evaluations (0: only before the first and after the last).
        eval_samples: :math:`k` of Mean@k and Pass@k, ``>= 1``.
        checkpoint_every: steps between checkpoints when a store is given (0: at the end only).

    Example:
        >>> RLConfig(estimator="2-grpo", group_size=2, prompts_per_step=256).rollouts_per_step
        512
    """

    estimator: str = "grpo"
    group_size: int = 16
    prompts_per_step: int = 32
    epochs: int = 1
    inner_steps: int = 1
    minibatches: int = 1
    clip_eps_low: float = 0.2
    clip_eps_high: float = 0.28
    ratio_level: str = "token"
    aggregation: str = "token-mean"
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    adv_epsilon: float = 0.0
    baseline: float = 0.0
    learning_rate: float = 1e-3
    lr_rule: str = "constant"
    lr_reference_prompts: int = 32
    optimiser: str = "adam"
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0
    temperature: float = 1.0
    reward: str = "binary"
    dpo_beta: float = 0.1
    eval_every: int = 0
    eval_samples: int = 32
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        check_update_rule(self)
        _choice(self.ratio_level, "ratio_level", RATIO_LEVELS)
        _choice(self.aggregation, "aggregation", AGGREGATIONS)
        check_nonnegative(self.kl_coef, "kl_coef")
        _choice(self.kl_estimator, "kl_estimator", KL_ESTIMATORS)
        check_positive(self.temperature, "temperature")
        _choice(self.reward, "reward", REWARD_KINDS)
        _int(self.eval_every, "eval_every", 0)
        _int(self.eval_samples, "eval_samples", 1)
        _int(self.checkpoint_every, "checkpoint_every", 0)

    @property
    def rollouts_per_step(self) -> int:
        """:math:`QG`."""
        return self.prompts_per_step * self.group_size

    def replace(self, **changes: Any) -> RLConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def steps_per_epoch(config: RLConfig, task: SequenceTask) -> int:
    """:math:`\\lfloor N_{\\mathrm{train}}/Q \\rfloor`, after checking that a step fits.

    Example:
        >>> from grpo_theory.transformer.tasks import make_task
        >>> steps_per_epoch(RLConfig(prompts_per_step=32), make_task("add", 0, modulus=20))
        10
    """
    if config.prompts_per_step > task.n_train:
        raise ValueError(f"prompts_per_step must be at most the number of training prompts "
                         f"({task.n_train}), got {config.prompts_per_step}")
    return task.n_train // config.prompts_per_step


def _log_probs(model: Transformer, seqs: Array, P: int) -> Array:
    """Token log-probs ``[..., L]`` of the completions of sequences ``[..., P + L]``."""
    flat = seqs.reshape(-1, seqs.shape[-1])
    lp = jax.vmap(lambda s: token_log_probs(model, s, P))(flat)
    return lp.reshape(*seqs.shape[:-1], lp.shape[-1])


def make_step(config: RLConfig, task: SequenceTask, model: Transformer,
              reference: Transformer | None = None) -> tuple[Callable, Any, Any]:
    """The jitted training step of ``config`` for models shaped like ``model``.

    Args:
        config: the update rule.
        task: the task (its shapes and reward).
        model: the initial policy (its parameters start the run).
        reference: the KL / DPO reference (default ``model``).

    Returns:
        ``(step, params, opt_state)``: ``step(params, opt_state, key, prompts [Q, P],
        answers [Q, L]) -> (params, opt_state, metrics)``, with the initial parameters (the
        array leaves of ``model``) and optimiser state. ``metrics`` holds scalars:
        ``mean_reward``, ``silent_fraction`` (groups whose rewards are all equal), ``loss``
        (mean over updates), ``clip_fraction`` (tokens whose clipped term is active, last
        update), ``grad_norm`` (mean over updates), ``completion_length`` (mean tokens, EOS
        included) and ``kl`` (mean k3 estimate against the reference, under the old policy).

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> model = init_model(jax.random.key(0), TINY.for_task(task))
        >>> cfg = RLConfig(group_size=4, prompts_per_step=8)
        >>> step, params, opt_state = make_step(cfg, task, model)
        >>> p, a = jnp.asarray(task.prompts[:8]), jnp.asarray(task.answers[:8])
        >>> params, opt_state, m = step(params, opt_state, jax.random.key(1), p, a)
        >>> sorted(m)[:3]
        ['clip_fraction', 'completion_length', 'grad_norm']
    """
    if not isinstance(config, RLConfig):
        raise TypeError(f"config must be an RLConfig, got {type(config).__name__}")
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    reference = model if reference is None else reference
    params = eqx.filter(model, eqx.is_inexact_array)
    ref_params = eqx.filter(reference, eqx.is_inexact_array)
    jitted, opt = _compiled_step(config, task.prompt_len, task.completion_len, model.config)

    def step(p, s, key, prompts_QxP, answers_QxL):
        return jitted(p, s, ref_params, key, prompts_QxP, answers_QxL)

    return step, params, opt.init(params)


@functools.lru_cache(maxsize=32)
def _compiled_step(config: RLConfig, P: int, L: int,
                   model_config: ModelConfig) -> tuple[Callable, Any]:
    """The jitted step for one configuration and model shape, shared by every model of that
    shape (the seeds of a study compile it once)."""
    static = eqx.partition(init_model(jax.random.key(0), model_config), eqx.is_inexact_array)[1]
    opt = make_optimiser(config)
    adv_fn = advantage_fn(config)
    G, Q, M = config.group_size, config.prompts_per_step, config.minibatches
    B = Q // M
    dpo = config.estimator == "online-dpo"
    use_ref = dpo or config.kl_coef > 0
    eps_lo, eps_hi = float(config.clip_eps_low), float(config.clip_eps_high)

    def loss_fn(p, mb):
        m = eqx.combine(p, static)
        logp = _log_probs(m, mb["seqs"], P)  # [B, G, L]
        mask = mb["mask"]
        if dpo:
            seq = jnp.sum(logp * mask, -1)
            ref = jnp.sum(mb["ref_logp"] * mask, -1)
            loss = jnp.mean(jax.vmap(lambda a, b, r: online_dpo_loss(a, b, r, config.dpo_beta))(
                seq, ref, mb["rewards"]))
            return loss, jnp.zeros((), logp.dtype)
        flat = (B * G, L)
        loss = policy_loss(logp.reshape(flat), mb["old_logp"].reshape(flat), mask.reshape(flat),
                           mb["adv"].reshape(-1), epsilon_low=eps_lo, epsilon_high=eps_hi,
                           ratio_level=config.ratio_level, aggregation=config.aggregation,
                           max_length=L)
        if config.kl_coef > 0:
            kl = kl_estimate(logp, mb["ref_logp"], config.kl_estimator)
            loss = loss + config.kl_coef * aggregate_loss(kl.reshape(flat), mask.reshape(flat),
                                                          config.aggregation, max_length=L)
        ratio = jnp.exp(logp - mb["old_logp"])
        adv = mb["adv"][..., None]
        clipped = ((adv > 0) & (ratio > 1 + eps_hi)) | ((adv < 0) & (ratio < 1 - eps_lo))
        clip_frac = jnp.sum(clipped * mask) / jnp.maximum(1.0, jnp.sum(mask))
        return loss, clip_frac

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def update(carry, mb):
        p, s = carry
        (loss, clip_frac), grads = grad_fn(p, mb)
        updates, s = opt.update(grads, s, p)
        p = eqx.apply_updates(p, updates)
        gnorm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grads)))
        return (p, s), (loss, clip_frac, gnorm)

    @jax.jit
    def step(p, s, ref_params, key, prompts_QxP, answers_QxL):
        k_sample, k_perm = jax.random.split(key)
        model_old = eqx.combine(p, static)
        out = sample_completions(k_sample, model_old, prompts_QxP, n_rollouts=G,
                                 completion_len=L, temperature=config.temperature)
        tokens, mask = out["tokens"], out["mask"]
        score = jax.vmap(jax.vmap(lambda c, a: reward(config.reward, c, a), (0, None)))
        rewards = score(tokens, answers_QxL).astype(mask.dtype)
        adv = jax.vmap(adv_fn)(rewards)
        seqs = jnp.concatenate([jnp.broadcast_to(prompts_QxP[:, None], (Q, G, P)), tokens], -1)
        old_logp = lax.stop_gradient(_log_probs(model_old, seqs, P))
        data = {"seqs": seqs, "mask": mask, "rewards": rewards, "adv": adv, "old_logp": old_logp}
        kl_old = jnp.zeros((), mask.dtype)
        if use_ref:
            ref_logp = _log_probs(eqx.combine(ref_params, static), seqs, P)
            data["ref_logp"] = ref_logp
            k3 = kl_estimate(old_logp, ref_logp, "k3")
            kl_old = jnp.sum(k3 * mask) / jnp.maximum(1.0, jnp.sum(mask))
        perms = jax.vmap(lambda k: jax.random.permutation(k, Q))(
            jax.random.split(k_perm, config.inner_steps))
        batches = jax.tree_util.tree_map(
            lambda x: x[perms.reshape(-1)].reshape(config.inner_steps * M, B, *x.shape[1:]),
            data)
        (p, s), (losses, clip_fracs, gnorms) = lax.scan(update, (p, s), batches)
        silent = jnp.all(rewards == rewards[:, :1], axis=1)
        metrics = {
            "mean_reward": jnp.mean(rewards),
            "silent_fraction": jnp.mean(silent.astype(mask.dtype)),
            "loss": jnp.mean(losses),
            "clip_fraction": clip_fracs[-1],
            "grad_norm": jnp.mean(gnorms),
            "completion_length": jnp.mean(jnp.sum(mask, -1)),
            "kl": kl_old,
        }
        return p, s, metrics

    return step, opt




def evaluate(key: Array, model: Transformer, task: SequenceTask, k: int,
             split: str = "test") -> dict[str, float]:
    """Mean@k and Pass@k of exact-match answers on a split, from :math:`k` samples per prompt.

    Args:
        key: a PRNG key.
        model: the policy.
        task: the task.
        k: samples per prompt, ``>= 1``.
        split: ``"test"``, ``"train"`` or ``"all"``.

    Returns:
        ``{"mean_at_k": ..., "pass_at_k": ...}``.

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> m = init_model(jax.random.key(0), TINY.for_task(task))
        >>> r = evaluate(jax.random.key(1), m, task, 4)
        >>> 0 <= r["mean_at_k"] <= r["pass_at_k"] <= 1
        True
    """
    k = _int(k, "k", 1)
    prompts, answers = task.split(split)
    if prompts.shape[0] == 0:
        raise ValueError(f"split {split!r} of task {task.name!r} has no prompts")
    rates = np.asarray(success_rates(key, model, jnp.asarray(prompts), jnp.asarray(answers),
                                     n_samples=k, reward_kind="binary"))
    return {"mean_at_k": float(rates.mean()), "pass_at_k": float((rates > 0).mean())}


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """A finished (or resumed and finished) run.

    Attributes:
        model: the trained policy.
        steps: steps taken :math:`T`.
        rollouts: rollouts consumed, :math:`TQG`.
        train_time_s: wall time of the training steps (evaluation and checkpoints excluded).
        history: per step, arrays ``[T]``: ``step`` (1-based), ``rollouts`` and
            ``train_time_s`` (cumulative), and every metric of :func:`make_step`.
        evals: per evaluation point, arrays ``[E]``: ``step``, ``rollouts``, ``train_time_s``,
            ``mean_at_k``, ``pass_at_k`` (held-out prompts).
        resumed_from: the step the run resumed from (0 for a fresh run).
        compile_s: time of the untimed first call of the step (compilation, unless a run of
            the same shape compiled it before; not part of ``train_time_s``).
    """

    model: Transformer
    steps: int
    rollouts: int
    train_time_s: float
    history: dict[str, np.ndarray]
    evals: dict[str, np.ndarray]
    resumed_from: int = 0
    compile_s: float = 0.0

    def final(self, name: str) -> float:
        """The last evaluation's ``mean_at_k`` or ``pass_at_k``."""
        return float(self.evals[name][-1])


_EVAL_KEYS = ("step", "rollouts", "train_time_s", "mean_at_k", "pass_at_k")


def _serialise(tree: Any) -> np.ndarray:
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def _deserialise(data: np.ndarray, like: Any) -> Any:
    return eqx.tree_deserialise_leaves(io.BytesIO(np.asarray(data, np.uint8).tobytes()), like)


def train(key: Any, model: Transformer, task: SequenceTask, config: RLConfig, *,
          store: ResultStore | None = None, settings: Any = None,
          progress: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``model`` on ``task`` by ``config``, evaluating on the held-out prompts.

    Args:
        key: a PRNG key or an int seed: step :math:`t` uses ``fold_in(key, t)``, the epoch
            orders ``fold_in(key_order, epoch)``, evaluation ``fold_in(key_eval, step)``.
        model: the starting policy (also the KL / DPO reference).
        task: the task.
        config: the run.
        store: where checkpoints are kept; a run started again with the same ``settings``
            resumes from the last one.
        settings: JSON-ready description of everything that determines the run besides
            ``config`` (the task, the model, the seed); required with ``store``.
        progress: called with a line at each evaluation.

    Returns:
        A :class:`TrainResult`.
    """
    if not isinstance(task, SequenceTask):
        raise TypeError(f"task must be a SequenceTask, got {type(task).__name__}")
    if store is not None and settings is None:
        raise ValueError("settings must describe the run when a store is given")
    key = jax.random.key(key) if isinstance(key, numbers.Integral) else key
    S = steps_per_epoch(config, task)
    n_steps = config.epochs * S
    step_fn, params, opt_state = make_step(config, task, model)
    static = eqx.partition(model, eqx.is_inexact_array)[1]
    k_steps, k_order, k_eval = jax.random.split(key, 3)
    prompts, answers = jnp.asarray(task.prompts), jnp.asarray(task.answers)
    train_idx = np.asarray(task.train_idx)
    every = config.eval_every or n_steps
    eval_at = sorted({0, *range(every, n_steps + 1, every), n_steps})
    ckpt_every = config.checkpoint_every or n_steps
    run_settings = {"config": dataclasses.asdict(config), "run": settings}

    history: dict[str, list[float]] = {}
    evals: dict[str, list[float]] = {k: [] for k in _EVAL_KEYS}
    t0, elapsed = 0, 0.0
    stored = None if store is None else store.load(run_settings)
    if stored is not None:
        arrays, header = stored
        params, opt_state = _deserialise(arrays["state"], (params, opt_state))
        t0, elapsed = int(header["step"]), float(header["train_time_s"])
        history = {k: list(v) for k, v in header["history"].items()}
        evals = {k: list(v) for k, v in header["evals"].items()}

    def record_eval(t: int) -> None:
        r = evaluate(jax.random.fold_in(k_eval, t), eqx.combine(params, static), task,
                     config.eval_samples)
        for name, value in zip(_EVAL_KEYS, (t, t * config.rollouts_per_step, elapsed,
                                            r["mean_at_k"], r["pass_at_k"]), strict=True):
            evals[name].append(value)
        if progress is not None:
            progress(f"step {t}/{n_steps}: test Mean@{config.eval_samples} "
                     f"{r['mean_at_k']:.4f} Pass@{config.eval_samples} {r['pass_at_k']:.4f} "
                     f"train time {elapsed:.1f}s")

    def checkpoint(t: int) -> None:
        if store is not None:
            store.save(run_settings, {"state": _serialise((params, opt_state))},
                       {"step": t, "train_time_s": elapsed, "history": history, "evals": evals})

    if t0 == 0 and not evals["step"]:
        record_eval(0)
    # One call before timing (its result is discarded): the training time counts the steps,
    # not the compilation, which the seeds of a study share.
    c0 = time.perf_counter()
    Q = config.prompts_per_step
    jax.block_until_ready(step_fn(params, opt_state, k_steps, prompts[:Q], answers[:Q]))
    compile_s = time.perf_counter() - c0
    order = None
    for t in range(t0, n_steps):
        epoch, pos = divmod(t, S)
        if order is None or pos == 0:
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_order, epoch),
                                                     train_idx.shape[0]))
            order = train_idx[perm]
        idx = jnp.asarray(order[pos * Q:(pos + 1) * Q])
        start = time.perf_counter()
        params, opt_state, metrics = step_fn(params, opt_state, jax.random.fold_in(k_steps, t),
                                             prompts[idx], answers[idx])
        metrics = jax.device_get(metrics)
        elapsed += time.perf_counter() - start
        done = t + 1
        row = {"step": done, "rollouts": done * config.rollouts_per_step,
               "train_time_s": elapsed, **{k: float(v) for k, v in metrics.items()}}
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        if done in eval_at:
            record_eval(done)
        if done % ckpt_every == 0 or done == n_steps:
            checkpoint(done)
    return TrainResult(
        model=eqx.combine(params, static), steps=n_steps,
        rollouts=n_steps * config.rollouts_per_step, train_time_s=elapsed,
        history={k: np.asarray(v) for k, v in history.items()},
        evals={k: np.asarray(v) for k, v in evals.items()}, resumed_from=t0,
        compile_s=compile_s)
