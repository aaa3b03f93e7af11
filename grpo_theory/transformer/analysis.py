r"""The theory on a tiny transformer: per-sample scores, DPO against 2-GRPO, control variates,
fixed-budget variance and the discard rate.

Every quantity here is a function of a :class:`~grpo_theory.transformer.model.Transformer` policy
:math:`\pi_\theta` with its parameters flattened into one vector :math:`\theta \in \mathbb R^D`
(:func:`parameter_vector`, ``ravel_pytree`` of the model's arrays). A completion :math:`y` of a
prompt :math:`q` has token scores :math:`g_t = \nabla_\theta\log\pi_\theta(y_t\mid q, y_{<t})`
and, with the mask :math:`m_t` of :func:`~grpo_theory.transformer.tasks.completion_mask` (the
tokens up to and including the first EOS) and the length :math:`|y| = \sum_t m_t`, the sequence
score :math:`s_y = \sum_t m_t g_t` (:func:`score_vectors`).

**1. DPO and 2-GRPO on one pair** (:func:`dpo_relation`). For a preferred completion :math:`w`
and a dispreferred one :math:`l` of the same prompt, with the log-ratio margin
:math:`m = [\log\pi_\theta(w) - \log\pi_{\mathrm{ref}}(w)] - [\log\pi_\theta(l) -
\log\pi_{\mathrm{ref}}(l)]` (sequence log-probabilities are masked sums of token
log-probabilities), the DPO loss :math:`-\log\sigma(\beta m)` has gradient

.. math::

    \nabla\mathcal L_{\mathrm{DPO}} = -\beta\,\sigma(-\beta m)\,(s_w - s_l).

The 2-GRPO loss of the pair (population std, rewards :math:`(1, 0)`, so :math:`A = (+1, -1)`;
:func:`~grpo_theory.policy_gradient.losses.policy_loss` with token ratios
:math:`\rho_t = \pi_\theta/\pi_{\mathrm{old}}`) has, on-policy (:math:`\pi_{\mathrm{old}} =
\pi_\theta`, so :math:`\rho_t = 1` and :math:`\nabla\rho_t = g_t`; every token lies inside the
clip range), the gradient :math:`-\sum_i\kappa_i A_i s_i` with the aggregation's sequence weights
:math:`\kappa_i` (derived):

============================  ==========================================
 aggregation                  :math:`\nabla\mathcal L_{\mathrm{2GRPO}}`
============================  ==========================================
 ``seq-mean-token-sum``       :math:`-\tfrac12(s_w - s_l)`
 ``seq-mean-token-mean``      :math:`-\tfrac12(s_w/|w| - s_l/|l|)`
 ``token-mean``               :math:`-(s_w - s_l)/(|w| + |l|)`
 ``seq-mean-token-sum-norm``  :math:`-(s_w - s_l)/(2L_{\max})`
============================  ==========================================

Hence, with the sequence sum, :math:`\nabla\mathcal L_{\mathrm{DPO}} = 2\sigma(-\beta m)\,\beta\,
\nabla\mathcal L_{\mathrm{2GRPO}}`: at :math:`\pi_\theta = \pi_{\mathrm{ref}}` (:math:`m = 0`)
exactly :math:`\beta\nabla\mathcal L_{\mathrm{2GRPO}}`, elsewhere reweighted by
:math:`2\sigma(-\beta m)`. Per-sequence averaging replaces :math:`s_w - s_l` by
:math:`s_w/|w| - s_l/|l|`, parallel to the DPO direction only when :math:`|w| = |l|` (or when the
two differences happen to align); the token mean over one pair only rescales it.

**2. Clipping off-policy** (:func:`clipping_relation`). When :math:`\pi_\theta` has moved away
from the sampling policy :math:`\pi_{\mathrm{old}}`, the per-token loss
:math:`\max(-\rho A, -\mathrm{clip}(\rho, 1-\epsilon_l, 1+\epsilon_h)A)` equals :math:`-A\rho` for
an *unclipped* token (:math:`\rho < 1+\epsilon_h` if :math:`A > 0`, :math:`\rho > 1-\epsilon_l`
if :math:`A < 0`) and a constant otherwise, so

.. math::

    \nabla\mathcal L_{\mathrm{2GRPO}} = -\sum_{i}\kappa_i A_i\sum_t m_{i,t}\,
        \mathbb 1[\text{$(i,t)$ unclipped}]\,\rho_{i,t}\,g_{i,t}:

the clipped tokens' terms drop out (:func:`two_grpo_closed_form`). A token shared by the two
completions with the same prefix (for example their first token) has the same score and ratio
in both; unclipped on both sides and with equal sequence weights :math:`\kappa_i` (the sequence
sum), its two terms cancel, as they do in :math:`s_w - s_l` for DPO.

**3. Control variates** (paper v2/v3 Prop 4.1, v3 App. B.8). For pairs :math:`(g^+, g^-)` of a
positive and a negative response's scores of the same prompt :math:`q`, traces for vectors,
:math:`C = \mathrm{tr}\,\mathrm{Cov}(g^+, g^-)`, :math:`V_\pm = \mathrm{tr}\,\mathrm{Cov}(g^\pm)`,
:math:`\rho = C/\sqrt{V_+V_-}`, :math:`c^* = C/V_-` and the law of total covariance

.. math::

    C = \underbrace{\mathbb E_q\,\mathrm{tr}\,\mathrm{Cov}(g^+, g^-\mid q)}_{\text{within}}
      + \underbrace{\mathrm{tr}\,\mathrm{Cov}_q(\mathbb E[g^+\mid q],
        \mathbb E[g^-\mid q])}_{\text{across}},

which holds *exactly on a sample* when the prompt-level means and weights are the sample's own
(:func:`control_variate_stats`). Confidence intervals are delete-one-prompt jackknife
intervals with Student's :math:`t` (``scipy.stats.t``). The paper's Table-2 measurement
(:func:`paper_table2_measurement`) estimates the across term from per-prompt means, next to a
re-paired baseline whose mean given the data is exactly zero.

*Sign (derived).* The exact score has :math:`\mathbb E_{\pi}[s] = 0`, so per prompt
:math:`p_q\mu_q^+ + (1-p_q)\mu_q^- = 0`: the conditional means are anti-parallel,
:math:`\mu_q^- = -\lambda_q\mu_q^+` with :math:`\lambda_q = p_q/(1-p_q)`. The across covariance
is then

.. math::

    \mathrm{tr}\,\mathrm{Cov}_q(\mu^+_q, \mu^-_q)
      = -\mathbb E_q\big[\lambda_q\|\mu^+_q\|^2\big]
        + \mathbb E_q[\mu^+_q]\cdot\mathbb E_q[\lambda_q\mu^+_q],

negative unless the prompts' mean scores share a large common direction (in a tabular model with
one parameter block per prompt it is never positive, :mod:`grpo_theory.montecarlo.lab`). With
exact-match rewards a prompt has one correct completion, so :math:`g^+` given :math:`q` is
constant: :math:`\Sigma^+_q = 0` and every within-prompt term involving :math:`g^+` vanishes.

**4. Fixed-budget variance** (:func:`measure_batch_trace`, :func:`predict_batch_trace`). A batch
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

**5. Discard rate** (:func:`sample_group_counts`, :func:`discard_check`). The fraction of silent
groups (all rewards equal) against :math:`\mathbb E_q[p_q^G + (1-p_q)^G]`, estimated without
bias from an independent sample of :math:`n` completions per prompt by the hypergeometric
U-statistic :math:`[\binom{n^+_q}{G} + \binom{n^-_q}{G}]/\binom nG`; and against paper v3 App.
D.3's printed :math:`1 - \bar r^2 - (1-\bar r)^2`, which is at most 1/2 (the corrected plug-in
:math:`\bar r^2 + (1-\bar r)^2` is a lower bound by Jensen).

Locals use shape suffixes: **N** rows (samples, prompts), **D** parameters, **L** completion
tokens, **G** group size.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree
from scipy import special
from scipy import stats as sps

from grpo_theory._validate import check_positive
from grpo_theory.exact.binary import count_sums
from grpo_theory.exact.estimators import as_estimator, count_advantages
from grpo_theory.montecarlo.lab import PAPER_TABLE2
from grpo_theory.policy_gradient.advantages import grpo_advantages
from grpo_theory.policy_gradient.dpo import dpo_loss
from grpo_theory.policy_gradient.losses import AGGREGATIONS, policy_loss
from grpo_theory.transformer.model import Transformer, token_log_probs
from grpo_theory.transformer.sampling import sample_completions
from grpo_theory.transformer.tasks import reward

__all__ = [
    "CHUNK_ROWS",
    "PAPER_TABLE2",
    "parameter_vector",
    "with_parameters",
    "score_vectors",
    "token_score_vectors",
    "two_grpo_closed_form",
    "DPORelation",
    "dpo_relation",
    "ClippingRelation",
    "clipping_relation",
    "pair_within_prompts",
    "ControlVariateStats",
    "control_variate_stats",
    "response_means",
    "Table2Measurement",
    "table2_statistics",
    "paper_table2_measurement",
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
    "sample_group_counts",
    "DiscardCheck",
    "discard_check",
]

CHUNK_ROWS = 256
"""Rows (completions) per compiled call of the samplers and of the score computation."""

_TWO_GRPO_ADVANTAGES = (1.0, -1.0)  # grpo_advantages([1, 0]) with the population std


# ----------------------------------------------------------------------------------------------
# Validation and parameters
# ----------------------------------------------------------------------------------------------


def _check_model(model: Any, name: str = "model") -> Transformer:
    if not isinstance(model, Transformer):
        raise TypeError(f"{name} must be a Transformer, got {type(model).__name__}")
    return model


def _int(x: Any, name: str, lo: int, hi: int | None = None) -> int:
    rng = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be {rng}, got {type(x).__name__} {x!r}")
    if int(x) < lo or (hi is not None and int(x) > hi):
        raise ValueError(f"{name} must be {rng}, got {x!r}")
    return int(x)


def _level(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not 0.0 < float(x) < 1.0:
        raise ValueError(f"{name} must be a real number in (0, 1), got {x!r}")
    return float(x)


def _tokens(x: Any, name: str, ndim: int) -> Array:
    arr = jnp.asarray(x)
    if arr.ndim != ndim or 0 in arr.shape:
        shape = "[N, T]" if ndim == 2 else "[T]"
        raise ValueError(f"{name} must have shape {shape} (non-empty), got shape {arr.shape}")
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    return arr.astype(jnp.int32)


def _binary_mask(x: Any, name: str, shape: tuple[int, ...], dtype: Any) -> Array:
    arr = np.asarray(x, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(arr.shape)}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold only 0 and 1")
    if np.any(arr.reshape(-1, shape[-1]).sum(axis=-1) == 0):
        raise ValueError(f"{name} must mark at least one token of every completion")
    return jnp.asarray(arr, dtype=dtype)


def _check_context(model: Transformer, P: int, L: int, what: str) -> None:
    if P + L - 1 > model.config.max_len:
        raise ValueError(f"{what}: prompt length {P} plus completion length {L} minus 1 must be "
                         f"<= model.config.max_len = {model.config.max_len}")


def parameter_vector(model: Transformer) -> Array:
    r"""All parameters of ``model`` as one vector :math:`\theta` (``ravel_pytree`` order).

    Args:
        model: a :class:`~grpo_theory.transformer.model.Transformer`.

    Returns:
        ``Float[Array, "D"]`` in the model's dtype.

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model, param_count
        >>> model = init_model(jax.random.key(0), TINY)
        >>> parameter_vector(model).shape == (param_count(TINY),)
        True
    """
    flat, _ = ravel_pytree(eqx.filter(_check_model(model), eqx.is_array))
    return flat


def with_parameters(model: Transformer, theta: Any) -> Transformer:
    r"""``model`` with its parameters replaced by the vector ``theta`` (inverse of
    :func:`parameter_vector`).

    Args:
        model: a :class:`~grpo_theory.transformer.model.Transformer` (gives the structure).
        theta: ``Float[Array, "D"]`` new parameters.

    Returns:
        The model with parameters ``theta`` (cast to the model's dtype).

    Example:
        >>> from grpo_theory.transformer.model import TINY, init_model
        >>> model = init_model(jax.random.key(0), TINY)
        >>> theta = parameter_vector(model)
        >>> bool(jnp.all(parameter_vector(with_parameters(model, 2 * theta)) == 2 * theta))
        True
    """
    flat, unravel = ravel_pytree(eqx.filter(_check_model(model), eqx.is_array))
    theta = jnp.asarray(theta)
    if theta.shape != flat.shape:
        raise ValueError(f"theta must have shape [D] = {list(flat.shape)}, got "
                         f"{list(theta.shape)}")
    return eqx.combine(unravel(theta.astype(flat.dtype)), model)


def _acc_dtype() -> Any:
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------


@eqx.filter_jit
def _score_chunk(model: Transformer, prompts_NxP: Array, completions_NxL: Array, masks_NxL: Array,
                 normalise: bool) -> Array:
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_array))
    P = prompts_NxP.shape[1]

    def seq_logp(theta: Array, prompt: Array, completion: Array, mask: Array) -> Array:
        m = eqx.combine(unravel(theta), model)
        lp_L = token_log_probs(m, jnp.concatenate([prompt, completion]), P)
        total = jnp.sum(lp_L * mask.astype(lp_L.dtype))
        return total / jnp.maximum(1.0, jnp.sum(mask)).astype(lp_L.dtype) if normalise else total

    return jax.vmap(jax.grad(seq_logp), in_axes=(None, 0, 0, 0))(flat, prompts_NxP,
                                                                  completions_NxL, masks_NxL)


def _pad_rows(x: Array, rows: int) -> Array:
    if x.shape[0] == rows:
        return x
    return jnp.concatenate([x, jnp.repeat(x[:1], rows - x.shape[0], axis=0)])


def score_vectors(model: Transformer, prompts: Any, completions: Any, masks: Any, *,
                  normalise: bool = False, chunk_size: int = CHUNK_ROWS) -> Array:
    r"""Per-sample gradients of the masked sequence log-probabilities, one row per completion.

    .. math::

        s_n = \nabla_\theta\sum_t m_{n,t}\log\pi_\theta(y_{n,t}\mid q_n, y_{n,<t})
        \quad\Big(\text{divided by } |y_n| = \sum_t m_{n,t}\text{ if } \texttt{normalise}\Big),

    computed by ``jax.vmap`` of ``jax.grad`` over chunks of ``chunk_size`` rows (one compiled
    call per chunk shape; the last chunk is padded), so that memory stays bounded by the chunk.

    Args:
        model: the policy.
        prompts: ``Int[Array, "N P"]`` prompts.
        completions: ``Int[Array, "N L"]`` completions.
        masks: ``Float[Array, "N L"]`` token weights (usually
            :func:`~grpo_theory.transformer.tasks.completion_mask`).
        normalise: divide each score by its completion's length (per-token averaging).
        chunk_size: rows per compiled call, ``>= 1``.

    Returns:
        ``Float[Array, "N D"]`` in the model's dtype.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 8, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> s = score_vectors(model, jnp.array([[14, 1, 10, 2, 13]] * 3),
        ...                   jnp.array([[3, 15], [3, 15], [4, 4]]), jnp.ones((3, 2)))
        >>> s.shape == (3, parameter_vector(model).size), bool(jnp.all(s[0] == s[1]))
        (True, True)
    """
    _check_model(model)
    prompts = _tokens(prompts, "prompts", 2)
    completions = _tokens(completions, "completions", 2)
    N, P = prompts.shape
    L = completions.shape[1]
    if completions.shape[0] != N:
        raise ValueError(f"completions must have one row per prompt (N = {N}), got "
                         f"{completions.shape[0]}")
    masks = jnp.asarray(masks)
    if masks.shape != completions.shape:
        raise ValueError(f"masks must have the shape of completions {list(completions.shape)}, "
                         f"got {list(masks.shape)}")
    _check_context(model, P, L, "score_vectors")
    C = _int(chunk_size, "chunk_size", 1)
    normalise = bool(normalise)
    if N <= C:
        return _score_chunk(model, prompts, completions, masks, normalise)
    out = []
    for start in range(0, N, C):
        stop = min(N, start + C)
        rows = [_pad_rows(a[start:stop], C) for a in (prompts, completions, masks)]
        out.append(_score_chunk(model, *rows, normalise)[: stop - start])
    return jnp.concatenate(out)


@eqx.filter_jit
def _token_logps(model: Transformer, tokens_NxT: Array, P: int) -> Array:
    return jax.vmap(token_log_probs, in_axes=(None, 0, None))(model, tokens_NxT, P)


@eqx.filter_jit
def _token_jacobian(model: Transformer, tokens_NxT: Array, P: int) -> tuple[Array, Array]:
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_array))

    def lp(theta: Array) -> Array:
        m = eqx.combine(unravel(theta), model)
        return jax.vmap(token_log_probs, in_axes=(None, 0, None))(m, tokens_NxT, P)

    return lp(flat), jax.jacrev(lp)(flat)


def token_score_vectors(model: Transformer, prompt: Any, completion: Any) -> Array:
    r"""Token scores :math:`g_t = \nabla_\theta\log\pi_\theta(y_t\mid q, y_{<t})`, one row per
    completion token (no mask: every position).

    Args:
        model: the policy.
        prompt: ``Int[Array, "P"]`` one prompt.
        completion: ``Int[Array, "L"]`` one completion.

    Returns:
        ``Float[Array, "L D"]``; the masked sum of its rows is the sequence score.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 8, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> g = token_score_vectors(model, jnp.array([14, 1, 10, 2, 13]), jnp.array([3, 15]))
        >>> s = score_vectors(model, jnp.array([[14, 1, 10, 2, 13]]), jnp.array([[3, 15]]),
        ...                   jnp.ones((1, 2)))
        >>> g.shape[0], bool(jnp.allclose(g.sum(axis=0), s[0], atol=1e-5))
        (2, True)
    """
    _check_model(model)
    prompt = _tokens(prompt, "prompt", 1)
    completion = _tokens(completion, "completion", 1)
    _check_context(model, prompt.shape[0], completion.shape[0], "token_score_vectors")
    tokens = jnp.concatenate([prompt, completion])[None]
    return _token_jacobian(model, tokens, int(prompt.shape[0]))[1][0]


# ----------------------------------------------------------------------------------------------
# DPO against 2-GRPO on one pair
# ----------------------------------------------------------------------------------------------


def _check_aggregation(aggregation: Any) -> str:
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; got "
                         f"{aggregation!r}")
    return str(aggregation)


def _sequence_weights(masks_2xL: np.ndarray, aggregation: str,
                      max_length: int | None) -> np.ndarray:
    lengths = masks_2xL.sum(axis=1)
    if aggregation == "seq-mean-token-sum":
        return np.full(2, 0.5)
    if aggregation == "seq-mean-token-mean":
        return 0.5 / lengths
    if aggregation == "token-mean":
        return np.full(2, 1.0 / lengths.sum())
    L = masks_2xL.shape[1] if max_length is None else max_length
    return np.full(2, 0.5 / L)


def two_grpo_closed_form(token_scores: Any, masks: Any, ratios: Any, *, aggregation: str,
                         epsilon_low: float = 0.2, epsilon_high: float = 0.2,
                         max_length: int | None = None) -> np.ndarray:
    r"""Closed form of the 2-GRPO gradient of a pair, from its token scores and ratios.

    With advantages :math:`A = (+1, -1)` (the preferred completion first), the aggregation's
    sequence weights :math:`\kappa_i` (``seq-mean-token-sum`` :math:`\tfrac12`,
    ``seq-mean-token-mean`` :math:`\tfrac1{2|y_i|}`, ``token-mean`` :math:`\tfrac1{|w|+|l|}`,
    ``seq-mean-token-sum-norm`` :math:`\tfrac1{2L_{\max}}`) and the unclipped tokens
    (:math:`\rho < 1+\epsilon_h` for :math:`A > 0`, :math:`\rho > 1-\epsilon_l` for
    :math:`A < 0`),

    .. math::

        \nabla\mathcal L = -\sum_i\kappa_iA_i\sum_t m_{i,t}\,
            \mathbb 1[\text{unclipped}]\,\rho_{i,t}\,g_{i,t}.

    On-policy (all ratios 1, :math:`\epsilon > 0`) this is :math:`-\sum_i\kappa_iA_is_i`.
    Tokens exactly on a clip boundary (where the loss has a kink) are treated as clipped.

    Args:
        token_scores: ``Float[Array, "2 L D"]`` token scores of the two completions.
        masks: ``Float[Array, "2 L"]`` 0/1 masks.
        ratios: ``Float[Array, "2 L"]`` token ratios :math:`\pi_\theta/\pi_{\mathrm{old}}`.
        aggregation: one of :data:`~grpo_theory.policy_gradient.losses.AGGREGATIONS`.
        epsilon_low: :math:`\epsilon_l > 0`.
        epsilon_high: :math:`\epsilon_h > 0`.
        max_length: :math:`L_{\max}` of ``seq-mean-token-sum-norm`` (default ``L``).

    Returns:
        ``Float[ndarray, "D"]`` (float64) the gradient of the loss.

    Example:
        >>> g = np.zeros((2, 2, 3)); g[0, 0, 0] = 1.0; g[1, 0, 1] = 1.0
        >>> two_grpo_closed_form(g, np.array([[1, 0], [1, 1]]), np.ones((2, 2)),
        ...                      aggregation="seq-mean-token-sum").tolist()
        [-0.5, 0.5, 0.0]
    """
    aggregation = _check_aggregation(aggregation)
    check_positive(epsilon_low, "epsilon_low")
    check_positive(epsilon_high, "epsilon_high")
    g = np.asarray(token_scores, dtype=float)
    if g.ndim != 3 or g.shape[0] != 2:
        raise ValueError(f"token_scores must have shape [2, L, D], got {list(g.shape)}")
    m = np.asarray(masks, dtype=float)
    rho = np.asarray(ratios, dtype=float)
    if m.shape != g.shape[:2] or rho.shape != g.shape[:2]:
        raise ValueError(f"masks and ratios must have shape [2, L] = {list(g.shape[:2])}, got "
                         f"{list(m.shape)} and {list(rho.shape)}")
    if max_length is not None:
        _int(max_length, "max_length", 1)
    adv = np.asarray(_TWO_GRPO_ADVANTAGES)
    unclipped = np.where(adv[:, None] > 0, rho < 1.0 + epsilon_high, rho > 1.0 - epsilon_low)
    kappa = _sequence_weights(m, aggregation, max_length)
    coef = -(kappa * adv)[:, None] * m * unclipped * rho
    return np.einsum("il,ild->d", coef, g)


@dataclasses.dataclass(frozen=True)
class DPORelation:
    r"""DPO and 2-GRPO gradients of one pair, by autodiff and in closed form.

    Attributes:
        beta: :math:`\beta`.
        log_ratio_margin: :math:`m` (the implicit-reward margin is :math:`\beta m`).
        weight: :math:`2\sigma(-\beta m)` (1 at the reference).
        length_w: :math:`|w|`.
        length_l: :math:`|l|`.
        grad_dpo: autodiff :math:`\nabla\mathcal L_{\mathrm{DPO}}`, ``[D]``.
        grad_dpo_closed_form: :math:`-\beta\sigma(-\beta m)(s_w - s_l)`.
        grad_two_grpo: autodiff on-policy 2-GRPO gradient per aggregation.
        grad_two_grpo_closed_form: :func:`two_grpo_closed_form` per aggregation.
    """

    beta: float
    log_ratio_margin: float
    weight: float
    length_w: float
    length_l: float
    grad_dpo: np.ndarray
    grad_dpo_closed_form: np.ndarray
    grad_two_grpo: Mapping[str, np.ndarray]
    grad_two_grpo_closed_form: Mapping[str, np.ndarray]

    @property
    def relation_error(self) -> float:
        r""":math:`\|\nabla\mathcal L_{\mathrm{DPO}} - 2\sigma(-\beta m)\beta\nabla\mathcal
        L_{\mathrm{2GRPO}}\| / \|\nabla\mathcal L_{\mathrm{DPO}}\|` (sequence sum)."""
        g2 = self.grad_two_grpo["seq-mean-token-sum"]
        return _rel(self.grad_dpo, self.weight * self.beta * g2)

    @property
    def reference_error(self) -> float:
        r"""The same without the weight: :math:`\|\nabla\mathcal L_{\mathrm{DPO}} -
        \beta\nabla\mathcal L_{\mathrm{2GRPO}}\|/\|\nabla\mathcal L_{\mathrm{DPO}}\|
        = |1 - 1/(2\sigma(-\beta m))|`."""
        return _rel(self.grad_dpo, self.beta * self.grad_two_grpo["seq-mean-token-sum"])

    def closed_form_errors(self) -> dict[str, float]:
        """Relative error of each closed form against autodiff (``dpo`` and each aggregation)."""
        out = {"dpo": _rel(self.grad_dpo_closed_form, self.grad_dpo)}
        for agg, g in self.grad_two_grpo.items():
            out[agg] = _rel(self.grad_two_grpo_closed_form[agg], g)
        return out

    def cosine(self, aggregation: str) -> float:
        """Cosine between the DPO gradient and the 2-GRPO gradient of ``aggregation``."""
        return _cos(self.grad_dpo, self.grad_two_grpo[_check_aggregation(aggregation)])

    def as_dict(self) -> dict[str, Any]:
        """Scalar summary (JSON-ready)."""
        return {
            "beta": self.beta, "log_ratio_margin": self.log_ratio_margin, "weight": self.weight,
            "length_w": self.length_w, "length_l": self.length_l,
            "relation_error": self.relation_error, "reference_error": self.reference_error,
            "closed_form_errors": self.closed_form_errors(),
            "cosines": {a: self.cosine(a) for a in self.grad_two_grpo},
        }


def _rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def _cos(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _pair_inputs(model: Transformer, prompt: Any, y_w: Any, y_l: Any, mask_w: Any,
                 mask_l: Any) -> tuple[Array, Array, int]:
    prompt = _tokens(prompt, "prompt", 1)
    y_w = _tokens(y_w, "y_w", 1)
    y_l = _tokens(y_l, "y_l", 1)
    if y_w.shape != y_l.shape:
        raise ValueError(f"y_l must have the shape of y_w {list(y_w.shape)}, got "
                         f"{list(y_l.shape)}")
    P, L = int(prompt.shape[0]), int(y_w.shape[0])
    _check_context(model, P, L, "the pair")
    dtype = model.config.jnp_dtype
    masks = jnp.stack([_binary_mask(mask_w, "mask_w", (L,), dtype),
                       _binary_mask(mask_l, "mask_l", (L,), dtype)])
    tokens = jnp.stack([jnp.concatenate([prompt, y_w]), jnp.concatenate([prompt, y_l])])
    return tokens, masks, P


@eqx.filter_jit
def _pair_gradients(model: Transformer, tokens_2xT: Array, masks_2xL: Array,
                    ref_logp_2: Array | None, P: int, beta: float, epsilon_low: float,
                    epsilon_high: float) -> tuple[Array, Array, Array, Array]:
    """Token log-probs, DPO gradient, 2-GRPO gradients (every aggregation), token Jacobian.

    One reverse-mode Jacobian of the vector (DPO loss, the 2-GRPO losses, the token
    log-probabilities). ``ref_logp_2 = None`` is the reference at the current parameters: a
    frozen copy (its sequence log-probabilities are the current ones under ``stop_gradient``, so
    :math:`m = 0`).
    """
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_array))
    adv = grpo_advantages(jnp.asarray([1.0, 0.0], dtype=flat.dtype))
    n_agg = len(AGGREGATIONS)

    def outputs(theta: Array) -> Array:
        m = eqx.combine(unravel(theta), model)
        lp = jax.vmap(token_log_probs, in_axes=(None, 0, None))(m, tokens_2xT, P)
        seq = jnp.sum(lp * masks_2xL, axis=1)
        ref = jax.lax.stop_gradient(seq) if ref_logp_2 is None else ref_logp_2
        dpo = dpo_loss(seq[0], seq[1], ref[0], ref[1], beta)
        old = jax.lax.stop_gradient(lp)
        grpo = [policy_loss(lp, old, masks_2xL, adv, epsilon_low=epsilon_low,
                            epsilon_high=epsilon_high, aggregation=a) for a in AGGREGATIONS]
        return jnp.concatenate([jnp.stack([dpo, *grpo]), lp.reshape(-1)])

    jac = jax.jacrev(outputs)(flat)
    L = masks_2xL.shape[1]
    lp = jax.vmap(token_log_probs, in_axes=(None, 0, None))(model, tokens_2xT, P)
    return lp, jac[0], jac[1:1 + n_agg], jac[1 + n_agg:].reshape(2, L, -1)


def dpo_relation(model: Transformer, prompt: Any, y_w: Any, y_l: Any, mask_w: Any, mask_l: Any,
                 *, beta: float, ref_model: Transformer | None = None) -> DPORelation:
    r"""The DPO gradient of a pair against the on-policy 2-GRPO gradient of the same pair.

    Sequence log-probabilities are masked sums of token log-probabilities; the reference is
    ``ref_model`` or, if ``None``, a frozen copy of ``model`` (then :math:`m = 0`). The 2-GRPO
    loss is :func:`~grpo_theory.policy_gradient.losses.policy_loss` with advantages
    ``grpo_advantages([1, 0])`` :math:`= (+1, -1)`, ``old_logp = stop_gradient(logp)``, token
    ratios and the default clip range (inactive on-policy), under every aggregation. See the
    module docstring for the closed forms; at :math:`\pi_\theta = \pi_{\mathrm{ref}}`,
    :math:`\nabla\mathcal L_{\mathrm{DPO}} = \beta\nabla\mathcal L_{\mathrm{2GRPO}}` (sequence
    sum), and in general :math:`\nabla\mathcal L_{\mathrm{DPO}} = 2\sigma(-\beta m)\beta
    \nabla\mathcal L_{\mathrm{2GRPO}}`.

    Args:
        model: the policy :math:`\pi_\theta`.
        prompt: ``Int[Array, "P"]`` the prompt.
        y_w: ``Int[Array, "L"]`` the preferred completion.
        y_l: ``Int[Array, "L"]`` the dispreferred completion.
        mask_w: ``Float[Array, "L"]`` 0/1 mask of ``y_w`` (at least one token).
        mask_l: ``Float[Array, "L"]`` 0/1 mask of ``y_l``.
        beta: :math:`\beta > 0` (a Python float; each value compiles once).
        ref_model: the reference :math:`\pi_{\mathrm{ref}}` (same architecture) or ``None``.

    Returns:
        :class:`DPORelation`.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 8, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> rel = dpo_relation(model, jnp.array([14, 1, 10, 2, 13]), jnp.array([3, 15]),
        ...                    jnp.array([4, 4]), jnp.array([1, 1]), jnp.array([1, 1]), beta=0.5)
        >>> rel.weight, rel.relation_error < 1e-5
        (1.0, True)
    """
    _check_model(model)
    beta = float(check_positive(beta, "beta"))
    tokens, masks, P = _pair_inputs(model, prompt, y_w, y_l, mask_w, mask_l)
    ref_seq = None
    if ref_model is not None:
        _check_model(ref_model, "ref_model")
        if parameter_vector(ref_model).shape != parameter_vector(model).shape:
            raise ValueError("ref_model must have the architecture of model (same parameter "
                             "count)")
        ref_lp = _token_logps(ref_model, tokens, P)
        ref_seq = jnp.sum(ref_lp * masks.astype(ref_lp.dtype), axis=1).astype(masks.dtype)
    lp, g_dpo, g_aggs, jac = _pair_gradients(model, tokens, masks, ref_seq, P, beta, 0.2, 0.2)
    m_np = np.asarray(masks, dtype=float)
    seq = np.sum(np.asarray(lp, dtype=float) * m_np, axis=1)
    margin = 0.0
    if ref_seq is not None:
        ref_np = np.asarray(ref_seq, dtype=float)
        margin = float((seq[0] - ref_np[0]) - (seq[1] - ref_np[1]))
    jac_np = np.asarray(jac, dtype=float)
    scores = np.einsum("il,ild->id", m_np, jac_np)
    sig = float(special.expit(-beta * margin))
    closed = {a: two_grpo_closed_form(jac_np, m_np, np.ones_like(m_np), aggregation=a)
              for a in AGGREGATIONS}
    return DPORelation(
        beta=beta, log_ratio_margin=margin, weight=2.0 * sig,
        length_w=float(m_np[0].sum()), length_l=float(m_np[1].sum()),
        grad_dpo=np.asarray(g_dpo, dtype=float),
        grad_dpo_closed_form=-beta * sig * (scores[0] - scores[1]),
        grad_two_grpo={a: np.asarray(g_aggs[i], dtype=float) for i, a in enumerate(AGGREGATIONS)},
        grad_two_grpo_closed_form=closed,
    )


@dataclasses.dataclass(frozen=True)
class ClippingRelation:
    r"""The clipped off-policy 2-GRPO gradient of a pair, by autodiff and in closed form.

    Attributes:
        aggregation: the loss aggregation.
        epsilon_low: :math:`\epsilon_l`.
        epsilon_high: :math:`\epsilon_h`.
        ratios: ``[2, L]`` token ratios :math:`\pi_\theta/\pi_{\mathrm{old}}`.
        masks: ``[2, L]`` the masks.
        clipped: ``[2, L]`` masked tokens whose term the clip removes.
        grad_autodiff: autodiff gradient of the clipped loss, ``[D]``.
        grad_closed_form: :func:`two_grpo_closed_form` (unclipped tokens only).
        grad_without_clipping: the same sum over every masked token (the unclipped surrogate).
        term_scale: :math:`\sum_{i,t}\kappa_i m_{i,t}\rho_{i,t}\|g_{i,t}\|`, the size of the
            individual terms (the scale of rounding errors: terms can cancel, for example the
            first token of two completions that share it, whose scores are equal).
    """

    aggregation: str
    epsilon_low: float
    epsilon_high: float
    ratios: np.ndarray
    masks: np.ndarray
    clipped: np.ndarray
    grad_autodiff: np.ndarray
    grad_closed_form: np.ndarray
    grad_without_clipping: np.ndarray
    term_scale: float

    @property
    def relative_error(self) -> float:
        r""":math:`\|\text{closed form} - \text{autodiff}\|` over the larger of their norms and
        ``term_scale``."""
        err = float(np.linalg.norm(self.grad_closed_form - self.grad_autodiff))
        scale = max(float(np.linalg.norm(self.grad_autodiff)),
                    float(np.linalg.norm(self.grad_closed_form)), self.term_scale)
        return err / scale if scale > 0 else 0.0

    @property
    def n_clipped(self) -> tuple[int, int]:
        """Clipped tokens of the preferred and of the dispreferred completion."""
        return int(self.clipped[0].sum()), int(self.clipped[1].sum())

    @property
    def clipping_effect(self) -> float:
        """Relative distance between the clipped gradient and the unclipped-surrogate one."""
        return _rel(self.grad_autodiff, self.grad_without_clipping)

    def as_dict(self) -> dict[str, Any]:
        """Scalar summary (JSON-ready)."""
        return {"aggregation": self.aggregation, "epsilon_low": self.epsilon_low,
                "epsilon_high": self.epsilon_high, "ratios": self.ratios.tolist(),
                "n_clipped": list(self.n_clipped), "relative_error": self.relative_error,
                "clipping_effect": self.clipping_effect}


@eqx.filter_jit
def _clipped_gradients(model: Transformer, tokens_2xT: Array, masks_2xL: Array, old_2xL: Array,
                       P: int, epsilon_low: float, epsilon_high: float,
                       max_length: int | None) -> tuple[Array, Array, Array]:
    """Token log-probs, gradients of the clipped loss under every aggregation, token Jacobian.

    One reverse-mode Jacobian of the vector (the losses, the token log-probabilities).
    """
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_array))
    adv = grpo_advantages(jnp.asarray([1.0, 0.0], dtype=flat.dtype))
    n_agg = len(AGGREGATIONS)

    def outputs(theta: Array) -> Array:
        m = eqx.combine(unravel(theta), model)
        lp = jax.vmap(token_log_probs, in_axes=(None, 0, None))(m, tokens_2xT, P)
        losses = [policy_loss(lp, old_2xL, masks_2xL, adv, epsilon_low=epsilon_low,
                              epsilon_high=epsilon_high, aggregation=a, max_length=max_length)
                  for a in AGGREGATIONS]
        return jnp.concatenate([jnp.stack(losses), lp.reshape(-1)])

    jac = jax.jacrev(outputs)(flat)
    lp = jax.vmap(token_log_probs, in_axes=(None, 0, None))(model, tokens_2xT, P)
    return lp, jac[:n_agg], jac[n_agg:].reshape(2, masks_2xL.shape[1], -1)


def clipping_relation(model: Transformer, old_model: Transformer, prompt: Any, y_w: Any,
                      y_l: Any, mask_w: Any, mask_l: Any, *, epsilon_low: float = 0.2,
                      epsilon_high: float = 0.2, aggregation: str = "seq-mean-token-sum",
                      max_length: int | None = None) -> ClippingRelation:
    r"""The 2-GRPO gradient of a pair sampled from ``old_model``, taken at ``model``.

    ``old_logp`` are the token log-probabilities under ``old_model`` (the sampling policy);
    ratios :math:`\rho_{i,t} = \pi_\theta/\pi_{\mathrm{old}}` then differ from 1 and the clip
    removes the terms of the tokens outside the range on the side of their advantage (module
    docstring). The autodiff gradient of
    :func:`~grpo_theory.policy_gradient.losses.policy_loss` is returned beside the closed form
    :func:`two_grpo_closed_form` and the sum over every token.

    Args:
        model: the current policy :math:`\pi_\theta`.
        old_model: the sampling policy :math:`\pi_{\mathrm{old}}` (same architecture).
        prompt: ``Int[Array, "P"]``.
        y_w: ``Int[Array, "L"]`` the positive completion (advantage +1).
        y_l: ``Int[Array, "L"]`` the negative completion (advantage -1).
        mask_w: ``Float[Array, "L"]`` 0/1 mask.
        mask_l: ``Float[Array, "L"]`` 0/1 mask.
        epsilon_low: :math:`\epsilon_l` in :math:`(0, 1)`.
        epsilon_high: :math:`\epsilon_h > 0`.
        aggregation: one of :data:`~grpo_theory.policy_gradient.losses.AGGREGATIONS`.
        max_length: :math:`L_{\max}` of ``seq-mean-token-sum-norm``.

    Returns:
        :class:`ClippingRelation`.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> old = init_model(jax.random.key(0), ModelConfig(17, 8, d_model=8, n_heads=1,
        ...                                                 n_layers=1))
        >>> new = with_parameters(old, 1.05 * parameter_vector(old))
        >>> rel = clipping_relation(new, old, jnp.array([14, 1, 10, 2, 13]), jnp.array([3, 15]),
        ...                         jnp.array([4, 4]), jnp.array([1, 1]), jnp.array([1, 1]))
        >>> rel.relative_error < 1e-5
        True
    """
    _check_model(model)
    _check_model(old_model, "old_model")
    if parameter_vector(old_model).shape != parameter_vector(model).shape:
        raise ValueError("old_model must have the architecture of model (same parameter count)")
    aggregation = _check_aggregation(aggregation)
    check_positive(epsilon_low, "epsilon_low")
    check_positive(epsilon_high, "epsilon_high")
    if float(epsilon_low) >= 1.0:
        raise ValueError(f"epsilon_low must be in (0, 1), got {epsilon_low!r}")
    if max_length is not None:
        _int(max_length, "max_length", 1)
    tokens, masks, P = _pair_inputs(model, prompt, y_w, y_l, mask_w, mask_l)
    old = _token_logps(old_model, tokens, P).astype(masks.dtype)
    lp, grads, jac = _clipped_gradients(model, tokens, masks, old, P, float(epsilon_low),
                                        float(epsilon_high), max_length)
    grad = grads[AGGREGATIONS.index(aggregation)]
    m_np = np.asarray(masks, dtype=float)
    ratios = np.where(m_np > 0, np.exp(np.asarray(lp, float) - np.asarray(old, float)), 1.0)
    jac_np = np.asarray(jac, dtype=float)
    kw = {"aggregation": aggregation, "epsilon_low": float(epsilon_low),
          "epsilon_high": float(epsilon_high), "max_length": max_length}
    closed = two_grpo_closed_form(jac_np, m_np, ratios, **kw)
    adv = np.asarray(_TWO_GRPO_ADVANTAGES)[:, None]
    clipped = (m_np > 0) & np.where(adv > 0, ratios >= 1.0 + epsilon_high,
                                    ratios <= 1.0 - epsilon_low)
    # every token unclipped: the same sum with the indicator set to one
    kappa = _sequence_weights(m_np, aggregation, max_length)
    coef = -(kappa[:, None] * adv) * m_np * ratios
    return ClippingRelation(
        aggregation=aggregation, epsilon_low=float(epsilon_low),
        epsilon_high=float(epsilon_high), ratios=ratios, masks=m_np, clipped=clipped,
        grad_autodiff=np.asarray(grad, dtype=float), grad_closed_form=closed,
        grad_without_clipping=np.einsum("il,ild->d", coef, jac_np),
        term_scale=float(np.sum(np.abs(coef) * np.linalg.norm(jac_np, axis=2))),
    )


# ----------------------------------------------------------------------------------------------
# Control variates
# ----------------------------------------------------------------------------------------------


def pair_within_prompts(rng: np.random.Generator, rewards: Any,
                        prompt_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Pair positive with negative responses of the same prompt, at random.

    For each prompt, its :math:`n^+` positive and :math:`n^-` negative responses are shuffled
    and the first :math:`\min(n^+, n^-)` of each are paired: the pairs are independent draws of
    :math:`(g^+, g^-)` given the prompt when the responses are.

    Args:
        rng: a numpy ``Generator``.
        rewards: ``Float[ndarray, "N"]`` binary rewards of the responses.
        prompt_ids: ``Int[ndarray, "N"]`` the prompt of each response.

    Returns:
        ``(plus_idx, minus_idx)``, indices of the paired responses (same length, prompts in
        increasing order).

    Example:
        >>> plus, minus = pair_within_prompts(np.random.default_rng(0), [1, 0, 0, 1, 1],
        ...                                   [0, 0, 0, 1, 1])
        >>> plus.tolist(), minus.tolist()
        ([0], [1])
    """
    r = np.asarray(rewards, dtype=float)
    ids = np.asarray(prompt_ids)
    if r.ndim != 1 or ids.shape != r.shape:
        raise ValueError(f"rewards and prompt_ids must have the same shape [N], got "
                         f"{list(r.shape)} and {list(ids.shape)}")
    if not np.all((r == 0) | (r == 1)):
        raise ValueError("rewards must be binary (0 or 1)")
    plus, minus = [], []
    for q in np.unique(ids):
        pos = rng.permutation(np.flatnonzero((ids == q) & (r == 1)))
        neg = rng.permutation(np.flatnonzero((ids == q) & (r == 0)))
        k = min(pos.size, neg.size)
        plus.append(np.sort(pos[:k]) if k else pos[:0])
        minus.append(neg[:k])
    return np.concatenate(plus).astype(int), np.concatenate(minus).astype(int)


