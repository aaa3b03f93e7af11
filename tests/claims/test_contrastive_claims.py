"""The contrastive claims' checks reject deliberately wrong variants, and the slow full range."""

from __future__ import annotations

import pytest
import sympy as sp

from grpo_theory.claims import Outcome
from grpo_theory.claims import contrastive as claims
from grpo_theory.symbolic.advantages import Convention
from grpo_theory.symbolic.contrastive import contrastive_weight_closed_form


def _without_epsilon(k, G, convention="grpo", epsilon=0):
    """A wrong closed form: the epsilon in the denominator is dropped."""
    return contrastive_weight_closed_form(k, G, convention, 0)


def test_population_check_rejects_a_weight_without_epsilon(monkeypatch):
    monkeypatch.setattr(claims, "contrastive_weight_closed_form", _without_epsilon)
    assert claims._contrastive_population().outcome is Outcome.REFUTED


def test_rloo_check_rejects_the_dr_grpo_weight(monkeypatch):
    monkeypatch.setattr(claims, "contrastive_weight_closed_form",
                        lambda k, G, convention="grpo", epsilon=0:
                        contrastive_weight_closed_form(k, G, "dr-grpo", epsilon))
    assert claims._contrastive_rloo().outcome is Outcome.REFUTED


def test_exhaustive_check_rejects_a_wrong_weight(monkeypatch):
    from grpo_theory.symbolic import contrastive as module

    original = module.contrastive_weight_closed_form

    def bessel_without_correction(k, G, convention="grpo", epsilon=0):
        conv = Convention(convention)
        if conv is Convention.GRPO_BESSEL:
            return original(k, G, Convention.GRPO, epsilon)
        return original(k, G, conv, epsilon)

    monkeypatch.setattr(module, "contrastive_weight_closed_form", bessel_without_correction)
    ev = claims.exhaustive_check(g_max=6)
    assert ev.outcome is Outcome.REFUTED
    assert "grpo-bessel" in ev.details["case"]


def test_mean_baseline_check_rejects_a_wrong_coefficient(monkeypatch):
    monkeypatch.setattr(claims, "control_variate_coefficient",
                        lambda n_pos, n_neg, b: n_pos * b / (n_neg * (1 - b)))
    assert claims._mean_baseline().outcome is Outcome.REFUTED


def test_clip_check_rejects_a_swapped_split(monkeypatch):
    def swapped(rho, advantage, epsilon):
        A = sp.sympify(advantage)
        bound = sp.Max(rho, 1 - epsilon) if A.is_positive else sp.Min(rho, 1 + epsilon)
        return A * bound

    monkeypatch.setattr(claims, "sign_split_objective", swapped)
    assert claims._clip_sign_split().outcome is Outcome.REFUTED


def test_linear_simplifier():
    x, y, c = sp.symbols("x y c")
    simplify = claims._linear_simplifier([x, y])
    assert simplify((sp.sqrt(2) * c) ** 2 * x - 2 * c**2 * x) == 0
    assert simplify(c * x + y) != 0
    assert simplify(x * y) != 0  # not affine: falls back to simplify


@pytest.mark.slow
def test_exhaustive_full_range():
    """The contrastive form for every binary group up to G = 128 (a few minutes)."""
    ev = claims.exhaustive_check(g_max=128)
    assert ev.outcome is Outcome.PROVED
    assert ev.details["cases"] == 4 * sum(G - 1 for G in range(2, 129))
