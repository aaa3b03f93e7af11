"""Policy-gradient experiments on toy bandits (JAX).

* :mod:`~grpo_theory.experiments.bandit_env`: a fixed data set of multi-armed "prompts" whose
  initial success rates follow a chosen difficulty law exactly, two policy families (tabular and
  shared-parameter) and exact success metrics (mean success, Pass@k) on train and test splits;
* :mod:`~grpo_theory.experiments.bandit`: a fully jitted trainer (epochs over the data set,
  mini-batches of prompts times rollouts, clipped importance-ratio updates or online DPO) that
  runs many seeds at once with :func:`jax.vmap`;
* :mod:`~grpo_theory.experiments.study`: the comparisons (the paper's 16-GRPO against 2-GRPO,
  equal rollouts, equal steps, equal wall time, the group-size ablation) with intervals over seeds;
* :mod:`~grpo_theory.experiments.trajectory`: the exact theory at training checkpoints (gradient
  variance, bias, SNR, silent-group rate) beside what training measured;
* :mod:`~grpo_theory.experiments.command`: the ``grpo-theory bandit`` command.
"""

from __future__ import annotations

from grpo_theory.experiments import bandit, bandit_env, command, study, trajectory

__all__ = ["bandit", "bandit_env", "command", "study", "trajectory"]
