"""Tests for grpo_theory.paper.arithmetic and the checks of the paper_arithmetic claims."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.claims import Outcome, get_claim
from grpo_theory.claims import paper_arithmetic as claims_mod
from grpo_theory.paper.arithmetic import (
    Aggregation,
    Comparison,
    compare_averages,
    compare_rows,
    compare_v2_deltas,
    compare_v3_gaps,
    discard_jensen_gap,
    discard_probability,
    discard_rate_derivation,
    expected_discard_rate,
    kept_pair_probability,
    mean_of_ratios,
    mean_reward_from_discard,
    mismatches,
    performance_retention,
    printed_agreement,
    printed_discard_formula,
    qwen_settings,
    ratio_of_sums,
    recompute_deltas,
    relative_change_pct,
    retention_aggregations,
    rollout_count,
    rollout_fraction,
    rounding_explains,
    row_mean,
    time_ratios,
    weighted_variance,
)
from grpo_theory.paper.tables import (
    PerBenchmark,
    Setting,
    V2PrintedDeltaRow,
    V2Table1Row,
    V3Table4Row,
    find_row,
    load_v2_table1,
    load_v2_table1_printed_deltas,
    load_v3_table1,
    load_v3_table1_printed_gaps,
    load_v3_table3,
    load_v3_table4,
    parse_printed,
)

A = Setting("toy", "A")
B = Setting("toy", "B")
MATH_QWEN15 = Setting("MATH", "Qwen-1.5B")
DAPO_QWEN15 = Setting("DAPO-Math-Sub", "Qwen-1.5B")
MATH_DS = Setting("MATH", "DS-1.5B")


def _pb(*values: float) -> PerBenchmark[float]:
    return PerBenchmark(*values)


def _toy_table() -> tuple[V2Table1Row, ...]:
    """Two settings; small run: all 1 (A) and all 3 (B); large run: all 2 (A) and all 4 (B).

    Pass@32 of the small run equals the large run's in A and is 1 less in every cell of B.
    """
    return (
        V2Table1Row(A, "2", 1.0, _pb(1, 1, 1, 1, 1), _pb(4, 4, 4, 4, 4)),
        V2Table1Row(A, "16", 4.0, _pb(2, 2, 2, 2, 2), _pb(4, 4, 4, 4, 4)),
        V2Table1Row(B, "2", 3.0, _pb(3, 3, 3, 3, 3), _pb(1, 1, 1, 1, 1)),
        V2Table1Row(B, "16", 6.0, _pb(4, 4, 4, 4, 4), _pb(2, 2, 2, 2, 2)),
    )


# ----------------------------------------------------------------------------------------------
# Rollouts and ratios
# ----------------------------------------------------------------------------------------------


def test_rollout_counts():
    assert rollout_count(16) == 1_200_000
    assert rollout_count(2) == 150_000
    assert rollout_count(4, prompts=10, epochs=3) == 120
    assert rollout_fraction(2, 16) == Fraction(1, 8)
    assert rollout_fraction(16, 2, prompts=1, epochs=1) == 8


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"group_size": 0}, ValueError, "group_size"),
        ({"group_size": 2, "prompts": -1}, ValueError, "prompts"),
        ({"group_size": 2, "epochs": 1.5}, TypeError, "epochs"),
        ({"group_size": True}, TypeError, "group_size"),
    ],
)
def test_rollout_count_bad_input(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        rollout_count(**kwargs)


def test_rollout_fraction_bad_reference():
    with pytest.raises(ValueError, match="reference_group_size"):
        rollout_fraction(2, 0)


def test_ratios_hand_made():
    assert ratio_of_sums([1, 3], [2, 2]) == 1.0
    assert mean_of_ratios([1, 3], [2, 2]) == 1.0
    assert ratio_of_sums([1, 3], [1, 4]) == pytest.approx(0.8)
    assert mean_of_ratios([1, 3], [1, 4]) == pytest.approx(0.875)


@pytest.mark.parametrize(
    ("num", "den", "match"),
    [
        ([], [], "numerators must not be empty"),
        ([1.0], [], "denominators must not be empty"),
        ([1.0, 2.0], [1.0], "same length"),
        ([1.0], [0.0], "denominators must be > 0"),
        ([-1.0], [1.0], "numerators must be >= 0"),
        ([float("nan")], [1.0], "numerators must be finite"),
        ([[1.0]], [[1.0]], "numerators must be one-dimensional"),
    ],
)
def test_ratios_bad_input(num, den, match):
    for fn in (ratio_of_sums, mean_of_ratios):
        with pytest.raises(ValueError, match=match):
            fn(num, den)


def test_ratios_type_error():
    with pytest.raises(TypeError, match="numerators"):
        ratio_of_sums(["a"], [1.0])


@pytest.mark.property
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0.01, 100)), min_size=1, max_size=20))
def test_ratios_lie_between_extreme_ratios(pairs):
    num, den = [a for a, _ in pairs], [b for _, b in pairs]
    ratios = [a / b for a, b in pairs]
    lo, hi = min(ratios), max(ratios)
    for value in (ratio_of_sums(num, den), mean_of_ratios(num, den)):
        assert lo - 1e-9 * (1 + hi) <= value <= hi + 1e-9 * (1 + hi)


def test_relative_change():
    assert relative_change_pct(2.0, 8.0) == -75.0
    assert relative_change_pct(3, 2) == 50.0
    with pytest.raises(ValueError, match="old"):
        relative_change_pct(1.0, 0.0)
    with pytest.raises(ValueError, match="new"):
        relative_change_pct(float("inf"), 1.0)
    with pytest.raises(TypeError, match="new"):
        relative_change_pct("1", 1.0)  # type: ignore[arg-type]


def test_time_ratios_toy_and_paper():
    assert time_ratios(_toy_table()) == {A: 0.25, B: 0.5}
    ratios = time_ratios(load_v2_table1())
    assert [round(v, 4) for v in ratios.values()] == [0.2403, 0.2613, 0.1841, 0.1594, 0.2053]
    assert mean_of_ratios(list(ratios.values()), [1.0] * 5) == pytest.approx(0.2101, abs=5e-5)
    v3 = time_ratios(load_v3_table1())
    assert sum(v3.values()) / 4 == pytest.approx(0.217, abs=5e-4)
    assert time_ratios(load_v3_table1(), small="2+RS")[MATH_QWEN15] == pytest.approx(3.71 / 8.53)


def test_time_ratios_bad_input():
    with pytest.raises(ValueError, match="rows"):
        time_ratios(())
    with pytest.raises(ValueError, match="rows"):
        time_ratios(_toy_table(), small="8")


# ----------------------------------------------------------------------------------------------
# Performance retention
# ----------------------------------------------------------------------------------------------


def test_retention_hand_made():
    rows = _toy_table()
    # Mean@32: A 1/2 per cell, B 3/4 per cell.
    assert performance_retention(rows, ("mean@32",), "ratio-of-sums") == pytest.approx(20 / 30)
    assert performance_retention(rows, ("mean@32",), "mean-of-setting-ratios") == \
        pytest.approx((0.5 + 0.75) / 2)
    assert performance_retention(rows, ("mean@32",), "mean-of-cell-ratios") == \
        pytest.approx((0.5 + 0.75) / 2)
    # Both metrics: blocks A-mean 1/2, A-pass 1, B-mean 3/4, B-pass 1/2.
    both = ("mean@32", "pass@32")
    assert performance_retention(rows, both, Aggregation.RATIO_OF_SUMS) == \
        pytest.approx((5 + 20 + 15 + 5) / (10 + 20 + 20 + 10))
    assert performance_retention(rows, both, Aggregation.MEAN_OF_SETTING_RATIOS) == \
        pytest.approx((0.5 + 1 + 0.75 + 0.5) / 4)
    assert performance_retention(rows, "pass@32", settings=[B]) == pytest.approx(0.5)


def test_retention_cell_ratios_differ_from_block_ratios():
    rows = (
        V2Table1Row(A, "2", 1.0, _pb(1, 10, 10, 10, 10), _pb(1, 1, 1, 1, 1)),
        V2Table1Row(A, "16", 1.0, _pb(2, 10, 10, 10, 10), _pb(1, 1, 1, 1, 1)),
    )
    assert performance_retention(rows, aggregation="ratio-of-sums") == pytest.approx(41 / 42)
    assert performance_retention(rows, aggregation="mean-of-cell-ratios") == pytest.approx(0.9)


def test_retention_on_the_paper():
    rows = load_v2_table1()
    both = ("mean@32", "pass@32")
    assert performance_retention(rows, both, "mean-of-cell-ratios") == pytest.approx(0.98182,
                                                                                      abs=5e-6)
    assert performance_retention(rows) == pytest.approx(0.97361, abs=5e-6)
    assert performance_retention(rows, settings=qwen_settings(rows)) == pytest.approx(0.97631,
                                                                                     abs=5e-6)
    results = retention_aggregations(rows)
    assert len(results) == 18
    assert {r.settings for r in results} == {"all 5 settings", "4 Qwen settings"}
    assert all(abs(r.value - 0.981) > 0.0005 for r in results)
    closest = min(results, key=lambda r: abs(r.value - 0.981))
    assert closest.label == "mean@32 + pass@32, mean-of-cell-ratios, all 5 settings"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ()}, "metrics"),
        ({"metrics": ("pass@1",)}, "metrics"),
        ({"aggregation": "median"}, "aggregation"),
        ({"settings": []}, "settings"),
        ({"settings": [Setting("toy", "C")]}, "settings"),
    ],
)
def test_retention_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        performance_retention(_toy_table(), **kwargs)


def test_retention_bad_rows():
    with pytest.raises(ValueError, match="rows"):
        performance_retention(())
    with pytest.raises(ValueError, match="setting_groups"):
        retention_aggregations(_toy_table(), setting_groups={})


# ----------------------------------------------------------------------------------------------
# Printed differences
# ----------------------------------------------------------------------------------------------


def test_recompute_deltas_toy_and_paper():
    d = recompute_deltas(_toy_table())
    assert d[0].time_pct == -75.0
    assert d[0].mean32 == _pb(-1, -1, -1, -1, -1)
    assert d[1].metric("pass@32") == _pb(-1, -1, -1, -1, -1)
    with pytest.raises(KeyError, match="metric"):
        d[0].metric("x")
    paper = {r.setting: r for r in recompute_deltas(load_v2_table1())}
    assert paper[MATH_DS].pass32.minerva == 0.05
    assert paper[DAPO_QWEN15].pass32.minerva == -0.55
    assert paper[DAPO_QWEN15].mean32.aime2025 == -1.45
    assert paper[MATH_QWEN15].mean32.amc2023 == -1.72
    assert paper[MATH_DS].time_pct == pytest.approx(-81.5885, abs=1e-4)


def test_printed_agreement():
    assert printed_agreement(-1.72, parse_printed("-1.72")) == "rounded"
    assert printed_agreement(5.40, parse_printed("+5.4")) == "rounded"
    assert printed_agreement(-81.5885, parse_printed("-81.6")) == "rounded"
    assert printed_agreement(-1.72, parse_printed("-1.71")) == ""
    assert printed_agreement(-75.967, parse_printed("-75.96")) == ""
    assert printed_agreement(-75.967, parse_printed("-75.96"), allow_truncation=True) == \
        "truncated"
    assert printed_agreement(75.967, parse_printed("-75.96"), allow_truncation=True) == ""
    assert printed_agreement(-75.95, parse_printed("-75.96"), allow_truncation=True) == ""
    assert printed_agreement(0.05, parse_printed("-0.05"), allow_truncation=True) == ""


def test_printed_agreement_bad_input():
    with pytest.raises(TypeError, match="printed"):
        printed_agreement(1.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="computed"):
        printed_agreement(float("nan"), parse_printed("1.0"))


def test_v2_deltas_mismatches_found():
    comps = compare_v2_deltas(load_v2_table1_printed_deltas(), load_v2_table1())
    assert len(comps) == 50
    bad = {c.label: c for c in mismatches(comps)}
    expected = {
        "DS-1.5B / MATH, Minerva pass@32": ("-0.05", 0.05),
        "Qwen-1.5B / DAPO-Math-Sub, Minerva pass@32": ("+0.71", -0.55),
        "Qwen-1.5B / DAPO-Math-Sub, AIME 2025 mean@32": ("-2.50", -1.45),
        "Qwen-1.5B / MATH, AMC 2023 mean@32": ("-1.71", -1.72),
    }
    for label, (printed, actual) in expected.items():
        assert bad[label].printed.text == printed
        assert bad[label].computed == actual
    gross = {c.label for c in bad.values() if not rounding_explains(c)}
    assert gross == set(expected) - {"Qwen-1.5B / MATH, AMC 2023 mean@32"}


def _corrected_printed() -> tuple[V2PrintedDeltaRow, ...]:
    """The printed Δ rows rewritten from the recomputed differences (two decimals)."""
    out = []
    for d in recompute_deltas(load_v2_table1()):
        fmt = [PerBenchmark(*(parse_printed(f"{v:+.2f}") for v in d.metric(m)))
               for m in ("mean@32", "pass@32")]
        out.append(V2PrintedDeltaRow(d.setting, parse_printed(f"{d.time_pct:.2f}"), *fmt))
    return tuple(out)


def test_v2_delta_check_is_clean_on_a_corrected_table():
    corrected = _corrected_printed()
    assert mismatches(compare_v2_deltas(corrected, load_v2_table1(), include_time=True)) == []
    ev = claims_mod.v2_delta_evidence(corrected)
    assert ev.outcome is Outcome.VERIFIED


def test_v2_delta_check_finds_an_injected_error():
    corrected = list(_corrected_printed())
    row = corrected[1]
    bad_pass = row.pass32._replace(aime2025=parse_printed("+4.64"))
    corrected[1] = dataclasses.replace(row, pass32=bad_pass)
    ev = claims_mod.v2_delta_evidence(tuple(corrected))
    assert ev.outcome is Outcome.REFUTED
    assert [c["cell"] for c in ev.details["counterexample"]] == [
        "Qwen-7B / MATH, AIME 2025 pass@32"]
    assert ev.details["last_digit_discrepancies"] and not ev.details["errors_beyond_rounding"]


def test_compare_v2_deltas_bad_input():
    with pytest.raises(ValueError, match="printed"):
        compare_v2_deltas((), load_v2_table1())
    with pytest.raises(ValueError, match="printed"):
        compare_v2_deltas(load_v2_table1_printed_deltas(), _toy_table())


def test_v3_gaps_agree_and_injection_is_found():
    gaps, rows = load_v3_table1_printed_gaps(), load_v3_table1()
    comps = compare_v3_gaps(gaps, rows, include_time=True)
    assert len(comps) == 8 * 7
    assert mismatches(comps) == []
    truncated = [c.label for c in comps if c.agreement == "truncated"]
    assert "Qwen-1.5B / MATH, 2, time %" in truncated
    broken = list(gaps)
    broken[4] = dataclasses.replace(broken[4], mean32=broken[4].mean32._replace(
        aime2025=parse_printed("-2.50")))
    bad = mismatches(compare_v3_gaps(broken, rows))
    assert [c.label for c in bad] == ["Qwen-1.5B / DAPO-Math-Sub, 2, AIME 2025 mean@32"]
    with pytest.raises(ValueError, match="printed"):
        compare_v3_gaps((), rows)


def test_rounding_explains():
    c = Comparison("x", parse_printed("-1.71"), -1.72, "")
    assert rounding_explains(c)
    assert not rounding_explains(Comparison("x", parse_printed("-2.50"), -1.45, ""))
    assert not rounding_explains(c, input_decimals=3, terms=1)
    with pytest.raises(ValueError, match="input_decimals"):
        rounding_explains(c, input_decimals=-1)
    with pytest.raises(ValueError, match="terms"):
        rounding_explains(c, terms=0)


# ----------------------------------------------------------------------------------------------
# Averages and consistency between tables
# ----------------------------------------------------------------------------------------------


def test_row_mean():
    assert row_mean([1.0, 2.0, 6.0]) == 3.0
    with pytest.raises(ValueError, match="values"):
        row_mean([])
    with pytest.raises(ValueError, match="values"):
        row_mean([1.0, float("nan")])


def test_averages_recompute_and_injection_is_found():
    t1, t4 = load_v3_table1(), load_v3_table4()
    assert len(compare_averages(t1)) == 16
    assert len(compare_averages(t4)) == 48
    assert mismatches(compare_averages(t1)) == mismatches(compare_averages(t4)) == []
    broken = list(t4)
    broken[5] = dataclasses.replace(broken[5], avg_pass32=55.70)
    bad = mismatches(compare_averages(broken))
    assert [c.label for c in bad] == ["Qwen-1.5B / MATH, 16, average pass@32"]
    with pytest.raises(ValueError, match="rows"):
        compare_averages(())
    with pytest.raises(ValueError, match="decimals"):
        compare_averages(t1, decimals=-1)


def test_compare_rows():
    t4, v2 = load_v3_table4(), load_v2_table1()
    diffs = compare_rows(t4, v2, [("16", "16")], ("mean@32", "pass@32"), settings=[MATH_QWEN15])
    assert [(d.benchmark, d.metric, d.first, d.second) for d in diffs] == [
        ("OlympiadBench", "mean@32", 22.30, 23.11), ("OlympiadBench", "pass@32", 38.33, 37.82)]
    assert compare_rows(load_v3_table1(), v2, [("2", "2"), ("16", "16")]) == []
    with pytest.raises(ValueError, match="group_sizes"):
        compare_rows(t4, v2, [])
    with pytest.raises(ValueError, match="metrics"):
        compare_rows(t4, load_v3_table1(), [("16", "16")], ("pass@32",))


# ----------------------------------------------------------------------------------------------
# Discard rate
# ----------------------------------------------------------------------------------------------

r = sp.Symbol("r", real=True)


def test_discard_formulas_symbolic():
    assert sp.simplify(printed_discard_formula(r) - kept_pair_probability(r)) == 0
    assert sp.simplify(discard_probability(r) + kept_pair_probability(r) - 1) == 0
    assert sp.simplify(discard_probability(r) - sp.Rational(1, 2)
                       - (2 * r - 1) ** 2 / 2) == 0


def test_discard_formulas_numeric():
    assert printed_discard_formula(0.5) == 0.5
    assert discard_probability(0.5) == 0.5
    assert discard_probability(0.0) == discard_probability(1.0) == 1.0
    assert kept_pair_probability(0.25) == 0.375
    assert isinstance(discard_probability(0.3), float)


@pytest.mark.property
@given(st.floats(0, 1))
def test_discard_bounds(x):
    assert printed_discard_formula(x) <= 0.5 + 1e-12
    assert discard_probability(x) >= 0.5 - 1e-12
    assert discard_probability(x) + printed_discard_formula(x) == pytest.approx(1.0)


@pytest.mark.property
@given(st.floats(0, 1))
def test_inversion_round_trip(x):
    lo, hi = mean_reward_from_discard(discard_probability(x))
    assert lo + hi == pytest.approx(1.0)
    assert min(abs(lo - x), abs(hi - x)) < 1e-6


def test_inversion_on_table3():
    highs = [mean_reward_from_discard(row.p_discard)[1] for row in load_v3_table3()]
    assert [round(h, 3) for h in highs] == [0.619, 0.810, 0.797, 0.868, 0.827]
    assert mean_reward_from_discard(0.625) == (0.25, 0.75)
    assert mean_reward_from_discard(0.5) == (0.5, 0.5)
    assert mean_reward_from_discard(1.0) == (0.0, 1.0)


def test_inversion_symbolic():
    P = sp.Symbol("P", positive=True)
    for root in mean_reward_from_discard(P):
        assert sp.simplify(discard_probability(root) - P) == 0
    assert mean_reward_from_discard(sp.Rational(5, 8)) == (sp.Rational(1, 4), sp.Rational(3, 4))


@pytest.mark.parametrize(("P", "match"), [(0.4999, r"P must be >= 1/2"), (1.2, "P"),
                                          (-0.1, "P")])
def test_inversion_bad_input(P, match):
    with pytest.raises(ValueError, match=match):
        mean_reward_from_discard(P)


@pytest.mark.parametrize("fn", [printed_discard_formula, kept_pair_probability,
                                discard_probability])
@pytest.mark.parametrize("bad", [1.5, -0.1])
def test_discard_bad_probability(fn, bad):
    with pytest.raises(ValueError, match="r must lie in"):
        fn(bad)


def test_jensen_gap_hand_made():
    assert expected_discard_rate([0.0, 1.0]) == 1.0
    assert discard_jensen_gap([0.0, 1.0]) == 0.5
    assert weighted_variance([0.0, 1.0]) == 0.25
    assert discard_jensen_gap([0.3, 0.3, 0.3]) == pytest.approx(0.0, abs=1e-15)
    assert discard_jensen_gap([0.2, 0.8], [0.25, 0.75]) == pytest.approx(
        2 * 0.25 * 0.75 * 0.6**2)


def test_jensen_gap_symbolic():
    p1, p2 = sp.symbols("p1 p2", real=True)
    w = sp.Symbol("w", nonnegative=True)
    gap = discard_jensen_gap([p1, p2], [w, 1 - w])
    assert sp.simplify(gap - 2 * w * (1 - w) * (p1 - p2) ** 2) == 0
    assert sp.simplify(discard_jensen_gap([p1, p2]) - (p1 - p2) ** 2 / 2) == 0


@pytest.mark.property
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0.01, 1)), min_size=1, max_size=12))
def test_jensen_gap_is_twice_the_variance(pairs):
    p = [x for x, _ in pairs]
    total = sum(w for _, w in pairs)
    w = [x / total for _, x in pairs]
    gap = discard_jensen_gap(p, w)
    assert gap >= -1e-12
    assert gap == pytest.approx(2 * weighted_variance(p, w), abs=1e-12)


@pytest.mark.parametrize(
    ("probs", "weights", "match"),
    [
        ([], None, "probabilities must not be empty"),
        ([1.2], None, r"probabilities\[0\]"),
        ([0.5, -0.1], None, r"probabilities\[1\]"),
        ([0.5, 0.5], [1.0], "weights must have the same length"),
        ([0.5, 0.5], [0.5, 0.6], "weights must sum to 1"),
        ([0.5, 0.5], [1.5, -0.5], r"weights\[1\]"),
    ],
)
def test_jensen_gap_bad_input(probs, weights, match):
    for fn in (discard_jensen_gap, expected_discard_rate, weighted_variance):
        with pytest.raises(ValueError, match=match):
            fn(probs, weights)


def test_discard_derivation_steps_hold():
    from grpo_theory.symbolic import get_derivation

    d = get_derivation("paper-discard-rate")
    assert d == discard_rate_derivation()
    assert set(d.claims) == {"paper.discard-formula-as-printed", "paper.discard-formula-corrected",
                             "paper.discard-jensen"}
    checked = 0
    for step in d.steps:
        if step.rhs is None or step.lhs.is_Symbol or any(
                s.name.startswith(("D(", "rbar"))
                for s in step.lhs.free_symbols | step.rhs.free_symbols):
            continue  # definitions and steps written with placeholder symbols
        assert sp.simplify(step.lhs - step.rhs) == 0, step.text
        checked += 1
    assert checked == 4
    inversion = next(s for s in d.steps if s.rhs is not None and sp.Symbol("P", real=True)
                     in s.rhs.free_symbols)
    assert sp.simplify(discard_probability(inversion.rhs) - sp.Symbol("P", real=True)) == 0
    assert "\\sqrt" in d.render(latex=True)


# ----------------------------------------------------------------------------------------------
# The claims' checks find what they must, and can come out the other way
# ----------------------------------------------------------------------------------------------


def test_refuted_claims_name_their_counterexamples():
    ev = get_claim("paper.v2-table1-deltas-as-printed").check()
    assert ev.outcome is Outcome.REFUTED
    cells = {c["cell"] for c in ev.details["counterexample"]}
    assert {"DS-1.5B / MATH, Minerva pass@32", "Qwen-1.5B / DAPO-Math-Sub, Minerva pass@32",
            "Qwen-1.5B / DAPO-Math-Sub, AIME 2025 mean@32",
            "Qwen-1.5B / MATH, AMC 2023 mean@32"} <= cells

    ev = get_claim("paper.table4-consistency").check()
    assert ev.outcome is Outcome.REFUTED
    assert ev.details["counterexample"] == {"benchmark": "OlympiadBench", "metric": "mean@32",
                                            "table4": 22.30, "table1": 23.11}

    ev = get_claim("paper.discard-formula-as-printed").check()
    assert ev.outcome is Outcome.REFUTED
    assert [c["printed"] for c in ev.details["counterexample"]] == [
        0.5284, 0.6917, 0.6763, 0.7711, 0.7141]

    ev = get_claim("paper.performance-v2-as-printed").check()
    assert ev.outcome is Outcome.REFUTED
    assert len(ev.details["aggregations"]) == 18


def test_table4_check_passes_when_rows_agree(monkeypatch):
    fixed = []
    for row in load_v3_table4():
        if row.setting == MATH_QWEN15 and row.group_size == "16":
            ref = find_row(load_v2_table1(), MATH_QWEN15, "16")
            row = dataclasses.replace(row, mean32=ref.mean32, pass32=ref.pass32)
        fixed.append(row)
    monkeypatch.setattr(claims_mod, "load_v3_table4", lambda: tuple(fixed))
    assert get_claim("paper.table4-consistency").check().outcome is Outcome.VERIFIED


def test_discard_check_accepts_attainable_values(monkeypatch):
    from grpo_theory.paper.tables import DiscardRateRow

    rows = tuple(DiscardRateRow(s, printed_discard_formula(x))
                 for s, x in [(10, 0.1), (40, 0.3), (70, 0.5)])
    monkeypatch.setattr(claims_mod, "load_v3_table3", lambda: rows)
    assert get_claim("paper.discard-formula-as-printed").check().outcome is Outcome.VERIFIED
    # ... and the corrected reading then fails: those values lie below 1/2.
    ev = get_claim("paper.discard-formula-corrected").check()
    assert ev.outcome is Outcome.REFUTED
    assert [c["step"] for c in ev.details["counterexample"]] == [10, 40]


def test_performance_check_can_find_a_match(monkeypatch):
    rows = load_v2_table1()
    target = 0.981
    scaled = []
    for row in rows:
        if row.group_size == "2":  # make every 2-GRPO score exactly 98.1% of 16-GRPO's
            ref = find_row(rows, row.setting, "16")
            row = dataclasses.replace(
                row, mean32=PerBenchmark(*(target * v for v in ref.mean32)),
                pass32=PerBenchmark(*(target * v for v in ref.pass32)))
        scaled.append(row)
    monkeypatch.setattr(claims_mod, "load_v2_table1", lambda: tuple(scaled))
    ev = get_claim("paper.performance-v2-as-printed").check()
    assert ev.outcome is Outcome.VERIFIED
    assert len(ev.details["matching"]) == 18
    assert get_claim("paper.performance-v2-closest").check().outcome is Outcome.REFUTED


def test_time_ratio_check_fails_on_other_hours(monkeypatch):
    rows = tuple(dataclasses.replace(r, time_h=r.time_h * 1.2) if r.group_size == "2" else r
                 for r in load_v2_table1())
    monkeypatch.setattr(claims_mod, "load_v2_table1", lambda: rows)
    assert get_claim("paper.time-ratio").check().outcome is Outcome.REFUTED


def test_table4_row_type_is_used():
    assert isinstance(load_v3_table4()[0], V3Table4Row)
