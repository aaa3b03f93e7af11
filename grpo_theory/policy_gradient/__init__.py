"""JAX policy-gradient estimators: group advantages, clipped losses, KL estimators and DPO.

Every function acts on one group (``[G]`` rewards or ``[G, T]`` token log-probs); batch over
prompts with :func:`jax.vmap`.
"""

from __future__ import annotations

from grpo_theory.policy_gradient import advantages, dpo, kl, losses

__all__ = ["advantages", "dpo", "kl", "losses"]
