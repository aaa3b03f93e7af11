r"""Fixed-budget variance on a transformer: conditional score moments, the exact engine's
prediction of the batch-gradient trace, its measurement over simulated batches and the comparison.

Scores are the sequence scores of :mod:`~grpo_theory.transformer.analysis.scores`.

**Fixed-budget variance** (:func:`measure_batch_trace`, :func:`predict_batch_trace`). A batch
of :math:`Q = B/G` prompts drawn uniformly (with replacement) from a prompt set, :math:`G`
rollouts each, gives :math:`\hat g_B = \frac1Q\sum_j h_j` with the group gradient
:math:`h = \frac1G\sum_i A_i s_i`. The exact engine (:mod:`grpo_theory.exact.binary`) gives,
from the conditional score moments :math:`p_q, \mu^\pm_q, \Sigma^\pm_q` of each prompt,

.. math::

    \mathrm{tr}\,\mathrm{Cov}[\hat g_B]
      = \frac1Q\Big(\mathbb E_q\,\mathrm{tr}\,\mathrm{Cov}[h\mid q]
      + \mathrm{tr}\,\mathrm{Cov}_q\,\mathbb E[h\mid q]\Big),\qquad
    \mathbb E[h\mid q] = \mathbb E[a]\mu^+_q + \mathbb E[b]\mu^-_q = c_G(p_q)\,p_q\,\mu_q^+,

with :math:`\mathrm{tr}\,\mathrm{Cov}[h\mid q]` of
:func:`~grpo_theory.exact.binary.covariance_trace` (assembled here from
:func:`~grpo_theory.exact.binary.count_sums`, since the unbiased moment summaries below may be
negative). The moments are *estimated* from a separate sample (:func:`sample_score_moments`).
Plug-in bias is handled as follows: :math:`\mathrm{tr}\,\hat\Sigma^\pm` (ddof 1),
:math:`\|\mu^\pm\|^2` by the U-statistic :math:`(\|\sum_i s_i\|^2 - \sum_i\|s_i\|^2)/(n(n-1))`
(the plain :math:`\|\hat\mu\|^2` is biased up by :math:`\mathrm{tr}\,\Sigma/n`), and
:math:`\hat\mu^+\cdot\hat\mu^-` are unbiased given the labels; the cross-prompt term
:math:`\|\bar m\|^2` is corrected for its diagonal the same way. What remains is the smooth
dependence on :math:`\hat p_q` through the count sums, of relative order :math:`1/n`; the
prediction's standard error is a stratified delete-one-sample jackknife within prompts (exact
from per-sample scalars) plus a Cauchy-Schwarz bound for the cross-prompt term (so it errs on the
large side), and the jackknife also reports the remaining bias.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy import stats as sps

from grpo_theory.exact.binary import count_sums
from grpo_theory.exact.estimators import as_estimator, count_advantages
from grpo_theory.transformer.analysis._common import (
    _check_prompt_set,
    _int,
    _level,
    _sample_rows,
    _score_chunk,
)
from grpo_theory.transformer.analysis.scores import CHUNK_ROWS
from grpo_theory.transformer.model import Transformer

__all__ = [
    "ScoreMoments",
    "score_moments",
    "sample_score_moments",
    "BatchTracePrediction",
    "predict_batch_trace",
    "BatchTraceMeasurement",
    "measure_batch_trace",
    "batch_trace_from_scores",
    "TraceAgreement",
    "compare_trace",
]


# ----------------------------------------------------------------------------------------------
# Conditional score moments
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScoreMoments:
    r"""Sufficient statistics of sampled scores for each prompt's conditional moments.

    Per prompt :math:`q` with :math:`n_q` samples, :math:`n^\pm_q` of each sign:
    :math:`S^\pm_q = \sum_{i\in\pm} s_i`, :math:`Q^\pm_q = \sum_{i\in\pm}\|s_i\|^2`; and per
    sample the scalars used by the jackknife, :math:`\|s_i\|^2` and :math:`s_i\cdot S^\pm_{q(i)}`.
    Derived: :math:`\hat p_q = n^+_q/n_q`, :math:`\hat\mu^\pm_q = S^\pm_q/n^\pm_q`, and the
    unbiased summaries (module docstring) ``tr_sigma_plus`` (ddof 1), ``mu_plus_sq``
    (U-statistic) and ``mu_dot`` :math:`= \hat\mu^+\cdot\hat\mu^-`; where a sign has fewer than
    2 samples, :math:`\mathrm{tr}\,\hat\Sigma = 0` and the squared norm is the plug-in one.

    Attributes:
        n: ``[N]`` samples per prompt.
        n_plus: ``[N]`` positives per prompt.
        sum_plus: ``[N, D]`` :math:`S^+`.
        sum_minus: ``[N, D]`` :math:`S^-`.
        sq_plus: ``[N]`` :math:`Q^+`.
        sq_minus: ``[N]`` :math:`Q^-`.
        sample_prompt: ``[n_total]`` prompt of each sample.
        sample_reward: ``[n_total]`` its reward.
        sample_sq: ``[n_total]`` :math:`\|s_i\|^2`.
        sample_dot_plus: ``[n_total]`` :math:`s_i\cdot S^+_{q(i)}`.
        sample_dot_minus: ``[n_total]`` :math:`s_i\cdot S^-_{q(i)}`.
    """

    n: np.ndarray
    n_plus: np.ndarray
    sum_plus: np.ndarray
    sum_minus: np.ndarray
    sq_plus: np.ndarray
    sq_minus: np.ndarray
    sample_prompt: np.ndarray
    sample_reward: np.ndarray
    sample_sq: np.ndarray
    sample_dot_plus: np.ndarray
    sample_dot_minus: np.ndarray

    @property
    def n_minus(self) -> np.ndarray:
        """``[N]`` negatives per prompt."""
        return self.n - self.n_plus

    @property
    def p(self) -> np.ndarray:
        r""":math:`\hat p_q`."""
        return self.n_plus / self.n

    @property
    def mu_plus(self) -> np.ndarray:
        r""":math:`\hat\mu^+_q` (0 where there is no positive)."""
        return self.sum_plus / np.maximum(self.n_plus, 1)[:, None]

    @property
    def mu_minus(self) -> np.ndarray:
        r""":math:`\hat\mu^-_q` (0 where there is no negative)."""
        return self.sum_minus / np.maximum(self.n_minus, 1)[:, None]

    def summaries(self) -> dict[str, np.ndarray]:
        """``p``, ``tr_sigma_plus``, ``tr_sigma_minus``, ``mu_plus_sq``, ``mu_minus_sq``,
        ``mu_dot`` (each ``[N]``)."""
        return _summaries(self.n_plus, self.n_minus, self.sq_plus, self.sq_minus,
                          np.sum(self.sum_plus**2, axis=1), np.sum(self.sum_minus**2, axis=1),
                          np.sum(self.sum_plus * self.sum_minus, axis=1))


def _summaries(npl: Any, nmi: Any, qp: Any, qm: Any, app: Any, amm: Any,
               apm: Any) -> dict[str, np.ndarray]:
    npl, nmi = np.asarray(npl, dtype=float), np.asarray(nmi, dtype=float)

    def sign(n: np.ndarray, q: Any, a: Any) -> tuple[np.ndarray, np.ndarray]:
        n1, n2 = np.maximum(n, 1.0), np.maximum(n - 1.0, 1.0)
        tr = np.where(n >= 2, (q - a / n1) / n2, 0.0)
        sq = np.where(n >= 2, (a - q) / (n1 * n2), np.where(n == 1, a, 0.0))
        return tr, sq

    tsp, mps = sign(npl, qp, app)
    tsm, mms = sign(nmi, qm, amm)
    mdot = np.where((npl >= 1) & (nmi >= 1), apm / (np.maximum(npl, 1) * np.maximum(nmi, 1)), 0.0)
    return {"p": npl / (npl + nmi), "tr_sigma_plus": tsp, "tr_sigma_minus": tsm,
            "mu_plus_sq": mps, "mu_minus_sq": mms, "mu_dot": mdot}


def _check_rewards01(r: np.ndarray, name: str) -> None:
    if not np.all((r == 0) | (r == 1)):
        raise ValueError(f"{name} must be binary (0 or 1)")


def score_moments(scores: Any, rewards: Any) -> ScoreMoments:
    r"""Conditional score moments from in-memory samples: ``n`` samples of each of ``N`` prompts.

    Args:
        scores: ``Float[Array, "N n D"]`` sampled scores (:math:`n \ge 2`).
        rewards: ``Float[Array, "N n"]`` their binary rewards.

    Returns:
        :class:`ScoreMoments`.

    Example:
        >>> s = np.array([[[1.0], [3.0], [0.0], [2.0]]])
        >>> m = score_moments(s, [[1, 1, 0, 0]])
        >>> m.p.tolist(), m.summaries()["tr_sigma_plus"].tolist(), m.mu_plus.tolist()
        ([0.5], [2.0], [[2.0]])
    """
    s = np.asarray(scores, dtype=float)
    r = np.asarray(rewards, dtype=float)
    if s.ndim != 3 or s.shape[1] < 2 or r.shape != s.shape[:2]:
        raise ValueError(f"scores must have shape [N, n, D] with n >= 2 and rewards [N, n], "
                         f"got {list(s.shape)} and {list(r.shape)}")
    _check_rewards01(r, "rewards")
    return _moments_from_chunk(s, r)


def _moments_from_chunk(s_Nxnxd: np.ndarray, r_Nxn: np.ndarray) -> ScoreMoments:
    Sp = np.einsum("kn,knd->kd", r_Nxn, s_Nxnxd)
    Sm = np.einsum("kn,knd->kd", 1.0 - r_Nxn, s_Nxnxd)
    sq = np.sum(s_Nxnxd**2, axis=2)
    return _assemble([r_Nxn], [Sp], [Sm], [sq], [np.einsum("knd,kd->kn", s_Nxnxd, Sp)],
                     [np.einsum("knd,kd->kn", s_Nxnxd, Sm)])


def _assemble(rs: list, sps_: list, sms: list, sqs: list, dps: list, dms: list) -> ScoreMoments:
    r = np.concatenate(rs).astype(float)
    sq = np.concatenate(sqs).astype(float)
    N, n = r.shape
    return ScoreMoments(
        n=np.full(N, n), n_plus=r.sum(axis=1).astype(int),
        sum_plus=np.concatenate(sps_).astype(float), sum_minus=np.concatenate(sms).astype(float),
        sq_plus=np.sum(r * sq, axis=1), sq_minus=np.sum((1.0 - r) * sq, axis=1),
        sample_prompt=np.repeat(np.arange(N), n), sample_reward=r.reshape(-1),
        sample_sq=sq.reshape(-1), sample_dot_plus=np.concatenate(dps).astype(float).reshape(-1),
        sample_dot_minus=np.concatenate(dms).astype(float).reshape(-1))


def _acc_dtype() -> Any:
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


@functools.partial(jax.jit, static_argnums=(2, 3))
def _moment_reduce(scores_Nxd: Array, rewards_N: Array, k: int, n: int) -> tuple[Array, ...]:
    acc = _acc_dtype()
    s = scores_Nxd.astype(acc).reshape(k, n, -1)
    r = rewards_N.astype(acc).reshape(k, n)
    Sp = jnp.einsum("kn,knd->kd", r, s)
    Sm = jnp.einsum("kn,knd->kd", 1.0 - r, s)
    return (r, Sp, Sm, jnp.sum(s * s, axis=2), jnp.einsum("knd,kd->kn", s, Sp),
            jnp.einsum("knd,kd->kn", s, Sm))


def sample_score_moments(key: Array, model: Transformer, prompts: Any, answers: Any, *,
                         n_samples: int, chunk_size: int = CHUNK_ROWS) -> ScoreMoments:
    r"""Sample ``n_samples`` completions of every prompt and reduce their scores to moments.

    Completions are drawn at temperature 1 with
    :func:`~grpo_theory.transformer.sampling.sample_completions`, rewarded by exact match, and
    their scores (:func:`~grpo_theory.transformer.analysis.scores.score_vectors`) reduced chunk
    by chunk (``chunk_size // n_samples`` whole prompts per chunk; chunk :math:`c` uses
    ``fold_in(key, c)``), so that only the ``[N, D]`` sums are kept. Accumulation is in float64
    when JAX's x64 mode is on.

    Args:
        key: a JAX PRNG key.
        model: the policy.
        prompts: ``Int[Array, "N P"]``.
        answers: ``Int[Array, "N L"]`` (tokens, EOS, PAD): the completion length is ``L``.
        n_samples: completions per prompt, ``>= 2``.
        chunk_size: rows per compiled call.

    Returns:
        :class:`ScoreMoments`.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 7, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> m = sample_score_moments(jax.random.key(1), model, task.prompts[:2], task.answers[:2],
        ...                          n_samples=4)
        >>> m.n.tolist(), m.sum_plus.shape[0]
        ([4, 4], 2)
    """
    prompts, answers = _check_prompt_set(model, prompts, answers)
    n = _int(n_samples, "n_samples", 2)
    C = _int(chunk_size, "chunk_size", 1)
    k = max(1, C // n)
    N = prompts.shape[0]
    parts: list[list[np.ndarray]] = [[] for _ in range(6)]
    for c, start in enumerate(range(0, N, k)):
        stop = min(N, start + k)
        idx = jnp.arange(start, start + k) % N
        rows_p, rows_a = jnp.repeat(prompts[idx], n, axis=0), jnp.repeat(answers[idx], n, axis=0)
        tokens, masks, rewards = _sample_rows(jax.random.fold_in(key, c), model, rows_p, rows_a)
        scores = _score_chunk(model, rows_p, tokens, masks, False)
        out = _moment_reduce(scores, rewards, k, n)
        for part, value in zip(parts, out, strict=True):
            part.append(np.asarray(value, dtype=float)[: stop - start])
    return _assemble(*parts)


# ----------------------------------------------------------------------------------------------
# Fixed-budget variance: prediction
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BatchTracePrediction:
    r"""The exact engine's :math:`\mathrm{tr}\,\mathrm{Cov}[\hat g_B]` from estimated moments.

    Attributes:
        estimator: the count-based estimator.
        group_size: :math:`G`.
        prompts_per_batch: :math:`Q`.
        within: :math:`\frac1Q\mathbb E_q\mathrm{tr}\,\mathrm{Cov}[h\mid q]`.
        across: :math:`\frac1Q\mathrm{tr}\,\mathrm{Cov}_q\mathbb E[h\mid q]`.
        total: ``within + across``.
        stderr: standard error of ``total`` (jackknife within prompts plus a Cauchy-Schwarz
            bound for the cross-prompt term).
        jackknife_bias: the jackknife's estimate of the remaining bias of ``total``.
        iid_as_printed: :math:`\mathrm{tr}\,\mathrm{Cov}(A s)/B`: paper Lemma 5.3 applied to the
            :math:`B = QG` rollouts as if they were i.i.d.
        iid_stderr: its standard error (same construction).
    """

    estimator: str
    group_size: int
    prompts_per_batch: int
    within: float
    across: float
    total: float
    stderr: float
    jackknife_bias: float
    iid_as_printed: float
    iid_stderr: float

    @property
    def budget(self) -> int:
        """:math:`B = QG`."""
        return self.group_size * self.prompts_per_batch

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**dataclasses.asdict(self), "budget": self.budget}


def _prompt_terms(est: str, G: int, summ: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-prompt within trace V, unbiased ||m_q||^2, E||A s||^2 and the noise of m_q."""
    s = count_sums(est, G, np.clip(summ["p"], 0.0, 1.0))
    tsp, tsm = summ["tr_sigma_plus"], summ["tr_sigma_minus"]
    mps, mms, mdot = summ["mu_plus_sq"], summ["mu_minus_sq"], summ["mu_dot"]
    V = (s.within_plus * tsp + s.within_minus * tsm + s.var_a * mps + s.var_b * mms
         + 2.0 * s.cov_ab * mdot)
    M = s.mean_a**2 * mps + s.mean_b**2 * mms + 2.0 * s.mean_a * s.mean_b * mdot
    E2 = G * (s.within_plus * (tsp + mps) + s.within_minus * (tsm + mms))
    return {"V": np.asarray(V, float), "M": np.asarray(M, float), "E2": np.asarray(E2, float),
            "mean_a": np.asarray(s.mean_a, float), "mean_b": np.asarray(s.mean_b, float)}


