"""Power checks of the ``analyze.*`` claims: a wrong truth or a broken reader makes them fail.

The claims themselves run in ``tests/test_claims.py``. Here each acceptance rule is applied to a
deliberately wrong input: a difficulty distribution whose rates are pulled away from (or pushed
towards) one half on the logit scale, a shifted Beta, or a reader that corrupts one reward.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from grpo_theory.analyze.validation import recovery
from grpo_theory.claims import Outcome, evaluate, get_claim
from grpo_theory.claims import analyze as claims
from grpo_theory.exact.budget import Population


def _respread(p: np.ndarray, factor: float) -> Population:
    """The rates moved on the logit scale by ``factor`` (a wrong difficulty distribution)."""
    return Population.from_rates(expit(factor * logit(np.clip(p, 1e-9, 1 - 1e-9))))


@pytest.mark.statistical
def test_beta_claim_rejects_a_wrong_beta():
    run = claims._beta_run()
    a, b = claims.BETA
    wrong = recovery(run, delta=claims.DELTA, truth=Population.from_beta(1.2 * a, b))
    assert not wrong.covered
    fit_rejects = recovery(run, delta=claims.DELTA)
    assert fit_rejects.covered  # the intact check passes on the same run


@pytest.mark.statistical
@pytest.mark.parametrize("factor", [0.6, 1.5])
def test_transformer_claim_rejects_a_wrong_spread(factor):
    run = claims._transformer_run()
    assert not recovery(run, delta=claims.DELTA, truth=_respread(run.truth_p, factor)).covered


@pytest.mark.statistical
@pytest.mark.parametrize("factor", [0.6, 1.5])
def test_bandit_claim_rejects_a_wrong_spread(factor):
    from grpo_theory.analyze.synthetic import bandit_run

    run = bandit_run(0)
    ok, _, _ = claims.bandit_verdict(recovery(run, delta=claims.DELTA,
                                              truth=_respread(run.truth_p, factor)))
    assert not ok


def test_formats_claim_fails_with_a_reader_that_corrupts_a_reward(monkeypatch):
    from grpo_theory.analyze import formats

    real = formats.read_log

    def corrupting(path, *args, **kwargs):
        log = real(path, *args, **kwargs)
        if str(path).endswith(".jsonl"):
            log.rewards[3] = 1.0 - log.rewards[3]
        return log

    monkeypatch.setattr(formats, "read_log", corrupting)
    result = evaluate(get_claim("analyze.formats-agree"))
    assert result.outcome is Outcome.FAILED
    assert "table.jsonl (table): DIFFERENT" in result.evidence.summary
