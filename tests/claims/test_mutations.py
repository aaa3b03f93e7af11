"""Breaking a derivation makes its claim fail.

Each case replaces one function that a claim's check relies on by a deliberately wrong variant
(a classic slip: the wrong std, a dropped factor, a sign error) and asserts that the claim then
evaluates to ``failed``, while the intact derivation passes. This is the registry's power check:
a check that could not fail would not notice the mutation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest

from grpo_theory.claims import Outcome, evaluate, get_claim
from grpo_theory.symbolic import advantages as adv


def _bessel_everywhere(rewards, convention="grpo", epsilon=0):
    """Wrong: uses Bessel's std for the population-std convention."""
    if adv.Convention(convention) is adv.Convention.GRPO:
        convention = adv.Convention.GRPO_BESSEL
    return adv.group_advantages(rewards, convention, epsilon)


def _rloo_without_correction(rewards, convention="grpo", epsilon=0):
    """Wrong: leave-one-out baseline divided by G instead of G - 1."""
    if adv.Convention(convention) is adv.Convention.RLOO:
        r = list(rewards)
        return [x - (sum(r) - x) / len(r) for x in r]
    return adv.group_advantages(rewards, convention, epsilon)


def _binary_sign_slip(k, G, convention="grpo", epsilon=0):
    """Wrong: the negative advantage loses its sign."""
    plus, minus = adv.binary_advantages(k, G, convention, epsilon)
    return plus, -minus


MUTATIONS: list[tuple[str, str, str, Callable]] = [
    ("adv.unit-population-variance", "grpo_theory.claims.advantages", "group_advantages",
     _bessel_everywhere),
    ("adv.rloo-centred-ratio", "grpo_theory.claims.advantages", "group_advantages",
     _rloo_without_correction),
    ("adv.sum-zero", "grpo_theory.claims.advantages", "group_advantages",
     _rloo_without_correction),
    ("adv.binary-population", "grpo_theory.claims.advantages", "binary_advantages",
     _binary_sign_slip),
]


@pytest.mark.parametrize(("claim_id", "module", "name", "broken"), MUTATIONS,
                         ids=[f"{m[0]}<-{m[3].__name__}" for m in MUTATIONS])
def test_broken_derivation_fails_its_claim(monkeypatch, claim_id, module, name, broken):
    claim = get_claim(claim_id)
    assert evaluate(claim).outcome is claim.expected
    monkeypatch.setattr(importlib.import_module(module), name, broken)
    result = evaluate(claim)
    assert result.outcome is Outcome.FAILED, result.evidence.summary