def predict_batch_trace(moments: ScoreMoments, group_size: int, prompts_per_batch: int, *,
                        estimator: str = "grpo") -> BatchTracePrediction:
    r"""Predict the trace of the batch-gradient covariance from estimated score moments.

    With per-prompt summaries (module docstring) and the count sums of
    :func:`~grpo_theory.exact.binary.count_sums` at :math:`\hat p_q`,
    :math:`V_q = \mathbb E[\tfrac{a^2}k]\mathrm{tr}\Sigma^+ + \mathbb E[\tfrac{b^2}{G-k}]
    \mathrm{tr}\Sigma^- + \mathrm{Var}(a)\|\mu^+\|^2 + \mathrm{Var}(b)\|\mu^-\|^2 +
    2\mathrm{Cov}(a,b)\mu^+\cdot\mu^-` (:func:`~grpo_theory.exact.binary.covariance_trace`),
    :math:`m_q = \mathbb E[a]\mu^+_q + \mathbb E[b]\mu^-_q`, prompts uniform over the
    :math:`N` prompts of ``moments``:

    .. math::

        T = \frac1Q\Big(\frac1N\sum_q V_q + \frac1N\sum_q\|m_q\|^2 - \|\bar m\|^2\Big),\qquad
        T_{\mathrm{iid}} = \frac1B\Big(\frac1N\sum_q\mathbb E\|A s\|^2_q - \|\bar m\|^2\Big),

    with :math:`\mathbb E\|As\|^2_q = G(\mathbb E[\tfrac{a^2}k]\mathbb E\|s^+\|^2 +
    \mathbb E[\tfrac{b^2}{G-k}]\mathbb E\|s^-\|^2)`, squared norms by unbiased U-statistics and
    :math:`\|\bar m\|^2` corrected by :math:`\frac1{N^2}\sum_q(\mathbb E[a]^2\mathrm{tr}\hat
    \Sigma^+/n^+ + \mathbb E[b]^2\mathrm{tr}\hat\Sigma^-/n^-)`.

    Args:
        moments: :class:`ScoreMoments` of the prompt set the batches are drawn from.
        group_size: :math:`G \ge 2`.
        prompts_per_batch: :math:`Q \ge 1`.
        estimator: a count-based estimator of :mod:`grpo_theory.exact.estimators`.

    Returns:
        :class:`BatchTracePrediction`.

    Example:
        >>> s = np.array([[[1.0], [1.0], [-1.0], [-1.0]]])  # p = 1/2, scores +-1
        >>> pred = predict_batch_trace(score_moments(s, [[1, 1, 0, 0]]), 2, 1)
        >>> round(pred.total, 12)  # a = -b = 1/2 w.p. 1/2: Var = 1/4, one prompt: no across
        0.25
    """
    if not isinstance(moments, ScoreMoments):
        raise TypeError(f"moments must be ScoreMoments, got {type(moments).__name__}")
    est = as_estimator(estimator).value
    G = _int(group_size, "group_size", 2)
    Q = _int(prompts_per_batch, "prompts_per_batch", 1)
    N = moments.n.size
    summ = moments.summaries()
    t = _prompt_terms(est, G, summ)
    npl, nmi = moments.n_plus.astype(float), moments.n_minus.astype(float)
    noise = np.where(npl > 0, t["mean_a"] ** 2 * summ["tr_sigma_plus"] / np.maximum(npl, 1), 0.0)
    noise += np.where(nmi > 0, t["mean_b"] ** 2 * summ["tr_sigma_minus"] / np.maximum(nmi, 1),
                      0.0)
    mbar = (t["mean_a"] @ moments.mu_plus + t["mean_b"] @ moments.mu_minus) / N
    mbar_sq = float(mbar @ mbar) - float(noise.sum()) / N**2
    within = float(t["V"].mean())
    across = float(t["M"].mean()) - mbar_sq
    iid = (float(t["E2"].mean()) - mbar_sq) / (Q * G)
    f_se, f_bias, e_se = _jackknife(moments, est, G, t)
    cross_se = 2.0 * math.sqrt(max(float(mbar @ mbar) * float(noise.sum()), 0.0)) / N
    return BatchTracePrediction(
        estimator=est, group_size=G, prompts_per_batch=Q, within=within / Q,
        across=across / Q, total=(within + across) / Q,
        stderr=(f_se / N + cross_se) / Q, jackknife_bias=f_bias / (N * Q),
        iid_as_printed=iid, iid_stderr=(e_se / N + cross_se) / (Q * G))


