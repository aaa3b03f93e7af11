"""grpo-theory: theory and verification toolkit for group-based policy-gradient methods.

Four layers check each other: :mod:`grpo_theory.symbolic` (sympy derivations),
an exact moment layer, a Monte Carlo layer and experiments. The claims registry
(:mod:`grpo_theory.claims`) ties them together: every statement the toolkit checks is one claim
with its source, and every claim is a test.
"""

from grpo_theory.claims import Claim, ClaimResult, Evidence, Kind, Outcome, registry, run_claims

__version__ = "0.1.0"

__all__ = [
    "Claim",
    "ClaimResult",
    "Evidence",
    "Kind",
    "Outcome",
    "registry",
    "run_claims",
    "__version__",
]
