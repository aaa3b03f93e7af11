"""Tests of the JAX group advantages against the exact numpy layer, presets and safety."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grpo_theory.exact import estimators as ex
from grpo_theory.policy_gradient import advantages as adv

# float64 comes from JAX_ENABLE_X64=1, set by tests/conftest.py before jax is imported.

SIZES = (2, 3, 5, 8)


def test_float64_is_enabled():
    assert jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float64


def _jax_rule(name: str, epsilon: float, baseline: float):
    if name == "grpo":
        return lambda r: adv.grpo_advantages(r, epsilon=epsilon, ddof=0)
    if name == "grpo-bessel":
        return lambda r: adv.grpo_advantages(r, epsilon=epsilon, ddof=1)
    if name == "dr-grpo":
        return adv.dr_grpo_advantages
    if name == "rloo":
        return adv.rloo_advantages
    return lambda r: adv.reinforce_advantages(r, baseline)


@st.composite
def groups(draw):
    G = draw(st.sampled_from(SIZES))
    r = draw(st.lists(st.floats(-10, 10), min_size=G, max_size=G))
    return np.array(r, dtype=np.float64)


@pytest.mark.property
@given(
    rewards=groups(),
    name=st.sampled_from([e.value for e in ex.Estimator]),
    epsilon=st.sampled_from([0.0, 1e-6, 1e-4, 0.1]),
    baseline=st.floats(-2, 2),
)
def test_agrees_with_exact_numpy_layer(rewards, name, epsilon, baseline):
    spread = np.ptp(rewards)
    # Away from the silence threshold the two layers must agree to rounding.
    assume(spread == 0.0 or spread > 1e-6)
    expected = ex.advantages(name, rewards, epsilon, baseline)
    got = np.asarray(_jax_rule(name, epsilon, baseline)(jnp.asarray(rewards)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("G", "presets"),
    [(5, tuple(adv.PRESETS)), (2, ("verl-grpo", "easydel-grpo")), (8, ("trl-grpo",))],
)
def test_jit_and_vmap_match_eager(G, presets):
    rewards_BxG = jax.random.uniform(jax.random.key(G), (4, G), dtype=jnp.float64)
    rewards_BxG = rewards_BxG.at[0].set(0.5)  # one silent group in the batch
    for preset in map(adv.PRESETS.get, presets):
        fn = lambda r, p=preset: adv.preset_advantages(r, p)  # noqa: E731
        eager = np.stack([np.asarray(fn(r)) for r in rewards_BxG])
        np.testing.assert_allclose(np.asarray(jax.vmap(fn)(rewards_BxG)), eager, atol=1e-14)
        np.testing.assert_allclose(
            np.asarray(jax.jit(jax.vmap(fn))(rewards_BxG)), eager, atol=1e-14
        )
        assert np.all(eager[0] == 0.0) or preset.normalisation != "std"


TWO_GRPO_CONSTANTS = {
    "trl-grpo": 0.5 / (1 / math.sqrt(2) + 1e-4),
    "verl-grpo": 0.5 / (1 / math.sqrt(2) + 1e-6),
    "openrlhf-group-norm": 0.5 / (1 / math.sqrt(2) + 1e-9),
    "oat-grpo": 0.5 / (1 / math.sqrt(2) + 1e-8),
    "tunix-grpo": 0.5 / (1 / math.sqrt(2) + 1e-6),
    "easydel-grpo": 0.5 / (0.5 + 1e-4),
    "paper-grpo": 1.0,
    "dr-grpo": 0.5,
    "rloo": 1.0,
}


@pytest.mark.parametrize("name", sorted(TWO_GRPO_CONSTANTS))
def test_two_grpo_constant_of_each_preset(name):
    a = adv.preset_advantages(jnp.array([1.0, 0.0]), name)
    c = TWO_GRPO_CONSTANTS[name]
    np.testing.assert_allclose(np.asarray(a), [c, -c], rtol=0, atol=1e-15)
    assert set(TWO_GRPO_CONSTANTS) == set(adv.PRESETS)


def test_two_grpo_function_matches_grpo_and_checks_size():
    r = jnp.array([0.3, 2.0])
    np.testing.assert_allclose(
        np.asarray(adv.two_grpo_advantages(r, epsilon=1e-6, ddof=1)),
        np.asarray(adv.grpo_advantages(r, epsilon=1e-6, ddof=1)),
    )
    np.testing.assert_allclose(np.asarray(adv.two_grpo_advantages(r)), [-1.0, 1.0], atol=1e-15)
    with pytest.raises(ValueError, match="rewards"):
        adv.two_grpo_advantages(jnp.zeros(3))


def test_float32_near_constant_group_is_silent():
    r32 = jnp.array([1.0, 1.0 + 1e-7, 1.0], dtype=jnp.float32)
    out = adv.grpo_advantages(r32)
    assert out.dtype == jnp.float32
    assert np.all(np.asarray(out) == 0.0)
    # Power check: without the silence rule the same group spikes to order-one advantages.
    spiky = adv.grpo_advantages(r32, rtol=0.0)
    assert np.max(np.abs(np.asarray(spiky))) > 0.5
    for name in ("trl-grpo", "verl-grpo", "easydel-grpo"):
        assert np.all(np.asarray(adv.preset_advantages(r32, name)) == 0.0)


def test_silence_tolerance_values_and_boundary():
    assert adv.default_silence_tolerance(jnp.float64) == 1e-12
    tol32 = adv.default_silence_tolerance(jnp.float32)
    assert tol32 == pytest.approx(16 * 2.0**-23)
    # float32: a real spread of 1e-4 is kept and normalised exactly as in float64.
    r = np.array([1.0, 1.0 + 1e-4, 1.0])
    out32 = np.asarray(adv.grpo_advantages(jnp.asarray(r, jnp.float32)))
    np.testing.assert_allclose(out32, ex.advantages("grpo", r), atol=1e-2)
    # float64: a spread just above / below the threshold is kept / silenced.
    assert np.any(np.asarray(adv.grpo_advantages(jnp.array([0.0, 1e-11]))) != 0.0)
    assert np.all(np.asarray(adv.grpo_advantages(jnp.array([0.0, 1e-13]))) == 0.0)
    # the threshold scales with the rewards' magnitude
    assert np.all(np.asarray(adv.grpo_advantages(jnp.array([1e6, 1e6 + 1e-7]))) == 0.0)


def test_float32_in_float32_out_and_gradients_finite_on_silent_group():
    for dtype in (jnp.float32, jnp.float64):
        assert adv.grpo_advantages(jnp.array([0.0, 1.0], dtype)).dtype == dtype
    grad = jax.grad(lambda r: jnp.sum(adv.grpo_advantages(r) * jnp.arange(3.0)))(jnp.ones(3))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_preset_sources_document_library():
    for preset in adv.PRESETS.values():
        assert preset.source
    assert adv.TRL_GRPO.ddof == 1 and adv.TRL_GRPO.epsilon == 1e-4
    assert adv.EASYDEL_GRPO.ddof == 0


def test_bad_input():
    with pytest.raises(ValueError, match="G"):
        adv.grpo_advantages(jnp.array([1.0]))
    with pytest.raises(ValueError, match="rank"):
        adv.grpo_advantages(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="rank"):
        adv.rloo_advantages(jnp.array(1.0))
    with pytest.raises(ValueError, match="epsilon"):
        adv.grpo_advantages(jnp.zeros(3), epsilon=-1e-6)
    with pytest.raises(ValueError, match="ddof"):
        adv.grpo_advantages(jnp.zeros(3), ddof=2)
    with pytest.raises(ValueError, match="rtol"):
        adv.grpo_advantages(jnp.zeros(3), rtol=-1.0)
    with pytest.raises(ValueError, match="preset"):
        adv.preset_advantages(jnp.zeros(3), "nope")
    with pytest.raises(ValueError, match="G"):
        jax.jit(adv.dr_grpo_advantages)(jnp.zeros(1))