def _jackknife(moments: ScoreMoments, est: str, G: int,
               full: Mapping[str, np.ndarray]) -> tuple[float, float, float]:
    """Stratified delete-one-sample jackknife of sum_q (V_q + M_q) and of sum_q E2_q.

    Returns the standard errors of the two sums and the bias estimate of the first.
    """
    q = moments.sample_prompt
    r = moments.sample_reward
    sq = moments.sample_sq
    dp, dm = moments.sample_dot_plus, moments.sample_dot_minus
    npl, nmi = moments.n_plus[q].astype(float), moments.n_minus[q].astype(float)
    qp, qm = moments.sq_plus[q], moments.sq_minus[q]
    app = np.sum(moments.sum_plus**2, axis=1)[q]
    amm = np.sum(moments.sum_minus**2, axis=1)[q]
    apm = np.sum(moments.sum_plus * moments.sum_minus, axis=1)[q]
    pos = r == 1
    summ = _summaries(
        np.where(pos, npl - 1, npl), np.where(pos, nmi, nmi - 1),
        np.where(pos, qp - sq, qp), np.where(pos, qm, qm - sq),
        np.where(pos, app - 2.0 * dp + sq, app), np.where(pos, amm, amm - 2.0 * dm + sq),
        np.where(pos, apm - dm, apm - dp))
    t = _prompt_terms(est, G, summ)
    f_del = t["V"] + t["M"]
    e_del = t["E2"]
    f_full = (full["V"] + full["M"])[q]
    var_f, var_e, bias = 0.0, 0.0, 0.0
    for j in range(moments.n.size):
        sel = q == j
        n = float(moments.n[j])
        fj, ej = f_del[sel], e_del[sel]
        var_f += (n - 1) / n * float(np.sum((fj - fj.mean()) ** 2))
        var_e += (n - 1) / n * float(np.sum((ej - ej.mean()) ** 2))
        bias += (n - 1) * float(fj.mean() - f_full[sel][0])
    return math.sqrt(var_f), bias, math.sqrt(var_e)


