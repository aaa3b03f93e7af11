r"""Synthetic GRPO logs with known ground truth, for validating ``grpo-theory analyze``.

Each generator returns a :class:`SyntheticRun`: a :class:`~grpo_theory.analyze.rollouts.RolloutLog`
of binary rewards (format ``"synthetic"``) and, for every group :math:`j` of the log, the true
success probability :math:`p_j` of its prompt under the policy that sampled it, so that the
group's number of correct rollouts is exactly :math:`k_j \sim \mathrm{Binomial}(G, p_j)`. An
analyser's estimates (the difficulty fit, predicted variances at other group sizes) can then be
compared with what the truth implies.

* :func:`beta_run`: the model the analyser fits, exactly: :math:`p_j \sim \mathrm{Beta}(a, b)`
  i.i.d., one fresh prompt per group.
* :func:`bandit_run`: a policy-gradient run on a bandit data set
  (:mod:`grpo_theory.experiments.bandit`); each logged step samples groups from a parameter
  checkpoint of the run, so the difficulty distribution drifts (towards easy) as training goes
  on, and prompts recur across steps.
* :func:`transformer_run`: groups of completions of a warm-started tiny transformer on modular
  addition (:mod:`grpo_theory.transformer`), scored by exact match; :math:`p_j` is the exact
  probability that the sampler writes the answer (:func:`answer_probabilities`).

Groups are ordered as :meth:`RolloutLog.from_rollouts` orders them (by step, then prompt code),
and ``truth_p`` follows that order. A run is a function of its arguments; for the two JAX
generators also of JAX's float mode (``jax_enable_x64`` changes some dtypes inside the training
and sampling code, hence the draws, though not their law).

**Defaults, measured** (seed 0; the spread of ``truth_p``):

================================  ======  ======  ========================  ==================
generator                         groups  mean p  5%, 25%, 50%, 75%, 95%    time (2-core CPU)
================================  ======  ======  ========================  ==================
``beta_run(0, 1, 2, 20, 64, 8)``  1280    0.34    0.03 0.15 0.31 0.51 0.79  0.01 s
``bandit_run(0)``                 1280    0.64    0.08 0.44 0.73 0.88 0.95  2.5 s (1 s again)
``transformer_run(0)``            256     0.42    0.06 0.24 0.42 0.60 0.82  8 s (0.2 s cached)
================================  ======  ======  ========================  ==================

``bandit_run``'s rates drift from a mean of 0.36 at step 0 (the Beta(1, 2) initial rates) to 0.88
at its last logged step (training step 76). ``transformer_run``'s first call includes the warm
start (about 340 steps) and compilation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from grpo_theory._validate import check_group_size, check_int, check_positive
from grpo_theory.analyze.rollouts import RolloutLog
from grpo_theory.experiments.bandit import BanditConfig, make_train, sample_batch
from grpo_theory.experiments.bandit_env import TaskSpec, prompt_logits
from grpo_theory.transformer.model import Transformer, token_log_probs
from grpo_theory.transformer.sampling import sample_completions
from grpo_theory.transformer.tasks import (
    SequenceTask,
    completion_mask,
    decode,
    make_task,
    reward,
)
from grpo_theory.transformer.warmstart import WarmStartSettings, default_warmstart

__all__ = [
    "SyntheticRun",
    "TRANSFORMER_WARMSTART",
    "beta_run",
    "bandit_run",
    "transformer_run",
    "answer_probabilities",
]

_MAX_SEED = 2**32 - 1

TRANSFORMER_WARMSTART = (600, 64, 3e-3, 0.5)
"""Warm start of :func:`transformer_run`'s model: ``(steps, batch_size, learning_rate,
target_loss)`` of :func:`~grpo_theory.transformer.warmstart.supervised_warmstart` (the settings of
the transformer claims: stop at a smoothed loss of 0.5 nats per answer token, at most 600 steps)."""


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticRun:
    r"""A synthetic log and its ground truth.

    Attributes:
        log: the rewards, grouped (:class:`~grpo_theory.analyze.rollouts.RolloutLog`, format
            ``"synthetic"``, rewards 0/1).
        truth_p: ``[M]`` float64, the true success probability :math:`p_j` of group
            :math:`j`'s prompt under the policy that sampled the group (in the log's group
            order): :math:`k_j = \sum_i r_{j,i} \sim \mathrm{Binomial}(G_j, p_j)`, independently
            over groups given ``truth_p``.
        description: how the run was made (for reports).
        truth_beta: ``(a, b)`` when the :math:`p_j` were drawn i.i.d. from
            :math:`\mathrm{Beta}(a, b)`, else ``None``.
    """

    log: RolloutLog
    truth_p: np.ndarray
    description: str
    truth_beta: tuple[float, float] | None = None


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------


def _check_seed(seed: Any) -> int:
    return check_int(seed, "seed", 0, _MAX_SEED)


def _build(step: np.ndarray, code: np.ndarray, rewards: np.ndarray, truth: np.ndarray, *,
           prompts: tuple[Any, ...], source: str, description: str,
           truth_beta: tuple[float, float] | None = None,
           lengths: np.ndarray | None = None) -> SyntheticRun:
    """A run from group-level arrays: ``step, code, truth [M]``, ``rewards [M, G]``.

    ``(step, code)`` must be unique; the groups are put in the log's order (step, then code).
    """
    order = np.lexsort((code, step))
    step, code, truth, rewards = step[order], code[order], truth[order], rewards[order]
    M, G = rewards.shape
    log = RolloutLog.from_rollouts(
        np.repeat(step, G), np.repeat(code, G), rewards.reshape(-1), prompts=prompts,
        completion_length=None if lengths is None else lengths[order].reshape(-1),
        source=source, format="synthetic")
    if (log.n_groups != M or not np.array_equal(log.group_step, step)
            or not np.array_equal(log.group_prompt, code)):  # pragma: no cover - internal
        raise AssertionError("synthetic groups were regrouped; (step, prompt) must be unique")
    return SyntheticRun(log, np.asarray(truth, dtype=np.float64), description, truth_beta)


# ----------------------------------------------------------------------------------------------
# Beta-binomial
# ----------------------------------------------------------------------------------------------


def beta_run(seed: int, a: float, b: float, *, steps: int, prompts_per_step: int,
             group_size: int) -> SyntheticRun:
    r"""A log from the beta-binomial model: :math:`p_j \sim \mathrm{Beta}(a, b)`, binary rewards.

    Every group is a fresh prompt (code ``s * prompts_per_step + i`` for prompt :math:`i` of step
    :math:`s`) with its own rate :math:`p_j \sim \mathrm{Beta}(a, b)` i.i.d., and
    :math:`G` rewards :math:`r_{j,i} = [u_{j,i} < p_j] \sim \mathrm{Bernoulli}(p_j)` with
    :math:`u_{j,i}` uniform on :math:`[0, 1)`. All draws come from
    ``numpy.random.default_rng(seed)`` (the rates first, then the uniforms), so

    .. math::

        k_j = \sum_{i=1}^G r_{j,i} \sim \mathrm{BetaBinomial}(G, a, b).

    Args:
        seed: an integer in :math:`[0, 2^{32})`.
        a: :math:`a > 0`.
        b: :math:`b > 0`.
        steps: number of steps :math:`S \ge 1`.
        prompts_per_step: prompts (groups) per step :math:`Q \ge 1`.
        group_size: rollouts per group :math:`G \ge 2`.

    Returns:
        A :class:`SyntheticRun` of :math:`SQ` groups with ``truth_beta = (a, b)``.

    Example:
        >>> run = beta_run(0, 2.0, 3.0, steps=2, prompts_per_step=3, group_size=4)
        >>> run.log.n_groups, run.log.sizes.tolist(), run.truth_beta
        (6, [4, 4, 4, 4, 4, 4], (2.0, 3.0))
    """
    seed = _check_seed(seed)
    a, b = float(check_positive(a, "a")), float(check_positive(b, "b"))
    S = check_int(steps, "steps", 1)
    Q = check_int(prompts_per_step, "prompts_per_step", 1)
    G = int(check_group_size(group_size, "group_size"))
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, size=S * Q)
    rewards = (rng.random((S * Q, G)) < p[:, None]).astype(np.float64)
    step = np.repeat(np.arange(S, dtype=np.int64), Q)
    code = np.arange(S * Q, dtype=np.int64)
    return _build(step, code, rewards, p, prompts=tuple(range(S * Q)),
                  source=f"synthetic beta_run(seed={seed})",
                  description=(f"beta-binomial: p ~ Beta({a:g}, {b:g}) i.i.d. per group, "
                               f"{S} steps x {Q} prompts x G = {G}, binary rewards, seed {seed}"),
                  truth_beta=(a, b))


# ----------------------------------------------------------------------------------------------
# Bandit policy-gradient run
# ----------------------------------------------------------------------------------------------


def bandit_run(seed: int = 0, *, steps: int = 20, prompts_per_step: int = 64,
               group_size: int = 8, log_every: int = 4, n_prompts: int = 256,
               n_arms: int = 16, difficulty: tuple = ("beta", 1.0, 2.0), n_correct: int = 1,
               policy: str = "tabular", estimator: str = "grpo", train_prompts: int = 32,
               train_group_size: int = 8, learning_rate: float = 0.1) -> SyntheticRun:
    r"""A log of a bandit policy-gradient run whose difficulty distribution drifts.

    A task of ``n_prompts`` :math:`K`-armed prompts with binary rewards and initial success
    rates drawn from ``difficulty`` (:func:`~grpo_theory.experiments.bandit_env.make_task`, seed
    ``seed``, no held-out prompts) is trained by
    :func:`~grpo_theory.experiments.bandit.make_train` (``estimator``, Adam at
    ``learning_rate``, ``train_prompts`` prompts :math:`\times` ``train_group_size`` rollouts
    a step) for at least :math:`(S - 1)\,c` steps, :math:`c` = ``log_every``, keeping the
    parameters :math:`\theta_t` every :math:`c` steps. Logged step :math:`s = 0, \dots, S-1` is
    training step :math:`t = sc`: ``prompts_per_step`` distinct training prompts drawn uniformly
    (``numpy.random.default_rng(seed)``), and :math:`G` arms of each drawn from
    :math:`\pi_{\theta_t}` by :func:`~grpo_theory.experiments.bandit.sample_batch`, whose
    rewards are logged. The truth is the exact rate
    :math:`p_j = \pi_{\theta_t}(\cdot\mid q_j)^\top r_{q_j}`
    (:func:`~grpo_theory.experiments.bandit_env.success_rates`), computed in float64 from the
    float32 logits that were sampled from (the sampler's float32 inverse CDF agrees with it to
    about :math:`10^{-6}`).

    The training run is a function of ``jax.random.key(seed)`` and the training settings only
    (step :math:`t` is the same whatever ``steps`` and ``log_every``), and the logged prompts a
    function of ``seed``, ``steps``, ``prompts_per_step`` and the task; so two calls differing
    only in ``log_every`` log the same prompts at different checkpoints of one run. Prompts
    recur across steps (prompt codes are task indices).

    Args:
        seed: an integer in :math:`[0, 2^{32})`.
        steps: logged steps :math:`S \ge 1`.
        prompts_per_step: prompts per logged step, in ``[1, n_prompts]``.
        group_size: logged rollouts per prompt :math:`G \ge 2`.
        log_every: training steps between logged steps, :math:`c \ge 1`.
        n_prompts: prompts of the task, :math:`\ge 1`.
        n_arms: arms per prompt :math:`K \ge 2`.
        difficulty: the law of the initial rates (see
            :data:`~grpo_theory.experiments.bandit_env.DIFFICULTIES`).
        n_correct: correct arms per prompt, an integer in ``1..K-1`` or a pair ``(lo, hi)``.
        policy: ``"tabular"`` or ``"shared"``.
        estimator: the training update rule (:data:`~grpo_theory.experiments.bandit.ESTIMATORS`).
        train_prompts: prompts per training step, in ``[1, n_prompts]``.
        train_group_size: rollouts per prompt in training (2 for ``2-grpo``).
        learning_rate: Adam's learning rate, :math:`> 0`.

    Returns:
        A :class:`SyntheticRun` of :math:`S \times` ``prompts_per_step`` groups at steps
        :math:`0, c, \dots, (S-1)c` (``truth_beta`` is ``None``: only the initial rates follow
        the difficulty law).

    Raises:
        ValueError, TypeError: for an invalid argument (the message names it).
    """
    seed = _check_seed(seed)
    S = check_int(steps, "steps", 1)
    Q = check_int(prompts_per_step, "prompts_per_step", 1)
    G = int(check_group_size(group_size, "group_size"))
    c = check_int(log_every, "log_every", 1)
    N = check_int(n_prompts, "n_prompts", 1)
    if Q > N:
        raise ValueError(f"prompts_per_step must be an integer in [1, n_prompts = {N}], got {Q}")
    if check_int(train_prompts, "train_prompts", 1) > N:
        raise ValueError(f"train_prompts must be an integer in [1, n_prompts = {N}], "
                         f"got {train_prompts}")
    if int(check_group_size(train_group_size, "train_group_size")) != 2 and estimator == "2-grpo":
        raise ValueError(f"train_group_size must be 2 for estimator '2-grpo', "
                         f"got {train_group_size}")
    if isinstance(difficulty, list):
        difficulty = tuple(difficulty)
    spec = TaskSpec(n_prompts=N, n_arms=n_arms, difficulty=difficulty,
                    n_correct=n_correct, test_fraction=0.0, seed=seed)
    task = spec.build()
    per_epoch = task.n_train // train_prompts
    epochs = max(1, math.ceil((S - 1) * c / per_epoch))
    config = BanditConfig(spec, policy=policy, estimator=estimator,
                          group_size=train_group_size, prompts_per_step=train_prompts,
                          epochs=epochs, learning_rate=learning_rate, checkpoint_every=c,
                          dtype="float32")

    k_train, k_log = jax.random.split(jax.random.key(seed))
    out = jax.jit(make_train(config, task))(k_train)
    checkpoints = out["checkpoints"][:S]  # training steps 0, c, ..., (S - 1) c
    rng = np.random.default_rng(seed)
    train_idx = np.asarray(task.train_idx)
    idx = np.stack([np.sort(rng.choice(train_idx, Q, replace=False)) for _ in range(S)])
    logits = jax.vmap(lambda th, i: prompt_logits(th, task, policy, i))(
        checkpoints, jnp.asarray(idx, jnp.int32)).astype(jnp.float32)
    rewards_task = jnp.asarray(task.rewards, jnp.float32)[jnp.asarray(idx)]
    _, rewards, _ = jax.vmap(sample_batch, in_axes=(0, 0, 0, None))(
        jax.random.split(k_log, S), logits, rewards_task, G)

    z = np.asarray(logits, dtype=np.float64)
    pi = np.exp(z - z.max(axis=-1, keepdims=True))
    pi /= pi.sum(axis=-1, keepdims=True)
    truth = np.sum(pi * np.asarray(task.rewards)[idx], axis=-1)

    step = np.repeat(np.arange(S, dtype=np.int64) * c, Q)
    law, *params = task.difficulty
    law = "given values" if law == "values" else f"{law}({', '.join(f'{x:g}' for x in params)})"
    return _build(
        step, idx.reshape(-1).astype(np.int64), np.asarray(rewards, np.float64).reshape(S * Q, G),
        truth.reshape(-1), prompts=tuple(range(N)), source=f"synthetic bandit_run(seed={seed})",
        description=(f"bandit {estimator} run ({policy}, {N} prompts x {task.n_arms} arms, "
                     f"initial rates {law}, lr {learning_rate:g}, {train_prompts} prompts x "
                     f"G = {train_group_size} per training step); logged every {c} training "
                     f"steps: {S} steps x {Q} prompts x G = {G}, binary rewards, seed {seed}"))


# ----------------------------------------------------------------------------------------------
# Transformer
# ----------------------------------------------------------------------------------------------


@eqx.filter_jit
def _answer_log_probs(model: Transformer, prompts_NxP: jax.Array, answers_NxL: jax.Array,
                      temperature: jax.Array) -> jax.Array:
    """``[N, L]`` log-probs of the answer tokens under ``softmax(logits / temperature)``."""
    P = prompts_NxP.shape[1]
    return jax.vmap(lambda q, y: token_log_probs(model, jnp.concatenate([q, y]), P,
                                                 temperature))(prompts_NxP, answers_NxL)


def answer_probabilities(model: Transformer, prompts: Any, answers: Any, *,
                         temperature: float = 1.0) -> np.ndarray:
    r"""Exact probability that the sampler's completion of each prompt earns exact-match reward.

    :func:`~grpo_theory.transformer.sampling.sample_completions` draws token :math:`i` from
    :math:`\mathrm{softmax}(z_i/\tau)` until the first EOS and writes PAD after it;
    :func:`~grpo_theory.transformer.tasks.exact_match_reward` is 1 iff the completion's tokens
    up to its first EOS are the answer's tokens :math:`y_0, \dots, y_k` (:math:`y_k` = EOS). The
    rewarded completions are therefore exactly those whose first :math:`k + 1` tokens are
    :math:`y_{0:k}` (the answer has no EOS before position :math:`k`, and what follows is PAD
    whatever the draws); the reward compares tokens, so another spelling of the number (a
    leading zero, say) earns 0. By the chain rule,

    .. math::

        p_q = \prod_{i=0}^{k}\mathrm{softmax}(z_i/\tau)_{y_i},

    with :math:`z_i` the logits that predict position :math:`i` when the answer is teacher-forced:
    one forward pass (causality makes them the logits the sampler sees after writing
    :math:`y_{<i}`). The log-probabilities are summed in float64.

    Args:
        model: a :class:`~grpo_theory.transformer.model.Transformer`.
        prompts: ``Int[Array, "N P"]`` prompts.
        answers: ``Int[Array, "N L"]`` their answers (tokens, EOS, PAD), :math:`L` = the
            sampler's ``completion_len``.
        temperature: the sampling temperature :math:`\tau > 0`.

    Returns:
        ``[N]`` float64 probabilities.
    """
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    prompts, answers = jnp.asarray(prompts), jnp.asarray(answers)
    if (prompts.ndim != 2 or answers.ndim != 2 or prompts.shape[0] != answers.shape[0]
            or 0 in prompts.shape or 0 in answers.shape):
        raise ValueError(f"prompts and answers must have shapes [N, P] and [N, L] with the same "
                         f"N >= 1, got {prompts.shape} and {answers.shape}")
    if not (jnp.issubdtype(prompts.dtype, jnp.integer)
            and jnp.issubdtype(answers.dtype, jnp.integer)):
        raise ValueError("prompts and answers must hold integer token ids")
    P, L = prompts.shape[1], answers.shape[1]
    if P + L - 1 > model.config.max_len:
        raise ValueError(f"prompts and answers need P + L - 1 = {P + L - 1} <= "
                         f"model.config.max_len = {model.config.max_len}")
    prompts, answers = prompts.astype(jnp.int32), answers.astype(jnp.int32)
    tau = float(check_positive(temperature, "temperature"))
    lp = _answer_log_probs(model, prompts, answers, jnp.asarray(tau, model.config.jnp_dtype))
    mask = np.asarray(jax.vmap(completion_mask)(answers), dtype=np.float64)
    return np.exp(np.sum(np.asarray(lp, dtype=np.float64) * mask, axis=1))


@functools.lru_cache(maxsize=4)
def _add_task(modulus: int) -> SequenceTask:
    """The addition task of :func:`transformer_run` (all pairs, seed 0)."""
    return make_task("add", 0, modulus=modulus)


@functools.lru_cache(maxsize=4)
def _warm_model(modulus: int, warmstart_seed: int) -> tuple[Transformer, int]:
    """The warm-started TINY model of :func:`transformer_run` and its warm-start step count."""
    settings = WarmStartSettings(*TRANSFORMER_WARMSTART)
    model, losses = default_warmstart(jax.random.key(warmstart_seed), _add_task(modulus),
                                      settings=settings)
    return model, int(losses.shape[0])


def transformer_run(seed: int = 0, *, prompts: int = 256, group_size: int = 8,
                    temperature: float = 1.0, modulus: int = 20,
                    warmstart_seed: int = 0) -> SyntheticRun:
    r"""One step of exact-match groups from a warm-started tiny transformer on modular addition.

    The task is ``make_task("add", 0, modulus=modulus)`` (all :math:`m^2` pairs, prompts
    ``^ab+cd=``, answers of 1 to :math:`w` digits then EOS, 80% training prompts). A
    :data:`~grpo_theory.transformer.model.TINY` model is warm-started on the training prompts by
    :func:`~grpo_theory.transformer.warmstart.default_warmstart` with
    :data:`TRANSFORMER_WARMSTART` and key ``warmstart_seed`` (cached per
    ``(modulus, warmstart_seed)``). The log is step 0: ``prompts`` distinct training prompts
    drawn uniformly (``numpy.random.default_rng(seed)``), :math:`G` completions of each from
    :func:`~grpo_theory.transformer.sampling.sample_completions` at ``temperature`` (key
    ``jax.random.key(seed)``), reward :func:`~grpo_theory.transformer.tasks.exact_match_reward`,
    completion length the tokens up to and including the first EOS. The truth is exact:
    :func:`answer_probabilities` at the same temperature.

    Args:
        seed: an integer in :math:`[0, 2^{32})`: the prompts and the samples.
        prompts: prompts (groups), in ``[1, training prompts]`` (320 for :math:`m = 20`).
        group_size: completions per prompt :math:`G \ge 2`.
        temperature: sampling temperature :math:`\tau > 0`.
        modulus: :math:`m` in ``[2, 1000]`` (the warm-start settings were chosen for 20).
        warmstart_seed: an integer in :math:`[0, 2^{32})`: the model's initialisation and
            warm-start minibatches.

    Returns:
        A :class:`SyntheticRun` of ``prompts`` groups at step 0, prompts labelled by their text.
    """
    seed = _check_seed(seed)
    n = check_int(prompts, "prompts", 1)
    G = int(check_group_size(group_size, "group_size"))
    tau = float(check_positive(temperature, "temperature"))
    m = check_int(modulus, "modulus", 2, 1000)
    ws_seed = check_int(warmstart_seed, "warmstart_seed", 0, _MAX_SEED)
    task = _add_task(m)
    if n > task.n_train:
        raise ValueError(f"prompts must be an integer in [1, {task.n_train}] (the training "
                         f"prompts of modulus {m}), got {n}")
    model, ws_steps = _warm_model(m, ws_seed)

    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(np.asarray(task.train_idx), n, replace=False))
    prompts_QxP = jnp.asarray(task.prompts[chosen], jnp.int32)
    answers_QxL = jnp.asarray(task.answers[chosen], jnp.int32)
    out = sample_completions(jax.random.key(seed), model, prompts_QxP, n_rollouts=G,
                             completion_len=task.completion_len, temperature=tau)
    rewards = jax.vmap(jax.vmap(lambda comp, ans: reward("binary", comp, ans),
                                in_axes=(0, None)))(out["tokens"], answers_QxL)
    lengths = jax.vmap(jax.vmap(completion_mask))(out["tokens"]).sum(axis=-1)
    truth = answer_probabilities(model, prompts_QxP, answers_QxL, temperature=tau)

    labels = tuple(decode(task.prompts[q]) for q in chosen)
    return _build(
        np.zeros(n, np.int64), np.arange(n, dtype=np.int64), np.asarray(rewards, np.float64),
        truth, prompts=labels, lengths=np.asarray(lengths, np.float64),
        source=f"synthetic transformer_run(seed={seed})",
        description=(f"tiny transformer (TINY) on add mod {m}, warm-started {ws_steps} steps "
                     f"(seed {ws_seed}); 1 step x {n} prompts x G = {G} at temperature {tau:g}, "
                     f"exact-match rewards, seed {seed}"))
