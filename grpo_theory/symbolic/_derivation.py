"""Step-by-step derivations, printable as text or LaTeX (``grpo-theory derive NAME``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

__all__ = ["Step", "Derivation", "derivation", "derivations", "get_derivation"]


@dataclass(frozen=True)
class Step:
    """One step: an explanation and, optionally, an equation ``lhs = rhs`` (or a lone ``lhs``)."""

    text: str
    lhs: sp.Basic | None = None
    rhs: sp.Basic | None = None

    def render(self, latex: bool = False) -> str:
        if self.lhs is None:
            return self.text
        if latex:
            eq = sp.latex(self.lhs) + ("" if self.rhs is None else " = " + sp.latex(self.rhs))
            return f"{self.text}\n\n$$\n{eq}\n$$"
        body = sp.pretty(self.lhs if self.rhs is None else sp.Eq(self.lhs, self.rhs,
                                                                   evaluate=False),
                         use_unicode=True)
        return f"{self.text}\n\n" + "\n".join("    " + line for line in body.splitlines())


@dataclass(frozen=True)
class Derivation:
    """A named derivation: a title, a list of steps, and the claim ids it backs."""

    name: str
    title: str
    steps: list[Step]
    claims: list[str] = field(default_factory=list)

    def render(self, latex: bool = False) -> str:
        head = f"# {self.title}" if latex else f"{self.title}\n{'=' * len(self.title)}"
        parts = [head]
        for i, step in enumerate(self.steps, 1):
            parts.append(f"{i}. {step.render(latex)}")
        if self.claims:
            parts.append("Backs the claims: " + ", ".join(self.claims))
        return "\n\n".join(parts) + "\n"


_DERIVATIONS: dict[str, tuple[str, Callable[[], Derivation]]] = {}


Builder = Callable[[], Derivation]


def derivation(name: str, title: str) -> Callable[[Builder], Builder]:
    """Register a zero-argument function building a :class:`Derivation` under ``name``."""

    def decorator(fn: Callable[[], Derivation]) -> Callable[[], Derivation]:
        if name in _DERIVATIONS:
            raise ValueError(f"duplicate derivation name {name!r}")
        _DERIVATIONS[name] = (title, fn)
        return fn

    return decorator


def derivations() -> dict[str, str]:
    """Names and titles of every registered derivation."""
    import grpo_theory.symbolic  # noqa: F401  (imports every module that registers one)

    return {name: title for name, (title, _) in sorted(_DERIVATIONS.items())}


def get_derivation(name: str) -> Derivation:
    """Build the derivation ``name``; ``KeyError`` listing the known names otherwise."""
    known = derivations()
    if name not in known:
        raise KeyError(f"unknown derivation {name!r}; known: {', '.join(known)}")
    return _DERIVATIONS[name][1]()
