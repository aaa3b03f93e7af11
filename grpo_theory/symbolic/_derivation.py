"""Step-by-step derivations, printable as text or LaTeX (``grpo-theory derive NAME``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

__all__ = ["Step", "Derivation", "derivation", "derivations", "get_derivation"]


_GREEK = {"alpha": "α", "beta": "β", "epsilon": "ε", "kappa": "κ", "pi": "π", "rho": "ρ",
          "sigma": "σ", "theta": "θ", "phi": "φ", "nabla": "∇", "sum": "Σ", "log": "log"}
_ACCENT = {"hat": "\u0302", "bar": "\u0304"}


def _plain(name: str) -> str:
    """A LaTeX symbol name as readable plain text (``\\hat{g}_{2GRPO}`` -> ``ĝ_2GRPO``)."""
    name = re.sub(r"\\(hat|bar)\s*\{?(\\[A-Za-z]+|\w)\}?",
                  lambda m: _plain(m.group(2)) + _ACCENT[m.group(1)], name)
    name = re.sub(r"\\mathcal\{(\w+)\}", r"\1", name)
    name = re.sub(r"\\([A-Za-z]+)", lambda m: _GREEK.get(m.group(1), "\\" + m.group(1)), name)
    while True:  # subscripts and superscripts: x_{ab} -> x_ab, innermost first
        plain = re.sub(r"([_^])\{([^{}]*)\}", r"\1\2", name)
        if plain == name:
            break
        name = plain
    name = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}",
                  lambda m: "/".join(a if re.fullmatch(r"\\?\w+", a) else f"({a})"
                                     for a in m.groups()), name)
    return name.replace("\\", "").replace("{", "").replace("}", "")


def _plain_symbols(expr: sp.Basic) -> sp.Basic:
    """Replace symbols named in LaTeX by plain-text names, for pretty printing."""
    expr = sp.sympify(expr)
    latex_named = {s: sp.Symbol(_plain(s.name)) for s in expr.free_symbols
                   if isinstance(s, sp.Symbol) and "\\" in s.name}
    return expr.xreplace(latex_named) if latex_named else expr


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
        lhs = _plain_symbols(self.lhs)
        rhs = None if self.rhs is None else _plain_symbols(self.rhs)
        body = sp.pretty(lhs if rhs is None else sp.Eq(lhs, rhs, evaluate=False),
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
