"""The CI smoke run: ``grpo-theory transformer --quick --json`` trains and shows learning."""

from __future__ import annotations

import json

import pytest

from grpo_theory.cli import main


@pytest.mark.statistical
def test_quick_study_learns(capsys):
    """Reversing 4 digits, 3 seeds, fixed keys: every run raises held-out Mean@16 above the
    warm start (16-GRPO by about 0.45, 2-GRPO by about 0.25 when this was written)."""
    assert main(["transformer", "--quick", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "reverse"
    rows = {r["method"]: r for r in out["rows"]}
    assert set(rows) == {"16-GRPO", "2-GRPO", "2-GRPO Q=32"}
    for row in rows.values():
        assert row["seeds"] == 3
        assert row["mean_at_16_gain_ci"][0] > 0, row  # the whole interval above zero
    assert rows["2-GRPO"]["rollouts"] * 8 == rows["16-GRPO"]["rollouts"]
    assert out["rollout_ratio"] == pytest.approx(0.125)
    assert 0 < out["time_ratio"] < 1
