"""Tests of the bandit trainer: shapes, determinism, seeds, learning, gradients, lr rule, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grpo_theory.exact.bandit import batch_moments
from grpo_theory.exact.estimators import advantages as exact_advantages
from grpo_theory.experiments.bandit import (
    ESTIMATORS,
    BanditConfig,
    advantage_fn,
    effective_learning_rate,
    epoch_batches,
    make_optimiser,
    make_train,
    make_update,
    sample_batch,
    schedule,
    time_train,
)
from grpo_theory.experiments.bandit_env import TaskSpec, init_params
from grpo_theory.policy_gradient.advantages import grpo_advantages, rloo_advantages

SMALL = TaskSpec(n_prompts=12, n_arms=4, difficulty=("beta", 1.0, 2.0), test_fraction=0.25,
                 seed=3)


def _cfg(**kw):
    base = {"task": SMALL, "prompts_per_step": 3, "epochs": 2, "dtype": "float64"}
    return BanditConfig(**{**base, **kw})


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _score_estimator(cfg, task, params, idx, info):
    """(1/Q) sum_q (1/G) sum_i A_qi grad log pi(a_qi | q), computed directly in numpy."""
    idx, arms = np.asarray(idx), np.asarray(info["arms"])
    adv = np.asarray(info["advantages"])
    Q, G = arms.shape
    z = np.asarray(params)[idx] if cfg.policy == "tabular" else (
        np.asarray(task.logits)[idx] + np.asarray(task.features)[idx] @ np.asarray(params))
    pi = _softmax(z)
    g_QK = np.zeros_like(pi)
    for q in range(Q):
        for i in range(G):
            g_QK[q] += adv[q, i] * (np.eye(pi.shape[1])[arms[q, i]] - pi[q]) / G
    g_QK /= Q
    if cfg.policy == "tabular":
        g = np.zeros(np.shape(params))
        np.add.at(g, idx, g_QK)
        return g
    return np.asarray(task.features)[idx].T @ g_QK


def _estimator_config(estimator):
    """The short-run configuration of each estimator (12 steps, checkpoints 0, 5, 10, 12)."""
    return _cfg(estimator=estimator, group_size=2 if estimator == "2-grpo" else 4, epochs=4,
                learning_rate=0.6 if estimator == "online-dpo" else 0.3, baseline=0.3,
                inner_steps=2, checkpoint_every=5, eval_k=(1, 4))


@pytest.fixture(scope="module")
def runs():
    """Every estimator's short run for seeds 0..5 from one compiled program (faster to build
    than seven): ``(outputs, program)`` with ``outputs[seed][estimator]``."""
    task = SMALL.build()
    trains = {e: make_train(_estimator_config(e), task) for e in ESTIMATORS}
    every = jax.jit(lambda key: {e: train(key) for e, train in trains.items()})
    return [jax.device_get(every(jax.random.key(seed))) for seed in range(6)], every


def _assert_trees_close(a, b, **tol):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol)


def test_epoch_batches_visit_each_training_prompt_once_per_epoch():
    task = SMALL.build()  # 9 training prompts, Q = 2: 4 batches per epoch, one prompt left out
    cfg = _cfg(prompts_per_step=2, epochs=3)
    idx = np.asarray(epoch_batches(jax.random.key(1), cfg, task))
    assert idx.shape == (12, 2)
    train = set(np.asarray(task.train_idx).tolist())
    orders = []
    for e in range(3):
        seen = idx[4 * e: 4 * e + 4].ravel()
        assert len(set(seen.tolist())) == 8 and set(seen.tolist()) <= train
        orders.append(seen.tolist())
    assert orders[0] != orders[1]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_short_run_improves_mean_success(runs, estimator):
    outs = [r[estimator] for r in runs[0]]
    start = float(outs[0]["initial"]["train_success"])
    end = float(np.mean([o["metrics"]["train_success"][-1] for o in outs]))
    assert end > start + 0.1, (estimator, start, end)
    assert any((o["metrics"]["loss"] != 0).any() for o in outs)
    for o in outs:
        for name, v in o["metrics"].items():
            assert np.isfinite(v).all() and len(v) == 12, name


def test_train_shapes_determinism_checkpoints_and_wiring(runs):
    task = SMALL.build()  # 9 training prompts, Q = 3: 3 steps per epoch
    cfg = _estimator_config("2-grpo")
    s = schedule(cfg, task)
    assert (s.n_steps, s.steps_per_epoch, s.rollouts_per_step, s.updates_per_step) == (12, 3, 6,
                                                                                         2)
    assert s.checkpoint_steps == (0, 5, 10, 12)
    a = runs[0][0]["2-grpo"]
    m = a["metrics"]
    for name in ("train_success", "test_success", "silent_fraction", "mean_reward", "loss",
                 "grad_norm", "clip_fraction", "rollouts"):
        assert m[name].shape == (12,), name
    assert m["train_pass_at_k"].shape == m["test_pass_at_k"].shape == (12, 2)
    np.testing.assert_array_equal(m["rollouts"], 6 * np.arange(1, 13))
    assert a["checkpoints"].shape == (4, 12, 4)
    np.testing.assert_array_equal(a["checkpoints"][0], task.logits)
    np.testing.assert_array_equal(a["checkpoints"][-1], a["final_params"])
    np.testing.assert_allclose(m["train_pass_at_k"][:, 0], m["train_success"], atol=1e-12)
    assert (m["train_pass_at_k"][:, 1] >= m["train_pass_at_k"][:, 0]).all()
    assert float(a["initial"]["train_success"]) == pytest.approx(
        task.initial_success[task.train_idx].mean(), abs=1e-12)
    assert not np.array_equal(a["final_params"], runs[0][1]["2-grpo"]["final_params"])
    # step t of train is update() on epoch_batches(key)[t] with key fold_in(k_rollout, t)
    _, k_roll = jax.random.split(jax.random.key(0))
    batches = epoch_batches(jax.random.key(0), cfg, task)
    update = jax.jit(make_update(cfg, task))
    params = init_params(task, dtype=jnp.float64)
    state = make_optimiser(cfg).init(params)
    for t in range(12):
        params, state, info = update(params, state, batches[t], jax.random.fold_in(k_roll, t))
        for name in ("loss", "grad_norm", "clip_fraction", "silent_fraction"):
            assert float(info[name]) == pytest.approx(float(m[name][t]), abs=1e-13), name
        if t + 1 in s.checkpoint_steps:
            i = s.checkpoint_steps.index(t + 1)
            np.testing.assert_allclose(a["checkpoints"][i], params, atol=1e-13)
    # a second run with the same key is identical
    _assert_trees_close(jax.device_get(runs[1](jax.random.key(0))), runs[0][0], rtol=0, atol=0)


def test_vmap_over_seeds_equals_separate_runs(runs):
    train = make_train(_estimator_config("grpo"), SMALL.build())
    keys = jnp.stack([jax.random.key(seed) for seed in range(3)])
    batched = jax.device_get(jax.jit(jax.vmap(train))(keys))
    for seed in range(3):
        one = jax.tree_util.tree_map(lambda x, s=seed: x[s], batched)
        _assert_trees_close(one, runs[0][seed]["grpo"], rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def first_updates():
    """One update from fixed points for several configurations, from one compiled program."""
    task = SMALL.build()
    idx = jnp.asarray(task.train_idx[:6])
    W = 0.3 * np.random.default_rng(5).standard_normal((task.n_features, task.n_arms))
    cases = {
        "rloo-tabular": (_cfg(estimator="rloo", group_size=4, prompts_per_step=6,
                              optimiser="sgd", learning_rate=0.25), 3),
        "bessel-shared": (_cfg(policy="shared", estimator="grpo-bessel", group_size=3,
                               prompts_per_step=6, optimiser="sgd", learning_rate=0.25), 3),
        "clipped": (_cfg(estimator="rloo", group_size=4, prompts_per_step=6, optimiser="sgd",
                         learning_rate=5.0, inner_steps=6, minibatches=2, clip_eps_low=0.1,
                         clip_eps_high=0.1), 1),
        "2-grpo": (_cfg(estimator="2-grpo", group_size=2, prompts_per_step=6), 9),
        "online-dpo": (_cfg(estimator="online-dpo", group_size=2, prompts_per_step=6,
                            dpo_beta=0.7, dpo_reference="old"), 9),
    }
    starts = {name: jnp.asarray(W) if cfg.policy == "shared" else init_params(task, dtype=float)
              for name, (cfg, _) in cases.items()}
    updates = {name: make_update(cfg, task) for name, (cfg, _) in cases.items()}

    @jax.jit
    def run_all(starts):
        out = {}
        for name, (cfg, seed) in cases.items():
            p0 = starts[name]
            out[name] = updates[name](p0, make_optimiser(cfg).init(p0), idx,
                                      jax.random.key(seed))
        return out

    results = jax.device_get(run_all(starts))
    return {name: (cases[name][0], np.asarray(starts[name]), *results[name][::2])
            for name in cases}, task, np.asarray(idx)


@pytest.mark.parametrize("name", ["rloo-tabular", "bessel-shared", "2-grpo"])
def test_first_update_gradient_is_the_score_function_estimator(first_updates, name):
    cases, task, idx = first_updates
    cfg, p0, p1, info = cases[name]
    rewards = info["rewards"]
    np.testing.assert_array_equal(
        rewards, np.take_along_axis(np.asarray(task.rewards)[idx], info["arms"], axis=1))
    exact_name = "grpo" if cfg.estimator == "2-grpo" else cfg.estimator
    np.testing.assert_allclose(info["advantages"],
                               np.stack([exact_advantages(exact_name, r) for r in rewards]),
                               atol=1e-14)
    g_hat = _score_estimator(cfg, task, p0, idx, info)
    np.testing.assert_allclose(-info["grad"], g_hat, atol=1e-12)
    silent = (rewards.max(axis=1) == rewards.min(axis=1)).mean()
    assert float(info["silent_fraction"]) == pytest.approx(silent)
    assert float(info["grad_norm"]) == pytest.approx(np.linalg.norm(g_hat), abs=1e-12)
    assert float(info["clip_fraction"]) == 0.0
    if cfg.optimiser == "sgd":  # one plain SGD update: theta + lr * g_hat
        np.testing.assert_allclose(p1, p0 + 0.25 * g_hat, atol=1e-12)


def test_first_inner_step_is_on_policy_and_later_steps_are_clipped(first_updates):
    cases, task, idx = first_updates
    cfg, p0, _, info = cases["clipped"]
    # the first update sees only the first minibatch (3 prompts); it is the on-policy estimator
    half = {k: info[k][:3] for k in ("arms", "advantages")}
    np.testing.assert_allclose(-info["grad"], _score_estimator(cfg, task, p0, idx[:3], half),
                               atol=1e-12)
    assert 0 < float(info["clip_fraction"]) < 1


def test_online_dpo_at_its_reference_is_beta_times_two_grpo(first_updates):
    """Paper v2 Sec. 4: at pi = pi_ref the DPO gradient of a pair is beta/2 (grad+ - grad-)."""
    cases, _, _ = first_updates
    g_two, g_dpo = cases["2-grpo"][3]["grad"], cases["online-dpo"][3]["grad"]
    np.testing.assert_array_equal(cases["2-grpo"][3]["arms"], cases["online-dpo"][3]["arms"])
    assert np.abs(g_two).max() > 0
    np.testing.assert_allclose(g_dpo, 0.7 * g_two, atol=1e-12)


@pytest.mark.statistical
def test_mean_first_gradient_matches_the_exact_batch_moments():
    """The first-step gradient averaged over 20,000 seeds against the exact layer's mean.

    Each seed draws a batch of Q = 2 of the N = 4 prompts (uniform without replacement) and
    G = 4 rollouts; the batch estimator's mean is the exact ``batch_moments`` mean with uniform
    weights. Each of the 16 coordinates is tested at 6 standard errors (normal tail 2e-9,
    Bonferroni 3.2e-8 <= 1e-6 in total; the estimator is bounded, n = 20,000). Power: the
    exact mean of RLOO (a factor 4/3 of Dr. GRPO's, not of GRPO's) is rejected.
    """
    spec = TaskSpec(n_prompts=4, n_arms=4, difficulty=("uniform", 0.2, 0.8), test_fraction=0.0,
                    n_correct=(1, 2), seed=2)
    task = spec.build()
    cfg = BanditConfig(spec, estimator="grpo", group_size=4, prompts_per_step=2,
                       dtype="float64")
    update = make_update(cfg, task)
    p0 = init_params(task, dtype=jnp.float64)
    opt_state = make_optimiser(cfg).init(p0)

    def first_grad(key):
        idx = epoch_batches(key, cfg.replace(epochs=1), task)[0]
        _, roll = jax.random.split(key)
        return -update(p0, opt_state, idx, jax.random.fold_in(roll, 0))[2]["grad"].ravel()

    n = 20_000
    g = np.asarray(jax.jit(jax.vmap(first_grad))(jax.random.split(jax.random.key(0), n)))
    mean, se = g.mean(axis=0), g.std(axis=0, ddof=1) / np.sqrt(n)
    prompts = [(task.logits[q], task.rewards[q]) for q in range(4)]
    exact = batch_moments(prompts, G=4, Q=2, estimator="grpo").mean
    z = np.abs(mean - exact) / np.maximum(se, 1e-300)
    assert (z < 6).all(), z.max()
    wrong = batch_moments(prompts, G=4, Q=2, estimator="rloo").mean
    assert (np.abs(mean - wrong) / np.maximum(se, 1e-300)).max() > 6


def test_lr_rule_scales_with_prompts_per_step():
    base = _cfg(learning_rate=1e-3, lr_reference_prompts=32)
    assert effective_learning_rate(base.replace(prompts_per_step=256)) == 1e-3
    scaled = base.replace(lr_rule="scaled", prompts_per_step=256)
    assert effective_learning_rate(scaled) == pytest.approx(8e-3)
    assert effective_learning_rate(scaled.replace(prompts_per_step=16)) == pytest.approx(5e-4)
    spec = TaskSpec(n_prompts=300, n_arms=3, test_fraction=0.0)
    assert schedule(base.replace(task=spec, prompts_per_step=32)).n_steps == 2 * 9
    s2 = schedule(scaled.replace(task=spec))
    assert s2.learning_rate == pytest.approx(8e-3) and s2.n_steps == 2
    # the optimiser moves by the effective rate times the gradient
    g = jnp.array([1.0, -2.0])
    for rule, lr in (("constant", 0.1), ("scaled", 0.1 * 6 / 2)):
        cfg = _cfg(optimiser="sgd", learning_rate=0.1, lr_rule=rule, lr_reference_prompts=2,
                   prompts_per_step=6)
        opt = make_optimiser(cfg)
        upd, _ = opt.update(g, opt.init(jnp.zeros(2)))
        np.testing.assert_allclose(upd, -lr * g, atol=1e-15)
    # Adam's first step has size lr per coordinate, whatever the gradient's scale
    opt = make_optimiser(scaled.replace(optimiser="adam"))
    upd, _ = opt.update(100 * g, opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(upd, [-8e-3, 8e-3], rtol=1e-6)


def test_warmup_and_gradient_clipping():
    opt = make_optimiser(_cfg(optimiser="sgd", learning_rate=1.0, warmup_steps=4,
                              max_grad_norm=0.5))
    state = opt.init(jnp.zeros(2))
    steps = []
    for _ in range(6):
        upd, state = opt.update(jnp.array([3.0, 4.0]), state)
        steps.append(float(np.linalg.norm(np.asarray(upd))))
    np.testing.assert_allclose(steps, [0.0, 0.125, 0.25, 0.375, 0.5, 0.5], atol=1e-12)


def test_sample_batch_frequencies_follow_the_policy():
    logits = jnp.log(jnp.array([[0.1, 0.2, 0.7], [0.5, 0.5, 1e-30]]))
    rewards = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    arms, r, lp = jax.jit(sample_batch, static_argnums=3)(jax.random.key(0), logits, rewards,
                                                          40_000)
    freq = np.stack([np.bincount(np.asarray(a), minlength=3) / 40_000 for a in arms])
    # 6 standard errors of a proportion with n = 40,000 is at most 0.015
    np.testing.assert_allclose(freq, [[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]], atol=0.015)
    np.testing.assert_array_equal(r, np.take_along_axis(np.asarray(rewards), np.asarray(arms), 1))
    np.testing.assert_allclose(lp, np.take_along_axis(np.asarray(logits), np.asarray(arms), 1),
                               atol=1e-12)


def test_advantage_rules_are_the_library_rules():
    r = jnp.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(advantage_fn(_cfg(estimator="grpo-bessel"))(r),
                               grpo_advantages(r, ddof=1), atol=0)
    np.testing.assert_allclose(advantage_fn(_cfg(estimator="rloo"))(r), rloo_advantages(r))
    np.testing.assert_allclose(advantage_fn(_cfg(estimator="reinforce", baseline=0.25))(r),
                               r - 0.25)


def test_time_train_reports_both_timings():
    cfg = _cfg(epochs=1, dtype="float32")
    t = time_train(cfg, n_seeds=2)
    assert t["n_seeds"] == 2 and t["n_steps"] == 3
    assert t["with_compile_s"] >= t["compile_s"] > 0 and t["run_s"] > 0
    assert 0 <= t["final_train_success"] <= 1


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"policy": "mlp"}, "policy"),
        ({"estimator": "ppo"}, "estimator"),
        ({"group_size": 1}, "group_size"),
        ({"estimator": "2-grpo", "group_size": 4}, "group_size"),
        ({"prompts_per_step": 0}, "prompts_per_step"),
        ({"epochs": 0}, "epochs"),
        ({"inner_steps": 0}, "inner_steps"),
        ({"minibatches": 2}, "minibatches"),
        ({"clip_eps_low": -0.1}, "clip_eps_low"),
        ({"clip_eps_low": 1.0}, "clip_eps_low"),
        ({"clip_eps_high": -0.1}, "clip_eps_high"),
        ({"adv_epsilon": -1.0}, "adv_epsilon"),
        ({"baseline": float("nan")}, "baseline"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"lr_rule": "sqrt"}, "lr_rule"),
        ({"lr_reference_prompts": 0}, "lr_reference_prompts"),
        ({"optimiser": "lion"}, "optimiser"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"dpo_beta": 0.0}, "dpo_beta"),
        ({"dpo_reference": "sft"}, "dpo_reference"),
        ({"eval_k": ()}, "eval_k"),
        ({"eval_k": (1, 0)}, "eval_k"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"dtype": "float16"}, "dtype"),
        ({"task": {"n_prompts": 4}}, "task"),
    ],
)
def test_bad_config_names_the_field(changes, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BanditConfig(**{"prompts_per_step": 3, **changes})


def test_too_many_prompts_per_step_is_an_error():
    with pytest.raises(ValueError, match="prompts_per_step"):
        make_train(_cfg(prompts_per_step=10))
    with pytest.raises(ValueError, match="n_seeds"):
        time_train(_cfg(), n_seeds=0)
