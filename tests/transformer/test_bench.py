"""Tests of the transformer benchmark."""

from __future__ import annotations

import pytest

from grpo_theory.transformer.bench import main, run_transformer_benchmark


def test_small_workload_counts_and_rates():
    r = run_transformer_benchmark(d_model=16, n_layers=1, prompts=4, group_size=2, repeats=1)
    assert r["rollouts_per_call"] == 8 and r["tokens_per_call"] == 8 * r["completion_len"]
    assert r["rollout_tokens_per_second"] == pytest.approx(r["tokens_per_call"] / r["sample_s"])
    assert r["steps_per_second"] == pytest.approx(1 / r["step_s"])
    assert r["params"] > 0 and {"device", "cpu", "jax_version"} <= set(r)


@pytest.mark.parametrize("kwargs, name", [
    ({"task": "mul"}, "task"), ({"prompts": 0}, "prompts"), ({"group_size": 1}, "group_size"),
    ({"repeats": 0}, "repeats"), ({"prompts": 10**6}, "prompts"),
])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        run_transformer_benchmark(**kwargs)


def test_main_passes_its_options(capsys, monkeypatch):
    from grpo_theory.transformer import bench

    seen = {}
    monkeypatch.setattr(bench, "run_transformer_benchmark", lambda **kw: seen.update(kw) or kw)
    assert main(["--d-model", "16", "--n-layers", "1", "--prompts", "2", "--group-size", "2",
                 "--repeats", "1", "--json"]) == 0
    assert seen == {"task": "add", "d_model": 16, "n_layers": 1, "prompts": 2, "group_size": 2,
                    "repeats": 1}
    assert '"prompts": 2' in capsys.readouterr().out