_CV_NAMES = ("covariance", "covariance_within", "covariance_across", "var_plus",
             "var_plus_within", "var_plus_across", "var_minus", "var_minus_within",
             "var_minus_across", "rho", "c_star", "one_minus_rho_sq", "var_difference",
             "var_c_star", "variance_ratio")


@dataclasses.dataclass(frozen=True)
class ControlVariateStats:
    r"""Control-variate statistics of score pairs :math:`(g^+, g^-)`, traces for vectors.

    Attributes:
        n_pairs: number of pairs.
        n_prompts: number of distinct prompts.
        weighting: ``"prompt"`` (every prompt weighs the same) or ``"pair"``.
        confidence: level of the intervals.
        values: each statistic (``covariance``, ``covariance_within``, ``covariance_across``,
            ``var_plus`` and ``var_minus`` with their ``_within`` / ``_across`` parts, ``rho``,
            ``c_star``, ``one_minus_rho_sq``, ``var_difference`` :math:`= V_+ + V_- - 2C`,
            ``var_c_star`` :math:`= (1-\rho^2)V_+`, ``variance_ratio`` :math:`=
            \mathrm{Var}(g^+ - g^-)/\mathrm{Var}(g^+)`).
        stderr: delete-one-prompt jackknife standard errors.
        intervals: :math:`t_{N-1}` intervals (``scipy.stats.t``).
        decomposition_error: largest :math:`|\text{total} - \text{within} - \text{across}|`
            over :math:`C, V_+, V_-`, relative to :math:`\max(V_+, V_-)` (each part computed
            from its own centred definition).
    """

    n_pairs: int
    n_prompts: int
    weighting: str
    confidence: float
    values: Mapping[str, float]
    stderr: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]]
    decomposition_error: float

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"n_pairs": self.n_pairs, "n_prompts": self.n_prompts,
                "weighting": self.weighting, "confidence": self.confidence,
                "values": dict(self.values), "stderr": dict(self.stderr),
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "decomposition_error": self.decomposition_error}