# ----------------------------------------------------------------------------------------------
# Fixed-budget variance: measurement
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BatchTraceMeasurement:
    r"""The measured :math:`\mathrm{tr}\,\mathrm{Cov}[\hat g_B]` over simulated batches.

    Attributes:
        estimator: the count-based estimator.
        group_size: :math:`G`.
        prompts_per_batch: :math:`Q`.
        n_batches: :math:`R` batches simulated.
        trace: pooled within-chunk sample trace of the group gradients :math:`h`, over
            :math:`Q` (the batch gradient is a mean of :math:`Q` i.i.d. :math:`h`).
        stderr: its standard error (influence values :math:`\|h_i - \bar h\|^2`).
        trace_batches: pooled within-chunk sample trace of the :math:`R` batch gradients.
        stderr_batches: its standard error.
        silent_fraction: fraction of silent groups.
        mean_reward: mean reward of the rollouts.
    """

    estimator: str
    group_size: int
    prompts_per_batch: int
    n_batches: int
    trace: float
    stderr: float
    trace_batches: float
    stderr_batches: float
    silent_fraction: float
    mean_reward: float

    @property
    def budget(self) -> int:
        """:math:`B = QG`."""
        return self.group_size * self.prompts_per_batch

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**dataclasses.asdict(self), "budget": self.budget}


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _trace_reduce(scores_Nxd: Array, rewards_N: Array, table_plus: Array, table_minus: Array,
                  n_batches: int, Q: int, G: int) -> tuple[Array, ...]:
    acc = _acc_dtype()
    s = scores_Nxd.astype(acc).reshape(n_batches * Q, G, -1)
    r = rewards_N.astype(acc).reshape(n_batches * Q, G)
    k = jnp.round(jnp.sum(r, axis=1)).astype(jnp.int32)
    adv = jnp.where(r > 0.5, table_plus.astype(acc)[k][:, None],
                    table_minus.astype(acc)[k][:, None])
    h = jnp.einsum("ng,ngd->nd", adv / G, s)
    dev_h = jnp.sum((h - h.mean(axis=0)) ** 2, axis=1)
    gb = h.reshape(n_batches, Q, -1).mean(axis=1)
    dev_b = jnp.sum((gb - gb.mean(axis=0)) ** 2, axis=1)
    return dev_h, dev_b, (k == 0) | (k == G), jnp.mean(r)


