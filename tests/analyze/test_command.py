"""``grpo-theory analyze``: every shipped example, the report files, JSON, bad input."""

from __future__ import annotations

import json

import pytest

from grpo_theory.analyze.formats import EXAMPLES_DIR
from grpo_theory.cli import main

EXAMPLES = ["table.csv", "table.jsonl", "table.parquet", "verl", "trl", "trl.table.json"]


def _strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_shipped_example_gives_the_same_numbers(name, capsys):
    assert main(["analyze", str(EXAMPLES_DIR / name), "--json"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["rollouts"] == 192 and out["steps"] == 6 and out["group_size"] == 4
    assert {p["group_size"] for p in out["predictions"]} == {2, 4, 8, 16, 32}
    assert main(["analyze", str(EXAMPLES_DIR / "table.csv"), "--json"]) == 0
    ref = _strict_json(capsys.readouterr().out)
    for key in ("silent_fraction", "difficulty_fit", "predictions", "recommended_group_size"):
        assert out[key] == ref[key], key


def test_out_writes_the_report_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["analyze", str(EXAMPLES_DIR / "verl"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "recommended group size" in captured.out
    assert "[analyze] reading" in captured.err and "done in" in captured.err
    for name in ("report.md", "report.html", "analysis.json", "figures/silent_groups.png",
                 "figures/success_rates.pdf", "figures/variance.png"):
        assert (out / name).exists(), name
    assert _strict_json((out / "analysis.json").read_text())["format"] == "verl"


def test_a_bad_row_names_file_line_and_column(tmp_path, capsys):
    path = tmp_path / "run.csv"
    path.write_text("step,prompt,reward\n0,a,1\n0,a,zero\n0,b,0\n0,b,1\n")
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 3, column 'reward'" in err and "'zero'" in err


def test_skip_bad_counts_and_reports_what_it_skipped(tmp_path, capsys):
    path = tmp_path / "run.csv"
    path.write_text("step,prompt,reward\n0,a,1\n0,a,zero\n0,b,0\n0,b,1\n0,c,1\n")
    assert main(["analyze", str(path), "--skip-bad", "--json"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["skipped"] == {"non_numeric_reward": 1, "singleton_groups": 2}
    assert out["rollouts"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--windows", "0"], "windows"),
    (["--level", "1.5"], "level"),
    (["--group-sizes", "1", "2"], "group_sizes"),
    (["--epsilon", "-1"], "epsilon"),
    (["--reward-column", "accuracy"], "reward_columns"),
    (["--format", "verl"], "as a verl log"),
])
def test_bad_options_exit_2_with_a_message(args, message, capsys):
    assert main(["analyze", str(EXAMPLES_DIR / "table.csv"), *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_path(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nothing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["trl", "trl.table.json"])
def test_trl_example_advantages_give_the_convention(name, capsys):
    assert main(["analyze", str(EXAMPLES_DIR / name), "--json"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["convention"] == "grpo-bessel"
    assert out["convention_source"] == "detected from the logged advantages"
    assert out["convention_detected"]["matched"]["grpo-bessel"] == 1.0
