"""Monte Carlo layer (JAX): streamed, sharded moment estimates that must agree with the exact layer.

* :mod:`~grpo_theory.montecarlo.engine`: the moment engine (any sampler of random vectors);
* :mod:`~grpo_theory.montecarlo.bandit`: draws of group estimators on softmax bandits;
* :mod:`~grpo_theory.montecarlo.stats`: non-asymptotic agreement tests and confidence intervals;
* :mod:`~grpo_theory.montecarlo.lab`: the variance lab (fixed-budget curves, control variates,
  the paper's covariance measurement), each beside its exact value;
* :mod:`~grpo_theory.montecarlo.bench`: the benchmark against a vectorised numpy baseline.
"""

from __future__ import annotations

from grpo_theory.montecarlo import bandit, engine, lab, stats

__all__ = ["bandit", "engine", "lab", "stats"]
