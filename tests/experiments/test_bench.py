"""Tests of the bandit-trainer benchmark."""

from __future__ import annotations

import pytest

from grpo_theory.experiments.bench import BENCH_DEFAULTS, main, run_bandit_benchmark


def test_small_workload_learns_and_counts():
    r = run_bandit_benchmark(seeds=8, n_prompts=8, n_arms=4, steps=40, prompts_per_step=4)
    assert (r["steps"], r["rollouts"], r["group_size"]) == (40, 40 * 4 * 2, 2)
    assert r["seed_steps_per_second"] == pytest.approx(8 * 40 / r["seconds_compiled"])
    # 40 steps of Adam at rate 0.1 on 4-armed prompts: the agents must have learned.
    assert r["final_success"] > r["initial_success"] + 0.1


@pytest.mark.parametrize("kwargs, name", [
    ({"seeds": 0}, "seeds"), ({"n_arms": 1}, "n_arms"), ({"steps": 0}, "steps"),
    ({"prompts_per_step": 65}, "prompts_per_step"), ({"steps": 501}, "steps"),
    ({"repeats": 0}, "repeats"), ({"seed": -1}, "seed"),
])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        run_bandit_benchmark(**kwargs)


def test_defaults_are_the_documented_workload():
    assert BENCH_DEFAULTS == {"seeds": 1024, "n_prompts": 64, "n_arms": 16, "steps": 500,
                              "prompts_per_step": 16, "seed": 0}


def test_main_prints_json(capsys):
    assert main(["--seeds", "2", "--n-prompts", "4", "--n-arms", "4", "--steps", "4",
                 "--prompts-per-step", "2", "--json"]) == 0
    assert '"steps": 4' in capsys.readouterr().out
