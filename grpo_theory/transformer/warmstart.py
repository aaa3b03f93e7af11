r"""A short supervised warm start, so that per-prompt success rates spread over (0, 1).

RL with group-normalised advantages only learns from prompts whose success rate :math:`p_q` is
strictly between 0 and 1 (a group of all-correct or all-wrong rollouts has zero advantages).
On math problems a pretrained LLM sits in that regime; a freshly initialised tiny transformer
does not (:math:`p_q \approx 0` everywhere). :func:`supervised_warmstart` fixes this with a few
steps of teacher forcing on the *training* prompts, minimising the token-mean cross-entropy of
the answer tokens (EOS included),

.. math::

    \mathcal L(\theta) = -\frac{\sum_{q\in B}\sum_i m_{q,i}\log\pi_\theta(a_{q,i}\mid q, a_{q,<i})}
                               {\sum_{q\in B}\sum_i m_{q,i}},

with :math:`m_{q,\cdot}` the answer's :func:`~.tasks.completion_mask`, minibatches :math:`B` drawn
uniformly with replacement and :func:`optax.adamw`. The whole run is one jitted
:func:`jax.lax.while_loop`, which can stop early once a moving average of the loss reaches a
``target_loss``.

**Defaults.** These tasks are learnt in sudden jumps whose timing depends on the seed (for
``add`` after 450 steps the mean success rate was 0.37 for one seed and 0.01 to 0.05 for four
others), so a fixed step count gives erratic success rates; stopping at a target loss does
not. :data:`WARMSTART_DEFAULTS` holds, for each task's default spec and the
:data:`~.model.TINY` model, settings found by experiment. Measured on all train prompts with 16
samples each at temperature 1 (binary reward), two seeds:

=========  ===========  ============  ==============  ===============  ===================
 task       steps run    mean rate     rate = 0        rate = 1         strictly in (0, 1)
=========  ===========  ============  ==============  ===============  ===================
 add        about 660    0.41          6%              0.1 to 0.2%      94%
 reverse    56 to 62     0.43, 0.48    0 to 0.1%       0%               100%
 sort       74 to 77     0.44, 0.47    3 to 5%         0.1%             95 to 97%
=========  ===========  ============  ==============  ===============  ===================

with the held-out prompts within 0.03 of the same means. Each run takes under 7 s on a shared
2-core CPU, about 2.5 s of it compilation. :func:`success_histogram` and
:func:`spread_summary` describe such a spread.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from grpo_theory.transformer.model import TINY, ModelConfig, Transformer, init_model
from grpo_theory.transformer.model import token_log_probs as _token_log_probs
from grpo_theory.transformer.tasks import TASK_NAMES, SequenceTask, completion_mask

__all__ = [
    "WarmStartSettings",
    "WARMSTART_DEFAULTS",
    "supervised_loss",
    "supervised_warmstart",
    "default_warmstart",
    "success_histogram",
    "spread_summary",
]


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """Settings of :func:`supervised_warmstart`: its step budget, batch, learning rate and target.

    Attributes:
        steps: optimiser steps (>= 1).
        batch_size: training prompts per step (>= 1).
        learning_rate: AdamW learning rate (> 0).
        target_loss: early-stopping loss (> 0) or ``None`` to run every step.
    """

    steps: int
    batch_size: int
    learning_rate: float
    target_loss: float | None = None

    def __post_init__(self) -> None:
        _check_positive_int(self.steps, "steps")
        _check_positive_int(self.batch_size, "batch_size")
        _check_learning_rate(self.learning_rate)
        if self.target_loss is not None and (
                isinstance(self.target_loss, bool) or not isinstance(self.target_loss, numbers.Real)
                or not 0 < float(self.target_loss) < np.inf):
            raise ValueError(f"target_loss must be None or a finite real > 0, got "
                             f"{self.target_loss!r}")


_EMA_DECAY = 0.9
"""Decay of the loss average that ``target_loss`` is compared with."""


def _check_positive_int(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or int(x) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {x!r}")
    return int(x)


def _check_learning_rate(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not 0 < float(x) < np.inf:
        raise ValueError(f"learning_rate must be a finite real > 0, got {x!r}")
    return float(x)


WARMSTART_DEFAULTS = types.MappingProxyType({
    "add": WarmStartSettings(steps=2000, batch_size=64, learning_rate=3e-3, target_loss=0.45),
    "reverse": WarmStartSettings(steps=1000, batch_size=64, learning_rate=3e-3, target_loss=0.6),
    "sort": WarmStartSettings(steps=1000, batch_size=64, learning_rate=3e-3, target_loss=0.3),
})
"""Default warm-start settings per task name (the task's default spec, ``TINY``): AdamW at
:math:`3\times10^{-3}`, 64 prompts a step, stopping at a smoothed loss of 0.45 (``add``), 0.6
(``reverse``) or 0.3 (``sort``) nats per answer token; mean success rates about 0.4 to 0.5."""


def supervised_loss(model: Transformer, prompts: Any, answers: Any) -> Array:
    r"""Token-mean teacher-forcing cross-entropy of the answers (EOS included), :math:`\mathcal L`.

    Args:
        model: the :class:`~.model.Transformer`.
        prompts: ``Int[Array, "B P"]`` prompts.
        answers: ``Int[Array, "B L"]`` their answers (tokens, EOS, PAD).

    Returns:
        ``Float[Array, ""]`` the loss in nats per answer token.

    Example:
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> model = init_model(jax.random.key(0), TINY.for_task(task))
        >>> bool(supervised_loss(model, task.prompts[:4], task.answers[:4]) > 0)
        True
    """
    prompts, answers = jnp.asarray(prompts), jnp.asarray(answers)
    if prompts.ndim != 2 or answers.ndim != 2 or prompts.shape[0] != answers.shape[0]:
        raise ValueError(f"prompts and answers must have shapes [B, P] and [B, L] with the same "
                         f"B, got {prompts.shape} and {answers.shape}")
    P = prompts.shape[1]
    seq_BxT = jnp.concatenate([prompts, answers], axis=1)
    lp_BxL = jax.vmap(_token_log_probs, in_axes=(None, 0, None))(model, seq_BxT, P)
    mask_BxL = jax.vmap(completion_mask)(answers).astype(lp_BxL.dtype)
    return -jnp.sum(lp_BxL * mask_BxL) / jnp.sum(mask_BxL)


@eqx.filter_jit
def _train(key: Array, model: Transformer, prompts: Array, answers: Array, train_idx: Array,
           learning_rate: Array, target_loss: Array, steps: int,
           batch_size: int) -> tuple[Transformer, Array, Array]:
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optimizer = optax.adamw(learning_rate)
    keys = jax.random.split(key, steps)
    dtype = learning_rate.dtype

    def loss_fn(params, prompts_BxP, answers_BxL):
        return supervised_loss(eqx.combine(params, static), prompts_BxP, answers_BxL)

    def cond(carry):
        step, _, _, _, ema = carry
        return (step < steps) & (ema > target_loss)

    def body(carry):
        step, params, opt_state, losses, ema = carry
        idx_B = jax.random.choice(keys[step], train_idx, (batch_size,))
        loss, grads = jax.value_and_grad(loss_fn)(params, prompts[idx_B], answers[idx_B])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        ema = jnp.where(step == 0, loss, _EMA_DECAY * ema + (1 - _EMA_DECAY) * loss)
        return step + 1, params, opt_state, losses.at[step].set(loss), ema

    init = (jnp.asarray(0), params, optimizer.init(params), jnp.full((steps,), jnp.nan, dtype),
            jnp.asarray(jnp.inf, dtype))
    n, params, _, losses, _ = jax.lax.while_loop(cond, body, init)
    return eqx.combine(params, static), losses, n


def supervised_warmstart(key: Array, model: Transformer, task: SequenceTask, *, steps: int,
                         batch_size: int, learning_rate: float,
                         target_loss: float | None = None
                         ) -> tuple[Transformer, Array]:
    r"""Teacher-forcing warm start on the task's *train* prompts (AdamW, one jitted loop).

    Minimises :math:`\mathcal L` (the module docstring) over at most ``steps`` minibatches of
    ``batch_size`` training prompts drawn with replacement; held-out prompts are never seen.
    With ``target_loss`` the run stops early, after the first step at which an exponential
    moving average (decay 0.9) of the minibatch losses is ``<= target_loss``: stopping at a
    loss rather than a step count makes the resulting success rates much less dependent on
    the seed, since these tasks are learnt in sudden, seed-dependent jumps.

    Args:
        key: a JAX PRNG key for the minibatches.
        model: the initial :class:`~.model.Transformer` (its context must hold ``P + L - 1``).
        task: a :class:`~.tasks.SequenceTask` with at least one training prompt.
        steps: :math:`S \ge 1`, the most optimiser steps (static: a new value recompiles).
        batch_size: prompts per step, >= 1.
        learning_rate: AdamW learning rate, > 0.
        target_loss: stop once the smoothed loss is at or below this value (> 0); ``None``
            (default) runs all ``steps``.

    Returns:
        ``(model, losses)``: the trained model and ``Float[Array, "S"]`` the minibatch loss
        before each step taken (``S <= steps`` entries).

    Example:
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("reverse", 0, n_digits=2, n_prompts=50)
        >>> model = init_model(jax.random.key(0), TINY.for_task(task))
        >>> model, losses = supervised_warmstart(jax.random.key(1), model, task, steps=20,
        ...                                      batch_size=8, learning_rate=3e-3)
        >>> losses.shape, bool(losses[-1] < losses[0])
        ((20,), True)
    """
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    if not isinstance(task, SequenceTask):
        raise TypeError(f"task must be a SequenceTask, got {type(task).__name__}")
    settings = WarmStartSettings(steps, batch_size, learning_rate, target_loss)
    if task.n_train < 1:
        raise ValueError("task must have at least one training prompt (task.train_idx is empty)")
    if task.seq_len - 1 > model.config.max_len:
        raise ValueError(f"model.config.max_len must be >= P + L - 1 = {task.seq_len - 1} for "
                         f"task {task.name!r}, got {model.config.max_len}")
    dtype = model.config.jnp_dtype
    target = -np.inf if settings.target_loss is None else settings.target_loss
    model, losses, n = _train(
        key, model, jnp.asarray(task.prompts, jnp.int32), jnp.asarray(task.answers, jnp.int32),
        jnp.asarray(task.train_idx, jnp.int32), jnp.asarray(settings.learning_rate, dtype),
        jnp.asarray(target, dtype), settings.steps, settings.batch_size)
    return model, losses[: int(n)]


def default_warmstart(key: Array, task: SequenceTask, *, config: ModelConfig | None = None,
                      settings: WarmStartSettings | None = None
                      ) -> tuple[Transformer, Array]:
    """A fresh model warm-started with the task's default settings.

    The model is ``init_model`` of ``config`` (default :data:`~.model.TINY` sized for the task)
    and the settings default to ``WARMSTART_DEFAULTS[task.name]``.

    Args:
        key: a JAX PRNG key, split into the model's initialisation and the minibatches.
        task: a :class:`~.tasks.SequenceTask`.
        config: the model configuration; ``None`` means ``TINY.for_task(task)``.
        settings: a :class:`WarmStartSettings`; ``None`` means the task's default.

    Returns:
        ``(model, losses)`` as :func:`supervised_warmstart`.
    """
    if not isinstance(task, SequenceTask):
        raise TypeError(f"task must be a SequenceTask, got {type(task).__name__}")
    if settings is None:
        if task.name not in WARMSTART_DEFAULTS:
            raise ValueError(f"task.name must be one of {', '.join(TASK_NAMES)} for default "
                             f"settings, got {task.name!r}")
        settings = WARMSTART_DEFAULTS[task.name]
    k_init, k_train = jax.random.split(key)
    model = init_model(k_init, TINY.for_task(task) if config is None else config)
    return supervised_warmstart(k_train, model, task, **dataclasses.asdict(settings))


def _rates(rates: Any) -> np.ndarray:
    r = np.asarray(rates, dtype=float)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"rates must have shape [N] with N >= 1, got shape {r.shape}")
    if not np.all((r >= 0) & (r <= 1)):
        raise ValueError("rates must lie in [0, 1]")
    return r


def success_histogram(rates: Any, bins: int = 10) -> np.ndarray:
    """Counts of success rates in ``bins`` equal bins of [0, 1] (the last bin includes 1).

    Args:
        rates: ``Float[Array, "N"]`` per-prompt success rates in [0, 1].
        bins: number of bins, >= 1 (default 10).

    Returns:
        ``Int[ndarray, "bins"]`` counts summing to :math:`N`.

    Example:
        >>> success_histogram(np.array([0.0, 0.05, 0.5, 1.0]), bins=4).tolist()
        [2, 0, 1, 1]
    """
    r = _rates(rates)
    b = _check_positive_int(bins, "bins")
    counts, _ = np.histogram(r, bins=b, range=(0.0, 1.0))
    return counts


def spread_summary(rates: Any) -> dict[str, float]:
    """How spread success rates are: mean, and the fractions at 0, at 1 and strictly between.

    Args:
        rates: ``Float[Array, "N"]`` per-prompt success rates in [0, 1].

    Returns:
        A dict with ``mean``, ``frac_zero``, ``frac_one`` and ``frac_interior``.

    Example:
        >>> spread_summary(np.array([0.0, 0.25, 0.75, 1.0]))["frac_interior"]
        0.5
    """
    r = _rates(rates)
    zero, one = float(np.mean(r == 0)), float(np.mean(r == 1))
    return {"mean": float(r.mean()), "frac_zero": zero, "frac_one": one,
            "frac_interior": 1.0 - zero - one}
