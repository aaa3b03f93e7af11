"""The claims registry and every claim the toolkit checks.

Each topic module below registers its claims on import; :func:`registry` returns them all.
"""

from grpo_theory.claims._core import (
    Claim,
    ClaimResult,
    Evidence,
    Kind,
    Outcome,
    evaluate,
    find_counterexample,
    get_claim,
    prove_cases,
    prove_identity,
    refuted,
    register,
    registry,
    run_claims,
    select,
    verify_close,
)

# Topic modules, in report order. Importing them registers their claims.
from grpo_theory.claims import (  # noqa: E402,F401  isort: skip
    advantages,
    contrastive,
    two_grpo,
    dpo,
    expected_gradient,
    control_variates,
    variance,
    paper_arithmetic,
    exact_binary,
    exact_oracle,
    budget,
    montecarlo,
    experiments,
    transformer,
    analyze,
    related,
)

TOPICS: dict[str, str] = {
    "advantages": "Group advantages",
    "contrastive": "GRPO as a contrastive estimator",
    "two_grpo": "2-GRPO: a group of two",
    "dpo": "DPO and its relation to 2-GRPO",
    "expected_gradient": "Expected gradient weights and implied objectives",
    "control_variates": "Control variates",
    "variance": "Variance identities",
    "paper_arithmetic": "The paper's own arithmetic",
    "exact_binary": "Exact moments for binary rewards, any group size",
    "exact_oracle": "The enumeration oracle and softmax bandits",
    "budget": "Fixed-budget comparisons across group sizes",
    "montecarlo": "Monte Carlo against the exact engine",
    "experiments": "Bandit training against the exact theory",
    "transformer": "Tiny transformers against the theory",
    "analyze": "Analysing a practitioner's run",
    "related": "Results of related papers",
}
"""Theory topics (one docs page each), in report order, with their titles."""

__all__ = [
    "Claim",
    "ClaimResult",
    "Evidence",
    "Kind",
    "Outcome",
    "TOPICS",
    "evaluate",
    "find_counterexample",
    "get_claim",
    "prove_cases",
    "prove_identity",
    "refuted",
    "register",
    "registry",
    "run_claims",
    "select",
    "verify_close",
]