def _cv_derived(C: Any, Cw: Any, Vp: Any, Vpw: Any, Vm: Any, Vmw: Any) -> dict[str, Any]:
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = C / np.sqrt(Vp * Vm)
        c_star = C / Vm
        var_diff = Vp + Vm - 2.0 * C
        return {"covariance": C, "covariance_within": Cw, "covariance_across": C - Cw,
                "var_plus": Vp, "var_plus_within": Vpw, "var_plus_across": Vp - Vpw,
                "var_minus": Vm, "var_minus_within": Vmw, "var_minus_across": Vm - Vmw,
                "rho": rho, "c_star": c_star, "one_minus_rho_sq": 1.0 - rho * rho,
                "var_difference": var_diff, "var_c_star": (1.0 - rho * rho) * Vp,
                "variance_ratio": var_diff / Vp}


def control_variate_stats(g_plus: Any, g_minus: Any, prompt_ids: Any, *,
                          weighting: str = "prompt",
                          confidence: float = 0.95) -> ControlVariateStats:
    r"""Prop 4.1's statistics for score pairs, split within and across prompts, with CIs.

    Each pair :math:`n` has a weight :math:`w_n` (``"prompt"``: :math:`1/n_q` for the
    :math:`n_q` pairs of its prompt, so prompts weigh the same; ``"pair"``: 1), normalised to
    sum to 1. Then (ddof 0, traces)

    .. math::

        C = \sum_n w_n (x_n - \bar x)\cdot(y_n - \bar y), \quad
        C_{\mathrm{within}} = \sum_q\sum_{n\in q} w_n (x_n - \bar x_q)\cdot(y_n - \bar y_q),
        \quad C_{\mathrm{across}} = \sum_q W_q(\bar x_q - \bar x)\cdot(\bar y_q - \bar y),

    and likewise :math:`V_\pm`; :math:`C = C_{\mathrm{within}} + C_{\mathrm{across}}` is an
    identity on the sample (its rounding error is ``decomposition_error``). For independently
    drawn pairs :math:`\mathbb E\,C_{\mathrm{within}} = 0`. Standard errors are delete-one-prompt
    jackknife (prompts are the i.i.d. units), intervals use :math:`t_{N-1}`.

    Args:
        g_plus: ``Float[Array, "M D"]`` positive-response scores.
        g_minus: ``Float[Array, "M D"]`` negative-response scores (row :math:`n` pairs with row
            :math:`n` of ``g_plus``).
        prompt_ids: ``Int[Array, "M"]`` the prompt of each pair (at least 3 distinct).
        weighting: ``"prompt"`` (default) or ``"pair"``.
        confidence: interval level in :math:`(0, 1)`.

    Returns:
        :class:`ControlVariateStats`.

    Example:
        >>> x = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0], [1.0, 1.0], [2.0, 2.0]])
        >>> cv = control_variate_stats(x, -x, [0, 0, 1, 1, 2, 2])
        >>> round(cv.rho, 12), cv.decomposition_error < 1e-12
        (-1.0, True)
    """
    x = np.asarray(g_plus)
    y = np.asarray(g_minus)
    ids = np.asarray(prompt_ids)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"g_plus must have shape [M, D] with M >= 2, got {list(x.shape)}")
    if y.shape != x.shape:
        raise ValueError(f"g_minus must have the shape of g_plus {list(x.shape)}, got "
                         f"{list(y.shape)}")
    if ids.shape != (x.shape[0],):
        raise ValueError(f"prompt_ids must have shape [M] = [{x.shape[0]}], got "
                         f"{list(ids.shape)}")
    if weighting not in ("prompt", "pair"):
        raise ValueError(f"weighting must be 'prompt' or 'pair', got {weighting!r}")
    confidence = _level(confidence, "confidence")
    prompts = np.unique(ids)
    N, D = prompts.size, x.shape[1]
    if N < 3:
        raise ValueError(f"prompt_ids must name at least 3 distinct prompts (jackknife), got {N}")
    W = np.zeros(N)
    Sx, Sy = np.zeros((N, D)), np.zeros((N, D))
    sxy, sxx, syy = np.zeros(N), np.zeros(N), np.zeros(N)
    cxy, cxx, cyy = np.zeros(N), np.zeros(N), np.zeros(N)
    members = []
    for j, q in enumerate(prompts):
        idx = np.flatnonzero(ids == q)
        members.append(idx)
        xq, yq = x[idx].astype(float), y[idx].astype(float)
        w = np.full(idx.size, 1.0 / idx.size if weighting == "prompt" else 1.0)
        W[j] = w.sum()
        Sx[j], Sy[j] = w @ xq, w @ yq
        sxy[j], sxx[j], syy[j] = (w @ np.sum(xq * yq, axis=1), w @ np.sum(xq * xq, axis=1),
                                  w @ np.sum(yq * yq, axis=1))
        dx, dy = xq - Sx[j] / W[j], yq - Sy[j] / W[j]
        cxy[j], cxx[j], cyy[j] = (w @ np.sum(dx * dy, axis=1), w @ np.sum(dx * dx, axis=1),
                                  w @ np.sum(dy * dy, axis=1))
    Wt = W.sum()
    xbar, ybar = Sx.sum(axis=0) / Wt, Sy.sum(axis=0) / Wt
    # total from its own centred definition (a second pass over the pairs)
    tot = np.zeros(3)
    for j, idx in enumerate(members):
        w = np.full(idx.size, W[j] / idx.size)
        dx, dy = x[idx].astype(float) - xbar, y[idx].astype(float) - ybar
        tot += [w @ np.sum(dx * dy, axis=1), w @ np.sum(dx * dx, axis=1),
                w @ np.sum(dy * dy, axis=1)]
    tot /= Wt
    within = np.array([cxy.sum(), cxx.sum(), cyy.sum()]) / Wt
    mx, my = Sx / W[:, None] - xbar, Sy / W[:, None] - ybar
    across = np.array([W @ np.sum(mx * my, axis=1), W @ np.sum(mx * mx, axis=1),
                       W @ np.sum(my * my, axis=1)]) / Wt
    scale = max(tot[1], tot[2])
    decomposition_error = float(np.max(np.abs(tot - within - across)) / scale) if scale > 0 \
        else 0.0
    values = {k: float(v) for k, v in _cv_derived(tot[0], within[0], tot[1], within[1], tot[2],
                                                   within[2]).items()}
    # delete-one-prompt jackknife from the per-prompt sums
    SxT, SyT = Sx.sum(axis=0), Sy.sum(axis=0)
    W1 = Wt - W
    dot_xy = SxT @ SyT - Sy @ SxT - Sx @ SyT + np.sum(Sx * Sy, axis=1)
    dot_xx = SxT @ SxT - 2.0 * (Sx @ SxT) + np.sum(Sx * Sx, axis=1)
    dot_yy = SyT @ SyT - 2.0 * (Sy @ SyT) + np.sum(Sy * Sy, axis=1)
    C1 = (sxy.sum() - sxy) / W1 - dot_xy / W1**2
    Vp1 = (sxx.sum() - sxx) / W1 - dot_xx / W1**2
    Vm1 = (syy.sum() - syy) / W1 - dot_yy / W1**2
    reps = _cv_derived(C1, (cxy.sum() - cxy) / W1, Vp1, (cxx.sum() - cxx) / W1, Vm1,
                       (cyy.sum() - cyy) / W1)
    tq = float(sps.t.ppf(0.5 + confidence / 2.0, N - 1))
    stderr, intervals = {}, {}
    for name in _CV_NAMES:
        r = np.asarray(reps[name], dtype=float)
        se = float(np.sqrt((N - 1) / N * np.sum((r - r.mean()) ** 2)))
        stderr[name] = se
        intervals[name] = (values[name] - tq * se, values[name] + tq * se)
    return ControlVariateStats(n_pairs=int(x.shape[0]), n_prompts=N, weighting=weighting,
                               confidence=confidence, values=values, stderr=stderr,
                               intervals=intervals, decomposition_error=decomposition_error)


