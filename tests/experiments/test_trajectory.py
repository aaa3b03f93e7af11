"""Tests of the trajectory theory: exact moments at checkpoints, gradients, silent groups."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.exact.bandit import batch_moments
from grpo_theory.experiments.bandit import BanditConfig, make_train
from grpo_theory.experiments.bandit_env import TaskSpec, init_params
from grpo_theory.experiments.trajectory import (
    _batch_success,
    _run,
    discard_agreement,
    exact_estimator,
    exact_gradient_moments,
    first_step_gradients,
    gradient_draws,
    gradient_norm_bound,
    gradient_sampler,
    plugin_silent_rate,
    predicted_silent,
    printed_discard_rate,
    run_trajectory,
    silent_probability,
    trace_agreement,
)
from grpo_theory.paper.arithmetic import discard_probability, printed_discard_formula

CFG = BanditConfig(
    task=TaskSpec(n_prompts=32, n_arms=4, difficulty=("beta", 1.0, 1.0), test_fraction=0.25,
                  seed=2),
    policy="tabular", estimator="2-grpo", group_size=2, prompts_per_step=8, epochs=4,
    learning_rate=0.3, eval_k=(1,), dtype="float64",
)


def test_formulas_match_the_paper_module():
    for r in (0.0, 0.3, 0.5, 0.81):
        assert float(printed_discard_rate(r)) == pytest.approx(printed_discard_formula(r))
        assert float(plugin_silent_rate(r)) == pytest.approx(discard_probability(r))
    assert float(silent_probability(0.2, 3)) == pytest.approx(0.2**3 + 0.8**3)


@pytest.mark.property
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20), st.integers(2, 16))
def test_plugin_is_a_jensen_lower_bound(ps, G):
    p = np.array(ps)
    assert silent_probability(p, G).mean() >= plugin_silent_rate(p.mean(), G) - 1e-12
    assert printed_discard_rate(p.mean()) <= 0.5 + 1e-12


def test_exact_moments_without_replacement():
    task = CFG.task.build()
    m = exact_gradient_moments(task.logits, CFG, task)
    prompts = [(task.logits[q], task.rewards[q]) for q in task.train_idx]
    b = batch_moments(prompts, 2, 8, "grpo")
    assert m.cov_trace_iid == pytest.approx(b.cov_trace)
    N = task.n_train
    assert m.cov_trace == pytest.approx(m.within_trace + (N - 8) / (N - 1) * m.between_trace)
    full = exact_gradient_moments(task.logits, CFG.replace(prompts_per_step=N), task)
    assert full.cov_trace == pytest.approx(full.within_trace)
    assert m.bias_sq == pytest.approx(0.0, abs=1e-20)  # 2-GRPO is unbiased
    assert 0.0 < m.silent < 1.0


def test_first_step_gradient_is_the_trainers_step():
    cfg = CFG.replace(optimiser="sgd", learning_rate=0.5, epochs=1, prompts_per_step=24)
    task = cfg.task.build()
    keys = jax.random.split(jax.random.key(3), 2)
    g = first_step_gradients(cfg, keys, task)
    p0 = np.asarray(init_params(task, "tabular"))
    for i in range(2):
        out = make_train(cfg, task)(keys[i])
        step = (np.asarray(out["final_params"]) - p0)[np.asarray(task.train_idx)].ravel()
        np.testing.assert_allclose(step, 0.5 * g[i], atol=1e-12)


def test_sampler_and_draws_agree():
    task = CFG.task.build()
    s = gradient_sampler(CFG, task.logits, task)
    shape = jax.eval_shape(lambda k: s(k, 3), jax.random.key(0)).shape
    assert shape == (3, task.n_train * 4)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="policy"):
        exact_estimator(CFG.replace(policy="shared"))
    with pytest.raises(ValueError, match="estimator"):
        exact_estimator(CFG.replace(estimator="online-dpo"))
    with pytest.raises(ValueError, match="reward"):
        exact_estimator(CFG.replace(task=TaskSpec(reward="continuous")))
    with pytest.raises(ValueError, match="same shape"):
        discard_agreement(np.zeros((2, 3)), np.zeros((2, 2)), 4, 0.5)
    with pytest.raises(ValueError, match="delta"):
        discard_agreement(np.zeros((2, 2)), np.zeros((2, 2)), 4, 0.5, delta=0.0)
    with pytest.raises(ValueError, match="seeds"):
        run_trajectory(CFG, seeds=1)
    with pytest.raises(ValueError, match="n"):
        gradient_draws(CFG, CFG.task.build().logits, 0, 1)


@pytest.mark.statistical
def test_gradient_trace_matches_exact_with_power():
    """4096 trainer gradients at the initial policy against the exact trace.

    Empirical Bernstein radius at false-positive probability 1e-6. Power: the same draws are
    rejected against the exact moments of Bessel-std GRPO (trace half as large at G = 2).
    """
    task = CFG.task.build()
    x = gradient_draws(CFG, task.logits, 11, 4096)
    bound = gradient_norm_bound(CFG, task)
    ok = trace_agreement(x, exact_gradient_moments(task.logits, CFG, task), bound)
    assert ok["agrees"], ok
    wrong = trace_agreement(x, exact_gradient_moments(task.logits,
                                                      CFG.replace(estimator="grpo-bessel"),
                                                      task), bound)
    assert not wrong["agrees"], wrong


@pytest.mark.statistical
def test_silent_fraction_matches_exact_with_power():
    """32 seeds x 12 steps x 8 prompts = 3072 silent indicators against p^2 + (1-p)^2.

    Azuma-Hoeffding radius at false-positive probability 1e-6. Power: the prediction for the
    wrong group size (G = 4) and the printed formula are both rejected.
    """
    task = CFG.task.build()
    data = _run(CFG, 32, 0)
    pred = predicted_silent(data["checkpoints"], data["batches"], task, 2)
    rbar = _batch_success(data["checkpoints"], data["batches"], task)
    a = discard_agreement(data["silent"], pred, 8, rbar)
    assert a.agrees and a.printed_rejected and a.printed < a.measured, a
    wrong = discard_agreement(data["silent"],
                              predicted_silent(data["checkpoints"], data["batches"], task, 4),
                              8, rbar)
    assert not wrong.agrees


def test_run_trajectory_rows():
    t = run_trajectory(CFG, seeds=32, row_every=6, mc_samples=4096)  # shares compiled runs
    assert [r.step for r in t.rows] == [0, 6]
    assert t.discard.n == 32 * 12 * 8
    assert abs(t.rows[1].mc_cov_trace - t.rows[1].exact.cov_trace) < 6 * t.rows[1].mc_cov_trace_se
    r0 = t.rows[0]
    assert r0.silent_exact == pytest.approx(r0.exact.silent)
    assert "silent measured" in t.table() and len(t.as_dict()["rows"]) == 2
