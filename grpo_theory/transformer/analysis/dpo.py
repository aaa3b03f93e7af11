r"""DPO against 2-GRPO on one pair of a transformer's completions: the aggregations' closed forms,
on-policy and with clipping off-policy.

Scores are those of :mod:`~grpo_theory.transformer.analysis.scores`: token scores :math:`g_t`,
the mask :math:`m_t`, the length :math:`|y|` and the sequence score :math:`s_y`.

**DPO and 2-GRPO on one pair** (:func:`dpo_relation`). For a preferred completion :math:`w`
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

**Clipping off-policy** (:func:`clipping_relation`). When :math:`\pi_\theta` has moved away
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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree
from scipy import special

from grpo_theory._validate import check_positive
from grpo_theory.policy_gradient.advantages import grpo_advantages
from grpo_theory.policy_gradient.dpo import dpo_loss
from grpo_theory.policy_gradient.losses import AGGREGATIONS, policy_loss
from grpo_theory.transformer.analysis._common import _check_context, _check_model, _int, _tokens
from grpo_theory.transformer.analysis.scores import parameter_vector
from grpo_theory.transformer.model import Transformer, token_log_probs

__all__ = [
    "two_grpo_closed_form",
    "DPORelation",
    "dpo_relation",
    "ClippingRelation",
    "clipping_relation",
]

_TWO_GRPO_ADVANTAGES = (1.0, -1.0)  # grpo_advantages([1, 0]) with the population std


def _binary_mask(x: Any, name: str, shape: tuple[int, ...], dtype: Any) -> Array:
    arr = np.asarray(x, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(arr.shape)}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold only 0 and 1")
    if np.any(arr.reshape(-1, shape[-1]).sum(axis=-1) == 0):
        raise ValueError(f"{name} must mark at least one token of every completion")
    return jnp.asarray(arr, dtype=dtype)


@eqx.filter_jit
def _token_logps(model: Transformer, tokens_NxT: Array, P: int) -> Array:
    return jax.vmap(token_log_probs, in_axes=(None, 0, None))(model, tokens_NxT, P)


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
        >>> from grpo_theory.transformer.analysis.scores import with_parameters
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
