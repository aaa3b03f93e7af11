"""Symbolic layer (sympy): exact derivations returned as expressions.

Modules: :mod:`.advantages`, :mod:`.contrastive`, :mod:`.two_grpo`, :mod:`.dpo`,
:mod:`.expected_gradient`, :mod:`.control_variates`, :mod:`.variance`.
"""

from grpo_theory.symbolic import (  # noqa: F401  (import registers the derivations)
    advantages,
    contrastive,
    control_variates,
    dpo,
    expected_gradient,
    two_grpo,
    variance,
)
from grpo_theory.symbolic._derivation import Derivation, Step, derivations, get_derivation

__all__ = ["Derivation", "Step", "derivations", "get_derivation"]
