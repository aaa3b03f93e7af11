"""Tests of the clipped policy losses: score-function gradient, clipping, aggregation, masks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grpo_theory.policy_gradient import losses as L

# float64 comes from JAX_ENABLE_X64=1, set by tests/conftest.py before jax is imported.

G, T, V = 3, 4, 3


def test_float64_is_enabled():
    assert jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float64


def _sequences():
    tokens_GxT = np.array([[0, 2, 1, 1], [1, 1, 0, 2], [2, 0, 0, 0]])
    mask_GxT = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=np.float64)
    return tokens_GxT, mask_GxT


def _token_logp(theta_TxVxV, tokens_GxT):
    """Autoregressive tabular softmax policy: logits depend on position and previous token."""
    prev_GxT = jnp.concatenate([jnp.zeros((G, 1), int), tokens_GxT[:, :-1]], axis=1)
    logits_GxTxV = theta_TxVxV[jnp.arange(T)[None, :], prev_GxT]
    logp_GxTxV = jax.nn.log_softmax(logits_GxTxV, axis=-1)
    return jnp.take_along_axis(logp_GxTxV, tokens_GxT[..., None], axis=-1)[..., 0]


def _score_numpy(theta, tokens, mask):
    """Closed-form score of each sequence: (onehot - softmax) at each visited (t, prev) cell."""
    scores = np.zeros((G,) + theta.shape)
    for i in range(G):
        prev = 0
        for t in range(T):
            if mask[i, t]:
                z = theta[t, prev]
                p = np.exp(z - z.max())
                p /= p.sum()
                scores[i, t, prev] += np.eye(V)[tokens[i, t]] - p
            prev = tokens[i, t]
    return scores


@pytest.mark.parametrize("eps", [0.2, 1e9])
def test_on_policy_gradient_is_score_function_estimator(eps):
    tokens, mask = _sequences()
    theta = np.asarray(jax.random.normal(jax.random.key(0), (T, V, V), jnp.float64))
    advantages_G = jnp.array([1.3, -0.4, -0.9])

    def loss(th):
        logp = _token_logp(th, jnp.asarray(tokens))
        return L.policy_loss(
            logp,
            jax.lax.stop_gradient(logp),
            mask,
            advantages_G,
            epsilon_low=eps,
            epsilon_high=eps,
            aggregation="seq-mean-token-sum",
        )

    grad = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(theta)))
    scores = _score_numpy(theta, tokens, mask)
    expected = -np.einsum("g,g...->...", np.asarray(advantages_G), scores) / G
    np.testing.assert_allclose(grad, expected, atol=1e-12)
    assert np.max(np.abs(expected)) > 0.1


def test_clipping_zeroes_gradient_exactly_per_sign_split_rule():
    eps_low, eps_high = 0.2, 0.28
    ratios = np.array([0.5, 0.79, 0.81, 1.0, 1.2, 1.27, 1.29, 2.0])
    adv_G = jnp.array([1.0, -1.0])
    old = jnp.zeros((2, ratios.size))
    logp = jnp.log(jnp.asarray(np.stack([ratios, ratios])))

    def total(lp):
        r = L.token_ratios(lp, old, jnp.ones_like(lp))
        return jnp.sum(L.clipped_surrogate(r, adv_G, epsilon_low=eps_low, epsilon_high=eps_high))

    grad = np.asarray(jax.jit(jax.grad(total))(logp))
    a = np.array([[1.0], [-1.0]])
    r = np.stack([ratios, ratios])
    clipped = ((a > 0) & (r > 1 + eps_high)) | ((a < 0) & (r < 1 - eps_low))
    assert clipped.sum() == 4
    assert np.all(grad[clipped] == 0.0)
    np.testing.assert_allclose(grad[~clipped], (-a * r)[~clipped], atol=1e-12)


def test_dual_clip_bounds_negative_advantage_loss():
    ratio = jnp.array([[0.5, 1.0, 2.0, 4.0]])
    out = np.asarray(L.clipped_surrogate(ratio, jnp.array([-1.0]), clip_ratio_c=3.0))
    np.testing.assert_allclose(out, [[0.8, 1.0, 2.0, 3.0]], atol=1e-12)
    grad = jax.grad(lambda r: jnp.sum(L.clipped_surrogate(r, jnp.array([-1.0]), clip_ratio_c=3.0)))(
        ratio
    )
    np.testing.assert_allclose(np.asarray(grad), [[0.0, 1.0, 1.0, 0.0]], atol=1e-12)
    # positive advantages are untouched by the dual clip
    pos = L.clipped_surrogate(ratio, jnp.array([1.0]), clip_ratio_c=3.0)
    np.testing.assert_allclose(np.asarray(pos), [[-0.5, -1.0, -1.2, -1.2]], atol=1e-12)


def test_aggregations_on_hand_example():
    loss = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    expected = {
        "token-mean": 7.0 / 3.0,
        "seq-mean-token-mean": (1.5 + 4.0) / 2.0,
        "seq-mean-token-sum": 3.5,
        "seq-mean-token-sum-norm": 3.5 / 3.0,
    }
    for mode, value in expected.items():
        assert float(L.aggregate_loss(loss, mask, mode)) == pytest.approx(value, abs=1e-14)
    norm4 = L.aggregate_loss(loss, mask, "seq-mean-token-sum-norm", max_length=4)
    assert float(norm4) == pytest.approx(0.875, abs=1e-14)


def test_masked_tokens_do_not_matter():
    tokens, mask = _sequences()
    key1, key2, key3 = jax.random.split(jax.random.key(1), 3)
    logp = jax.random.normal(key1, (G, T), jnp.float64) - 2.0
    old = logp + 0.1 * jax.random.normal(key2, (G, T), jnp.float64)
    junk = jax.random.normal(key3, (G, T), jnp.float64) * 5.0
    adv_G = jnp.array([0.7, -1.1, 0.4])
    m = jnp.asarray(mask)
    for level in ("token", "sequence"):
        for mode in L.AGGREGATIONS:

            def f(lp, o, lv=level, md=mode):
                return L.policy_loss(lp, o, m, adv_G, ratio_level=lv, aggregation=md)

            base = f(logp, old)
            moved = f(jnp.where(m > 0, logp, junk), jnp.where(m > 0, old, -junk))
            assert float(base) == pytest.approx(float(moved), abs=1e-12)
            grad = np.asarray(jax.grad(f)(logp, old))
            assert np.all(grad[mask == 0] == 0.0)


def test_infinite_log_probs_on_padding_are_ignored():
    _, mask = _sequences()
    logp = jnp.where(jnp.asarray(mask) > 0, -1.0, -jnp.inf)
    adv_G = jnp.array([1.0, -0.5, 0.2])
    for level in ("token", "sequence"):
        value, grad = jax.value_and_grad(L.policy_loss)(
            logp, logp, mask, adv_G, ratio_level=level, aggregation="seq-mean-token-sum"
        )
        expected = -np.sum(np.asarray(adv_G) * mask.sum(axis=1)) / G
        assert float(value) == pytest.approx(expected, abs=1e-12)
        assert np.all(np.isfinite(np.asarray(grad)))


def test_sequence_ratio_is_geometric_mean_and_gspo_loss():
    tokens, mask = _sequences()
    logp = jnp.log(jnp.array([[2.0, 8.0, 1.0, 4.0], [1.0, 1.0, 8.0, 9.0], [9.0, 1.0, 3.0, 3.0]]))
    old = jnp.zeros((G, T))
    s = np.asarray(L.sequence_ratios(logp, old, mask))
    np.testing.assert_allclose(s, [64.0**0.25, 2.0, 3.0], rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(L.token_ratios(logp, old, mask))[2], [9.0, 1.0, 1.0, 1.0], rtol=1e-12
    )
    adv_G = jnp.array([1.0, -1.0, 0.5])
    gspo = L.policy_loss(
        logp, old, mask, adv_G, ratio_level="sequence", aggregation="seq-mean-token-mean"
    )
    per_seq = [
        -min(si * a, np.clip(si, 0.8, 1.2) * a) for si, a in zip(s, [1.0, -1.0, 0.5], strict=True)
    ]
    assert float(gspo) == pytest.approx(np.mean(per_seq), abs=1e-12)


def test_loss_is_jit_and_vmap_compatible():
    tokens, mask = _sequences()
    logp_BxGxT = jax.random.normal(jax.random.key(2), (2, G, T), jnp.float64) - 1.0
    adv_BxG = jnp.array([[1.0, 0.0, -1.0], [0.5, 0.5, -1.0]])

    def f(lp, a):
        return L.policy_loss(lp, lp - 0.05, mask, a, clip_ratio_c=3.0)

    batched = jax.jit(jax.vmap(f))(logp_BxGxT, adv_BxG)
    eager = [float(f(lp, a)) for lp, a in zip(logp_BxGxT, adv_BxG, strict=True)]
    np.testing.assert_allclose(np.asarray(batched), eager, atol=1e-12)


def test_bad_input():
    z = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match="logp"):
        L.token_ratios(jnp.zeros(3), jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="old_logp"):
        L.token_ratios(z, jnp.zeros((2, 4)), z)
    with pytest.raises(ValueError, match="mask"):
        L.sequence_ratios(z, z, jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="advantages"):
        L.clipped_surrogate(z, jnp.zeros(3))
    with pytest.raises(ValueError, match="epsilon_low"):
        L.clipped_surrogate(z, jnp.zeros(2), epsilon_low=-0.1)
    with pytest.raises(ValueError, match="epsilon_high"):
        L.clipped_surrogate(z, jnp.zeros(2), epsilon_high=-0.1)
    with pytest.raises(ValueError, match="clip_ratio_c"):
        L.clipped_surrogate(z, jnp.zeros(2), clip_ratio_c=1.0)
    with pytest.raises(ValueError, match="aggregation"):
        L.aggregate_loss(z, z, "sum")
    with pytest.raises(ValueError, match="max_length"):
        L.aggregate_loss(z, z, "seq-mean-token-sum-norm", max_length=0)
    with pytest.raises(ValueError, match="ratio_level"):
        L.policy_loss(z, z, z, jnp.zeros(2), ratio_level="word")
