"""The registry machinery: outcomes, evaluation, and the check helpers."""

from __future__ import annotations

import json

import pytest
import sympy as sp

from grpo_theory.claims import _core
from grpo_theory.claims._core import (
    Claim,
    Evidence,
    Kind,
    Outcome,
    evaluate,
    find_counterexample,
    prove_cases,
    prove_identity,
    refuted,
    verify_close,
)

x, y = sp.symbols("x y", real=True)
a = sp.Symbol("a", positive=True)


def _claim(check, expected=Outcome.PROVED, kind=Kind.SYMBOLIC) -> Claim:
    return Claim(id="test.claim", statement="$x = x$", source="derived", kind=kind,
                 expected=expected, check=check, topic="test")


def test_true_identity_is_proved():
    ev = prove_identity((x + y) ** 2, x**2 + 2 * x * y + y**2)
    assert ev.outcome is Outcome.PROVED
    assert ev.details["residual"] == "0"


def test_false_identity_is_refuted_with_a_counterexample():
    ev = prove_identity((x + y) ** 2, x**2 + y**2)
    assert ev.outcome is Outcome.REFUTED
    point = {sp.Symbol(k, real=True): sp.Rational(v) for k, v in
             ev.details["counterexample"]["point"].items()}
    assert ((x + y) ** 2 - x**2 - y**2).subs(point) != 0


def test_assumptions_are_respected():
    # sqrt(a^2) = a holds for positive a: proved, not refuted.
    assert prove_identity(sp.sqrt(a**2), a).outcome is Outcome.PROVED
    # For real x it is false, and the search finds a negative x.
    ev = prove_identity(sp.sqrt(x**2), x)
    assert ev.outcome is Outcome.REFUTED
    assert sp.Rational(ev.details["counterexample"]["point"]["x"]) < 0


def test_deliberately_wrong_identity_is_reported_failed_not_proved():
    """A claim expected 'proved' whose identity is wrong must evaluate to 'failed'."""
    wrong = _claim(lambda: prove_identity(sp.sin(x) ** 2 + sp.cos(x) ** 2, 2))
    result = evaluate(wrong)
    assert result.outcome is Outcome.FAILED
    assert result.evidence.outcome is Outcome.REFUTED
    assert not result.passed
    right = _claim(lambda: prove_identity(sp.sin(x) ** 2 + sp.cos(x) ** 2, 1))
    assert evaluate(right).outcome is Outcome.PROVED


def test_expected_refuted_passes_only_when_refuted():
    false_claim = _claim(lambda: prove_identity(x + 1, x), expected=Outcome.REFUTED)
    assert evaluate(false_claim).outcome is Outcome.REFUTED
    true_claim = _claim(lambda: prove_identity(x + 1, 1 + x), expected=Outcome.REFUTED)
    assert evaluate(true_claim).outcome is Outcome.FAILED


def test_inconclusive_is_failed():
    # A simplifier that cannot decide, on an identity with no counterexample.
    ev = prove_identity(sp.sin(x) ** 2 + sp.cos(x) ** 2, 1, simplifier=lambda e: e)
    assert ev.outcome is Outcome.INCONCLUSIVE
    assert evaluate(_claim(lambda: ev)).outcome is Outcome.FAILED


def test_a_crashing_check_is_failed_with_its_traceback():
    def boom() -> Evidence:
        raise RuntimeError("no")

    result = evaluate(_claim(boom))
    assert result.outcome is Outcome.FAILED
    assert "RuntimeError" in result.evidence.summary
    assert "traceback" in result.evidence.details


def test_a_check_returning_something_else_is_failed():
    result = evaluate(_claim(lambda: True))  # type: ignore[arg-type,return-value]
    assert result.outcome is Outcome.FAILED


def test_prove_cases_reports_the_first_bad_case():
    cases = [(f"n={n}", (x + 1) ** n, sp.expand((x + 1) ** n)) for n in range(1, 4)]
    assert prove_cases(cases, scope="n in 1..3").outcome is Outcome.PROVED
    cases.append(("n=4, wrong", (x + 1) ** 4, x**4 + 1))
    ev = prove_cases(cases, scope="n in 1..4")
    assert ev.outcome is Outcome.REFUTED
    assert ev.details["case"] == "n=4, wrong"
    with pytest.raises(ValueError, match="at least one case"):
        prove_cases([], scope="nothing")


def test_verify_close():
    assert verify_close([1.0, 2.0], [1.0, 2.0 + 1e-12], atol=1e-9).outcome is Outcome.VERIFIED
    ev = verify_close([1.0, 2.1], [1.0, 2.0], atol=1e-3)
    assert ev.outcome is Outcome.REFUTED
    assert ev.details["max_error"] == pytest.approx(0.1)


def test_find_counterexample_honours_constraints_and_values():
    k = sp.Symbol("k", integer=True, positive=True)
    assert find_counterexample(k - k) is None
    ce = find_counterexample(k - 3, values={k: [3, 5]})
    assert ce is not None and ce["point"]["k"] == "5"
    assert find_counterexample(k - 3, values={k: [2, 3, 4]}, constraint=lambda pt: pt[k] == 3) \
        is None


def test_register_rejects_duplicates_and_bad_expectations():
    _core.register("test.once", statement="$1 = 1$", source="derived", kind="exact",
                   expected="verified")(lambda: Evidence(Outcome.VERIFIED, "ok"))
    try:
        with pytest.raises(ValueError, match="duplicate"):
            _core.register("test.once", statement="$1$", source="derived", kind="exact",
                           expected="verified")(lambda: Evidence(Outcome.VERIFIED, "ok"))
        with pytest.raises(ValueError, match="expected"):
            _core.register("test.twice", statement="$1$", source="derived", kind="exact",
                           expected="failed")
        with pytest.raises(ValueError, match="statement"):
            _core.register("test.thrice", statement="  ", source="derived", kind="exact",
                           expected="proved")
        with pytest.raises(ValueError):
            _core.register("test.four", statement="$1$", source="derived", kind="guess",
                           expected="proved")
    finally:
        _core._REGISTRY.pop("test.once", None)


def test_select_and_get_claim_errors():
    with pytest.raises(ValueError, match="no claim id starts with"):
        _core.select(["no-such-prefix."])
    with pytest.raises(KeyError, match="unknown claim id"):
        _core.get_claim("no-such-claim")


def test_result_as_dict_is_json_serialisable():
    ev = refuted("counterexample", {"x": sp.Rational(1, 2)}, residual=sp.Symbol("x"),
                 values=[1.5, float("inf")])
    result = evaluate(_claim(lambda: ev, expected=Outcome.REFUTED))
    d = result.as_dict()
    assert set(d) >= {"id", "outcome", "kind", "source", "statement", "evidence"}
    json.dumps(d)
    assert d["outcome"] == "refuted"
