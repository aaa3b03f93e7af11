"""Tests of the bandit data set: exact initial rates, difficulty laws, splits, policies, metrics."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grpo_theory.experiments.bandit import BanditConfig, make_train
from grpo_theory.experiments.bandit_env import (
    BanditTask,
    TaskSpec,
    difficulty_moments,
    difficulty_pvalue,
    evaluate,
    init_params,
    make_task,
    pass_at_k,
    policy_logits,
    prompt_logits,
    success_rates,
)


def _rates_np(logits, rewards):
    z = np.asarray(logits, dtype=float)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True) * np.asarray(rewards)).sum(axis=1)


@pytest.mark.parametrize(
    "difficulty",
    [("beta", 0.5, 0.5), ("beta", 1.0, 3.0), ("uniform", 0.1, 0.9), ("fixed", 0.03)],
)
@pytest.mark.parametrize("reward", ["binary", "continuous"])
def test_initial_rates_equal_the_drawn_rates(difficulty, reward):
    task = make_task(7, 200, 6, difficulty, n_correct=(1, 5), reward=reward, logit_scale=2.0)
    assert task.difficulty == difficulty and task.reward == reward
    p = np.asarray(task.initial_success)
    np.testing.assert_allclose(_rates_np(task.logits, task.rewards), p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(success_rates(task.logits, task)), p, atol=1e-12)
    W0 = init_params(task, "shared")
    assert W0.shape == (task.n_features, 6) and not np.any(np.asarray(W0))
    np.testing.assert_allclose(np.asarray(success_rates(W0, task, "shared")), p, atol=1e-12)


def test_drawn_rates_are_clipped_and_attained_near_the_edges():
    task = make_task(0, 300, 4, ("beta", 0.05, 0.05), p_min=1e-4)
    p = np.asarray(task.initial_success)
    assert p.min() == 1e-4 and p.max() == 1 - 1e-4  # the U-shaped law hits both clips
    np.testing.assert_allclose(_rates_np(task.logits, task.rewards), p, atol=1e-12)


def test_values_law_is_reproduced_in_order():
    values = (0.1, 0.5, 0.25, 0.9)
    task = make_task(3, 4, 3, ("values", *values))
    np.testing.assert_allclose(np.asarray(task.initial_success), values, atol=0)
    np.testing.assert_allclose(_rates_np(task.logits, task.rewards), values, atol=1e-12)


def test_binary_rewards_have_the_requested_number_of_correct_arms():
    task = make_task(1, 300, 8, n_correct=(2, 4))
    r = np.asarray(task.rewards)
    assert set(np.unique(r)) == {0.0, 1.0}
    counts = r.sum(axis=1)
    assert counts.min() == 2 and counts.max() == 4
    assert (make_task(1, 10, 5, n_correct=3).rewards.sum(axis=1) == 3).all()


def test_continuous_rewards_span_the_unit_interval():
    task = make_task(2, 50, 5, reward="continuous")
    r = np.asarray(task.rewards)
    assert (r.min(axis=1) == 0).all() and (r.max(axis=1) == 1).all()
    assert len(np.unique(r)) > 100


@pytest.mark.statistical
def test_drawn_rates_follow_the_difficulty_law():
    """KS test of 4,000 drawn rates against Beta(2, 5) and U(0.2, 0.7) at level 1e-6.

    Under the law the KS p-value is uniform, so the false-positive probability is 1e-6 (clipping
    at p_min = 1e-6 moves a draw with probability about 1e-11). Power check: the same draws must
    be rejected against Beta(3, 5) and U(0.2, 0.75).
    """
    task = make_task(11, 4000, 2, ("beta", 2.0, 5.0))
    assert difficulty_pvalue(task) > 1e-6
    assert difficulty_pvalue(dataclasses.replace(task, difficulty=("beta", 3.0, 5.0))) < 1e-6
    task = make_task(12, 4000, 2, ("uniform", 0.2, 0.7))
    assert difficulty_pvalue(task) > 1e-6
    p = np.asarray(task.initial_success)
    assert 0.2 <= p.min() and p.max() <= 0.7
    assert difficulty_pvalue(dataclasses.replace(task, difficulty=("uniform", 0.2, 0.75))) < 1e-6
    with pytest.raises(ValueError, match="continuous law"):
        difficulty_pvalue(make_task(0, 4, 2, ("fixed", 0.5)))


def test_difficulty_moments_and_describe():
    assert difficulty_moments(("beta", 2.0, 2.0)) == pytest.approx((0.5, 0.05))
    assert difficulty_moments(("uniform", 0.2, 0.8)) == pytest.approx((0.5, 0.03))
    assert difficulty_moments(("values", 0.2, 0.4)) == pytest.approx((0.3, 0.01))
    task = make_task(5, 40, 4, ("beta", 1.0, 3.0), test_fraction=0.25, n_correct=2)
    d = task.describe()
    p = np.asarray(task.initial_success)
    assert d["n_train"] == 30 and d["n_test"] == 10 and d["n_prompts"] == 40
    assert d["law_mean"] == 0.25 and d["difficulty"] == ("beta", 1.0, 3.0)
    assert d["initial_success_mean"] == pytest.approx(p.mean())
    assert d["test_initial_success"] == pytest.approx(p[np.asarray(task.test_idx)].mean())
    assert d["correct_arms_mean"] == 2.0
    assert np.isnan(make_task(5, 4, 2, test_fraction=0.0).describe()["test_initial_success"])


@pytest.mark.parametrize("n, fraction, n_test", [(40, 0.25, 10), (7, 0.5, 4), (5, 0.0, 0)])
def test_split_is_disjoint_and_covers_every_prompt(n, fraction, n_test):
    task = make_task(9, n, 3, test_fraction=fraction)
    train, test = np.asarray(task.train_idx), np.asarray(task.test_idx)
    assert len(test) == n_test and len(train) == n - n_test
    assert not set(train) & set(test)
    assert sorted([*train, *test]) == list(range(n))
    assert (np.diff(train) > 0).all()


def test_seed_and_key_determine_the_task():
    a, b = make_task(4, 10, 3), make_task(4, 10, 3)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    c = make_task(jax.random.key(4), 10, 3)
    d = make_task(jax.random.key(4), 10, 3)
    np.testing.assert_array_equal(c.logits, d.logits)
    assert not np.array_equal(a.logits, make_task(5, 10, 3).logits)
    spec = TaskSpec(n_prompts=10, n_arms=3, seed=4)
    np.testing.assert_array_equal(spec.build().logits, a.logits)


def test_task_is_a_pytree_with_static_metadata():
    task = make_task(0, 6, 3, ("fixed", 0.4))
    leaves, treedef = jax.tree_util.tree_flatten(task)
    assert len(leaves) == 6
    back = jax.tree_util.tree_unflatten(treedef, leaves)
    assert isinstance(back, BanditTask) and back.difficulty == ("fixed", 0.4)
    rates = jax.jit(lambda t: success_rates(t.logits, t))(task)
    np.testing.assert_allclose(np.asarray(rates), 0.4, atol=1e-12)


def test_pass_at_k_and_evaluate_match_numpy():
    p = np.array([0.0, 0.1, 0.5, 1.0])
    ks = np.array([1, 4, 32])
    np.testing.assert_allclose(np.asarray(pass_at_k(p, ks)),
                               1 - (1 - p[:, None]) ** ks[None, :], atol=1e-15)
    task = make_task(3, 20, 4, ("beta", 1.0, 2.0), test_fraction=0.3, n_features=3)
    W = np.random.default_rng(0).standard_normal((3, 4))
    rates = _rates_np(np.asarray(task.logits) + np.asarray(task.features) @ W,
                      task.rewards)
    m = evaluate(W, task, "shared", ks=(1, 8))
    train, test = np.asarray(task.train_idx), np.asarray(task.test_idx)
    assert float(m["train_success"]) == pytest.approx(rates[train].mean(), abs=1e-12)
    assert float(m["test_success"]) == pytest.approx(rates[test].mean(), abs=1e-12)
    np.testing.assert_allclose(np.asarray(m["test_pass_at_k"]),
                               [rates[test].mean(), (1 - (1 - rates[test]) ** 8).mean()],
                               atol=1e-12)
    small = make_task(3, 5, 4, test_fraction=0.0)
    empty = evaluate(small.logits, small)
    assert np.isnan(float(empty["test_success"])) and np.isnan(empty["test_pass_at_k"]).all()


def test_shared_gradient_on_one_prompt_moves_the_others_and_tabular_does_not():
    task = make_task(8, 6, 4, n_features=4)

    @jax.jit
    def rates_before_and_after(params_by_family):
        out = {}
        for family, params in params_by_family.items():
            def rate_of_prompt0(p, family=family):
                z = prompt_logits(p, task, family, jnp.array([0]))[0]
                return jax.nn.softmax(z) @ jnp.asarray(task.rewards[0])

            step = 0.5 * jax.grad(rate_of_prompt0)(params)
            out[family] = (success_rates(params, task, family),
                           success_rates(params + step, task, family))
        return out

    start = {f: init_params(task, f) for f in ("tabular", "shared")}
    for family, (before, after) in jax.device_get(rates_before_and_after(start)).items():
        assert after[0] > before[0]
        assert bool(np.any(np.abs(after[1:] - before[1:]) > 1e-6)) is (family == "shared")
    np.testing.assert_allclose(
        np.asarray(policy_logits(np.ones((4, 4)), task, "shared")),
        np.asarray(task.logits) + np.asarray(task.features).sum(axis=1, keepdims=True),
        atol=1e-12,
    )


def test_shared_policy_generalises_to_held_out_prompts_and_tabular_does_not():
    spec = TaskSpec(n_prompts=48, n_arms=4, difficulty=("beta", 1.0, 2.0), test_fraction=0.25,
                    feature_noise=0.2, seed=1)
    task = spec.build()
    trains = {family: make_train(BanditConfig(spec, policy=family, estimator="2-grpo",
                                              prompts_per_step=12, epochs=10,
                                              learning_rate=0.2, dtype="float64"), task)
              for family in ("tabular", "shared")}
    out = jax.device_get(jax.jit(lambda k: {f: t(k) for f, t in trains.items()})(
        jax.random.key(0)))
    tab, sh = out["tabular"], out["shared"]
    test = np.asarray(task.test_idx)
    # tabular: held-out rows never receive a gradient, so Adam leaves them exactly in place
    np.testing.assert_array_equal(tab["final_params"][test], np.asarray(task.logits)[test])
    assert float(tab["metrics"]["test_success"][-1]) == pytest.approx(
        float(tab["initial"]["test_success"]), abs=1e-12)
    # shared: the held-out prompts improve through W
    assert float(sh["metrics"]["test_success"][-1]) > float(sh["initial"]["test_success"]) + 0.1
    for m in (tab, sh):
        assert float(m["metrics"]["train_success"][-1]) > float(m["initial"]["train_success"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_prompts": 0}, "n_prompts"),
        ({"n_prompts": 2.5}, "n_prompts"),
        ({"n_arms": 1}, "n_arms"),
        ({"difficulty": "beta"}, "difficulty"),
        ({"difficulty": ("gamma", 1.0)}, "difficulty name"),
        ({"difficulty": ("beta", 1.0)}, "difficulty"),
        ({"difficulty": ("beta", -1.0, 1.0)}, "difficulty beta a"),
        ({"difficulty": ("uniform", 0.5, 0.2)}, "difficulty uniform"),
        ({"difficulty": ("fixed", 1.0)}, "difficulty fixed p"),
        ({"difficulty": ("values", 0.5)}, "difficulty"),
        ({"difficulty": ("values", 0.5, 0.5, 0.5, 1.5)}, "difficulty values"),
        ({"n_correct": 4}, "n_correct"),
        ({"n_correct": 0}, "n_correct"),
        ({"n_correct": (2, 1)}, "n_correct hi"),
        ({"n_correct": (1, 2, 3)}, "n_correct"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"test_fraction": 0.9}, "test_fraction"),
        ({"n_features": 0}, "n_features"),
        ({"reward": "gaussian"}, "reward"),
        ({"logit_scale": -1.0}, "logit_scale"),
        ({"feature_noise": -1.0}, "feature_noise"),
        ({"p_min": 0.0}, "p_min"),
        ({"p_min": 0.6}, "p_min"),
    ],
)
def test_bad_task_arguments_name_the_parameter(kwargs, match):
    args = {"n_prompts": 4, "n_arms": 4, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        make_task(0, **args)


def test_bad_policy_arguments_name_the_parameter():
    task = make_task(0, 4, 3)
    with pytest.raises(ValueError, match="family"):
        init_params(task, "mlp")
    with pytest.raises(ValueError, match="family"):
        success_rates(task.logits, task, "mlp")
    with pytest.raises(ValueError, match="ks entry"):
        evaluate(task.logits, task, ks=(0,))
    with pytest.raises(TypeError, match="key"):
        make_task("seed", 4, 3)
