"""Named derivations: every one renders as text and as LaTeX and names real claims."""

from __future__ import annotations

import pytest
import sympy as sp

from grpo_theory.claims import registry
from grpo_theory.symbolic import derivations, get_derivation
from grpo_theory.symbolic._derivation import Step, _plain

NAMES = list(derivations())


def test_every_symbolic_topic_has_a_derivation():
    assert len(NAMES) >= 8


@pytest.mark.parametrize("name", NAMES)
def test_derivation_renders(name):
    d = get_derivation(name)
    assert d.name == name and d.steps
    text, latex = d.render(), d.render(latex=True)
    assert text.startswith(d.title) and latex.startswith(f"# {d.title}")
    assert "\\" not in "".join(line for line in text.splitlines() if line.startswith("    "))
    unknown = set(d.claims) - set(registry())
    assert not unknown, f"{name} names unknown claims {unknown}"


def test_plain_names_of_latex_symbols():
    assert _plain(r"\hat{g}_{2GRPO}") == "g\u0302_2GRPO"  # g + combining circumflex
    assert _plain(r"\nabla_{\theta}\mathcal{L}_{DPO}") == "∇_θL_DPO"
    assert _plain(r"\frac{1}{\beta}") == "1/β"
    step = Step("x", sp.Symbol(r"\bar{r}"), sp.Integer(1))
    assert "r̄" in step.render() and r"\bar{r}" in step.render(latex=True)


def test_unknown_derivation():
    with pytest.raises(KeyError, match="unknown derivation"):
        get_derivation("no-such")
