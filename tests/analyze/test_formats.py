"""Log readers and writers: shipped examples, detection, every bad input, skipping, round trips."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.analyze import formats
from grpo_theory.analyze.formats import (
    EXAMPLES_DIR,
    FORMATS,
    detect_format,
    read_log,
    read_table,
    read_trl,
    read_verl,
    write_examples,
    write_table,
    write_trl,
    write_verl,
)
from grpo_theory.analyze.rollouts import LogFormatError, RolloutLog

EXAMPLES = {
    "table.csv": "table",
    "table.jsonl": "table",
    "table.parquet": "table",
    "verl": "verl",
    "trl": "trl",
    "trl.table.json": "trl",
}
TEXT_FILES = ["table.csv", "table.jsonl", "trl.table.json"] + [f"verl/{s}.jsonl"
                                                               for s in range(1, 7)]


def groups(log: RolloutLog) -> list[tuple[int, str, tuple[float, ...]]]:
    """The groups of a log as a sorted list of (step, prompt, rewards)."""
    return sorted((int(s), str(log.prompts[c]),
                   tuple(log.rewards[log.offsets[j]:log.offsets[j + 1]].tolist()))
                  for j, (s, c) in enumerate(zip(log.group_step, log.group_prompt, strict=True)))


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def raises(path, line, column, match, **kwargs):
    """Read ``path`` expecting a LogFormatError at ``line``/``column`` whose text matches."""
    with pytest.raises(LogFormatError, match=match) as info:
        read_log(path, **kwargs)
    err = info.value
    assert err.file == str(path)
    assert err.line == line and err.column == column
    assert str(err).startswith(str(path))
    if line is not None:
        assert f"line {line}" in str(err)
    if column is not None:
        assert f"column {column!r}" in str(err)
    return err


GOOD_CSV = "step,prompt,reward\n1,a,1\n1,a,0\n1,b,0.5\n1,b,0.25\n2,a,1\n2,a,1\n"


# ============================================================================ shipped examples
@pytest.fixture(scope="module")
def reference():
    return groups(read_table(EXAMPLES_DIR / "table.csv"))


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_shipped_example_reads_to_the_same_groups(name, reference):
    log = read_log(EXAMPLES_DIR / name)
    assert log.format == EXAMPLES[name]
    assert detect_format(EXAMPLES_DIR / name) == EXAMPLES[name]
    assert log.n_groups == 48 and log.n_rollouts == 192 and set(log.sizes) == {4}
    assert log.steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert groups(log) == reference
    assert log.skipped == {}


def test_table_examples_carry_completion_lengths():
    for name in ("table.csv", "table.jsonl", "table.parquet"):
        log = read_table(EXAMPLES_DIR / name)
        lengths = log.completion_length
        assert lengths is not None and np.all(lengths == np.round(lengths))
        np.testing.assert_array_equal(lengths, read_table(EXAMPLES_DIR / "table.csv")
                                      .completion_length)


def test_verl_and_trl_examples():
    verl = read_verl(EXAMPLES_DIR / "verl")
    assert verl.completion_length is None and verl.notes == ()
    trl = read_trl(EXAMPLES_DIR / "trl")
    assert any("accuracy_reward" in note for note in trl.notes)
    assert not any("advantage" in note for note in trl.notes)
    one_step = read_verl(EXAMPLES_DIR / "verl" / "3.jsonl")
    assert one_step.steps.tolist() == [3] and one_step.n_groups == 8


def test_shipped_examples_are_what_write_examples_regenerates(tmp_path):
    written = write_examples(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        p.relative_to(EXAMPLES_DIR).as_posix() for p in EXAMPLES_DIR.rglob("*")
        if p.is_file() and p.name != "README.md")
    for name in TEXT_FILES:
        assert (tmp_path / name).read_bytes() == (EXAMPLES_DIR / name).read_bytes(), name
    for name in ["table.parquet"] + [f"trl/completions_{s:05d}.parquet" for s in range(1, 7)]:
        assert pq.read_table(tmp_path / name).equals(pq.read_table(EXAMPLES_DIR / name)), name


def test_examples_readme_describes_every_file():
    text = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("table.csv", "table.jsonl", "table.parquet", "verl/", "trl/", "trl.table.json"):
        assert f"`{name}`" in text


def test_trl_example_advantages_are_trls():
    table = pq.read_table(EXAMPLES_DIR / "trl" / "completions_00001.parquet").to_pydict()
    assert table["step"][0] == "1"
    r = np.array(table["accuracy_reward"]).reshape(-1, 4)
    expected = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + 1e-4)
    np.testing.assert_allclose(np.array(table["advantage"]).reshape(-1, 4), expected)


# ============================================================================= the formats
def test_table_csv_basics(tmp_path):
    log = read_table(write(tmp_path / "a.csv", GOOD_CSV))
    assert groups(log) == [(1, "a", (1.0, 0.0)), (1, "b", (0.5, 0.25)), (2, "a", (1.0, 1.0))]
    assert log.prompts == ("a", "b") and log.completion_length is None
    assert log.format == "table" and log.source == str(tmp_path / "a.csv")


def test_table_prompt_id_group_extra_columns_and_lengths(tmp_path):
    text = ("prompt_id,prompt,step,group,reward,completion_length,extra\n"
            "7,x,1,0,1,10,u\n7,x,1,0,0,,u\n7,x,1,1,1,12.5,u\n7,x,1,1,1,3,u\n")
    log = read_table(write(tmp_path / "a.csv", text))
    assert log.prompts == ("7",) and log.n_groups == 2
    np.testing.assert_array_equal(log.completion_length, [10, np.nan, 12.5, 3])


def test_table_jsonl_and_parquet(tmp_path):
    rows = [{"step": 1, "prompt": p, "reward": r} for p, r in
            [("a", 1), ("a", 0.0), ("b", 2), ("b", 3)]]
    path = write(tmp_path / "a.jsonl", "\n".join(map(json.dumps, rows)) + "\n\n")
    expected = [(1, "a", (1.0, 0.0)), (1, "b", (2.0, 3.0))]
    assert groups(read_table(path)) == expected
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    assert groups(read_table(tmp_path / "a.parquet")) == expected


def test_table_directory_is_one_log_in_natural_order(tmp_path):
    write(tmp_path / "d" / "10.csv", "step,prompt,reward\n10,a,1\n10,a,0\n")
    write(tmp_path / "d" / "2.csv", "step,prompt,reward\n2,a,1\n2,a,1\n")
    write(tmp_path / "d" / "notes.txt", "ignored")
    log = read_table(tmp_path / "d")
    assert log.steps.tolist() == [2, 10]
    write(tmp_path / "d" / "3.csv", "step,prompt,reward\n3,a,1\n")
    with pytest.raises(LogFormatError, match="no other rollout") as info:
        read_table(tmp_path / "d")
    assert info.value.file == str(tmp_path / "d" / "3.csv") and info.value.line == 2


def test_table_without_group_column_splits_repeated_prompts(tmp_path):
    text = "step,prompt,reward\n" + "".join(f"1,{p},{r}\n" for p, r in
                                            [("a", 1), ("a", 0), ("b", 1), ("b", 1),
                                             ("c", 0), ("c", 0), ("c", 1), ("c", 1)])
    log = read_table(write(tmp_path / "a.csv", text))
    assert log.n_groups == 4 and any("split" in note for note in log.notes)


def test_verl_dump(tmp_path):
    d = tmp_path / "dump"
    lines = [{"input": "q1", "output": "o", "score": 1.0, "step": 4, "gts": "42", "acc": True},
             {"input": "q1", "output": "o", "score": 0.0, "step": 4, "gts": "42", "acc": False}]
    write(d / "4.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    no_step = [{k: v for k, v in x.items() if k != "step"} for x in lines]
    write(d / "5.jsonl", "".join(json.dumps(x) + "\n" for x in no_step))
    log = read_verl(d)
    assert log.steps.tolist() == [4, 5] and log.format == "verl"
    assert detect_format(d) == "verl" and read_log(d).n_groups == 2


def test_verl_without_step_key_needs_an_integer_file_name(tmp_path):
    path = write(tmp_path / "rollouts.jsonl",
                 '{"input": "q", "output": "o", "score": 1}\n' * 2)
    err = raises(path, 1, "step", "file name is not a step number", format="verl")
    assert "'input'" in str(err)


def test_verl_repeated_prompts_are_split(tmp_path):
    rows = [{"input": p, "output": "o", "score": s, "step": 1}
            for p, s in [("a", 1), ("a", 0), ("a", 1), ("a", 1), ("b", 0), ("b", 1)]]
    log = read_verl(write(tmp_path / "1.jsonl", "".join(json.dumps(x) + "\n" for x in rows)))
    assert groups(log) == [(1, "a", (1.0, 0.0)), (1, "a", (1.0, 1.0)), (1, "b", (0.0, 1.0))]
    assert any("split" in note for note in log.notes)


def trl_rows():
    return [
        {"step": "3", "prompt": "p", "completion": "c", "accuracy_reward": 1.0,
         "format_reward": 0.5, "advantage": 0.7},
        {"step": "3", "prompt": "p", "completion": "c", "accuracy_reward": None,
         "format_reward": 0.5, "advantage": -0.7},
        {"step": "3", "prompt": "q", "completion": "c", "accuracy_reward": 0.0,
         "format_reward": float("nan"), "advantage": 0.0},
        {"step": "3", "prompt": "q", "completion": "c", "accuracy_reward": 0.0,
         "format_reward": 1.0, "advantage": 0.0},
    ]


def test_trl_sums_reward_columns_like_nansum(tmp_path):
    expected = [(3, "p", (1.5, 0.5)), (3, "q", (0.0, 1.0))]
    rows = trl_rows()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "completions_00003.parquet")
    write(tmp_path / "t.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    cols = list(rows[0])
    write(tmp_path / "t.table.json",
          json.dumps({"columns": cols, "data": [[x[c] for c in cols] for x in rows]}))
    csv_text = ",".join(cols) + "\n" + "".join(
        ",".join("" if x[c] is None else str(x[c]) for c in cols) + "\n" for x in rows)
    write(tmp_path / "t.csv", csv_text)
    for name in ("completions_00003.parquet", "t.jsonl", "t.table.json", "t.csv"):
        assert detect_format(tmp_path / name) == "trl", name
        log = read_log(tmp_path / name)
        assert groups(log) == expected, name
        assert log.notes[0].startswith("reward = sum of the columns 'accuracy_reward' + "
                                       "'format_reward'"), name


def test_trl_step_as_integer_and_reward_columns_option(tmp_path):
    rows = [dict(x, step=3) for x in trl_rows()]
    rows[2]["format_reward"] = 2.0
    path = write(tmp_path / "t.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    log = read_log(path, reward_columns=["format_reward"])
    assert groups(log) == [(3, "p", (0.5, 0.5)), (3, "q", (2.0, 1.0))]
    assert "'format_reward'" in log.notes[0] and "accuracy" not in log.notes[0]
    with pytest.raises(LogFormatError, match="'nope'") as info:
        read_trl(path, reward_columns=["nope"])
    assert info.value.line == 1 and info.value.column == "nope"
    with pytest.raises(ValueError, match="reward_columns"):
        read_log(EXAMPLES_DIR / "table.csv", reward_columns=["reward"])
    with pytest.raises(ValueError, match="reward_columns"):
        read_trl(path, reward_columns="format_reward")


def test_trl_index_columns_are_not_rewards(tmp_path):
    text = (",step,prompt,completion,accuracy_reward,advantage\n"
            "0,1,p,c,1,0.7\n1,1,p,c,0,-0.7\n")
    log = read_trl(write(tmp_path / "t.csv", text))
    assert groups(log) == [(1, "p", (1.0, 0.0))]


# ========================================================================== detection
def test_detect_format_by_columns(tmp_path):
    assert detect_format(write(tmp_path / "a.csv", GOOD_CSV)) == "table"
    assert detect_format(write(tmp_path / "b.csv", "input,score\nq,1\n")) == "verl"
    assert detect_format(write(tmp_path / "c.csv", "step,prompt,completion\n1,p,c\n")) == "trl"
    assert detect_format(write(tmp_path / "d.jsonl", '\n{"step": 1, "prompt_id": 3, '
                                                     '"reward": 1}\n')) == "table"
    assert detect_format(write(tmp_path / "x.json", "{}")) == "trl"


def test_detect_format_errors(tmp_path):
    with pytest.raises(LogFormatError, match="cannot tell the log format") as info:
        detect_format(write(tmp_path / "a.csv", "foo,bar\n1,2\n"))
    assert info.value.line == 1 and "'foo', 'bar'" in str(info.value)
    with pytest.raises(LogFormatError, match="cannot tell the format of a .txt"):
        detect_format(write(tmp_path / "a.txt", "x"))
    mixed = tmp_path / "mixed"
    write(mixed / "a.csv", GOOD_CSV)
    write(mixed / "1.jsonl", '{"input": "q", "score": 1}\n')
    with pytest.raises(LogFormatError, match="mixes log formats"):
        detect_format(mixed)
    with pytest.raises(LogFormatError, match="no file has a header"):
        detect_format(write(tmp_path / "empty.csv", ""))


def test_directory_reading_ignores_other_json_files(tmp_path):
    d = tmp_path / "out"
    write_trl(read_table(EXAMPLES_DIR / "table.csv"), d)
    write(d / "config.json", '{"lr": 1e-6}')
    write(d / ".hidden.parquet", "junk")
    assert detect_format(d) == "trl" and read_log(d).n_groups == 48


def test_subdirectory_hint(tmp_path):
    write_trl(read_table(EXAMPLES_DIR / "table.csv"), tmp_path / "run" / "completions")
    with pytest.raises(LogFormatError, match="subdirectory 'completions'"):
        read_log(tmp_path / "run")


# ======================================================================= bad inputs
def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(LogFormatError, match="no such file or directory") as info:
        read_log(tmp_path / "nope.csv")
    assert info.value.file == str(tmp_path / "nope.csv")


def test_unknown_format_value():
    with pytest.raises(ValueError, match=r"format must be one of 'auto', 'table', 'verl', "
                                         r"'trl', got 'csv'"):
        read_log(EXAMPLES_DIR / "table.csv", format="csv")
    assert FORMATS == ("auto", "table", "verl", "trl")


def test_directory_without_log_files(tmp_path):
    write(tmp_path / "notes.txt", "x")
    with pytest.raises(LogFormatError, match="no log file here.*notes.txt"):
        read_log(tmp_path)
    with pytest.raises(LogFormatError, match="no log file here"):
        read_verl(EXAMPLES_DIR / "trl")


def test_empty_file(tmp_path):
    for name in ("a.csv", "a.jsonl"):
        path = write(tmp_path / name, "")
        with pytest.raises(LogFormatError, match="holds no rollouts") as info:
            read_table(path)
        assert info.value.file == str(path)
    path = write(tmp_path / "h.csv", "step,prompt,reward\n")
    with pytest.raises(LogFormatError, match="holds no rollouts"):
        read_table(path)


def test_empty_files_in_a_directory_are_noted(tmp_path):
    write(tmp_path / "1.jsonl", "")
    write(tmp_path / "2.jsonl", '{"input": "q", "score": 1, "step": 2}\n' * 2)
    log = read_verl(tmp_path)
    assert log.n_groups == 1 and any("1.jsonl" in note for note in log.notes)


def test_wrong_suffix_for_a_format(tmp_path):
    with pytest.raises(LogFormatError, match="cannot read a .csv file as a verl log"):
        read_verl(write(tmp_path / "a.csv", GOOD_CSV))


def test_missing_column_csv(tmp_path):
    path = write(tmp_path / "a.csv", "step,prompt,score\n1,a,1\n1,a,0\n")
    err = raises(path, 1, "reward", "missing required column 'reward'", format="table")
    assert "'step', 'prompt', 'score'" in str(err)
    path = write(tmp_path / "b.csv", "step,reward\n1,1\n")
    raises(path, 1, "prompt", "missing required column 'prompt'.*'prompt_id'", format="table")


def test_missing_column_jsonl_and_parquet(tmp_path):
    path = write(tmp_path / "a.jsonl", '\n\n{"step": 1, "prompt": "a"}\n')
    raises(path, 3, "reward", "missing required column 'reward'.*'step', 'prompt'",
           format="table")
    pq.write_table(pa.table({"step": [1], "reward": [1.0]}), tmp_path / "a.parquet")
    raises(tmp_path / "a.parquet", None, "prompt", "missing required column 'prompt'",
           format="table")
    path = write(tmp_path / "v.jsonl", '{"input": "q", "output": "o", "step": 1}\n')
    raises(path, 1, "score", "missing required column 'score'", format="verl")


def test_missing_column_names_the_likely_format(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"input": "q", "score": 1, "step": 1}\n')
    raises(path, 1, "reward", "looks like a verl dump", format="table")


def test_trl_without_reward_column(tmp_path):
    pq.write_table(pa.table({"step": ["1", "1"], "prompt": ["p", "p"],
                             "completion": ["a", "b"]}), tmp_path / "completions_00001.parquet")
    with pytest.raises(LogFormatError, match="no reward column.*older TRL") as info:
        read_log(tmp_path)
    assert info.value.file == str(tmp_path / "completions_00001.parquet")


def test_malformed_csv_row(tmp_path):
    path = write(tmp_path / "a.csv", GOOD_CSV + "2,a\n")
    raises(path, 8, None, "malformed row: 2 fields where the header has 3")


def test_malformed_jsonl_lines(tmp_path):
    good = "".join(json.dumps({"step": 1, "prompt": "a", "reward": r}) + "\n" for r in (0, 1))
    raises(write(tmp_path / "a.jsonl", good + '{"step": 1,\n'), 3, None, "not valid JSON")
    raises(write(tmp_path / "b.jsonl", good + "[1, 2]\n"), 3, None, "a JSON list where an "
           "object was expected")


def test_malformed_wandb_table(tmp_path):
    cols = ["step", "prompt", "completion", "accuracy_reward", "advantage"]
    data = [["1", "p", "c", 1.0, 0.0], ["1", "p", "c"], ["1", "p", "c", 0.0, 0.0]]
    path = write(tmp_path / "t.table.json", json.dumps({"columns": cols, "data": data}))
    raises(path, 2, None, "malformed row: 3 values where the table has 5 columns")
    path = write(tmp_path / "u.table.json", json.dumps([1, 2]))
    raises(path, None, None, "not a W&B table")
    assert read_log(tmp_path / "t.table.json", skip_bad=True).skipped == {"malformed_rows": 1}


@pytest.mark.parametrize("value, reason", [("abc", "a number, got 'abc'"),
                                           ("", "a number, got ''"),
                                           ("nan", "finite, got nan"),
                                           ("-inf", "finite, got -inf")])
def test_bad_reward_csv(tmp_path, value, reason):
    path = write(tmp_path / "a.csv", GOOD_CSV + f"2,b,{value}\n")
    raises(path, 8, "reward", f"reward must be {reason}")


@pytest.mark.parametrize("value, reason", [("null", "a number, got None"),
                                           ('"x"', "a number, got 'x'"),
                                           ("true", "a number, got True"),
                                           ("NaN", "finite, got nan")])
def test_bad_reward_jsonl(tmp_path, value, reason):
    path = write(tmp_path / "a.jsonl", '{"step": 1, "prompt": "a", "reward": 1}\n'
                 f'{{"step": 1, "prompt": "a", "reward": {value}}}\n')
    raises(path, 2, "reward", f"reward must be {reason}")


def test_bad_reward_parquet_names_the_row(tmp_path):
    pq.write_table(pa.table({"step": [1, 1, 1], "prompt": ["a", "a", "a"],
                             "reward": [1.0, None, 0.0]}), tmp_path / "a.parquet")
    raises(tmp_path / "a.parquet", 2, "reward", "must be a number, got None")
    pq.write_table(pa.table({"step": [1, 1], "prompt": ["a", "a"], "reward": ["1", "x"]}),
                   tmp_path / "b.parquet")
    raises(tmp_path / "b.parquet", 2, "reward", "must be a number, got 'x'")


def test_bad_score_verl(tmp_path):
    path = write(tmp_path / "1.jsonl", '{"input": "q", "score": 1, "step": 1}\n'
                 '{"input": "q", "score": "high", "step": 1}\n')
    raises(path, 2, "score", "score must be a number, got 'high'")


@pytest.mark.parametrize("value", ["1.5", "x", ""])
def test_non_integer_step(tmp_path, value):
    path = write(tmp_path / "a.csv", f"step,prompt,reward\n1,a,1\n{value},a,0\n")
    raises(path, 3, "step", f"step must be an integer, got {value!r}")


def test_integer_valued_steps_in_other_spellings(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"step": 2.0, "prompt": "a", "reward": 1}\n'
                 '{"step": "2", "prompt": "a", "reward": 0}\n')
    assert read_table(path).steps.tolist() == [2]
    pq.write_table(pa.table({"step": [2.5, 2.0], "prompt": ["a", "a"], "reward": [1.0, 0.0]}),
                   tmp_path / "a.parquet")
    raises(tmp_path / "a.parquet", 1, "step", "step must be an integer, got 2.5")


def test_trl_bad_values(tmp_path):
    rows = trl_rows()
    rows[3]["format_reward"] = "oops"
    path = write(tmp_path / "a.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    raises(path, 4, "format_reward", "reward column 'format_reward' must hold numbers, got "
           "'oops'")
    rows = trl_rows()
    rows[1]["format_reward"] = None
    path = write(tmp_path / "b.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    raises(path, 2, "accuracy_reward", "every reward column .* is empty or NaN")


def test_missing_prompt(tmp_path):
    path = write(tmp_path / "a.csv", "step,prompt,reward\n1,a,1\n1,a,0\n1,,1\n")
    raises(path, 4, "prompt", "the prompt is missing")


def test_singleton_group(tmp_path):
    path = write(tmp_path / "a.csv", GOOD_CSV + "3,c,1\n")
    err = raises(path, 8, "prompt", "no other rollout at its step")
    assert "log_unique_prompts" not in str(err)


def test_trl_singleton_group_hints_at_unique_prompt_logging(tmp_path):
    rows = [{"step": "1", "prompt": p, "completion": "c", "accuracy_reward": 1.0,
             "advantage": 0.0} for p in ("a", "b")]
    path = write(tmp_path / "a.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    err = raises(path, 1, "prompt", "no other rollout.*log_unique_prompts.*"
                 "wandb_log_unique_prompts")
    assert isinstance(err, ValueError)


def test_error_line_of_multiline_csv_records(tmp_path):
    text = ('step,prompt,reward\n1,"two\nlines",1\n1,"two\nlines",0\n1,"x\r\ny",1\n'
            '1,"x\r\ny",bad\n')
    raises(write(tmp_path / "a.csv", text), 8, "reward", "must be a number")


def test_bom_and_crlf(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_CSV.replace("\n", "\r\n").encode())
    assert groups(read_table(path)) == groups(read_table(write(tmp_path / "b.csv", GOOD_CSV)))
    path.write_bytes(b"\xef\xbb\xbf" + (GOOD_CSV + "2,b,x\n").replace("\n", "\r\n").encode())
    raises(path, 8, "reward", "must be a number")


def test_lines_are_right_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "_CHUNK", 3)
    text = ('step,prompt,reward\n1,"a\nb",1\n1,"a\nb",0\n\n1,c,1\n1,c,1\n2,"x\ny\nz",1\n'
            '2,"x\ny\nz",1\n2,c,bad\n')
    raises(write(tmp_path / "a.csv", text), 15, "reward", "must be a number")
    ok = text.replace("bad", "0") + "2,c,1\n"
    assert read_table(write(tmp_path / "b.csv", ok)).n_groups == 4
    rows = "".join(json.dumps({"step": 1, "prompt": "a", "reward": 1}) + "\n" for _ in range(7))
    path = write(tmp_path / "a.jsonl", rows + "\n" + '{"step": 1, "prompt": "a", "reward": "?"}\n')
    raises(path, 9, "reward", "must be a number")
    assert read_table(path, skip_bad=True).skipped == {"non_numeric_reward": 1}


def test_first_bad_row_of_the_file_is_reported(tmp_path):
    text = GOOD_CSV + "1,a\n1,b,x\n"
    raises(write(tmp_path / "a.csv", text), 8, None, "malformed")
    text = GOOD_CSV + "1,b,x\n1,a\n"
    raises(write(tmp_path / "b.csv", text), 8, "reward", "must be a number")


# ========================================================================= skip_bad
def test_skip_bad_counts_every_reason(tmp_path):
    text = (GOOD_CSV + "1,a\n1,a,1,2\n2,a\n"  # 3 malformed
            "1,a,abc\n2,b,\n"  # 2 non-numeric
            "2,a,inf\n"  # 1 non-finite
            "x,a,1\n"  # 1 non-integer step
            "2,,1\n"  # 1 missing prompt
            "5,z,1\n")  # 1 singleton group
    path = write(tmp_path / "a.csv", text)
    with pytest.raises(LogFormatError):
        read_table(path)
    log = read_log(path, skip_bad=True)
    assert log.skipped == {"malformed_rows": 3, "non_numeric_reward": 2, "non_finite_reward": 1,
                           "non_integer_step": 1, "missing_prompt": 1, "singleton_groups": 1}
    assert groups(log) == groups(read_table(write(tmp_path / "good.csv", GOOD_CSV)))
    assert "" not in log.prompts  # prompts of skipped rows only are dropped


def test_skip_bad_counts_a_row_once(tmp_path):
    path = write(tmp_path / "a.csv", GOOD_CSV + "x,a,abc\n")
    assert read_table(path, skip_bad=True).skipped == {"non_integer_step": 1}


def test_skip_bad_jsonl_and_trl(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"step": 1, "prompt": "a", "reward": 1}\n'
                 'not json\n[3]\n{"step": 1, "prompt": "a", "reward": 0}\n'
                 '{"step": 1, "prompt": "a", "reward": null}\n')
    log = read_table(path, skip_bad=True)
    assert log.skipped == {"malformed_rows": 2, "non_numeric_reward": 1}
    rows = trl_rows()
    rows[1]["format_reward"] = None
    rows += [dict(rows[0], prompt="solo")] + [dict(rows[3], prompt="r")] * 2
    rows += [dict(rows[3], prompt="s")] * 2
    path = write(tmp_path / "t.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    log = read_trl(path, skip_bad=True)
    assert log.skipped == {"missing_reward": 1, "singleton_groups": 2}
    assert groups(log) == [(3, "q", (0.0, 1.0)), (3, "r", (1.0, 1.0)), (3, "s", (1.0, 1.0))]


def test_skip_bad_singletons_do_not_split_the_other_groups(tmp_path):
    path = write(tmp_path / "a.csv", "step,prompt,reward\n1,a,1\n1,a,0\n1,b,1\n")
    log = read_table(path, skip_bad=True)
    assert groups(log) == [(1, "a", (1.0, 0.0))]
    assert log.skipped == {"singleton_groups": 1}


def test_skip_bad_never_skips_missing_columns(tmp_path):
    path = write(tmp_path / "a.csv", "step,prompt\n1,a\n1,a\n")
    with pytest.raises(LogFormatError, match="missing required column 'reward'"):
        read_table(path, skip_bad=True)


def test_skip_bad_with_nothing_left(tmp_path):
    path = write(tmp_path / "a.csv", "step,prompt,reward\n1,a,x\n1,a,y\n")
    with pytest.raises(LogFormatError, match="every row was skipped.*non_numeric_reward: 2"):
        read_table(path, skip_bad=True)


# ========================================================================== writers
def test_write_table_rejects_other_suffixes(tmp_path):
    log = read_table(EXAMPLES_DIR / "table.csv")
    with pytest.raises(ValueError, match=r"\.csv, \.jsonl or \.parquet"):
        write_table(log, tmp_path / "a.txt")


def test_writers_keep_repeated_prompts_apart(tmp_path):
    log = RolloutLog.from_rollouts([1] * 8, [0] * 6 + [1] * 2, [1, 0, 1, 1, 0, 0, 1, 0],
                                   prompts=["p, \"q\"\n", "r"], group=[0, 0, 1, 1, 2, 2, 0, 0],
                                   completion_length=[1, 2, 3, 4, 5, 6, 7, 8])
    for name in ("a.csv", "a.jsonl", "a.parquet"):
        back = read_table(write_table(log, tmp_path / name))
        assert groups(back) == groups(log)
        np.testing.assert_array_equal(back.completion_length, log.completion_length)
    assert groups(read_verl(write_verl(log, tmp_path / "verl"))) == groups(log)
    assert groups(read_trl(write_trl(log, tmp_path / "trl"))) == groups(log)
    assert groups(read_trl(write_trl(log, tmp_path / "t.table.json"))) == groups(log)


PROMPTS = st.sampled_from(["a", "b, c", 'say "hi"', "two\nlines", "é ünï", " pad ", "17"])


@st.composite
def logs(draw, same_size_per_step: bool):
    """Small random logs; with ``same_size_per_step``, one group size and no repeated prompt per
    step (what a format without a group column can represent)."""
    steps = sorted(draw(st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True)))
    step, prompt, group, reward, length = [], [], [], [], []
    for s in steps:
        size = draw(st.integers(2, 4))
        chosen = draw(st.lists(PROMPTS, min_size=1, max_size=3, unique=same_size_per_step))
        for j, p in enumerate(chosen):
            g = size if same_size_per_step else draw(st.integers(2, 4))
            values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=g,
                                   max_size=g))
            step += [s] * g
            prompt += [p] * g
            group += [j] * g
            reward += values
            length += draw(st.lists(st.integers(0, 999), min_size=g, max_size=g))
    names = sorted(set(prompt))
    codes = [names.index(p) for p in prompt]
    return RolloutLog.from_rollouts(step, codes, reward, prompts=names, group=group,
                                    completion_length=length)


@pytest.mark.property
@given(log=logs(same_size_per_step=False))
def test_table_round_trip(tmp_path_factory, log):
    d = tmp_path_factory.mktemp("rt")
    for name in ("a.csv", "a.jsonl", "a.parquet"):
        back = read_log(write_table(log, d / name))
        assert back.format == "table"
        assert groups(back) == groups(log), name
        assert back.n_rollouts == log.n_rollouts
        order = np.lexsort((back.rewards, np.repeat(back.group_step, back.sizes)))
        expected = np.lexsort((log.rewards, np.repeat(log.group_step, log.sizes)))
        np.testing.assert_array_equal(back.rewards[order], log.rewards[expected])


@pytest.mark.property
@given(log=logs(same_size_per_step=True))
def test_verl_and_trl_round_trip(tmp_path_factory, log):
    d = tmp_path_factory.mktemp("rt")
    for path, fmt in ((write_verl(log, d / "verl"), "verl"), (write_trl(log, d / "trl"), "trl"),
                      (write_trl(log, d / "t.table.json"), "trl")):
        back = read_log(path)
        assert back.format == fmt and detect_format(path) == fmt
        assert groups(back) == groups(log), path
        assert not any("split" in note for note in back.notes)


def test_messages_name_file_line_and_column_in_order(tmp_path):
    path = write(tmp_path / "a.csv", GOOD_CSV + "2,b,abc\n")
    with pytest.raises(LogFormatError) as info:
        read_table(path)
    assert re.fullmatch(re.escape(f"{path}, line 8, column 'reward': ") + ".*",
                        str(info.value))
