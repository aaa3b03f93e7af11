"""Tests of the supervised warm start, its defaults, and the success-rate histogram."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grpo_theory.transformer.model import TINY
from grpo_theory.transformer.sampling import success_rates
from grpo_theory.transformer.tasks import EOS, PAD, TASK_NAMES, make_task
from grpo_theory.transformer.warmstart import (
    WARMSTART_DEFAULTS,
    WarmStartSettings,
    default_warmstart,
    spread_summary,
    success_histogram,
    supervised_loss,
    supervised_warmstart,
)

STEPS = 40


@pytest.fixture(scope="module")
def trained(small_model, reverse_task):
    return supervised_warmstart(jax.random.key(1), small_model, reverse_task, steps=STEPS,
                                batch_size=16, learning_rate=3e-3)


@pytest.fixture(scope="module")
def loss_fn():
    return eqx.filter_jit(supervised_loss)


@pytest.mark.exact
def test_warmstart_lowers_the_supervised_loss(small_model, reverse_task, trained, loss_fn):
    model, losses = trained
    assert losses.shape == (STEPS,) and bool(jnp.all(jnp.isfinite(losses)))
    for split in ("train", "test"):
        p, a = reverse_task.split(split)
        before, after = float(loss_fn(small_model, p, a)), float(loss_fn(model, p, a))
        assert after < 0.8 * before, (split, before, after)
    assert float(losses[-5:].mean()) < float(losses[:5].mean())
    assert model.config == small_model.config


@pytest.mark.exact
def test_supervised_loss_is_the_masked_token_mean_cross_entropy(small_model64, add_task, loss_fn):
    p, a = add_task.split("all")
    p, a = jnp.asarray(p[:6]), jnp.asarray(a[:6])
    logits = eqx.filter_jit(jax.vmap(lambda t: small_model64(t)))(
        jnp.concatenate([p, a], axis=1)[:, :-1])
    logp = jax.nn.log_softmax(logits, axis=-1)[:, p.shape[1] - 1:]
    total, count = 0.0, 0
    for b in range(6):
        for i in range(a.shape[1]):
            total -= float(logp[b, i, a[b, i]])
            count += 1
            if int(a[b, i]) == EOS:
                break
    np.testing.assert_allclose(loss_fn(small_model64, p, a), total / count, rtol=1e-12)


@pytest.mark.exact
def test_warmstart_never_reads_held_out_answers(small_model, reverse_task, trained):
    """Garbling every held-out answer leaves the trained parameters unchanged."""
    answers = np.array(reverse_task.answers)
    answers[reverse_task.test_idx] = PAD
    answers[reverse_task.test_idx, 0] = EOS
    garbled = dataclasses.replace(reverse_task, answers=answers)
    model, losses = supervised_warmstart(jax.random.key(1), small_model, garbled, steps=STEPS,
                                         batch_size=16, learning_rate=3e-3)
    np.testing.assert_array_equal(losses, trained[1])
    for x, y in zip(jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)),
                    jax.tree_util.tree_leaves(eqx.filter(trained[0], eqx.is_array)), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.exact
def test_target_loss_stops_early(small_model, reverse_task):
    model, losses = supervised_warmstart(jax.random.key(1), small_model, reverse_task,
                                         steps=STEPS, batch_size=16, learning_rate=3e-3,
                                         target_loss=2.5)
    n = losses.shape[0]
    assert 1 <= n < STEPS
    ema = float(losses[0])
    for loss in np.asarray(losses[1:]):
        assert ema > 2.5, "the loop stops at the first step whose average reaches the target"
        ema = 0.9 * ema + 0.1 * float(loss)
    assert ema <= 2.5


@pytest.mark.exact
def test_defaults_cover_every_task():
    assert set(WARMSTART_DEFAULTS) == set(TASK_NAMES)
    for settings in WARMSTART_DEFAULTS.values():
        assert isinstance(settings, WarmStartSettings)
        assert settings.target_loss is not None and settings.steps <= 2000


@pytest.mark.exact
@pytest.mark.parametrize("kwargs, name", [
    ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"learning_rate": float("inf")},
                                                "learning_rate"),
    ({"target_loss": -1.0}, "target_loss"), ({"steps": 1.5}, "steps"),
])
def test_bad_warmstart_arguments_raise_naming_the_parameter(small_model, reverse_task, kwargs,
                                                            name):
    args = {"steps": 2, "batch_size": 2, "learning_rate": 1e-3} | kwargs
    with pytest.raises(ValueError, match=name):
        supervised_warmstart(jax.random.key(0), small_model, reverse_task, **args)


@pytest.mark.exact
def test_bad_task_for_warmstart_raises(small_model, reverse_task):
    no_train = dataclasses.replace(reverse_task, train_idx=np.zeros(0, np.int32))
    with pytest.raises(ValueError, match="train"):
        supervised_warmstart(jax.random.key(0), small_model, no_train, steps=2, batch_size=2,
                             learning_rate=1e-3)
    too_long = make_task("reverse", 0, n_digits=6, n_prompts=20)  # P + L - 1 = 15 > 12
    with pytest.raises(ValueError, match="max_len"):
        supervised_warmstart(jax.random.key(0), small_model, too_long, steps=2, batch_size=2,
                             learning_rate=1e-3)
    with pytest.raises(TypeError, match="task"):
        supervised_warmstart(jax.random.key(0), small_model, "reverse", steps=2, batch_size=2,
                             learning_rate=1e-3)
    with pytest.raises(ValueError, match="prompts and answers"):
        supervised_loss(small_model, reverse_task.prompts[:3], reverse_task.answers[:2])


@pytest.mark.exact
def test_success_histogram_and_summary():
    rates = np.array([0.0, 0.0, 0.1, 0.35, 0.5, 0.99, 1.0])
    counts = success_histogram(rates)
    assert counts.tolist() == [2, 1, 0, 1, 0, 1, 0, 0, 0, 2]
    assert success_histogram(rates, bins=2).tolist() == [4, 3]  # 0.5 opens the 2nd bin
    assert counts.sum() == rates.size
    s = spread_summary(rates)
    assert s == pytest.approx({"mean": rates.mean(), "frac_zero": 2 / 7, "frac_one": 1 / 7,
                               "frac_interior": 4 / 7})
    with pytest.raises(ValueError, match="bins"):
        success_histogram(rates, bins=0)
    with pytest.raises(ValueError, match="rates"):
        success_histogram(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="rates"):
        spread_summary(np.zeros((2, 2)))


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("name", TASK_NAMES)
def test_default_warmstart_spreads_the_success_rates(name):
    """The documented defaults give a spread histogram on the train prompts (TINY, float32).

    Measured on 500 train prompts with 16 samples each, for two seeds.
    """
    task = make_task(name, 0)
    p, a = task.split("train")
    for seed in (0, 1):
        model, losses = default_warmstart(jax.random.key(seed), task)
        assert model.config == TINY.for_task(task)
        assert losses.shape[0] < WARMSTART_DEFAULTS[name].steps, "stopped at the target loss"
        rates = success_rates(jax.random.key(7), model, p[:500], a[:500], n_samples=16)
        s = spread_summary(rates)
        assert 0.2 <= s["mean"] <= 0.6, s
        assert s["frac_interior"] >= 0.7, s
        assert success_histogram(rates)[1:9].sum() >= 0.5 * 500


@pytest.mark.exact
def test_default_warmstart_argument_checks(small_config, reverse_task, trained):
    odd = dataclasses.replace(reverse_task, name="mul")
    with pytest.raises(ValueError, match="name"):
        default_warmstart(jax.random.key(0), odd)
    with pytest.raises(TypeError, match="task"):
        default_warmstart(jax.random.key(0), "reverse")
    # the fixture's settings and architecture: reuses its compiled loop
    settings = WarmStartSettings(steps=STEPS, batch_size=16, learning_rate=3e-3)
    model, losses = default_warmstart(jax.random.key(0), reverse_task, settings=settings,
                                      config=small_config)
    assert losses.shape == (STEPS,) and model.config == small_config
