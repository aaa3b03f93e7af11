"""Tests of the transformer RL trainer: the first update is the score-function step, runs are
reproducible and resume exactly, every estimator and loss option runs, bad settings are named."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from grpo_theory._io import ResultStore
from grpo_theory.transformer import trainer as trainer_mod
from grpo_theory.transformer.model import TINY, init_model, sequence_log_prob
from grpo_theory.transformer.sampling import sample_completions
from grpo_theory.transformer.tasks import make_task, reward
from grpo_theory.transformer.trainer import ESTIMATORS, RLConfig, make_step, train


@pytest.fixture(scope="module")
def task():
    return make_task("add", 0, modulus=10)


@pytest.fixture(scope="module")
def model(task):
    return init_model(jax.random.key(0), TINY.for_task(task, dtype="float64"))


def _flat(model):
    return ravel_pytree(eqx.filter(model, eqx.is_inexact_array))[0]


@pytest.mark.exact
def test_first_update_is_the_score_function_step(task, model):
    """With SGD, one update, no gradient clipping and rate eta, the step moves the parameters by
    eta/N_tok * sum_i A_i grad sum_t log pi(y_it) (token-mean): the ratio is exactly 1."""
    Q, G, lr = 4, 4, 0.1
    cfg = RLConfig(group_size=G, prompts_per_step=Q, optimiser="sgd", learning_rate=lr,
                   max_grad_norm=None)
    step, params, opt_state = make_step(cfg, task, model)
    prompts, answers = jnp.asarray(task.prompts[:Q]), jnp.asarray(task.answers[:Q])
    key = jax.random.key(3)
    new_params, _, metrics = step(params, opt_state, key, prompts, answers)
    moved = _flat(eqx.combine(new_params, eqx.partition(model, eqx.is_inexact_array)[1]))

    # The same batch, by hand.
    k_sample, _ = jax.random.split(key)
    out = sample_completions(k_sample, model, prompts, n_rollouts=G,
                             completion_len=task.completion_len)
    tokens, mask = np.asarray(out["tokens"]), np.asarray(out["mask"])
    rewards = np.array([[float(reward("binary", tokens[q, i], answers[q])) for i in range(G)]
                        for q in range(Q)])
    centred = rewards - rewards.mean(1, keepdims=True)
    std = rewards.std(1, keepdims=True)
    adv = np.where(std > 0, centred / np.where(std > 0, std, 1.0), 0.0)
    P = task.prompt_len
    direction = np.zeros_like(np.asarray(_flat(model)))
    for q in range(Q):
        for i in range(G):
            if adv[q, i] == 0:
                continue
            seq = jnp.concatenate([prompts[q], jnp.asarray(tokens[q, i])])
            g = jax.grad(lambda m, s=seq, mk=mask[q, i]: sequence_log_prob(m, s, P, mk))(model)
            direction += adv[q, i] * np.asarray(_flat(g))
    expected = np.asarray(_flat(model)) + lr * direction / mask.sum()
    np.testing.assert_allclose(np.asarray(moved), expected, rtol=1e-10, atol=1e-12)
    assert metrics["clip_fraction"] == 0.0
    assert metrics["mean_reward"] == pytest.approx(rewards.mean())
    silent = np.mean([len(set(r)) == 1 for r in rewards])
    assert metrics["silent_fraction"] == pytest.approx(silent)


@pytest.mark.exact
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_estimator_steps_and_stays_finite(task, model, estimator):
    G = 2 if estimator == "2-grpo" else 4
    cfg = RLConfig(estimator=estimator, group_size=G, prompts_per_step=4, inner_steps=2,
                   minibatches=2, kl_coef=0.05 if estimator == "grpo" else 0.0)
    step, params, opt_state = make_step(cfg, task, model)
    p, a = jnp.asarray(task.prompts[:4]), jnp.asarray(task.answers[:4])
    new, _, m = step(params, opt_state, jax.random.key(1), p, a)
    assert all(np.isfinite(float(v)) for v in m.values())
    assert np.all(np.isfinite(np.asarray(ravel_pytree(new)[0])))


@pytest.mark.exact
@pytest.mark.parametrize("options", [
    {"aggregation": "seq-mean-token-mean"}, {"aggregation": "seq-mean-token-sum"},
    {"aggregation": "seq-mean-token-sum-norm"}, {"ratio_level": "sequence"},
    {"reward": "partial"}, {"kl_coef": 0.1, "kl_estimator": "k2"}, {"temperature": 0.7},
])
def test_loss_options_run(task, model, options):
    cfg = RLConfig(group_size=4, prompts_per_step=4, **options)
    step, params, opt_state = make_step(cfg, task, model)
    p, a = jnp.asarray(task.prompts[:4]), jnp.asarray(task.answers[:4])
    _, _, m = step(params, opt_state, jax.random.key(2), p, a)
    assert np.isfinite(float(m["loss"]))


def _small_run(task, model, **kw):
    cfg = RLConfig(group_size=4, prompts_per_step=16, epochs=2, eval_every=2, eval_samples=4,
                   learning_rate=3e-3, **kw)
    return cfg


@pytest.mark.exact
def test_train_is_reproducible_and_counts(task, model):
    cfg = _small_run(task, model)
    a = train(5, model, task, cfg)
    b = train(5, model, task, cfg)
    steps = 2 * (task.n_train // 16)
    assert a.steps == steps and a.rollouts == steps * 64
    assert a.history["step"].tolist() == list(range(1, steps + 1))
    np.testing.assert_array_equal(a.history["mean_reward"], b.history["mean_reward"])
    np.testing.assert_array_equal(np.asarray(_flat(a.model)), np.asarray(_flat(b.model)))
    assert a.evals["step"].tolist() == [0, 2, 4, 6, 8, 10]
    assert np.all(np.diff(a.history["train_time_s"]) > 0)


@pytest.mark.exact
def test_interrupted_run_resumes_to_the_same_result(task, model, tmp_path, monkeypatch):
    cfg = _small_run(task, model, checkpoint_every=3)
    full = train(7, model, task, cfg)
    store = ResultStore(tmp_path)
    settings = {"task": "add-10", "seed": 7}

    calls = {"n": 0}
    real = trainer_mod.evaluate

    def stop_at_third_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # evaluation after step 4: checkpoint of step 3 is on disk
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(trainer_mod, "evaluate", stop_at_third_eval)
    with pytest.raises(KeyboardInterrupt):
        train(7, model, task, cfg, store=store, settings=settings)
    monkeypatch.setattr(trainer_mod, "evaluate", real)
    resumed = train(7, model, task, cfg, store=store, settings=settings)
    assert resumed.resumed_from == 3
    np.testing.assert_array_equal(resumed.history["mean_reward"], full.history["mean_reward"])
    np.testing.assert_allclose(np.asarray(_flat(resumed.model)), np.asarray(_flat(full.model)),
                               rtol=0, atol=0)
    np.testing.assert_array_equal(resumed.evals["mean_at_k"], full.evals["mean_at_k"])
    # finished: loading it again trains nothing
    again = train(7, model, task, cfg, store=store, settings=settings)
    assert again.resumed_from == full.steps


@pytest.mark.statistical
def test_training_raises_the_training_reward():
    """Reversing 3 digits from the default warm start (mean success about 0.45): 48 steps of
    16-GRPO raise the mean training reward of the last 8 steps over the first 8 by more than
    0.1 (fixed keys; 1,024 rollouts in each window, so sampling noise is about 0.02)."""
    from grpo_theory.transformer.warmstart import default_warmstart

    task = make_task("reverse", 0, n_digits=3, n_prompts=200)
    m0, _ = default_warmstart(jax.random.key(1), task)
    cfg = RLConfig(group_size=8, prompts_per_step=16, epochs=4, learning_rate=1e-3,
                   eval_every=0, eval_samples=4)
    r = train(0, m0, task, cfg)
    first, last = r.history["mean_reward"][:8].mean(), r.history["mean_reward"][-8:].mean()
    assert last > first + 0.1, (first, last)


@pytest.mark.parametrize("field, value", [
    ("estimator", "ppo"), ("group_size", 1), ("prompts_per_step", 0), ("minibatches", 3),
    ("clip_eps_low", 1.0), ("aggregation", "sum"), ("kl_estimator", "k4"),
    ("learning_rate", 0.0), ("temperature", 0.0), ("reward", "soft"), ("eval_samples", 0),
    ("ratio_level", "word"), ("kl_coef", -1.0),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        RLConfig(**{field: value})


def test_two_grpo_needs_two():
    with pytest.raises(ValueError, match="group_size"):
        RLConfig(estimator="2-grpo", group_size=4)


def test_batch_larger_than_data_is_named(task, model):
    with pytest.raises(ValueError, match="prompts_per_step"):
        train(0, model, task, RLConfig(prompts_per_step=task.n_train + 1))


def test_store_needs_settings(task, model, tmp_path):
    with pytest.raises(ValueError, match="settings"):
        train(0, model, task, RLConfig(prompts_per_step=8), store=ResultStore(tmp_path))