# ----------------------------------------------------------------------------------------------
# The paper's Table-2 measurement
# ----------------------------------------------------------------------------------------------


def response_means(scores: Any, rewards: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per-prompt means of the positive and of the negative responses' scores.

    Args:
        scores: ``Float[Array, "M n D"]`` scores of :math:`n` responses of each of :math:`M`
            prompts.
        rewards: ``Float[Array, "M n"]`` their binary rewards.

    Returns:
        ``(X, Y, kept)``: ``X``, ``Y`` of shape ``[m, D]`` (float64) for the :math:`m` prompts
        with both signs, and their indices ``kept`` ``[m]``.

    Example:
        >>> X, Y, kept = response_means(np.arange(8.0).reshape(2, 2, 2), [[1, 0], [1, 1]])
        >>> X.tolist(), Y.tolist(), kept.tolist()
        ([[0.0, 1.0]], [[2.0, 3.0]], [0])
    """
    s = np.asarray(scores)
    r = np.asarray(rewards, dtype=float)
    if s.ndim != 3 or r.shape != s.shape[:2]:
        raise ValueError(f"scores must have shape [M, n, D] and rewards [M, n], got "
                         f"{list(s.shape)} and {list(r.shape)}")
    if not np.all((r == 0) | (r == 1)):
        raise ValueError("rewards must be binary (0 or 1)")
    n_plus = r.sum(axis=1)
    kept = np.flatnonzero((n_plus > 0) & (n_plus < r.shape[1]))
    rk = r[kept]
    sk = s[kept].astype(float)
    X = np.einsum("mn,mnd->md", rk, sk) / rk.sum(axis=1, keepdims=True)
    Y = np.einsum("mn,mnd->md", 1.0 - rk, sk) / (1.0 - rk).sum(axis=1, keepdims=True)
    return X, Y, kept


@dataclasses.dataclass(frozen=True)
class Table2Measurement:
    r"""Paper v3 App. B.8 (Table 2) measured on per-prompt means, beside the paper's values.

    Attributes:
        prompts_kept: :math:`m`, the prompts with both signs.
        n_prompts: :math:`M` prompts drawn (``None`` if the caller gave means only).
        n_responses: :math:`n` responses each (``None`` likewise).
        covariance: :math:`\hat C = \frac1{m-1}\sum_j (X_j - \bar X)\cdot(Y_j - \bar Y)`.
        permuted: the same with :math:`Y` re-paired by one uniformly random permutation.
        permutation_sd: exact standard deviation of the re-paired statistic given the data
            (its mean is exactly 0).
        z: ``covariance / permutation_sd``.
        p_value: two-sided Monte Carlo permutation p-value
            :math:`(1 + \#\{|\hat C_\sigma| \ge |\hat C|\})/(K + 1)`, valid for any :math:`K`.
        n_permutations: :math:`K`.
        correlation: :math:`\hat C/\sqrt{\hat V_X\hat V_Y}` (scale-free).
        var_x: :math:`\hat V_X`.
        var_y: :math:`\hat V_Y`.
        per_parameter: :math:`\hat C/D`.
        paper: the paper's values (0.08705 and 0.00128).
        note: the paper does not state the units or normalisation of its values.
    """

    prompts_kept: int
    n_prompts: int | None
    n_responses: int | None
    covariance: float
    permuted: float
    permutation_sd: float
    z: float
    p_value: float
    n_permutations: int
    correlation: float
    var_x: float
    var_y: float
    per_parameter: float
    paper: Mapping[str, float]
    note: str = ("the paper (v3 App. B.8) does not state the units or normalisation of its "
                 "values (0.08705 and 0.00128); only signs and ratios compare")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = dataclasses.asdict(self)
        out["paper"] = dict(self.paper)
        return out


def table2_statistics(rng: np.random.Generator, X: Any, Y: Any, *,
                      n_permutations: int = 9999, n_prompts: int | None = None,
                      n_responses: int | None = None) -> Table2Measurement:
    r"""The Table-2 statistic of given per-prompt means and its re-paired baseline.

    With :math:`a_{jk} = (X_j - \bar X)\cdot(Y_k - \bar Y)`, :math:`\hat C = \sum_j a_{jj}/(m-1)`
    and :math:`\hat C_\sigma = \sum_j a_{j\sigma(j)}/(m-1)`. Rows and columns of :math:`a` sum to
    zero, so for a uniform permutation :math:`\mathbb E\hat C_\sigma = 0` and (Hoeffding's
    combinatorial formula) :math:`\mathrm{Var}\,\hat C_\sigma = \sum_{jk}a_{jk}^2/(m-1)^3`.

    Args:
        rng: a numpy ``Generator`` (the re-pairing, then the permutation test).
        X: ``Float[Array, "m D"]`` per-prompt means of the positives (:math:`m \ge 3`).
        Y: ``Float[Array, "m D"]`` per-prompt means of the negatives.
        n_permutations: :math:`K \ge 1` permutations of the Monte Carlo test.
        n_prompts: :math:`M`, for the record.
        n_responses: :math:`n`, for the record.

    Returns:
        :class:`Table2Measurement`.

    Example:
        >>> X = np.eye(4)
        >>> t = table2_statistics(np.random.default_rng(0), X, -X, n_permutations=99)
        >>> round(t.covariance, 6), round(t.correlation, 6), t.p_value <= 0.25
        (-1.0, -1.0, True)
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim != 2 or X.shape[0] < 3:
        raise ValueError(f"X must have shape [m, D] with m >= 3, got {list(X.shape)}")
    if Y.shape != X.shape:
        raise ValueError(f"Y must have the shape of X {list(X.shape)}, got {list(Y.shape)}")
    K = _int(n_permutations, "n_permutations", 1)
    m, D = X.shape
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    a = Xc @ Yc.T
    obs = float(np.trace(a))
    permuted = float(a[np.arange(m), rng.permutation(m)].sum())
    sd = math.sqrt(float(np.sum(a * a)) / (m - 1))
    base = np.tile(np.arange(m, dtype=np.int32), (min(K, 1 << 16), 1))
    count, done = 0, 0
    rows = np.arange(m)[None, :]
    while done < K:
        b = min(base.shape[0], K - done)
        perm = rng.permuted(base[:b], axis=1)
        count += int(np.sum(np.abs(a[rows, perm].sum(axis=1)) >= abs(obs)))
        done += b
    vx, vy = float(np.sum(Xc * Xc)) / (m - 1), float(np.sum(Yc * Yc)) / (m - 1)
    cov = obs / (m - 1)
    return Table2Measurement(
        prompts_kept=m, n_prompts=n_prompts, n_responses=n_responses, covariance=cov,
        permuted=permuted / (m - 1), permutation_sd=sd / (m - 1),
        z=cov / (sd / (m - 1)) if sd > 0 else float("nan"),
        p_value=(1 + count) / (K + 1), n_permutations=K,
        correlation=cov / math.sqrt(vx * vy) if vx * vy > 0 else float("nan"),
        var_x=vx, var_y=vy, per_parameter=cov / D, paper=dict(PAPER_TABLE2))


def paper_table2_measurement(rng: np.random.Generator, scores: Any, rewards: Any, *,
                             n_permutations: int = 9999) -> Table2Measurement:
    r"""Paper v3 App. B.8 (Table 2) on :math:`M` prompts with :math:`n` responses each.

    Keeps the prompts with both signs, forms the per-prompt means :math:`X_j` (positives) and
    :math:`Y_j` (negatives) (:func:`response_means`) and returns :func:`table2_statistics`.
    Given the prompt and the counts, :math:`X_j` and :math:`Y_j` are independent with means
    :math:`\mu^\pm_{q_j}`, so :math:`\mathbb E\hat C` is the across-prompt term
    :math:`\mathrm{tr}\,\mathrm{Cov}_q(\mu^+_q, \mu^-_q)` under the law of the kept prompts
    (:mod:`grpo_theory.montecarlo.lab`, part 4). The paper reports 0.08705 against 0.00128
    (100 MATH prompts, 10 responses, Qwen-1.5B), in unstated units.

    Args:
        rng: a numpy ``Generator``.
        scores: ``Float[Array, "M n D"]``.
        rewards: ``Float[Array, "M n"]`` binary.
        n_permutations: permutations of the test.

    Returns:
        :class:`Table2Measurement`.

    Example:
        >>> s = np.zeros((4, 2, 3)); s[:, 0, 0] = [1, 2, 3, 4]; s[:, 1, 0] = [-1, -2, -3, -4]
        >>> t = paper_table2_measurement(np.random.default_rng(0), s, np.tile([1, 0], (4, 1)))
        >>> t.prompts_kept, round(t.covariance, 6)
        (4, -1.666667)
    """
    s = np.asarray(scores)
    X, Y, _ = response_means(s, rewards)
    if X.shape[0] < 3:
        raise ValueError(f"scores: fewer than 3 prompts have both signs ({X.shape[0]})")
    return table2_statistics(rng, X, Y, n_permutations=n_permutations, n_prompts=s.shape[0],
                             n_responses=s.shape[1])


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


@jax.jit
def _binary_rewards(completions_NxL: Array, answers_NxL: Array) -> Array:
    return jax.vmap(lambda c, a: reward("binary", c, a))(completions_NxL, answers_NxL)


def _sample_rows(key: Array, model: Transformer, prompts_NxP: Array, answers_NxL: Array
                 ) -> tuple[Array, Array, Array]:
    """One completion per row (rows padded by the caller): tokens, masks and binary rewards."""
    L = answers_NxL.shape[1]
    out = sample_completions(key, model, prompts_NxP, n_rollouts=1, completion_len=L)
    tokens, masks = out["tokens"][:, 0], out["mask"][:, 0]
    return tokens, masks, _binary_rewards(tokens, answers_NxL)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _moment_reduce(scores_Nxd: Array, rewards_N: Array, k: int, n: int) -> tuple[Array, ...]:
    acc = _acc_dtype()
    s = scores_Nxd.astype(acc).reshape(k, n, -1)
    r = rewards_N.astype(acc).reshape(k, n)
    Sp = jnp.einsum("kn,knd->kd", r, s)
    Sm = jnp.einsum("kn,knd->kd", 1.0 - r, s)
    return (r, Sp, Sm, jnp.sum(s * s, axis=2), jnp.einsum("knd,kd->kn", s, Sp),
            jnp.einsum("knd,kd->kn", s, Sm))



def _check_prompt_set(model: Transformer, prompts: Any, answers: Any) -> tuple[Array, Array]:
    _check_model(model)
    prompts = _tokens(prompts, "prompts", 2)
    answers = _tokens(answers, "answers", 2)
    if answers.shape[0] != prompts.shape[0]:
        raise ValueError(f"answers must have one row per prompt (N = {prompts.shape[0]}), got "
                         f"{answers.shape[0]}")
    _check_context(model, prompts.shape[1], answers.shape[1], "prompts and answers")
    return prompts, answers


def sample_score_moments(key: Array, model: Transformer, prompts: Any, answers: Any, *,
                         n_samples: int, chunk_size: int = CHUNK_ROWS) -> ScoreMoments:
    r"""Sample ``n_samples`` completions of every prompt and reduce their scores to moments.

    Completions are drawn at temperature 1 with
    :func:`~grpo_theory.transformer.sampling.sample_completions`, rewarded by exact match, and
    their scores (:func:`score_vectors`) reduced chunk by chunk (``chunk_size // n_samples``
    whole prompts per chunk; chunk :math:`c` uses ``fold_in(key, c)``), so that only the
    ``[N, D]`` sums are kept. Accumulation is in float64 when JAX's x64 mode is on.

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


# ----------------------------------------------------------------------------------------------
# Discard rate
# ----------------------------------------------------------------------------------------------


def sample_group_counts(key: Array, model: Transformer, prompts: Any, answers: Any, *,
                        group_size: int, n_groups: int,
                        chunk_size: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    r"""Sample groups (a uniform prompt, :math:`G` completions) and count their correct ones.

    Args:
        key: a JAX PRNG key (chunk :math:`c` uses ``fold_in(key, c)``).
        model: the policy.
        prompts: ``Int[Array, "N P"]`` the prompt set.
        answers: ``Int[Array, "N L"]``.
        group_size: :math:`G \ge 2`.
        n_groups: number of groups, ``>= 1``.
        chunk_size: rollouts per compiled call (rounded to whole groups).

    Returns:
        ``(prompt_idx, correct)``, each ``[n_groups]`` integers.

    Example:
        >>> from grpo_theory.transformer.model import ModelConfig, init_model
        >>> from grpo_theory.transformer.tasks import make_task
        >>> task = make_task("add", 0, modulus=10)
        >>> model = init_model(jax.random.key(0), ModelConfig(17, 7, d_model=8, n_heads=1,
        ...                                                   n_layers=1))
        >>> idx, k = sample_group_counts(jax.random.key(1), model, task.prompts, task.answers,
        ...                              group_size=2, n_groups=5, chunk_size=8)
        >>> idx.shape, int(k.max()) <= 2
        ((5,), True)
    """
    prompts, answers = _check_prompt_set(model, prompts, answers)
    G = _int(group_size, "group_size", 2)
    n_groups = _int(n_groups, "n_groups", 1)
    C = _int(chunk_size, "chunk_size", 1)
    per = max(1, C // G)
    N = prompts.shape[0]
    idx_all, k_all = [], []
    for c in range(-(-n_groups // per)):
        k_c = jax.random.fold_in(key, c)
        idx = jax.random.randint(jax.random.fold_in(k_c, 0), (per,), 0, N, dtype=jnp.int32)
        _, _, rewards = _sample_rows(jax.random.fold_in(k_c, 1), model,
                                     jnp.repeat(prompts[idx], G, axis=0),
                                     jnp.repeat(answers[idx], G, axis=0))
        idx_all.append(np.asarray(idx))
        k_all.append(np.rint(np.asarray(rewards, float).reshape(per, G).sum(axis=1)).astype(int))
    return np.concatenate(idx_all)[:n_groups], np.concatenate(k_all)[:n_groups]


@dataclasses.dataclass(frozen=True)
class DiscardCheck:
    r"""The measured silent-group fraction against the exact prediction and Table 3's formula.

    Attributes:
        group_size: :math:`G`.
        n_groups: sampled groups.
        n_prompts: :math:`N` prompts of the independent sample.
        n_samples: :math:`n` completions per prompt in it.
        delta: false-positive probability of each decision.
        measured: the silent fraction :math:`\hat s`.
        measured_radius: Hoeffding radius :math:`\sqrt{\log(6/\delta)/(2n_{\mathrm{groups}})}`.
        predicted: :math:`\frac1N\sum_q[\binom{n^+_q}G + \binom{n^-_q}G]/\binom nG`, unbiased for
            :math:`\mathbb E_q[p_q^G + (1-p_q)^G]`.
        predicted_radius: McDiarmid radius :math:`G\sqrt{\log(6/\delta)/(2nN)}`.
        plug_in: :math:`\frac1N\sum_q[\hat p_q^G + (1-\hat p_q)^G]` (biased up, for reference).
        mean_reward: :math:`\bar r`, the mean reward of the sampled groups.
        reward_radius: Hoeffding radius of :math:`\bar r` (groups as units).
        printed: :math:`1 - \bar r^G - (1-\bar r)^G` (paper v3 App. D.3 at :math:`G = 2`).
        corrected_plug_in: :math:`\bar r^G + (1-\bar r)^G`, a lower bound by Jensen.
        agrees: :math:`|\hat s - \text{predicted}| \le` the sum of the two radii.
        printed_rejected: :math:`|\hat s - \text{printed}| >` ``measured_radius`` :math:`+
            G\,\times` ``reward_radius`` (the printed formula is :math:`G`-Lipschitz in
            :math:`\bar r`).
        jensen_consistent: :math:`\hat s \ge` ``corrected_plug_in`` :math:`-` ``measured_radius``
            :math:`- G\,\times` ``reward_radius``.
    """

    group_size: int
    n_groups: int
    n_prompts: int
    n_samples: int
    delta: float
    measured: float
    measured_radius: float
    predicted: float
    predicted_radius: float
    plug_in: float
    mean_reward: float
    reward_radius: float
    printed: float
    corrected_plug_in: float
    agrees: bool
    printed_rejected: bool
    jensen_consistent: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


def discard_check(correct: Any, group_size: int, success_counts: Any, n_samples: int, *,
                  delta: float = 1e-6) -> DiscardCheck:
    r"""Compare a measured silent-group fraction with its exact prediction and the printed one.

    The groups' prompts must be uniform over the :math:`N` prompts whose ``success_counts`` (out
    of ``n_samples`` independent completions each) are given. Decisions (each at
    false-positive probability :math:`\delta`, the level split in three for the three
    radii; rigorous: bounded i.i.d. indicators and bounded differences):

    * the silent indicators are i.i.d. Bernoulli with mean :math:`\mathbb E_q[p_q^G +
      (1-p_q)^G]` (Hoeffding);
    * the prediction is a function of :math:`nN` independent rewards, each moving it by at most
      :math:`G/(nN)` (McDiarmid), and is unbiased (hypergeometric U-statistic);
    * :math:`\bar r` is a mean of i.i.d. group means in :math:`[0, 1]` (Hoeffding).

    Args:
        correct: ``Int[Array, "n_groups"]`` correct completions per sampled group.
        group_size: :math:`G \ge 2`.
        success_counts: ``Int[Array, "N"]`` correct completions out of ``n_samples`` per prompt
            (an independent sample).
        n_samples: :math:`n \ge G`.
        delta: false-positive probability in :math:`(0, 1)`.

    Returns:
        :class:`DiscardCheck`.

    Example:
        >>> k = np.array([0, 2, 1, 1, 0, 2, 2, 0])
        >>> d = discard_check(k, 2, [5, 5], 10, delta=0.5)
        >>> d.measured, round(d.predicted, 6), d.printed
        (0.75, 0.444444, 0.5)
    """
    G = _int(group_size, "group_size", 2)
    n = _int(n_samples, "n_samples", G)
    delta = _level(delta, "delta")
    k = np.asarray(correct)
    if k.ndim != 1 or k.size == 0 or not np.issubdtype(k.dtype, np.integer) \
            or k.min() < 0 or k.max() > G:
        raise ValueError(f"correct must be a non-empty 1-d array of integers in [0, {G}]")
    counts = np.asarray(success_counts)
    if counts.ndim != 1 or counts.size == 0 or not np.issubdtype(counts.dtype, np.integer) \
            or counts.min() < 0 or counts.max() > n:
        raise ValueError(f"success_counts must be a non-empty 1-d array of integers in [0, {n}]")
    L = math.log(6.0 / delta)
    n_groups, N = k.size, counts.size
    measured = float(np.mean((k == 0) | (k == G)))
    pred_q = (special.comb(counts, G) + special.comb(n - counts, G)) / special.comb(n, G)
    p_hat = counts / n
    rbar = float(np.mean(k / G))
    rad_m = math.sqrt(L / (2.0 * n_groups))
    rad_p = G * math.sqrt(L / (2.0 * n * N))
    printed = 1.0 - rbar**G - (1.0 - rbar) ** G
    corrected = rbar**G + (1.0 - rbar) ** G
    predicted = float(pred_q.mean())
    return DiscardCheck(
        group_size=G, n_groups=n_groups, n_prompts=N, n_samples=n, delta=delta,
        measured=measured, measured_radius=rad_m, predicted=predicted, predicted_radius=rad_p,
        plug_in=float(np.mean(p_hat**G + (1.0 - p_hat) ** G)), mean_reward=rbar,
        reward_radius=rad_m, printed=printed, corrected_plug_in=corrected,
        agrees=bool(abs(measured - predicted) <= rad_m + rad_p),
        printed_rejected=bool(abs(measured - printed) > rad_m + G * rad_m),
        jensen_consistent=bool(measured >= corrected - rad_m - G * rad_m))
