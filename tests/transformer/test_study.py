"""Tests of the transformer study and its ``transformer`` subcommand: runs, summaries, JSON,
resumption and configuration errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from grpo_theory.transformer import study as study_mod
from grpo_theory.transformer.command import add_parser, config_dict, load_config, run
from grpo_theory.transformer.study import (
    DEFAULT,
    FULL,
    QUICK,
    TransformerStudy,
    run_study,
    study_specs,
)

TINY = {"task_args": {"modulus": 10, "n_prompts": 100}, "d_model": 16, "n_layers": 1,
        "n_heads": 2, "warmstart": {"steps": 30, "target_loss": None}, "seeds": 2,
        "epochs": 1, "reference_group": 4, "reference_prompts": 4, "small_group": 2,
        "ablation_groups": [2, 4], "eval_points": 1, "eval_samples": 4, "checkpoint_every": 5}


def _parser():
    parser = argparse.ArgumentParser(prog="grpo-theory")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_specs_follow_the_paper_protocol():
    labels = [(s.label, s.estimator, s.group_size, s.prompts_per_step, s.lr_rule)
              for s in study_specs(DEFAULT)]
    assert labels == [("16-GRPO", "grpo", 16, 32, "constant"),
                      ("2-GRPO", "2-grpo", 2, 256, "scaled"),
                      ("2-GRPO Q=32", "2-grpo", 2, 32, "constant"),
                      ("G=4", "grpo", 4, 32, "constant"), ("G=8", "grpo", 8, 32, "constant")]
    task = DEFAULT.build_task()
    cfg = DEFAULT.rl_config(study_specs(DEFAULT)[1], task)
    assert cfg.learning_rate * cfg.prompts_per_step / cfg.lr_reference_prompts == \
        pytest.approx(8 * DEFAULT.learning_rate)
    assert (cfg.clip_eps_low, cfg.clip_eps_high, cfg.warmup_steps) == (0.2, 0.28, 10)
    for st in (QUICK, DEFAULT):
        n = st.build_task().n_train
        assert n % 256 == 0, "2-GRPO steps must use every training prompt"
    assert FULL.seeds >= 5


def test_tiny_study_end_to_end_and_resumes(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    args = ["transformer", "--config", str(cfg), "--out", str(out), "--json"]
    assert run(_parser().parse_args(args)) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"task", "rows", "retention", "rollout_ratio", "time_ratio", "paper"} <= set(payload)
    assert [r["method"] for r in payload["rows"]] == ["4-GRPO", "2-GRPO", "2-GRPO Q=4"]
    for row in payload["rows"]:
        for key in ("method", "group_size", "prompts_per_step", "seeds", "rollouts",
                    "wall_time_s", "mean_at_4", "pass_at_4", "mean_at_4_ci", "pass_at_4_ci"):
            assert key in row
        assert row["seeds"] == 2
        assert row["mean_at_4"] <= row["pass_at_4"] + 1e-12
    assert payload["rollout_ratio"] == pytest.approx(0.5)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "curves.json", "runs",
                                                     "summary.json"]
    curves = json.loads((out / "curves.json").read_text())
    assert len(curves["runs"][0]["seeds"]) == 2

    # Started again: every run is loaded, nothing is trained, the numbers are the same.
    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(study_mod, "train", no_training)
    assert run(_parser().parse_args(args)) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["mean_at_4"] for r in again["rows"]] == [r["mean_at_4"] for r in payload["rows"]]
    assert again["retention"] == payload["retention"]


def test_interrupted_study_trains_only_what_is_missing(tmp_path, monkeypatch):
    from grpo_theory._io import ResultStore

    study = load_config(TINY, DEFAULT)
    store = ResultStore(tmp_path)
    real = study_mod.train
    n = {"calls": 0}

    def stop_on_fourth(*a, **k):
        n["calls"] += 1
        if n["calls"] == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(study_mod, "train", stop_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, store=store)
    trained = []

    def count(*a, **k):
        trained.append(1)
        return real(*a, **k)

    monkeypatch.setattr(study_mod, "train", count)
    resumed = run_study(study, store=store)
    assert len(trained) == 3  # 3 runs x 2 seeds, 3 of them finished before the interruption
    monkeypatch.setattr(study_mod, "train", real)
    fresh = run_study(study)
    for a, b in zip(resumed.runs, fresh.runs, strict=True):
        np.testing.assert_array_equal(a.final["mean_at_k"], b.final["mean_at_k"])


@pytest.mark.parametrize("data, field", [
    ({"seeds": 1}, "seeds"), ({"colour": 1}, "colour"), ({"task": "mul"}, "task"),
    ({"task_args": {"modulus": 1}}, "task_args"), ({"task_args": 3}, "task_args"),
    ({"learning_rate": 0}, "learning_rate"), ({"small_group": 3}, "small_group"),
    ({"warmstart": {"steps": 0}}, "warmstart"), ({"ablation_groups": 2}, "ablation_groups"),
])
def test_bad_config_names_the_field(data, field, tmp_path, capsys):
    with pytest.raises(ValueError, match=field):
        load_config(data, DEFAULT)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    assert run(_parser().parse_args(["transformer", "--config", str(path)])) == 2
    assert field in capsys.readouterr().err


def test_config_round_trip_and_task_option():
    st = load_config(TINY, DEFAULT)
    assert load_config(config_dict(st), QUICK) == st
    args = _parser().parse_args(["transformer", "--task", "reverse", "--quick"])
    assert args.task == "reverse" and args.quick
    with pytest.raises(SystemExit):
        _parser().parse_args(["transformer", "--quick", "--full"])


def test_study_validation():
    with pytest.raises(ValueError, match="d_model"):
        TransformerStudy(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="warmstart"):
        TransformerStudy(warmstart=(("nonsense", 1),))
