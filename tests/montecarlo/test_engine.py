"""Tests of the Monte Carlo moment engine: estimates, streaming, keys and device invariance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grpo_theory.montecarlo.engine import MCMoments, as_key, mc_moments, resolve_dtype


def _gaussian(mean, chol, dtype="float64"):
    """Correlated normals, written without a matrix product (whose bits depend on the batch)."""
    mean = jnp.asarray(mean, dtype)
    chol = jnp.asarray(chol, dtype)

    def sampler(key, n):
        e = jax.random.normal(key, (n, 1, mean.size), dtype)
        return mean + jnp.sum(e * chol[None], axis=-1)

    return sampler


def _reference(sampler, key, n, block_size):
    """Plain numpy moments of exactly the draws the engine uses (same block keys)."""
    blocks = -(-n // block_size)
    x = np.concatenate([np.asarray(sampler(jax.random.fold_in(key, b), block_size))
                        for b in range(blocks)])[:n].astype(np.float64)
    return x


@pytest.mark.parametrize("cov", ["full", "trace"])
def test_matches_numpy_on_the_same_draws(cov):
    key = jax.random.key(3)
    sampler = _gaussian([1.0, -2.0, 0.5], [[1, 0, 0], [0.5, 2, 0], [0.1, -0.3, 0.7]])
    n, bs = 10_007, 512
    m = mc_moments(key, sampler, n, block_size=bs, chunk_size=2048, cov=cov)
    x = _reference(sampler, key, n, bs)
    np.testing.assert_allclose(m.mean, x.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.var, x.var(0, ddof=1), rtol=1e-10)
    if cov == "full":
        np.testing.assert_allclose(m.cov, np.cov(x.T), rtol=1e-10, atol=1e-12)
    assert m.cov_trace == pytest.approx(np.trace(np.cov(x.T)), rel=1e-10)
    np.testing.assert_allclose(m.mean_stderr, np.sqrt(x.var(0, ddof=1) / n), rtol=1e-10)
    y = np.sum((x - x.mean(0)) ** 2, axis=1)
    if cov == "full":
        assert m.cov_trace_stderr == pytest.approx(np.sqrt(y.var(ddof=1) / n), rel=1e-9)
    centre = np.array([0.3, 0.1, -0.2])
    y = np.sum((x - centre) ** 2, axis=1)
    if cov == "full":
        got = m.squared_deviation(centre)
        assert got[0] == pytest.approx(y.mean(), rel=1e-12)
        assert got[1] == pytest.approx(y.var(ddof=1), rel=1e-9)
    assert m.n == n and m.dim == 3 and m.dtype == "float64" and m.block_size == bs


def test_float32_draws_accumulate_accurately():
    """Float32 draws far from zero (exactly representable, so the reference is exact).

    A one-pass float32 variance, E[x^2] - E[x]^2, would have no correct digit here
    (1e6 against 3e-4); per-block centring and float64 accumulation leave only the rounding of
    float32 block sums (relative 1e-5 at most).
    """

    def sampler(key, n):
        bits = jax.random.bits(key, (n, 2), jnp.uint32)
        small = (bits % 64).astype(jnp.float32) * jnp.float32(2.0**-10)
        return jnp.stack([1000.0 + small[:, 0], -1000.0 + small[:, 1] / 16], axis=1)

    key = jax.random.key(0)
    m = mc_moments(key, sampler, 200_000, block_size=4096)
    x = _reference(sampler, key, 200_000, 4096)
    assert m.dtype == "float32"
    np.testing.assert_allclose(m.var, x.var(0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(m.mean, x.mean(0), rtol=1e-9)


def test_chunking_changes_only_rounding():
    """The chunk size changes the per-call program, so at most the last bits of the sums."""
    key = jax.random.key(11)
    sampler = _gaussian([0.0, 1.0], [[1.0, 0.0], [0.3, 1.0]])
    a = mc_moments(key, sampler, 9_000, block_size=256, chunk_size=256)
    b = mc_moments(key, sampler, 9_000, block_size=256, chunk_size=1 << 20)
    c = mc_moments(key, sampler, 9_000, block_size=256, chunk_size=1 << 20)
    np.testing.assert_allclose(a.shift, b.shift, rtol=1e-12)
    for field in ("s1", "s2", "s3"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(getattr(b, field), getattr(c, field))
    assert a.s4 == pytest.approx(b.s4, rel=1e-12)


def test_keys_and_seeds():
    sampler = _gaussian([0.0], [[1.0]])
    a = mc_moments(5, sampler, 5000, block_size=128)
    b = mc_moments(jax.random.key(5), sampler, 5000, block_size=128)
    c = mc_moments(6, sampler, 5000, block_size=128)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert a.mean[0] != c.mean[0]
    raw = jax.random.key_data(jax.random.key(5))
    np.testing.assert_array_equal(mc_moments(raw, sampler, 5000, block_size=128).mean, a.mean)


def test_progress_reports_every_chunk():
    seen = []
    mc_moments(0, _gaussian([0.0], [[1.0]]), 1000, block_size=100, chunk_size=300,
               progress=lambda done, total: seen.append((done, total)))
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]


def test_as_dict_is_json_ready():
    m = mc_moments(0, _gaussian([0.0, 1.0], np.eye(2)), 1000, block_size=100)
    d = json.loads(json.dumps(m.as_dict()))
    assert d["samples"] == 1000 and len(d["cov"]) == 2 and "cov_trace_stderr" in d
    t = mc_moments(0, _gaussian([0.0, 1.0], np.eye(2)), 1000, block_size=100, cov="trace")
    assert "cov" not in t.as_dict()
    with pytest.raises(ValueError, match="cov='full'"):
        _ = t.cov


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"block_size": 0}, "block_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"cov": "diag"}, "cov"),
        ({"devices": []}, "devices"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"n_samples": 100, **kwargs}
    n = args.pop("n_samples")
    with pytest.raises(ValueError, match=match):
        mc_moments(0, _gaussian([0.0], [[1.0]]), n, **args)


def test_bad_sampler_and_key():
    with pytest.raises(ValueError, match="sampler"):
        mc_moments(0, lambda k, n: jnp.zeros((n,)), 10)
    with pytest.raises(ValueError, match="sampler"):
        mc_moments(0, lambda k, n: jnp.zeros((n, 2), jnp.int32), 10)
    with pytest.raises(ValueError, match="seed"):
        as_key(-1)
    with pytest.raises(TypeError, match="key"):
        as_key("zero")
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("float16")


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    from grpo_theory.montecarlo.bandit import mc_bandit_moments
    m = mc_bandit_moments(7, [0.3, -0.2, 1.0, 0.0, -1.1], [1, 0, 1, 0, 0], 4, "grpo",
                          50_003, block_size=1024, chunk_size=4096, dtype=sys.argv[1])
    print(json.dumps({"devices": m.devices, "sums": [m.shift.tolist(), m.s1.tolist(),
                      m.s2.tolist(), m.s3.tolist(), m.s4]}))
    """
)


def _run_with_devices(n: int, dtype: str) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, dtype], env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_result_on_one_and_four_devices(dtype):
    """The blocks are keyed and summed by index: 1 and 4 CPU devices give identical sums."""
    one = _run_with_devices(1, dtype)
    four = _run_with_devices(4, dtype)
    assert one["devices"] == 1 and four["devices"] == 4
    assert one["sums"] == four["sums"]


def test_moments_dataclass_is_frozen():
    m = mc_moments(0, _gaussian([0.0], [[1.0]]), 100, block_size=10)
    assert isinstance(m, MCMoments)
    with pytest.raises(AttributeError):
        m.n = 3  # type: ignore[misc]