def measure_batch_trace(key: Array, model: Transformer, prompts: Any, answers: Any, *,
                        group_size: int, prompts_per_batch: int, n_batches: int,
                        estimator: str = "grpo",
                        chunk_size: int = CHUNK_ROWS) -> BatchTraceMeasurement:
    r"""Simulate batches of :math:`Q` prompts times :math:`G` rollouts and measure the trace.

    Each batch draws :math:`Q` prompts uniformly with replacement from ``prompts``, samples
    :math:`G` completions of each at temperature 1, rewards them by exact match, gives each
    rollout the count-based advantage of ``estimator``
    (:func:`~grpo_theory.exact.estimators.count_advantages`; for ``grpo`` the population-std
    GRPO advantage of :func:`~grpo_theory.policy_gradient.advantages.grpo_advantages`) and forms
    :math:`h = \frac1G\sum_i A_is_i` and :math:`\hat g_B = \frac1Q\sum_j h_j`. Batches are
    simulated ``chunk_size // B`` at a time (at least 2; chunk :math:`c` uses
    ``fold_in(key, c)``); each chunk gives unbiased sample traces (ddof 1) of :math:`h` and of
    :math:`\hat g_B`, pooled over chunks. ``trace`` is the one of :math:`h` over :math:`Q`
    (exactly the batch trace's expectation, with :math:`Q` times the degrees of freedom);
    ``trace_batches`` is the literal one of the batch gradients.

    Args:
        key: a JAX PRNG key.
        model: the policy.
        prompts: ``Int[Array, "N P"]`` the prompt set.
        answers: ``Int[Array, "N L"]`` its answers.
        group_size: :math:`G \ge 2`.
        prompts_per_batch: :math:`Q \ge 1`.
        n_batches: :math:`R \ge 2`, rounded up to whole chunks.
        estimator: a count-based estimator name (default ``"grpo"``).
        chunk_size: rollouts per compiled call (rounded to whole batches).

    Returns:
        :class:`BatchTraceMeasurement`.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 7, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> m = measure_batch_trace(jax.random.key(1), model, task.prompts[:4], task.answers[:4],
        ...                         group_size=2, prompts_per_batch=2, n_batches=8,
        ...                         chunk_size=16)
        >>> m.n_batches, m.trace >= 0
        (8, True)
    """
    prompts, answers = _check_prompt_set(model, prompts, answers)
    est = as_estimator(estimator).value
    G = _int(group_size, "group_size", 2)
    Q = _int(prompts_per_batch, "prompts_per_batch", 1)
    R = _int(n_batches, "n_batches", 2)
    C = _int(chunk_size, "chunk_size", 1)
    B = Q * G
    bpc = max(2, C // B)
    n_chunks = -(-R // bpc)
    plus, minus = count_advantages(est, G, np.arange(G + 1))
    t_plus, t_minus = jnp.asarray(plus), jnp.asarray(minus)
    N = prompts.shape[0]
    outs = []
    for c in range(n_chunks):
        k_c = jax.random.fold_in(key, c)
        idx = jax.random.randint(jax.random.fold_in(k_c, 0), (bpc * Q,), 0, N, dtype=jnp.int32)
        rows_p = jnp.repeat(prompts[idx], G, axis=0)
        rows_a = jnp.repeat(answers[idx], G, axis=0)
        tokens, masks, rewards = _sample_rows(jax.random.fold_in(k_c, 1), model, rows_p, rows_a)
        scores = _score_chunk(model, rows_p, tokens, masks, False)
        outs.append(_trace_reduce(scores, rewards, t_plus, t_minus, bpc, Q, G))
    return _pooled_measurement(est, G, Q, bpc, outs)


def _pooled_measurement(est: str, G: int, Q: int, bpc: int, outs: list) -> BatchTraceMeasurement:
    """Pool the per-block deviations of :func:`_trace_reduce` (blocks of ``bpc`` batches)."""
    n_h, n_b = bpc * Q, bpc
    dh = np.concatenate([np.asarray(o[0], float) for o in outs]) * n_h / (n_h - 1) / Q
    db = np.concatenate([np.asarray(o[1], float) for o in outs]) * n_b / (n_b - 1)
    return BatchTraceMeasurement(
        estimator=est, group_size=G, prompts_per_batch=Q, n_batches=len(outs) * bpc,
        trace=float(dh.mean()), stderr=float(dh.std(ddof=1) / math.sqrt(dh.size)),
        trace_batches=float(db.mean()), stderr_batches=float(db.std(ddof=1) / math.sqrt(db.size)),
        silent_fraction=float(np.mean(np.concatenate([np.asarray(o[2]) for o in outs]))),
        mean_reward=float(np.mean([float(o[3]) for o in outs])))


def batch_trace_from_scores(scores: Any, rewards: Any, *, group_size: int,
                            prompts_per_batch: int, estimator: str = "grpo",
                            block_batches: int | None = None) -> BatchTraceMeasurement:
    r"""The measurement of :func:`measure_batch_trace` on given batches of scores and rewards.

    Batch :math:`r` holds :math:`Q` groups of :math:`G` rollouts, group by group (rows
    :math:`jG, \dots, jG + G - 1` are group :math:`j`); the batches must be i.i.d. (prompts drawn
    independently for each group). Batches are pooled in blocks of ``block_batches`` (default:
    all of them in one block), as :func:`measure_batch_trace` pools its chunks.

    Args:
        scores: ``Float[Array, "R B D"]`` per-rollout scores, :math:`B = QG`.
        rewards: ``Float[Array, "R B"]`` binary rewards.
        group_size: :math:`G \ge 2`.
        prompts_per_batch: :math:`Q \ge 1`.
        estimator: a count-based estimator name.
        block_batches: batches per block, ``>= 2``, dividing :math:`R`.

    Returns:
        :class:`BatchTraceMeasurement`.

    Example:
        >>> s = np.array([[[1.0], [-1.0]], [[1.0], [1.0]]])  # two batches of one pair
        >>> m = batch_trace_from_scores(s, [[1, 0], [1, 1]], group_size=2, prompts_per_batch=1)
        >>> m.trace, m.silent_fraction  # h = 1 then 0: sample variance 1/2
        (0.5, 0.5)
    """
    est = as_estimator(estimator).value
    G = _int(group_size, "group_size", 2)
    Q = _int(prompts_per_batch, "prompts_per_batch", 1)
    s = jnp.asarray(scores)
    r = np.asarray(rewards, dtype=float)
    if s.ndim != 3 or s.shape[1] != Q * G or s.shape[0] < 2:
        raise ValueError(f"scores must have shape [R, B, D] with R >= 2 and B = QG = {Q * G}, "
                         f"got {list(s.shape)}")
    if r.shape != s.shape[:2]:
        raise ValueError(f"rewards must have shape [R, B] = {list(s.shape[:2])}, got "
                         f"{list(r.shape)}")
    _check_rewards01(r, "rewards")
    R = s.shape[0]
    bpc = R if block_batches is None else _int(block_batches, "block_batches", 2)
    if R % bpc:
        raise ValueError(f"block_batches must divide the number of batches R = {R}, got {bpc}")
    plus, minus = count_advantages(est, G, np.arange(G + 1))
    t_plus, t_minus = jnp.asarray(plus), jnp.asarray(minus)
    outs = [_trace_reduce(s[b:b + bpc].reshape(bpc * Q * G, -1),
                          jnp.asarray(r[b:b + bpc].reshape(-1)), t_plus, t_minus, bpc, Q, G)
            for b in range(0, R, bpc)]
    return _pooled_measurement(est, G, Q, bpc, outs)


@dataclasses.dataclass(frozen=True)
class TraceAgreement:
    r"""A measured batch trace against its prediction, at false-positive probability ``delta``.

    Attributes:
        group_size: :math:`G`.
        measured: the measured trace.
        measured_stderr: its standard error.
        predicted: the exact engine's plug-in prediction.
        predicted_stderr: its standard error.
        radius: :math:`z(\mathrm{se}_m + \mathrm{se}_p)` with :math:`z = \Phi^{-1}(1-\delta/4)`.
        agrees: :math:`|\text{measured} - \text{predicted}| \le` ``radius``.
        iid_as_printed: the i.i.d.-rollouts prediction (paper Lemma 5.3 with :math:`B = QG`).
        iid_radius: the same radius with the i.i.d. prediction's standard error.
        iid_rejected: :math:`|\text{measured} - \text{iid}| >` ``iid_radius``.
        delta: the false-positive probability of each decision.
    """

    group_size: int
    measured: float
    measured_stderr: float
    predicted: float
    predicted_stderr: float
    radius: float
    agrees: bool
    iid_as_printed: float
    iid_radius: float
    iid_rejected: bool
    delta: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


def compare_trace(measurement: BatchTraceMeasurement, prediction: BatchTracePrediction, *,
                  delta: float = 1e-6) -> TraceAgreement:
    r"""Test a measured batch trace against its prediction (and the i.i.d. one).

    Two independent estimators of the same trace (under the null that the prediction is right):
    each misses the true value by more than :math:`z\,\mathrm{se}` with probability at most
    :math:`\delta/2` when :math:`z = \Phi^{-1}(1 - \delta/4)` and it is approximately normal (a
    mean of many i.i.d. terms, the measurement; a sum of independent per-prompt estimates, the
    prediction, whose standard error is an upper bound), so by the union bound they differ by
    more than :math:`z(\mathrm{se}_m + \mathrm{se}_p)` with probability at most :math:`\delta`.
    The level is nominal: it rests on the normal approximation of both estimators.

    Args:
        measurement: :class:`BatchTraceMeasurement`.
        prediction: :class:`BatchTracePrediction` for the same :math:`G, Q` and estimator.
        delta: false-positive probability in :math:`(0, 1)`.

    Returns:
        :class:`TraceAgreement`.

    Example:
        >>> m = BatchTraceMeasurement("grpo", 2, 8, 160, 16.0, 0.8, 15.8, 0.8, 0.6, 0.4)
        >>> p = BatchTracePrediction("grpo", 2, 8, 12.7, 3.3, 16.0, 0.4, 0.0, 12.6, 0.3)
        >>> compare_trace(m, p).agrees
        True
    """
    delta = _level(delta, "delta")
    if (measurement.group_size, measurement.prompts_per_batch, measurement.estimator) != (
            prediction.group_size, prediction.prompts_per_batch, prediction.estimator):
        raise ValueError("measurement and prediction must have the same group_size, "
                         "prompts_per_batch and estimator")
    z = float(sps.norm.isf(delta / 4.0))
    radius = z * (measurement.stderr + prediction.stderr)
    iid_radius = z * (measurement.stderr + prediction.iid_stderr)
    return TraceAgreement(
        group_size=measurement.group_size, measured=measurement.trace,
        measured_stderr=measurement.stderr, predicted=prediction.total,
        predicted_stderr=prediction.stderr, radius=radius,
        agrees=bool(abs(measurement.trace - prediction.total) <= radius),
        iid_as_printed=prediction.iid_as_printed, iid_radius=iid_radius,
        iid_rejected=bool(abs(measurement.trace - prediction.iid_as_printed) > iid_radius),
        delta=delta)
