"""``grpo-theory bench analyze`` on a small log: every stage timed, the run analysed."""

from __future__ import annotations

import json

import pytest

from grpo_theory.analyze.bench import bench_log, run_analyze_benchmark
from grpo_theory.cli import main


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_benchmark_reads_analyses_and_reports(file_format):
    out = run_analyze_benchmark(rollouts=8192, file_format=file_format, repeats=1)
    assert out["rollouts"] == 8192 and out["groups"] == 512
    for key in ("read_s", "analyze_s", "report_s", "total_s"):
        assert out[key] > 0
    assert out["total_s"] == pytest.approx(out["read_s"] + out["analyze_s"] + out["report_s"],
                                           abs=0.02)
    assert out["recommended_group_size"] in (2, 4, 8, 16, 32)


def test_bench_log_shape():
    log = bench_log(1000, group_size=8, prompts_per_step=5)
    assert log.n_rollouts == 1000 and set(log.sizes) == {8}
    assert log.steps.size == 25


def test_cli_bench_analyze(capsys):
    assert main(["bench", "analyze", "--rollouts", "4096", "--file-format", "parquet",
                 "--repeats", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["file_format"] == "parquet"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"file_format": "xml"}, "file_format must be one of"),
    ({"rollouts": 1}, "rollouts"),
    ({"repeats": 0}, "repeats"),
    ({"prompts_per_step": 0}, "prompts_per_step"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_analyze_benchmark(**kwargs)
