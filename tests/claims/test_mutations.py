"""Breaking a derivation makes its claim fail.

Each case replaces one function that a claim's check relies on by a deliberately wrong variant
(a classic slip: the wrong std, a dropped factor, a sign error) and asserts that the claim then
evaluates to ``failed``, while the intact derivation passes. This is the registry's power check:
a check that could not fail would not notice the mutation.
"""

from __future__ import annotations

import importlib
import sys
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


def _bessel_binary(k, G, convention="grpo", epsilon=0):
    """Wrong: Bessel's std where the population std is meant."""
    if adv.Convention(convention) is adv.Convention.GRPO:
        convention = adv.Convention.GRPO_BESSEL
    return adv.binary_advantages(k, G, convention, epsilon)


def _pair_advantages_bessel(r1, r2, convention="grpo", epsilon=0):
    """Wrong: a 2-GRPO pair normalised with Bessel's std whatever the convention."""
    from grpo_theory.symbolic.two_grpo import pair_advantages

    return pair_advantages(r1, r2, "grpo-bessel", epsilon)


def _dpo_closed_form_sign_slip(policy, reference, w, l, beta):
    """Wrong: sigma(r_w - r_l) instead of sigma(r_l - r_w) (the classic sign slip)."""
    from grpo_theory.symbolic.dpo import dpo_gradient_closed_form

    return dpo_gradient_closed_form(policy, reference, l, w, beta) * -1


def _interval_as_printed(var_minus, cov):
    """Wrong: the paper's printed bound 2 Cov^2 / Var(g-)."""
    from grpo_theory.symbolic.control_variates import printed_no_increase_interval

    return printed_no_increase_interval(var_minus, cov)


def _product_variance_without_interaction(var_g, var_r, mean_r, cov_r2_g2, cov_r_g):
    """Wrong: Eq. 7 with the interaction term Cov(r^2, g^2) - Cov(r, g)^2 dropped."""
    return var_g * (var_r + mean_r**2)


def _ratio_of_sums_instead(numerators, denominators):
    """Wrong aggregation: the ratio of totals where the mean of ratios is meant."""
    from grpo_theory.paper.arithmetic import ratio_of_sums

    return ratio_of_sums(numerators, denominators)


MUTATIONS: list[tuple[str, str, str, Callable]] = [
    ("adv.unit-population-variance", "grpo_theory.claims.advantages", "group_advantages",
     _bessel_everywhere),
    ("adv.rloo-centred-ratio", "grpo_theory.claims.advantages", "group_advantages",
     _rloo_without_correction),
    ("adv.sum-zero", "grpo_theory.claims.advantages", "group_advantages",
     _rloo_without_correction),
    ("adv.binary-population", "grpo_theory.claims.advantages", "binary_advantages",
     _binary_sign_slip),
    ("grpo.contrastive-form", "grpo_theory.claims.contrastive", "binary_advantages",
     _binary_sign_slip),
    ("egrad.c2-equals-one", "grpo_theory.symbolic.expected_gradient", "binary_advantages",
     _bessel_binary),
    ("two-grpo.population", "grpo_theory.claims.two_grpo", "pair_advantages",
     _pair_advantages_bessel),
    ("dpo.gradient", "grpo_theory.claims.dpo", "dpo_gradient_closed_form",
     _dpo_closed_form_sign_slip),
    ("cv.no-increase-range", "grpo_theory.claims.control_variates", "no_increase_interval",
     _interval_as_printed),
    ("var.product-identity", "grpo_theory.claims.variance", "product_variance_formula",
     _product_variance_without_interaction),
    ("paper.time-ratio", "grpo_theory.claims.paper_arithmetic", "mean_of_ratios",
     _ratio_of_sums_instead),
]


@pytest.mark.parametrize(("claim_id", "module", "name", "broken"), MUTATIONS,
                         ids=[f"{m[0]}<-{m[3].__name__}" for m in MUTATIONS])
def test_broken_derivation_fails_its_claim(monkeypatch, claim_id, module, name, broken):
    claim = get_claim(claim_id)
    assert evaluate(claim).outcome is claim.expected
    monkeypatch.setattr(importlib.import_module(module), name, broken)
    _clear_caches()  # memoised derivations must see the broken function
    try:
        result = evaluate(claim)
    finally:
        monkeypatch.undo()
        _clear_caches()
    assert result.outcome is Outcome.FAILED, result.evidence.summary


def _clear_caches() -> None:
    """Empty every ``functools`` cache of the package's modules."""
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith("grpo_theory") and mod is not None:
            for obj in vars(mod).values():
                if callable(getattr(obj, "cache_clear", None)):
                    obj.cache_clear()
