"""Tests of grpo_theory.symbolic.two_grpo: pair advantages, trainer constants, Prop 5.1 sums."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.claims import Outcome
from grpo_theory.claims import two_grpo as claims
from grpo_theory.symbolic._derivation import get_derivation
from grpo_theory.symbolic.advantages import Convention
from grpo_theory.symbolic.two_grpo import (
    PAPER_CONSTANT,
    TRAINER_CONVENTIONS,
    ConstantRow,
    TrainerConvention,
    conditional_mean_advantage,
    conditional_mean_advantage_float,
    pair_advantages,
    pair_constant,
    trainer_constants_table,
    trainer_convention,
)

EPS = sp.Symbol("epsilon", nonnegative=True)
P = sp.Symbol("p", positive=True)


def _zero(expr) -> bool:
    return sp.simplify(expr) == 0


# ----------------------------------------------------------------------------------------------
# Pair advantages and constants
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("convention", "kappa"),
    [
        ("grpo", 1 / (1 + 2 * EPS)),
        ("grpo-bessel", 1 / (sp.sqrt(2) + 2 * EPS)),
        ("dr-grpo", sp.Rational(1, 2)),
        ("rloo", sp.Integer(1)),
    ],
)
def test_pair_constant(convention, kappa):
    assert _zero(pair_constant(convention, EPS) - kappa)
    a1, a2 = pair_advantages(1, 0, convention, EPS)
    assert _zero(a1 - kappa) and _zero(a2 + kappa)
    b1, b2 = pair_advantages(0, 1, convention, EPS)
    assert _zero(b1 + kappa) and _zero(b2 - kappa)


def test_paper_constant_at_zero_epsilon():
    assert pair_constant("grpo") == PAPER_CONSTANT == 1
    assert _zero(pair_constant("grpo-bessel") - 1 / sp.sqrt(2))


@pytest.mark.parametrize("convention", list(Convention))
@pytest.mark.parametrize("value", [0, 1, sp.Rational(7, 3)])
def test_agreeing_pair_is_zero(convention, value):
    assert pair_advantages(value, value, convention) == (0, 0)
    assert pair_advantages(value, value, convention, sp.Rational(1, 10**6)) == (0, 0)


def test_dr_grpo_factor():
    for r1 in (0, 1):
        for r2 in (0, 1):
            dr = pair_advantages(r1, r2, "dr-grpo")
            pop = pair_advantages(r1, r2, "grpo")
            bes = pair_advantages(r1, r2, "grpo-bessel")
            assert all(_zero(a - 2 * d) for a, d in zip(pop, dr, strict=True))
            assert all(_zero(a - sp.sqrt(2) * d) for a, d in zip(bes, dr, strict=True))


def test_float_rewards_are_exact():
    assert pair_advantages(0.75, 0.25, "dr-grpo") == (sp.Rational(1, 4), sp.Rational(-1, 4))


@pytest.mark.property
@given(
    r1=st.fractions(min_value=-10, max_value=10, max_denominator=20),
    r2=st.fractions(min_value=-10, max_value=10, max_denominator=20),
    convention=st.sampled_from(list(Convention)),
)
def test_pair_properties(r1, r2, convention):
    x1 = sp.Rational(r1.numerator, r1.denominator)
    x2 = sp.Rational(r2.numerator, r2.denominator)
    a1, a2 = pair_advantages(x1, x2, convention)
    assert _zero(a1 + a2)
    # a pair's std-normalised advantage is +-1 (population) or +-1/sqrt(2) (Bessel) at eps = 0
    if x1 != x2 and convention is Convention.GRPO:
        assert a1 == sp.sign(x1 - x2)
    if x1 != x2 and convention is Convention.GRPO_BESSEL:
        assert _zero(a1 - sp.sign(x1 - x2) / sp.sqrt(2))


# ----------------------------------------------------------------------------------------------
# Trainer table
# ----------------------------------------------------------------------------------------------


def test_trainer_table_entries():
    names = [t.name for t in TRAINER_CONVENTIONS]
    assert len(names) == len(set(names)) == 9
    for t in TRAINER_CONVENTIONS:
        assert isinstance(t, TrainerConvention)
        assert isinstance(t.convention, Convention)
        assert t.epsilon >= 0 and t.location
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRAINER_CONVENTIONS[0].epsilon = sp.Integer(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "convention", "epsilon"),
    [
        ("TRL grpo", Convention.GRPO_BESSEL, sp.Rational(1, 10**4)),
        ("verl grpo", Convention.GRPO_BESSEL, sp.Rational(1, 10**6)),
        ("OpenRLHF group_norm", Convention.GRPO_BESSEL, sp.Rational(1, 10**9)),
        ("oat grpo", Convention.GRPO_BESSEL, sp.Rational(1, 10**8)),
        ("tunix grpo", Convention.GRPO_BESSEL, sp.Rational(1, 10**6)),
        ("EasyDeL grpo", Convention.GRPO, sp.Rational(1, 10**4)),
        ("Dr. GRPO mode", Convention.DR_GRPO, 0),
        ("RLOO", Convention.RLOO, 0),
        ("paper theory", Convention.GRPO, 0),
    ],
)
def test_trainer_conventions(name, convention, epsilon):
    t = trainer_convention(name)
    assert t.convention is convention and t.epsilon == epsilon


def test_constants_table():
    rows = {r.name: r for r in trainer_constants_table()}
    assert all(isinstance(r, ConstantRow) for r in rows.values())
    assert rows["verl grpo"].value == pytest.approx(0.5 / (1 / math.sqrt(2) + 1e-6), abs=1e-15)
    assert round(rows["verl grpo"].value, 7) == 0.7071058
    assert rows["EasyDeL grpo"].constant == sp.Rational(5000, 5001)
    assert rows["Dr. GRPO mode"].constant == sp.Rational(1, 2)
    assert rows["RLOO"].constant == 1 and rows["paper theory"].constant == 1
    for r in rows.values():
        assert r.ratio == pytest.approx(r.value, abs=1e-15)
        assert float(sp.N(r.constant, 30)) == pytest.approx(r.value, abs=1e-15)


# ----------------------------------------------------------------------------------------------
# Conditional means (Prop 5.1)
# ----------------------------------------------------------------------------------------------


def test_case2_exact():
    for x, expected in ((1, (1 - P) / (1 + 2 * EPS)), (0, -P / (1 + 2 * EPS))):
        assert _zero(conditional_mean_advantage(2, P, x, "grpo", EPS) - expected)


def test_gap_is_sqrt2_at_three():
    gap = conditional_mean_advantage(3, P, 1) - conditional_mean_advantage(3, P, 0)
    assert _zero(gap - sp.sqrt(2))


@pytest.mark.parametrize("G", [2, 3, 5, 8])
def test_centred_gaps(G):
    # Dr. GRPO: E[A | 1] - E[A | 0] = (G-1)/G; RLOO: 1 (unbiased)
    dr = conditional_mean_advantage(G, P, 1, "dr-grpo") - conditional_mean_advantage(
        G, P, 0, "dr-grpo")
    assert _zero(dr - sp.Rational(G - 1, G))
    rloo = conditional_mean_advantage(G, P, 1, "rloo") - conditional_mean_advantage(
        G, P, 0, "rloo")
    assert _zero(rloo - 1)


@pytest.mark.parametrize("convention", list(Convention))
@pytest.mark.parametrize("G", [2, 3, 6, 11])
@pytest.mark.parametrize("x", [0, 1])
def test_float_matches_exact(convention, G, x):
    exact = conditional_mean_advantage(G, sp.Rational(3, 10), x, convention, sp.Rational(1, 100))
    approx = conditional_mean_advantage_float(G, 0.3, x, convention, 0.01)
    assert approx == pytest.approx(float(exact), rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.85])
def test_large_group_limit(p):
    limit1, limit0 = math.sqrt((1 - p) / p), -math.sqrt(p / (1 - p))
    errors = [abs(conditional_mean_advantage_float(2 * N, p, 1) - limit1)
              for N in (1000, 2000, 4000)]
    assert errors[-1] < 2e-4
    # halving: the error shrinks like 1/N
    assert 1.8 < errors[0] / errors[1] < 2.2 and 1.8 < errors[1] / errors[2] < 2.2
    assert abs(conditional_mean_advantage_float(8000, p, 0) - limit0) < 5e-4


# ----------------------------------------------------------------------------------------------
# Sensitivity of the checks: a wrong statement must not pass
# ----------------------------------------------------------------------------------------------


def test_same_estimator_check_rejects_a_wrong_constant(monkeypatch):
    monkeypatch.setattr(claims, "pair_constant", lambda conv, eps=0: sp.Integer(2))
    assert claims._same_estimator().outcome is Outcome.REFUTED


def test_case1_check_rejects_the_case2_limit(monkeypatch):
    monkeypatch.setattr(claims, "_case1_limits", lambda: {x: x - P for x in (0, 1)})
    assert claims._prop51_case1().outcome is Outcome.REFUTED


def test_trainer_check_rejects_a_wrong_epsilon(monkeypatch):
    wrong = tuple(dataclasses.replace(t, epsilon=sp.Rational(1, 10)) if t.name == "verl grpo"
                  else t for t in TRAINER_CONVENTIONS)
    monkeypatch.setattr(claims, "TRAINER_CONVENTIONS", wrong)
    from grpo_theory.symbolic import two_grpo as module
    monkeypatch.setattr(module, "TRAINER_CONVENTIONS", wrong)
    assert claims._trainer_constants().outcome is Outcome.REFUTED


def test_case2_check_rejects_bessel(monkeypatch):
    original = claims.pair_advantages
    monkeypatch.setattr(claims, "pair_advantages",
                        lambda r1, r2, conv, eps=0: original(r1, r2, "grpo-bessel", eps))
    assert claims._prop51_case2().outcome is Outcome.REFUTED


# ----------------------------------------------------------------------------------------------
# Derivation
# ----------------------------------------------------------------------------------------------


def test_derivation_renders():
    d = get_derivation("two-grpo")
    text = d.render()
    assert "verl grpo" in text and "two-grpo.same-estimator" in text
    assert "\\sqrt{2}" in d.render(latex=True)


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def test_pair_bad_input():
    with pytest.raises(TypeError, match="r1"):
        pair_advantages("a", 0)
    with pytest.raises(ValueError, match="r2"):
        pair_advantages(1, float("nan"))
    with pytest.raises(TypeError, match="r1"):
        pair_advantages(True, 0)
    with pytest.raises(ValueError, match="epsilon"):
        pair_advantages(1, 0, "grpo", -1e-6)
    with pytest.raises(ValueError, match="convention"):
        pair_constant("grpo-std")
    with pytest.raises(ValueError, match="name"):
        trainer_convention("nope")


@pytest.mark.parametrize("fn", [conditional_mean_advantage, conditional_mean_advantage_float])
def test_conditional_mean_bad_input(fn):
    with pytest.raises(ValueError, match="p"):
        fn(4, 0, 1)
    with pytest.raises(ValueError, match="p"):
        fn(4, 1.0, 1)
    with pytest.raises(ValueError, match="x"):
        fn(4, 0.3, 2)
    with pytest.raises(ValueError, match="G"):
        fn(1, 0.3, 1)
    with pytest.raises(TypeError, match="G"):
        fn(4.0, 0.3, 1)
    with pytest.raises(ValueError, match="epsilon"):
        fn(4, 0.3, 1, "grpo", -0.5)
    with pytest.raises(ValueError, match="convention"):
        fn(4, 0.3, 1, "bogus")


def test_conditional_mean_symbolic_group_size_rejected():
    with pytest.raises(TypeError, match="G"):
        conditional_mean_advantage(sp.Symbol("G", integer=True, positive=True), P, 1)


def test_numpy_inputs():
    assert conditional_mean_advantage_float(np.int64(4), np.float64(0.5), 1) == pytest.approx(
        float(conditional_mean_advantage(4, sp.Rational(1, 2), 1)), rel=1e-14)
