"""Monte Carlo layer (JAX): streamed, sharded moment estimates that must agree with the exact layer.

* :mod:`~grpo_theory.montecarlo.engine`: the moment engine (any sampler of random vectors);
* :mod:`~grpo_theory.montecarlo.bandit`: draws of group estimators on softmax bandits;
* :mod:`~grpo_theory.montecarlo.stats`: non-asymptotic agreement tests and confidence intervals.
"""

from __future__ import annotations

from grpo_theory.montecarlo import bandit, engine

__all__ = ["bandit", "engine"]
