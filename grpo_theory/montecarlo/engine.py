r"""The Monte Carlo moment engine: streamed, sharded, reproducible moments of a random vector.

A *sampler* is a pure JAX function ``sampler(key, n) -> x`` returning ``n`` independent draws
``x`` of shape ``[n, D]`` of the random vector (for example ``n`` groups' gradient estimates).
:func:`mc_moments` draws ``n_samples`` of them and returns the sample mean, covariance (or only
its diagonal and trace, for large ``D``) and standard errors.

**Blocks and keys.** Sample ``i`` lives in block ``b = i // block_size``; block ``b`` is drawn by
``sampler(fold_in(key, b), block_size)``, and rows past ``n_samples`` in the last block are masked
out. Each block is reduced on its device to its count, its mean :math:`m_b` and the power sums of
:math:`y_i = x_i - m_b` (centring per block keeps float32 accurate). On the host, in float64,
every block's sums are re-centred exactly on a common shift :math:`c`, the mean of block 0, and
added up to

.. math::

    S_1 = \sum_i z_i,\quad S_2 = \sum_i z_i z_i^\top \ (\text{or its diagonal}),\quad
    S_3 = \sum_i \|z_i\|^2 z_i,\quad S_4 = \sum_i \|z_i\|^4,\qquad z_i = x_i - c.

Blocks are grouped in
chunks whose block axis is sharded over every device (``jax.sharding``; over every process's
devices when JAX runs multi-host); the block sums come back to the host and are added in float64,
one block after another in block order. The draws depend on the key and ``block_size`` only.
Every device reduces the same number of blocks per call (``chunk_size``) whatever the number of
devices, so XLA runs the same per-device program, and the host adds the block sums in a fixed
order: the result is bit for bit the same on one device or many (a test runs 1 and 4 CPU devices). A
different ``chunk_size`` gives the same draws but may change the last bits of the sums. Memory is
that of one chunk, whatever ``n_samples``.

**Estimates.** With :math:`\bar z = S_1/n`: mean :math:`c + \bar z`; covariance
:math:`\frac{n}{n-1}(S_2/n - \bar z\bar z^\top)` (unbiased); the standard error of each mean
coordinate :math:`\sqrt{\hat\Sigma_{jj}/n}`; and the standard error of the trace estimate
:math:`\sqrt{\widehat{\mathrm{Var}}\,\|x - \bar x\|^2 / n}`, the variance of
:math:`\|x - m\|^2` about any centre :math:`m` following from :math:`S_1..S_4`
(:meth:`MCMoments.squared_deviation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "COV_MODES",
    "DEFAULT_BLOCK_SIZE",
    "Sampler",
    "MCMoments",
    "mc_moments",
    "as_key",
    "resolve_dtype",
]

Sampler = Callable[[jax.Array, int], jax.Array]
"""``sampler(key, n) -> [n, D]``: ``n`` independent draws, a pure function of ``key``."""

COV_MODES = ("full", "trace")
"""``full``: the whole covariance matrix; ``trace``: its diagonal and trace only."""

DEFAULT_BLOCK_SIZE = 4096
"""Samples per block (the unit of key derivation and of on-device reduction)."""

_DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_dtype(dtype: Any) -> np.dtype:
    """``float32`` or ``float64`` as a numpy dtype; a ``ValueError`` names the valid values."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}")
    return np.dtype(_DTYPES[name])


def as_key(key: Any) -> jax.Array:
    """A typed PRNG key from a key (typed or raw ``uint32[2]``) or a non-negative int seed."""
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        if key < 0:
            raise ValueError(f"seed must be a non-negative integer; got {key}")
        return jax.random.key(int(key))
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            if key.shape != ():
                raise ValueError(f"key must be a single key, got shape {key.shape}")
            return key
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be a jax PRNG key or a non-negative int seed; got {type(key)}")


