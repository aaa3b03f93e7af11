r"""A tiny-transformer layer: tasks, an equinox decoder-only policy, sampling, RL training.

The layer brings the toolkit's policy-gradient estimators from softmax bandits to real token
sequences at a size a CPU handles:

* :mod:`~grpo_theory.transformer.tasks`: a shared 17-token vocabulary, the tasks ``add``
  (modular addition with variable-length answers), ``reverse`` and ``sort`` with train/test
  splits, and jittable rewards (exact match, partial credit) and completion masks;
* :mod:`~grpo_theory.transformer.model`: :class:`~.model.Transformer`, a pre-LayerNorm
  decoder-only transformer on one sequence (batch with :func:`jax.vmap`), and the completion
  log-probabilities :math:`\log\pi_\theta(y_i \mid q, y_{<i})`;
* :mod:`~grpo_theory.transformer.sampling`: jitted autoregressive sampling of :math:`G`
  rollouts per prompt with temperature, greedy decoding and per-prompt success rates;
* :mod:`~grpo_theory.transformer.warmstart`: a short supervised warm start after which the
  per-prompt success rates spread over (0, 1), as for an LLM on math problems;
* :mod:`~grpo_theory.transformer.trainer`: the paper's RL loop (epochs over a fixed prompt set,
  :math:`Q \times G` rollouts a step, token-level ratios with clipping 0.2 / 0.28, optional KL,
  every estimator and loss aggregation of :mod:`grpo_theory.policy_gradient`, online DPO),
  with checkpoints and exact resumption;
* :mod:`~grpo_theory.transformer.study`: 16-GRPO against 2-GRPO and the group-size ablation
  over seeds, in the form of the paper's Table 1 (:mod:`~grpo_theory.transformer.command` is
  its command line, :mod:`~grpo_theory.transformer.bench` times it);
* :mod:`~grpo_theory.transformer.analysis`: the DPO relation, control variates, fixed-budget
  variance and discard rate measured on the transformer's own gradients.

Every stochastic function takes a JAX key first; shapes use **Q** prompts, **G** rollouts per
prompt, **P** prompt tokens, **L** completion tokens, **T** tokens, **V** vocabulary.
"""

from __future__ import annotations

from grpo_theory.transformer import model, sampling, tasks, warmstart
from grpo_theory.transformer.model import (
    SMALL,
    TINY,
    ModelConfig,
    Transformer,
    init_model,
    param_count,
    sequence_log_prob,
    token_log_probs,
)
from grpo_theory.transformer.sampling import greedy_completions, sample_completions, success_rates
from grpo_theory.transformer.tasks import (
    REWARD_KINDS,
    TASK_NAMES,
    VOCAB_SIZE,
    AddTask,
    ReverseTask,
    SequenceTask,
    SortTask,
    completion_mask,
    decode,
    encode,
    exact_match_reward,
    make_task,
    partial_credit_reward,
    reward,
)
from grpo_theory.transformer.warmstart import (
    WARMSTART_DEFAULTS,
    WarmStartSettings,
    default_warmstart,
    spread_summary,
    success_histogram,
    supervised_loss,
    supervised_warmstart,
)

__all__ = [
    "model",
    "sampling",
    "tasks",
    "warmstart",
    "ModelConfig",
    "TINY",
    "SMALL",
    "Transformer",
    "init_model",
    "param_count",
    "token_log_probs",
    "sequence_log_prob",
    "sample_completions",
    "greedy_completions",
    "success_rates",
    "VOCAB_SIZE",
    "TASK_NAMES",
    "REWARD_KINDS",
    "SequenceTask",
    "AddTask",
    "ReverseTask",
    "SortTask",
    "make_task",
    "encode",
    "decode",
    "completion_mask",
    "exact_match_reward",
    "partial_credit_reward",
    "reward",
    "WARMSTART_DEFAULTS",
    "WarmStartSettings",
    "supervised_warmstart",
    "default_warmstart",
    "supervised_loss",
    "success_histogram",
    "spread_summary",
]
