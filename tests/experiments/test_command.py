"""Tests of the ``bandit`` subcommand: configuration loading, errors, outputs."""

from __future__ import annotations

import argparse
import json

import pytest

from grpo_theory.experiments.command import add_parser, config_dict, load_config, run
from grpo_theory.experiments.study import DEFAULT, QUICK

TINY = {"task": {"n_prompts": 40, "n_arms": 4, "test_fraction": 0.2},
        "epochs": 2, "seeds": 3, "reference_group": 4, "reference_prompts": 4,
        "small_group": 2, "presets": ["paper"], "timing_repeats": 1}


def _parser():
    parser = argparse.ArgumentParser(prog="grpo-theory")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_load_config_round_trip():
    study = load_config(TINY, QUICK)
    assert study.task.n_prompts == 40 and study.presets == ("paper",)
    assert load_config(config_dict(study), DEFAULT) == study
    assert load_config({}, QUICK) == QUICK


@pytest.mark.parametrize("data, field", [
    ({"seeds": 1}, "seeds"),
    ({"nonsense": 1}, "nonsense"),
    ({"task": {"n_arms": 1}}, "task"),
    ({"task": {"colour": 1}}, "task.colour"),
    ({"presets": ["paper", "x"]}, "presets"),
    ({"presets": "paper"}, "presets"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"task": {"n_prompts": 100}}, "task"),  # 80 training prompts < 256 per step
])
def test_bad_config_names_the_field(data, field, tmp_path, capsys):
    with pytest.raises(ValueError, match=field):
        load_config(data, DEFAULT)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    args = _parser().parse_args(["bandit", "--config", str(path)])
    assert run(args) == 2
    assert field in capsys.readouterr().err


def test_unreadable_config_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert run(_parser().parse_args(["bandit", "--config", str(path)])) == 2
    assert "--config" in capsys.readouterr().err


def test_run_writes_outputs_and_json(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    args = _parser().parse_args(["bandit", "--quick", "--config", str(cfg), "--out", str(out),
                                 "--json"])
    assert args.func is run
    assert run(args) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert "[bandit]" in captured.err
    assert {"runs", "retention", "rollout_ratio", "time_ratio"} <= set(payload)
    run0 = payload["runs"][0]
    for key in ("estimator", "group_size", "prompts_per_step", "seeds", "rollouts",
                "wall_time_s", "final_success", "final_success_ci"):
        assert key in run0
    assert payload["rollout_ratio"] == pytest.approx(0.5)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.json", "runs",
                                                     "summary.json"]
    assert json.loads((out / "summary.json").read_text()) == payload
    assert json.loads((out / "config.json").read_text())["seeds"] == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["runs"][0]["curves"]["test_success"]) == 2 * 8 + 1


def test_interrupted_study_resumes_from_finished_runs(tmp_path, capsys, monkeypatch):
    """A study stopped after its first run trains only the rest when started again, and its
    summary equals that of an uninterrupted study (the stored runs are the same numbers)."""
    from grpo_theory.experiments import study as study_mod

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    args = ["bandit", "--quick", "--config", str(cfg), "--out", str(out), "--json"]
    real = study_mod._train_one
    calls = []

    def stop_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(a[0].label)
        return real(*a, **k)

    monkeypatch.setattr(study_mod, "_train_one", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        run(_parser().parse_args(args))
    assert not (out / "summary.json").exists()  # nothing half-written
    assert len(list((out / "runs").glob("*.npz"))) == 1

    trained = []

    def count(*a, **k):
        trained.append(a[0].label)
        return real(*a, **k)

    monkeypatch.setattr(study_mod, "_train_one", count)
    capsys.readouterr()
    assert run(_parser().parse_args(args)) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert trained == ["2-GRPO"]  # the 4-GRPO reference was loaded
    assert len(list((out / "runs").glob("*.npz"))) == 2

    # Everything stored: nothing is trained, and the numbers are those of the first runs.
    trained.clear()
    assert run(_parser().parse_args(args)) == 0
    again = json.loads(capsys.readouterr().out)
    assert trained == []
    for a, b in zip(resumed["runs"], again["runs"], strict=True):
        assert a["final_success"] == b["final_success"]
        assert a["wall_time_s"] == b["wall_time_s"]
    assert again["retention"] == resumed["retention"]

    # --restart trains both again; another configuration does not reuse the stored runs.
    assert run(_parser().parse_args(args + ["--restart"])) == 0
    assert trained == ["4-GRPO", "2-GRPO"]
    trained.clear()
    cfg.write_text(json.dumps(TINY | {"learning_rate": 0.07}))
    assert run(_parser().parse_args(args)) == 0
    assert trained == ["4-GRPO", "2-GRPO"]