@dataclass(frozen=True)
class MCMoments:
    r"""Monte Carlo moments of a random vector :math:`x \in \mathbb R^D` from ``n`` draws.

    The power sums (float64, about ``shift``) are kept so that further statistics can be
    derived; the properties give the usual estimates.

    Attributes:
        n: number of draws.
        shift: the shift :math:`c` (the mean of block 0), shape ``[D]``.
        s1: :math:`\sum_i z_i`, shape ``[D]``.
        s2: :math:`\sum_i z_i z_i^\top`, shape ``[D, D]`` (``cov="full"``) or its diagonal
            ``[D]`` (``cov="trace"``).
        s3: :math:`\sum_i \|z_i\|^2 z_i`, shape ``[D]``.
        s4: :math:`\sum_i \|z_i\|^4`.
        cov_mode: ``"full"`` or ``"trace"``.
        dtype: the dtype the draws were computed in (``"float32"`` or ``"float64"``).
        devices: the number of devices the blocks were sharded over.
        block_size: samples per block.
    """

    n: int
    shift: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    s3: np.ndarray
    s4: float
    cov_mode: str
    dtype: str
    devices: int
    block_size: int

    @property
    def dim(self) -> int:
        """:math:`D`, the dimension of :math:`x`."""
        return int(self.shift.size)

    @property
    def mean(self) -> np.ndarray:
        """The sample mean, shape ``[D]``."""
        return self.shift + self.s1 / self.n

    @property
    def cov(self) -> np.ndarray:
        """The unbiased sample covariance ``[D, D]`` (``cov="full"`` only)."""
        if self.cov_mode != "full":
            raise ValueError("cov needs cov='full'; this result kept only the diagonal "
                             "(cov='trace')")
        zbar = self.s1 / self.n
        c = (self.s2 / self.n - np.outer(zbar, zbar)) * (self.n / (self.n - 1))
        return 0.5 * (c + c.T)

    @property
    def var(self) -> np.ndarray:
        """The unbiased sample variance of each coordinate, shape ``[D]``."""
        zbar = self.s1 / self.n
        diag = np.diag(self.s2) if self.cov_mode == "full" else self.s2
        return np.maximum(diag / self.n - zbar**2, 0.0) * (self.n / (self.n - 1))

    @property
    def cov_trace(self) -> float:
        r""":math:`\mathrm{tr}\,\hat\Sigma`, the unbiased estimate of the covariance trace."""
        return float(self.var.sum())

    @property
    def mean_stderr(self) -> np.ndarray:
        """Standard error of each coordinate of the mean, shape ``[D]``."""
        return np.sqrt(self.var / self.n)

    @property
    def cov_trace_stderr(self) -> float:
        r"""Standard error of :attr:`cov_trace`.

        :math:`\sqrt{\widehat{\mathrm{Var}}\,\|x-\bar x\|^2/n}`.
        """
        _, var = self.squared_deviation(self.mean)
        return math.sqrt(max(var, 0.0) / self.n)

    def squared_deviation(self, centre: Any) -> tuple[float, float]:
        r"""Mean and unbiased sample variance of :math:`Y_i = \|x_i - m\|^2` for a centre :math:`m`.

        With :math:`d = m - c` and :math:`q_i = \|z_i\|^2`,
        :math:`\sum Y_i = \sum q_i - 2 d^\top S_1 + n\|d\|^2` and
        :math:`\sum Y_i^2 = S_4 - 4 d^\top S_3 + 2\|d\|^2 \sum q_i + 4 d^\top S_2 d
        - 4 \|d\|^2 d^\top S_1 + n \|d\|^4`. In ``cov="trace"`` mode only the diagonal of
        :math:`S_2` is kept and :math:`d^\top S_2 d` is replaced by
        :math:`\sum_j d_j^2 (S_2)_{jj}`: exact when :math:`d` has at most one non-zero entry
        (for example ``centre = shift``), otherwise an approximation whose error is of order
        :math:`\|d\|^2` times the off-diagonal covariances.

        Args:
            centre: :math:`m`, shape ``[D]``.

        Returns:
            ``(mean, variance)`` of :math:`Y`.
        """
        m = np.asarray(centre, dtype=float)
        if m.shape != self.shift.shape:
            raise ValueError(f"centre must have shape {self.shift.shape}, got {m.shape}")
        d = m - self.shift
        n = self.n
        diag = np.diag(self.s2) if self.cov_mode == "full" else self.s2
        sum_q = float(diag.sum())
        dd = float(d @ d)
        if self.cov_mode == "full":
            d_s2_d = float(d @ self.s2 @ d)
        else:
            d_s2_d = float(np.sum(diag * d * d))
        sum_y = sum_q - 2.0 * float(d @ self.s1) + n * dd
        sum_y2 = (self.s4 - 4.0 * float(d @ self.s3) + 2.0 * dd * sum_q + 4.0 * d_s2_d
                  - 4.0 * dd * float(d @ self.s1) + n * dd * dd)
        mean_y = sum_y / n
        var_y = max(sum_y2 - n * mean_y**2, 0.0) / (n - 1)
        return mean_y, var_y

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready estimates (lists and floats)."""
        out: dict[str, Any] = {
            "samples": self.n,
            "mean": self.mean.tolist(),
            "mean_stderr": self.mean_stderr.tolist(),
            "var": self.var.tolist(),
            "cov_trace": self.cov_trace,
            "cov_trace_stderr": self.cov_trace_stderr,
            "dtype": self.dtype,
            "devices": self.devices,
        }
        if self.cov_mode == "full":
            out["cov"] = self.cov.tolist()
        return out


def _block_stats(x: jax.Array, valid: jax.Array, full: bool) -> tuple[jax.Array, ...]:
    """Count, mean and centred power sums of the valid rows of one block."""
    count = jnp.sum(valid)
    mean = jnp.sum(jnp.where(valid[:, None], x, 0), axis=0) / jnp.maximum(count, 1)
    y = jnp.where(valid[:, None], x - mean, 0)
    q = jnp.sum(y * y, axis=-1)
    # One product [y, q]^T [y, q] holds S2, S3 and S4. The same per-device program runs whatever
    # the number of devices (mc_moments fixes the blocks per device), so even the dot's
    # summation order does not depend on it.
    if full:
        yq = jnp.concatenate([y, q[:, None]], axis=1)
        m = yq.T @ yq
        s2, s3, s4 = m[:-1, :-1], m[:-1, -1], m[-1, -1]
    else:
        s2 = jnp.sum(y * y, axis=0)
        s34 = q @ jnp.concatenate([y, q[:, None]], axis=1)
        s3, s4 = s34[:-1], s34[-1]
    return count, mean, jnp.sum(y, axis=0), s2, s3, s4


def _recentre(count: float, mean: np.ndarray, s1: np.ndarray, s2: np.ndarray, s3: np.ndarray,
              s4: float, shift: np.ndarray, full: bool) -> tuple[Any, ...]:
    r"""A block's sums about its own mean turned into sums about ``shift`` (float64).

    With :math:`y = x - m_b`, :math:`d = m_b - c`, :math:`z = y + d`, :math:`q = \|y\|^2` and
    :math:`r = \sum y` (zero up to the rounding of :math:`m_b`, kept so that nothing is lost):
    :math:`\sum z = r + n d`, :math:`\sum zz^\top = S_2 + rd^\top + dr^\top + n dd^\top`,
    :math:`\sum \|z\|^2 z = S_3 + (\mathrm{tr} S_2) d + 2 S_2 d + 2 (d^\top r) d + \|d\|^2 r
    + n\|d\|^2 d` and :math:`\sum\|z\|^4 = S_4 + 4 d^\top S_3 + 4 d^\top S_2 d
    + 2\|d\|^2\mathrm{tr} S_2 + 4\|d\|^2 d^\top r + n\|d\|^4`. With only the diagonal of
    :math:`S_2` (``cov="trace"``), :math:`S_2 d` and :math:`d^\top S_2 d` use the diagonal.
    """
    d = mean - shift
    dd = float(d @ d)
    dr = float(d @ s1)
    if full:
        s2d = s2 @ d
        tr = float(np.trace(s2))
        new_s2 = s2 + np.outer(s1, d) + np.outer(d, s1) + count * np.outer(d, d)
    else:
        s2d = s2 * d
        tr = float(s2.sum())
        new_s2 = s2 + 2.0 * s1 * d + count * d * d
    new_s3 = s3 + tr * d + 2.0 * s2d + 2.0 * dr * d + dd * s1 + count * dd * d
    new_s4 = (s4 + 4.0 * float(d @ s3) + 4.0 * float(d @ s2d) + 2.0 * dd * tr + 4.0 * dd * dr
              + count * dd * dd)
    return s1 + count * d, new_s2, new_s3, new_s4


def _devices() -> list[Any]:
    return list(jax.devices())


def _gather(x: jax.Array) -> np.ndarray:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _compiled(sampler: Sampler, block_size: int, full: bool, devices: tuple[Any, ...]):
    """The jitted, sharded per-chunk reduction for a sampler (cached while the sampler lives)."""
    # Kept on the sampler itself (a reference cycle the garbage collector frees with it).
    try:
        cache = sampler.__dict__.setdefault("_mc_compiled", {})
    except AttributeError:
        cache = {}
    spec = (block_size, full, devices)
    if spec not in cache:
        mesh = Mesh(np.asarray(devices), ("devices",))
        sharded = NamedSharding(mesh, PartitionSpec("devices"))
        replicated = NamedSharding(mesh, PartitionSpec())

        def one_block(key: jax.Array, b: jax.Array, limits: jax.Array) -> tuple[jax.Array, ...]:
            x = sampler(jax.random.fold_in(key, b), block_size)
            full_blocks, remainder = limits[0], limits[1]
            valid = (b < full_blocks) | ((b == full_blocks)
                                         & (jnp.arange(block_size) < remainder))
            return _block_stats(x, valid, full)

        run = jax.jit(jax.vmap(one_block, in_axes=(None, 0, None)),
                      in_shardings=(replicated, sharded, replicated), out_shardings=sharded)
        cache[spec] = (run, sharded)
    return cache[spec]


def mc_moments(
    key: Any,
    sampler: Sampler,
    n_samples: int,
    *,
    cov: str = "full",
    block_size: int = DEFAULT_BLOCK_SIZE,
    chunk_size: int | None = None,
    devices: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> MCMoments:
    r"""Monte Carlo mean, covariance and standard errors of ``sampler``'s draws.

    Args:
        key: a JAX PRNG key or an int seed.
        sampler: ``sampler(key, n) -> [n, D]`` (see the module docstring); its output dtype
            (float32 or float64) is the dtype of the computation.
        n_samples: number of draws, ``>= 2``.
        cov: ``"full"`` (keep the ``D x D`` sums) or ``"trace"`` (diagonal only; for large ``D``).
        block_size: draws per block, ``>= 1``; the result depends on it (the key of each block).
        chunk_size: draws per device per call (memory), rounded up to whole blocks and capped
            at the blocks needed. Default: :math:`2^{16}` on CPU, :math:`2^{24}` on accelerators.
        devices: the devices to shard over (default: every device of every process).
        progress: called as ``progress(done, n_samples)`` after each chunk.

    Returns:
        :class:`MCMoments`.

    Raises:
        ValueError: bad sizes, a bad ``cov``, or a sampler that does not return ``[n, D]``
            floats.

    Example:
        >>> import jax
        >>> def sampler(key, n):
        ...     return jax.random.normal(key, (n, 2), dtype="float32")
        >>> m = mc_moments(0, sampler, 100_000, block_size=1024)
        >>> bool(abs(m.mean).max() < 0.02), bool(abs(m.cov_trace - 2) < 0.05)
        (True, True)
    """
    n_samples = _check_int(n_samples, "n_samples", 2)
    block_size = _check_int(block_size, "block_size", 1)
    if cov not in COV_MODES:
        raise ValueError(f"cov must be one of {', '.join(COV_MODES)}; got {cov!r}")
    key = as_key(key)
    devs = _devices() if devices is None else list(devices)
    if not devs:
        raise ValueError("devices must name at least one device")
    n_dev = len(devs)
    if chunk_size is None:
        # CPU: small enough for the intermediates to stay in cache; accelerators: large.
        chunk_size = 1 << (16 if devs[0].platform == "cpu" else 24)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    n_blocks = -(-n_samples // block_size)
    # Every device reduces the same number of blocks per call, whatever the number of devices:
    # XLA then runs the same per-device program, which is what makes the sums identical.
    per_device = min(max(1, -(-chunk_size // block_size)), n_blocks)
    per_chunk = per_device * n_dev

    shape = jax.eval_shape(lambda k: sampler(k, block_size), key)
    if len(shape.shape) != 2 or shape.shape[0] != block_size:
        raise ValueError(f"sampler(key, {block_size}) must return shape [{block_size}, D]; "
                         f"got {shape.shape}")
    if shape.dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"sampler must return float32 or float64; got {shape.dtype}")
    D = int(shape.shape[1])
    full = cov == "full"
    run, sharded = _compiled(sampler, block_size, full, tuple(devs))
    limits = np.array(divmod(n_samples, block_size), dtype=np.uint32)

    shift: np.ndarray | None = None
    s1 = np.zeros(D)
    s2 = np.zeros((D, D) if full else D)
    s3 = np.zeros(D)
    s4 = 0.0
    done_blocks = 0
    while done_blocks < n_blocks:
        ids = np.arange(done_blocks, done_blocks + per_chunk, dtype=np.uint32)
        out = run(key, jax.device_put(ids, sharded), limits)
        counts, means, b1, b2, b3, b4 = (_gather(o).astype(np.float64) for o in out)
        if shift is None:
            shift = means[0]  # the mean of block 0: every later block is re-centred on it
        for j in range(min(per_chunk, n_blocks - done_blocks)):
            t1, t2, t3, t4 = _recentre(counts[j], means[j], b1[j], b2[j], b3[j],
                                       float(b4[j]), shift, full)
            s1 = s1 + t1
            s2 = s2 + t2
            s3 = s3 + t3
            s4 = s4 + t4
        done_blocks += per_chunk
        if progress is not None:
            progress(min(done_blocks * block_size, n_samples), n_samples)
    assert shift is not None
    return MCMoments(
        n=n_samples, shift=shift, s1=s1, s2=s2, s3=s3, s4=s4, cov_mode=cov,
        dtype=np.dtype(shape.dtype).name, devices=n_dev, block_size=block_size,
    )
