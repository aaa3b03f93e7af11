"""Tests of the group-size study: intervals, presets, specs, a tiny study end to end."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from grpo_theory.experiments.bandit_env import TaskSpec
from grpo_theory.experiments.study import (
    DEFAULT,
    PAPER,
    PRESETS,
    QUICK,
    RunSpec,
    StudyConfig,
    auc,
    format_table,
    preset_specs,
    ratio_interval,
    run_presets,
    run_study,
    t_interval,
    wall_time_epochs,
)

TINY = StudyConfig(task=TaskSpec(n_prompts=40, n_arms=4, difficulty=("beta", 1.0, 2.0),
                                 test_fraction=0.2), epochs=2, seeds=4, reference_group=4,
                   reference_prompts=4, small_group=2, ablation_groups=(2, 4),
                   learning_rate=0.1, timing_repeats=1)


def test_t_interval_matches_scipy():
    x = np.array([0.3, 0.5, 0.4, 0.9, 0.1])
    m, lo, hi = t_interval(x, 0.9)
    ref = sps.t.interval(0.9, x.size - 1, loc=x.mean(), scale=sps.sem(x))
    assert m == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(ref)


def test_ratio_interval_delta_method():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.05, 50), rng.normal(1.0, 0.02, 60)
    r, lo, hi = ratio_interval(a, b)
    se = r * np.sqrt(a.var(ddof=1) / (50 * a.mean() ** 2) + b.var(ddof=1) / (60 * b.mean() ** 2))
    assert r == pytest.approx(a.mean() / b.mean())
    assert hi - r == pytest.approx(1.959963984540054 * se)
    assert lo < r < hi


def test_auc_trapezoid():
    curve = np.array([[0.5, 1.0], [1.0, 1.0]])
    # [0, 0.5, 1.0] over u in {0, 1/2, 1}: (0/2 + 0.5 + 1/2) / 2
    np.testing.assert_allclose(auc(curve, np.array([0.0, 1.0])), [0.5, 1.0])
    assert float(auc(np.array([2.0]), np.array(0.0))) == 1.0


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="values"):
        t_interval([1.0])
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match="b must"):
        ratio_interval([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="estimator"):
        RunSpec("x", "ppo")
    with pytest.raises(ValueError, match="group_size"):
        RunSpec("x", "2-grpo", 4)
    with pytest.raises(ValueError, match="lr_multiplier"):
        RunSpec("x", lr_multiplier=0.0)
    with pytest.raises(ValueError, match="lr_rule"):
        RunSpec("x", lr_rule="cosine")
    with pytest.raises(ValueError, match="label"):
        RunSpec("")
    with pytest.raises(ValueError, match="seeds"):
        StudyConfig(seeds=1)
    with pytest.raises(ValueError, match="small_group"):
        StudyConfig(reference_group=16, small_group=3)
    with pytest.raises(ValueError, match="presets"):
        StudyConfig(presets=("paper", "nope"))
    with pytest.raises(ValueError, match="metric"):
        StudyConfig(metric="accuracy")
    with pytest.raises(ValueError, match="policy"):
        StudyConfig(policy="deep")
    with pytest.raises(ValueError, match="name"):
        preset_specs("nope", DEFAULT)
    with pytest.raises(ValueError, match="wall_epochs"):
        preset_specs("equal-wall-time", DEFAULT)
    with pytest.raises(ValueError, match="seeds"):
        run_study([RunSpec("a")], TINY, 1)
    with pytest.raises(ValueError, match="specs"):
        run_study([], TINY, 2)


def test_presets_follow_the_paper_protocol():
    ref, small = preset_specs("paper", DEFAULT)
    assert (ref.group_size, ref.prompts_per_step, ref.lr_multiplier) == (16, 32, 1.0)
    assert (small.group_size, small.prompts_per_step, small.lr_rule) == (2, 256, "scaled")
    assert small.config(DEFAULT).replace().learning_rate == DEFAULT.learning_rate
    assert ref.rollouts_per_step == small.rollouts_per_step == 512
    _, tot = preset_specs("equal-total-rollouts", DEFAULT)
    assert tot.epochs == 8 * DEFAULT.epochs
    _, steps = preset_specs("equal-steps", DEFAULT)
    assert (steps.prompts_per_step, steps.lr_rule) == (32, "constant")
    _, wall = preset_specs("equal-wall-time", DEFAULT, 7)
    assert wall.epochs == 7 and wall.prompts_per_step == 256
    ablation = preset_specs("group-size", DEFAULT)
    assert [s.group_size for s in ablation[1:]] == [2, 4, 8, 16]
    assert QUICK.seeds >= 64 and DEFAULT.seeds >= 64
    assert set(QUICK.presets) == set(PRESETS)


def test_wall_time_epochs():
    class R:
        wall_time_s = 3.0
        time_per_step_s = 0.25
    assert wall_time_epochs(R, R, 2) == 6
    assert wall_time_epochs(R, R, 2, max_epochs=4) == 4
    R.time_per_step_s = 100.0
    assert wall_time_epochs(R, R, 2) == 1


def test_run_study_summaries_and_dedup():
    specs = [RunSpec("a", "grpo", 2, 4, 1), RunSpec("b", "2-grpo", 2, 4, 1)]
    runs = run_study(specs, TINY, 3, 5, study=TINY)
    a, b = runs
    assert a.n_steps == 32 // 4 and a.rollouts == 8 * 4 * 2 and a.seeds == 3
    assert b.spec.label == "b" and b.wall_time_s == a.wall_time_s  # trained once
    for name in ("train_success", "test_success", "train_pass@1", "test_pass@1"):
        m, lo, hi = a.final[name]
        assert lo <= m <= hi and 0.0 <= m <= 1.0
        assert a.final_values[name].shape == (3,)
    np.testing.assert_allclose(a.final["train_success"][0], a.curves["train_success"][-1])
    assert a.curves["train_success"].shape == (a.n_steps + 1,)
    np.testing.assert_allclose(a.final["train_pass@1"][0], a.final["train_success"][0],
                               rtol=1e-5)


def test_run_presets_tiny_end_to_end():
    result = run_presets(TINY.replace(presets=("paper", "equal-wall-time", "group-size"),
                                      ablation_groups=(4,)))
    head = result.headline()
    assert head is not None and head.rollout_ratio == pytest.approx(1 / 2)
    ref = result.runs[0]
    assert (ref.spec.group_size, ref.spec.prompts_per_step) == (4, 4)
    assert head.time_ratio > 0 and head.retention[1] <= head.retention[0] <= head.retention[2]
    d = result.as_dict()
    assert d["retention"] == head.retention[0] and d["paper"] == PAPER
    assert {r["label"] for r in d["runs"]} >= {"4-GRPO", "2-GRPO"}
    ablation = [c for c in result.comparisons if c.preset == "group-size"]
    assert len(ablation) == 1 and ablation[0].retention[0] == pytest.approx(1.0)
    table = format_table(result)
    assert "paper (v2)" in table and "retention" in table
