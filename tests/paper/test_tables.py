"""Tests for grpo_theory.paper.tables: loading the paper's tables, and bad files."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest

from grpo_theory.paper.tables import (
    BASE_MODEL,
    BENCHMARKS,
    DATA_FILES,
    PerBenchmark,
    PrintedNumber,
    Setting,
    TableError,
    data_file_text,
    find_row,
    load_v2_table1,
    load_v2_table1_printed_deltas,
    load_v3_table1,
    load_v3_table1_printed_gaps,
    load_v3_table2,
    load_v3_table3,
    load_v3_table4,
    parse_printed,
)

MATH_QWEN15 = Setting("MATH", "Qwen-1.5B")
DAPO_QWEN15 = Setting("DAPO-Math-Sub", "Qwen-1.5B")
DAPO_QWEN7 = Setting("DAPO-Math-Sub", "Qwen-7B")
MATH_QWEN7 = Setting("MATH", "Qwen-7B")
MATH_DS = Setting("MATH", "DS-1.5B")


# ----------------------------------------------------------------------------------------------
# Row counts and known values
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "n"),
    [
        (load_v2_table1, 15),
        (load_v2_table1_printed_deltas, 5),
        (load_v3_table1, 16),
        (load_v3_table1_printed_gaps, 8),
        (load_v3_table2, 2),
        (load_v3_table3, 5),
        (load_v3_table4, 24),
    ],
)
def test_row_counts(loader, n):
    rows = loader()
    assert isinstance(rows, tuple)
    assert len(rows) == n


def test_every_data_file_is_packaged():
    for name in DATA_FILES.values():
        assert data_file_text(name).strip()


def test_v2_table1_known_values():
    rows = load_v2_table1()
    assert [r.group_size for r in rows[:3]] == [BASE_MODEL, "2", "16"]
    ds16 = find_row(rows, MATH_DS, "16")
    assert ds16.time_h == 38.40
    assert ds16.pass32.aime2025 == 56.36
    assert ds16.pass32.by_name("AIME 2025") == 56.36
    assert ds16.metric("mean@32") is ds16.mean32
    base = find_row(rows, MATH_QWEN15, BASE_MODEL)
    assert base.time_h is None
    assert base.mean32 == PerBenchmark(31.83, 34.30, 5.33, 3.64, 15.40)
    assert find_row(rows, DAPO_QWEN15, "2").mean32.aime2025 == 8.13
    assert {r.setting for r in rows} == {MATH_QWEN15, MATH_QWEN7, MATH_DS, DAPO_QWEN15,
                                         DAPO_QWEN7}


def test_v2_printed_deltas_keep_printed_precision():
    rows = {r.setting: r for r in load_v2_table1_printed_deltas()}
    assert rows[MATH_DS].time_pct == PrintedNumber(-81.6, 1, "-81.6")
    assert rows[MATH_QWEN15].time_pct == PrintedNumber(-75.96, 2, "-75.96")
    assert rows[MATH_QWEN7].pass32.olympiadbench == PrintedNumber(0.09, 2, "0.09")
    assert rows[DAPO_QWEN7].pass32.olympiadbench == PrintedNumber(5.4, 1, "+5.4")
    assert rows[DAPO_QWEN15].mean32.aime2025.value == -2.50
    assert rows[DAPO_QWEN15].pass32.minerva.value == 0.71
    assert rows[MATH_DS].pass32.minerva.value == -0.05
    assert rows[MATH_QWEN15].mean32.amc2023.text == "-1.71"


def test_v3_table1_and_gaps():
    rows = load_v3_table1()
    assert find_row(rows, MATH_QWEN15, "2+RS").time_h == 3.71
    assert find_row(rows, DAPO_QWEN7, "16").avg_mean32 == 42.92
    assert all(r.setting.model.startswith("Qwen") for r in rows)
    gaps = load_v3_table1_printed_gaps()
    g = find_row(gaps, DAPO_QWEN15, "2")
    assert g.mean32.aime2025 == PrintedNumber(-1.45, 2, "-1.45")
    assert g.avg_mean32.value == -1.98
    assert find_row(gaps, MATH_QWEN15, "2").mean32.amc2023.value == -1.72


def test_v3_tables_2_3_4():
    cov = load_v3_table2()
    assert [c.value for c in cov] == [0.08705, 0.00128]
    t3 = load_v3_table3()
    assert [r.step for r in t3] == [10, 40, 70, 100, 130]
    assert [r.p_discard for r in t3] == [0.5284, 0.6917, 0.6763, 0.7711, 0.7141]
    t4 = load_v3_table4()
    row = find_row(t4, MATH_QWEN15, "16")
    assert row.mean32.olympiadbench == 22.30
    assert row.pass32.olympiadbench == 38.33
    assert (row.avg_mean32, row.avg_pass32) == (34.15, 55.66)
    assert row.average("pass@32") == 55.66
    assert find_row(t4, DAPO_QWEN15, "16").prompts_rollouts == "32/256 (sic)"
    assert [r.group_size for r in t4[:6]] == [BASE_MODEL, "2†", "2", "4", "8", "16"]


def test_value_tables_print_two_decimals():
    # Every score, average and hour of the value tables is printed with two decimals.
    for key in ("v2_table1", "v3_table1", "v3_table4"):
        reader = csv.DictReader(io.StringIO(data_file_text(DATA_FILES[key])))
        for row in reader:
            for col, text in row.items():
                if col in {"dataset", "model", "group_size", "prompts_rollouts"} or not text:
                    continue
                assert parse_printed(text).decimals == 2, (key, col, text)


def test_per_benchmark_and_setting():
    s = PerBenchmark(1.0, 2.0, 3.0, 4.0, 5.0)
    assert list(s.items()) == list(zip(BENCHMARKS, [1.0, 2.0, 3.0, 4.0, 5.0], strict=True))
    assert s.by_name("Minerva") == 3.0
    with pytest.raises(KeyError, match="benchmark"):
        s.by_name("GSM8K")
    assert MATH_DS.label == "DS-1.5B / MATH"


def test_records_are_immutable():
    row = load_v2_table1()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.time_h = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        row.mean32.math500 = 0.0  # type: ignore[misc]


def test_metric_accessors_reject_unknown_metric():
    with pytest.raises(KeyError, match="metric"):
        load_v2_table1()[0].metric("pass@1")
    with pytest.raises(KeyError, match="metric"):
        load_v2_table1_printed_deltas()[0].metric("pass@1")
    with pytest.raises(KeyError, match="metric"):
        load_v3_table4()[0].metric("pass@1")
    with pytest.raises(KeyError, match="metric"):
        load_v3_table4()[0].average("pass@1")


def test_find_row_missing():
    with pytest.raises(KeyError, match="group size"):
        find_row(load_v2_table1(), MATH_DS, "4")


# ----------------------------------------------------------------------------------------------
# Printed numbers
# ----------------------------------------------------------------------------------------------


def test_parse_printed():
    assert parse_printed("-0.96") == PrintedNumber(-0.96, 2, "-0.96")
    assert parse_printed("\u22122.50") == PrintedNumber(-2.5, 2, "\u22122.50")
    assert parse_printed("+5.4").decimals == 1
    assert parse_printed("12").decimals == 0
    assert parse_printed(" 0.09 ").text == "0.09"
    assert parse_printed("-81.6").unit == pytest.approx(0.1)


@pytest.mark.parametrize("text", ["abc", "", "1e3", "nan", "inf", "1.2.3"])
def test_parse_printed_rejects(text):
    with pytest.raises(ValueError, match="text"):
        parse_printed(text)


def test_parse_printed_type():
    with pytest.raises(TypeError, match="text"):
        parse_printed(1.5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Missing and malformed files
# ----------------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_round_trip_through_a_file(tmp_path):
    p = _write(tmp_path, data_file_text(DATA_FILES["v2_table1"]))
    assert load_v2_table1(p) == load_v2_table1()
    p4 = _write(tmp_path, data_file_text(DATA_FILES["v3_table4"]), "t4.csv")
    assert load_v3_table4(p4) == load_v3_table4()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_v2_table1(tmp_path / "absent.csv")
    with pytest.raises(FileNotFoundError, match="missing"):
        data_file_text("absent.csv")


def _v2_text() -> list[str]:
    return data_file_text(DATA_FILES["v2_table1"]).splitlines()


def test_table_error_is_value_error():
    assert issubclass(TableError, ValueError)


def test_missing_column(tmp_path):
    lines = _v2_text()
    lines[0] = lines[0].replace("time_h", "hours")
    with pytest.raises(TableError, match="missing column.*time_h"):
        load_v2_table1(_write(tmp_path, "\n".join(lines)))


def test_wrong_field_count(tmp_path):
    lines = _v2_text()
    lines[2] = lines[2] + ",99"
    with pytest.raises(TableError, match="line 3: expected 14 fields"):
        load_v2_table1(_write(tmp_path, "\n".join(lines)))


def test_bad_number(tmp_path):
    lines = _v2_text()
    lines[2] = lines[2].replace("69.28", "sixty")
    with pytest.raises(TableError, match="line 3, column 'MATH-500 mean@32'.*'sixty'"):
        load_v2_table1(_write(tmp_path, "\n".join(lines)))


def test_empty_score(tmp_path):
    lines = _v2_text()
    lines[2] = lines[2].replace("69.28", "")
    with pytest.raises(TableError, match="empty field"):
        load_v2_table1(_write(tmp_path, "\n".join(lines)))


def test_trained_run_needs_a_time(tmp_path):
    lines = _v2_text()
    lines[2] = lines[2].replace(",2.05,", ",,")
    with pytest.raises(TableError, match="time_h"):
        load_v2_table1(_write(tmp_path, "\n".join(lines)))


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(TableError, match="empty"):
        load_v3_table3(_write(tmp_path, ""))
    with pytest.raises(TableError, match="no rows"):
        load_v3_table3(_write(tmp_path, "step,p_discard_as_printed\n", "h.csv"))


def test_discard_rate_outside_unit_interval(tmp_path):
    with pytest.raises(TableError, match="p_discard_as_printed"):
        load_v3_table3(_write(tmp_path, "step,p_discard_as_printed\n10,1.5\n"))


def test_bad_step_and_bad_printed_delta(tmp_path):
    with pytest.raises(TableError, match="integer"):
        load_v3_table3(_write(tmp_path, "step,p_discard_as_printed\nten,0.5\n"))
    lines = data_file_text(DATA_FILES["v2_table1_printed_deltas"]).splitlines()
    lines[1] = lines[1].replace("-0.96", "n/a")
    with pytest.raises(TableError, match="printed number"):
        load_v2_table1_printed_deltas(_write(tmp_path, "\n".join(lines), "d.csv"))
