"""Policy-gradient experiments on toy bandits (JAX).

* :mod:`~grpo_theory.experiments.bandit_env`: a fixed data set of multi-armed "prompts" whose
  initial success rates follow a chosen difficulty law exactly, two policy families (tabular and
  shared-parameter) and exact success metrics (mean success, Pass@k) on train and test splits;
* :mod:`~grpo_theory.experiments.bandit`: a fully jitted trainer (epochs over the data set,
  mini-batches of prompts times rollouts, clipped importance-ratio updates or online DPO) that
  runs many seeds at once with :func:`jax.vmap`.
"""

from __future__ import annotations

from grpo_theory.experiments import bandit, bandit_env

__all__ = ["bandit", "bandit_env"]
