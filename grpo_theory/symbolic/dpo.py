r"""DPO on parametric policies with symbolic parameters, and its relation to 2-GRPO.

A *policy* here is an autoregressive model over sequences of ``length`` tokens from a vocabulary
of ``V`` tokens, with one free real logit per (prefix, token) pair:

.. math::

   \pi_\theta(y) = \prod_{t=1}^{T} \pi_\theta(y_t \mid y_{<t}), \qquad
   \pi_\theta(y_t = j \mid y_{<t}) = \frac{e^{\theta_{y_{<t} j}}}{\sum_{k} e^{\theta_{y_{<t} k}}},
   \qquad \log\pi_\theta(y) = \sum_{t=1}^{T} \log\pi_\theta(y_t \mid y_{<t}).

With ``length = 1`` this is a softmax over :math:`K = V` outcomes with logits
:math:`\theta_0, \dots, \theta_{K-1}` (:func:`softmax_policy`); with ``length = 2`` the logits of
the second token depend on the first (:func:`sequence_policy`). Outcomes are tuples of tokens,
listed in lexicographic order; a function taking an outcome accepts the tuple or its integer
index in that order.

Direct preference optimisation (Rafailov et al. 2023) compares a policy :math:`\pi_\theta` with a
reference :math:`\pi_{\mathrm{ref}}` through the *implicit reward*
:math:`\hat r_\theta(y) = \beta\log\frac{\pi_\theta(y)}{\pi_{\mathrm{ref}}(y)}` and, for a
preferred response :math:`y_w` and a dispreferred one :math:`y_l`, minimises

.. math::

   \mathcal L_{\mathrm{DPO}}(\theta) = -\log\sigma\big(\hat r_\theta(y_w) - \hat r_\theta(y_l)\big),
   \qquad
   \nabla_\theta\mathcal L_{\mathrm{DPO}}
   = -\beta\,\sigma\big(\hat r_\theta(y_l)-\hat r_\theta(y_w)\big)
   \big(\nabla\log\pi_\theta(y_w) - \nabla\log\pi_\theta(y_l)\big).

2-GRPO on a disagreeing pair (:math:`y_w` correct, :math:`y_l` incorrect; population std,
:math:`\epsilon = 0`, no clipping, on-policy, sequence-level sum of token log-probabilities)
ascends along :math:`\hat g = \tfrac12\big(A^+\nabla\log\pi(y_w) + A^-\nabla\log\pi(y_l)\big)`
with :math:`A^\pm = \pm1`. Both are a positive multiple of the same contrast
:math:`\nabla\log\pi(y_w) - \nabla\log\pi(y_l)`; the multiples agree, up to the constant
:math:`1/\beta`, exactly where the DPO margin :math:`\hat r_\theta(y_w) - \hat r_\theta(y_l)` is
zero (for example at :math:`\pi_\theta = \pi_{\mathrm{ref}}`). Away from it the DPO weight
:math:`\beta\sigma(-\text{margin})` moves with :math:`\theta` and saturates, while the 2-GRPO
weight stays :math:`\tfrac12`.

Every function returns exact sympy expressions (gradients as column matrices over
``policy.params``).
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from grpo_theory._validate import check_group_size, check_positive
from grpo_theory.symbolic._derivation import Derivation, Step, derivation
from grpo_theory.symbolic.advantages import Convention, group_advantages

__all__ = [
    "Policy",
    "softmax_policy",
    "sequence_policy",
    "outcome",
    "token_logits",
    "token_log_probs",
    "token_probs",
    "log_prob",
    "prob",
    "score",
    "reference_substitution",
    "sigmoid",
    "neg_log_sigmoid",
    "implicit_reward",
    "dpo_margin",
    "dpo_loss",
    "dpo_gradient",
    "dpo_weight",
    "dpo_gradient_closed_form",
    "pair_advantages",
    "two_grpo_pair_weight",
    "two_grpo_pair_gradient",
    "kl_optimal_policy",
    "log_partition",
    "kl_regularized_objective",
    "importance_ratio",
    "importance_ratio_gradient",
    "two_grpo_surrogate",
    "token_coefficient_gradient",
]

MAX_VOCAB = 9
"""Largest vocabulary of a sequence policy (token ids are single digits in symbol names)."""
MAX_LENGTH = 4
"""Longest sequence of a sequence policy."""


@dataclass(frozen=True)
class Policy:
    r"""An autoregressive softmax policy with one symbolic real logit per (prefix, token).

    Attributes:
        name: prefix of the parameter names (``theta`` gives ``theta_0``, ``theta_01``, ...).
        vocab: vocabulary size :math:`V` (the number of outcomes :math:`K` when ``length == 1``).
        length: sequence length :math:`T`.
        params: the logits, in order: every prefix (shortest first, lexicographic), then token.
        outcomes: every sequence :math:`y \in \{0..V-1\}^T`, lexicographic.
    """

    name: str
    vocab: int
    length: int
    params: tuple[sp.Symbol, ...]
    outcomes: tuple[tuple[int, ...], ...]


def _symbol_name(name: str, prefix: tuple[int, ...], token: int, length: int) -> str:
    if length == 1:
        return f"{name}_{token}"
    return f"{name}_" + "".join(str(t) for t in (*prefix, token))


def _build(name: str, vocab: int, length: int) -> Policy:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (the symbol prefix), got {name!r}")
    params = []
    for t in range(length):
        for prefix in itertools.product(range(vocab), repeat=t):
            for token in range(vocab):
                params.append(sp.Symbol(_symbol_name(name, prefix, token, length), real=True))
    outcomes = tuple(itertools.product(range(vocab), repeat=length))
    return Policy(name, vocab, length, tuple(params), outcomes)


def softmax_policy(K: int, name: str = "theta") -> Policy:
    r"""A softmax over :math:`K` outcomes with symbolic real logits :math:`\theta_0..\theta_{K-1}`.

    .. math::

       \pi_\theta(y) = \frac{e^{\theta_y}}{\sum_{k=0}^{K-1} e^{\theta_k}}.

    Args:
        K: number of outcomes, ``>= 2``.
        name: symbol prefix (use another one, e.g. ``"phi"``, for a reference policy).

    Returns:
        A :class:`Policy` with ``length == 1``; outcome ``y`` is the tuple ``(y,)`` or index ``y``.

    Example:
        >>> softmax_policy(3).params
        (theta_0, theta_1, theta_2)
    """
    check_group_size(K, "K")
    return _build(name, int(K), 1)


def sequence_policy(V: int, name: str = "theta", length: int = 2) -> Policy:
    r"""A product of per-token softmaxes over sequences of ``length`` tokens from ``V`` tokens.

    The logits of token :math:`t` depend on the whole prefix :math:`y_{<t}`: parameter
    ``theta_ij`` is the logit of token ``j`` after the first token ``i``.

    .. math::

       \log\pi_\theta(y) = \sum_{t=1}^{T}\Big(\theta_{y_{<t}y_t}
       - \log\sum_{k=0}^{V-1} e^{\theta_{y_{<t}k}}\Big).

    Args:
        V: vocabulary size, ``2..9``.
        name: symbol prefix (use another one, e.g. ``"phi"``, for a reference policy).
        length: sequence length, ``1..4``.

    Returns:
        A :class:`Policy` with :math:`V^T` outcomes and :math:`\sum_{t<T} V^{t+1}` parameters.

    Example:
        >>> sequence_policy(2).params
        (theta_0, theta_1, theta_00, theta_01, theta_10, theta_11)
    """
    check_group_size(V, "V", minimum=2, maximum=MAX_VOCAB)
    check_group_size(length, "length", minimum=1, maximum=MAX_LENGTH)
    return _build(name, int(V), int(length))


def _check_policy(policy: Any, name: str = "policy") -> Policy:
    if not isinstance(policy, Policy):
        raise TypeError(f"{name} must be a Policy (softmax_policy or sequence_policy), "
                        f"got {type(policy).__name__}")
    return policy


def _check_same_shape(policy: Policy, other: Any, name: str) -> Policy:
    _check_policy(other, name)
    if (other.vocab, other.length) != (policy.vocab, policy.length):
        raise ValueError(
            f"{name} must have the policy's shape (V={policy.vocab}, length={policy.length}), "
            f"got V={other.vocab}, length={other.length}")
    if set(other.params) & set(policy.params):
        raise ValueError(f"{name} must use other parameter symbols than the policy "
                         f"(both are named {policy.name!r})")
    return other


def outcome(policy: Policy, y: Any, name: str = "y") -> tuple[int, ...]:
    r"""The outcome ``y`` of ``policy`` as a tuple of tokens.

    Args:
        policy: a :class:`Policy`.
        y: an integer index in ``0..len(policy.outcomes)-1`` or a tuple of tokens.
        name: the argument's name, for error messages.

    Returns:
        The tuple :math:`(y_1, \dots, y_T)`.

    Example:
        >>> outcome(sequence_policy(2), 2)
        (1, 0)
    """
    _check_policy(policy)
    n = len(policy.outcomes)
    if isinstance(y, bool):
        raise TypeError(f"{name} must be an outcome index in 0..{n - 1} or a token tuple, "
                        f"got {y!r}")
    if isinstance(y, numbers.Integral | sp.Integer):
        if not 0 <= int(y) < n:
            raise ValueError(f"{name} must be an outcome index in 0..{n - 1}, got {y!r}")
        return policy.outcomes[int(y)]
    if isinstance(y, tuple | list):
        t = tuple(y)
        if t not in policy.outcomes:
            raise ValueError(f"{name} must be a tuple of {policy.length} tokens in "
                             f"0..{policy.vocab - 1}, got {y!r}")
        return t
    raise TypeError(f"{name} must be an outcome index in 0..{n - 1} or a token tuple, "
                    f"got {type(y).__name__} {y!r}")


def _check_pair(policy: Policy, w: Any, l: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    yw, yl = outcome(policy, w, "w"), outcome(policy, l, "l")
    if yw == yl:
        raise ValueError(f"w and l must be different outcomes, got w = l = {yw}")
    return yw, yl


def token_logits(policy: Policy, prefix: Sequence[int] = ()) -> list[sp.Symbol]:
    r"""The logits :math:`(\theta_{p0}, \dots, \theta_{p(V-1)})` of the next token after ``prefix``.

    Args:
        policy: a :class:`Policy`.
        prefix: a tuple of fewer than ``policy.length`` tokens.

    Returns:
        The ``V`` logit symbols.

    Example:
        >>> token_logits(sequence_policy(2), (1,))
        [theta_10, theta_11]
    """
    _check_policy(policy)
    p = tuple(prefix)
    if len(p) >= policy.length or any(not 0 <= int(t) < policy.vocab for t in p):
        raise ValueError(f"prefix must be fewer than {policy.length} tokens in "
                         f"0..{policy.vocab - 1}, got {prefix!r}")
    offset = sum(policy.vocab ** (s + 1) for s in range(len(p)))
    index = 0
    for t in p:
        index = index * policy.vocab + int(t)
    start = offset + index * policy.vocab
    return list(policy.params[start:start + policy.vocab])


def token_log_probs(policy: Policy, y: Any) -> list[sp.Expr]:
    r"""Per-token log-probabilities :math:`\log\pi_\theta(y_t \mid y_{<t})`, :math:`t = 1..T`.

    .. math::

       \log\pi_\theta(y_t \mid y_{<t}) = \theta_{y_{<t}y_t} - \log\sum_k e^{\theta_{y_{<t}k}}.

    Args:
        policy: a :class:`Policy`.
        y: an outcome (index or token tuple).

    Returns:
        A list of ``T`` sympy expressions.

    Example:
        >>> token_log_probs(softmax_policy(2), 0)
        [theta_0 - log(exp(theta_0) + exp(theta_1))]
    """
    seq = outcome(policy, y)
    out = []
    for t, token in enumerate(seq):
        z = token_logits(policy, seq[:t])
        out.append(z[token] - sp.log(sp.Add(*[sp.exp(v) for v in z])))
    return out


def token_probs(policy: Policy, y: Any) -> list[sp.Expr]:
    r"""Per-token probabilities :math:`\pi_\theta(y_t \mid y_{<t})`, :math:`t = 1..T`.

    .. math::

       \pi_\theta(y_t \mid y_{<t}) = e^{\theta_{y_{<t}y_t}} \Big/ \sum_k e^{\theta_{y_{<t}k}}.

    Args:
        policy: a :class:`Policy`.
        y: an outcome (index or token tuple).

    Returns:
        A list of ``T`` sympy expressions.

    Example:
        >>> token_probs(softmax_policy(2), 1)
        [exp(theta_1)/(exp(theta_0) + exp(theta_1))]
    """
    seq = outcome(policy, y)
    out = []
    for t, token in enumerate(seq):
        z = token_logits(policy, seq[:t])
        out.append(sp.exp(z[token]) / sp.Add(*[sp.exp(v) for v in z]))
    return out


def log_prob(policy: Policy, y: Any) -> sp.Expr:
    r"""The sequence log-probability :math:`\log\pi_\theta(y)=\sum_t\log\pi_\theta(y_t\mid y_{<t})`.

    Args:
        policy: a :class:`Policy`.
        y: an outcome (index or token tuple).

    Returns:
        A sympy expression.

    Example:
        >>> log_prob(softmax_policy(2), 0)
        theta_0 - log(exp(theta_0) + exp(theta_1))
    """
    return sp.Add(*token_log_probs(policy, y))


def prob(policy: Policy, y: Any) -> sp.Expr:
    r"""The sequence probability :math:`\pi_\theta(y) = \prod_t \pi_\theta(y_t \mid y_{<t})`.

    Args:
        policy: a :class:`Policy`.
        y: an outcome (index or token tuple).

    Returns:
        A sympy expression; the probabilities of all outcomes sum to one.

    Example:
        >>> sp.simplify(sum(prob(softmax_policy(3), y) for y in range(3)))
        1
    """
    return sp.Mul(*token_probs(policy, y))


def score(policy: Policy, y: Any) -> sp.Matrix:
    r"""The score :math:`\nabla_\theta\log\pi_\theta(y)` over ``policy.params`` (sympy derivative).

    For a softmax, :math:`\nabla\log\pi_\theta(y) = e_y - \pi_\theta`.

    Args:
        policy: a :class:`Policy`.
        y: an outcome (index or token tuple).

    Returns:
        A column matrix with one entry per parameter.

    Example:
        >>> score(softmax_policy(2), 0).subs({sp.Symbol("theta_0", real=True): 0,
        ...                                   sp.Symbol("theta_1", real=True): 0})
        Matrix([
        [ 1/2],
        [-1/2]])
    """
    lp = log_prob(policy, y)
    return sp.Matrix([sp.diff(lp, p) for p in policy.params])


def reference_substitution(policy: Policy, reference: Policy) -> dict[sp.Symbol, sp.Symbol]:
    r"""The substitution :math:`\theta \mapsto \phi` that puts ``policy`` at ``reference``.

    Args:
        policy: the trained policy :math:`\pi_\theta`.
        reference: a policy of the same shape with other symbols (:math:`\pi_\phi`).

    Returns:
        ``{theta_i: phi_i}``; after it, :math:`\pi_\theta = \pi_\phi` outcome by outcome.

    Example:
        >>> reference_substitution(softmax_policy(2), softmax_policy(2, "phi"))
        {theta_0: phi_0, theta_1: phi_1}
    """
    _check_policy(policy)
    _check_same_shape(policy, reference, "reference")
    return dict(zip(policy.params, reference.params, strict=True))


def sigmoid(z: Any) -> sp.Expr:
    r"""The logistic function :math:`\sigma(z) = 1/(1 + e^{-z})`.

    Args:
        z: a real number or sympy expression.

    Returns:
        A sympy expression.

    Example:
        >>> sigmoid(0)
        1/2
    """
    return 1 / (1 + sp.exp(-sp.sympify(z)))


def neg_log_sigmoid(z: Any) -> sp.Expr:
    r"""The logistic loss :math:`-\log\sigma(z) = \log(1 + e^{-z})`.

    Args:
        z: a real number or sympy expression.

    Returns:
        A sympy expression.

    Example:
        >>> neg_log_sigmoid(0)
        log(2)
    """
    return sp.log(1 + sp.exp(-sp.sympify(z)))


def implicit_reward(policy: Policy, reference: Policy, y: Any, beta: Any) -> sp.Expr:
    r"""DPO's implicit reward of an outcome.

    .. math::

       \hat r_\theta(y) = \beta\big(\log\pi_\theta(y) - \log\pi_{\mathrm{ref}}(y)\big).

    Args:
        policy: the trained policy.
        reference: the reference policy (same shape, other symbols).
        y: an outcome (index or token tuple).
        beta: :math:`\beta > 0` (a number or a positive symbol).

    Returns:
        A sympy expression.

    Example:
        >>> th, ph = softmax_policy(2), softmax_policy(2, "phi")
        >>> implicit_reward(th, ph, 0, 1).subs(reference_substitution(th, ph))
        0
    """
    _check_policy(policy)
    _check_same_shape(policy, reference, "reference")
    check_positive(beta, "beta")
    return sp.sympify(beta) * (log_prob(policy, y) - log_prob(reference, y))


def dpo_margin(policy: Policy, reference: Policy, w: Any, l: Any, beta: Any) -> sp.Expr:
    r"""The DPO margin :math:`\hat r_\theta(y_w) - \hat r_\theta(y_l)`.

    Args:
        policy: the trained policy.
        reference: the reference policy.
        w: the preferred outcome.
        l: the dispreferred outcome (different from ``w``).
        beta: :math:`\beta > 0`.

    Returns:
        A sympy expression.

    Example:
        >>> th, ph = softmax_policy(3), softmax_policy(3, "phi")
        >>> dpo_margin(th, ph, 0, 1, 1)
        -phi_0 + phi_1 + theta_0 - theta_1
    """
    _check_pair(policy, w, l)
    return implicit_reward(policy, reference, w, beta) - implicit_reward(policy, reference, l, beta)


def dpo_loss(policy: Policy, reference: Policy, w: Any, l: Any, beta: Any) -> sp.Expr:
    r"""The DPO loss of one preference pair.

    .. math::

       \mathcal L_{\mathrm{DPO}}
       = -\log\sigma\Big(\beta\log\frac{\pi_\theta(y_w)}{\pi_{\mathrm{ref}}(y_w)}
       - \beta\log\frac{\pi_\theta(y_l)}{\pi_{\mathrm{ref}}(y_l)}\Big).

    Args:
        policy: the trained policy.
        reference: the reference policy.
        w: the preferred outcome.
        l: the dispreferred outcome (different from ``w``).
        beta: :math:`\beta > 0`.

    Returns:
        A sympy expression (:math:`\log 2` at :math:`\pi_\theta = \pi_{\mathrm{ref}}`).

    Example:
        >>> th, ph = softmax_policy(2), softmax_policy(2, "phi")
        >>> dpo_loss(th, ph, 0, 1, 1).subs(reference_substitution(th, ph))
        log(2)
    """
    return neg_log_sigmoid(dpo_margin(policy, reference, w, l, beta))


def dpo_gradient(policy: Policy, reference: Policy, w: Any, l: Any, beta: Any) -> sp.Matrix:
    r""":math:`\nabla_\theta\mathcal L_{\mathrm{DPO}}` by sympy differentiation of :func:`dpo_loss`.

    Args:
        policy: the trained policy (the gradient is over ``policy.params``).
        reference: the reference policy.
        w: the preferred outcome.
        l: the dispreferred outcome (different from ``w``).
        beta: :math:`\beta > 0`.

    Returns:
        A column matrix with one entry per parameter.

    Example:
        >>> th, ph = softmax_policy(2), softmax_policy(2, "phi")
        >>> sp.simplify(dpo_gradient(th, ph, 0, 1, 2).subs(reference_substitution(th, ph)))
        Matrix([
        [-1],
        [ 1]])
    """
    loss = dpo_loss(policy, reference, w, l, beta)
    return sp.Matrix([sp.diff(loss, p) for p in policy.params])


def dpo_weight(policy: Policy, reference: Policy, w: Any, l: Any, beta: Any) -> sp.Expr:
    r"""DPO's pair weight :math:`\beta\,\sigma\big(\hat r_\theta(y_l) - \hat r_\theta(y_w)\big)`.

    It lies in :math:`(0, \beta)`, equals :math:`\beta/2` at a zero margin and tends to 0 as the
    margin grows.

    Args:
        policy: the trained policy.
        reference: the reference policy.
        w: the preferred outcome.
        l: the dispreferred outcome (different from ``w``).
        beta: :math:`\beta > 0`.

    Returns:
        A sympy expression.

    Example:
        >>> th, ph = softmax_policy(2), softmax_policy(2, "phi")
        >>> dpo_weight(th, ph, 0, 1, 3).subs(reference_substitution(th, ph))
        3/2
    """
    return sp.sympify(beta) * sigmoid(-dpo_margin(policy, reference, w, l, beta))


def dpo_gradient_closed_form(
    policy: Policy, reference: Policy, w: Any, l: Any, beta: Any
) -> sp.Matrix:
    r"""The closed-form DPO gradient (Rafailov et al. 2023; paper v2 Lemma B.1).

    .. math::

       \nabla_\theta\mathcal L_{\mathrm{DPO}} = -\beta\,\sigma\big(\hat r_\theta(y_l)
       - \hat r_\theta(y_w)\big)\big(\nabla\log\pi_\theta(y_w) - \nabla\log\pi_\theta(y_l)\big).

    Args:
        policy: the trained policy.
        reference: the reference policy.
        w: the preferred outcome.
        l: the dispreferred outcome (different from ``w``).
        beta: :math:`\beta > 0`.

    Returns:
        A column matrix with one entry per parameter.

    Example:
        >>> th, ph = softmax_policy(2), softmax_policy(2, "phi")
        >>> sp.simplify(dpo_gradient_closed_form(th, ph, 0, 1, 2).subs(
        ...     reference_substitution(th, ph)))
        Matrix([
        [-1],
        [ 1]])
    """
    weight = dpo_weight(policy, reference, w, l, beta)
    return -weight * (score(policy, w) - score(policy, l))


def pair_advantages() -> tuple[sp.Expr, sp.Expr]:
    r"""2-GRPO advantages :math:`(A^+, A^-)` of a disagreeing pair with rewards :math:`(1, 0)`.

    Population std and :math:`\epsilon = 0`
    (:func:`~grpo_theory.symbolic.advantages.group_advantages` with the ``grpo`` convention).

    Returns:
        ``(1, -1)``.

    Example:
        >>> pair_advantages()
        (1, -1)
    """
    a_plus, a_minus = group_advantages([1, 0], Convention.GRPO)
    return a_plus, a_minus


def two_grpo_pair_weight() -> sp.Expr:
    r"""The 2-GRPO weight per unit advantage of each response in a pair: :math:`1/G = 1/2`.

    Returns:
        ``1/2``: a constant, independent of :math:`\theta` and of any margin.

    Example:
        >>> two_grpo_pair_weight()
        1/2
    """
    return sp.Rational(1, 2)


def two_grpo_pair_gradient(policy: Policy, w: Any, l: Any) -> sp.Matrix:
    r"""The on-policy 2-GRPO ascent direction on a disagreeing pair.

    Population std, :math:`\epsilon = 0`, no clipping, sequence-level sum of token
    log-probabilities:

    .. math::

       \hat g = \tfrac12\big(A^+\nabla\log\pi_\theta(y_w) + A^-\nabla\log\pi_\theta(y_l)\big),
       \qquad A^\pm = \pm 1.

    Args:
        policy: the policy.
        w: the correct response (reward 1).
        l: the incorrect response (reward 0), different from ``w``.

    Returns:
        A column matrix with one entry per parameter.

    Example:
        >>> th = softmax_policy(2)
        >>> two_grpo_pair_gradient(th, 0, 1).subs({p: 0 for p in th.params})
        Matrix([
        [ 1/2],
        [-1/2]])
    """
    _check_policy(policy)
    _check_pair(policy, w, l)
    a_plus, a_minus = pair_advantages()
    half = two_grpo_pair_weight()
    return half * (a_plus * score(policy, w) + a_minus * score(policy, l))


def _check_values(values: Sequence[Any], name: str, n: int | None = None) -> list[sp.Expr]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | sp.MatrixBase):
        raise TypeError(f"{name} must be a sequence of numbers or sympy expressions")
    out = [sp.sympify(v) for v in values]
    if n is None and len(out) < 2:
        raise ValueError(f"{name} must have at least 2 entries, got {len(out)}")
    if n is not None and len(out) != n:
        raise ValueError(f"{name} must have {n} entries (one per outcome), got {len(out)}")
    return out


def _check_reference_probs(reference_probs: Sequence[Any]) -> list[sp.Expr]:
    ref = _check_values(reference_probs, "reference_probs")
    for i, p in enumerate(ref):
        check_positive(p, f"reference_probs[{i}]")
    return ref


def log_partition(reference_probs: Sequence[Any], rewards: Sequence[Any], beta: Any) -> sp.Expr:
    r"""The log-partition :math:`\log Z = \log\sum_y \pi_{\mathrm{ref}}(y)\,e^{r(y)/\beta}`.

    Args:
        reference_probs: :math:`\pi_{\mathrm{ref}}(y) > 0` for every outcome (at least 2).
        rewards: :math:`r(y)`, one per outcome.
        beta: :math:`\beta > 0`.

    Returns:
        A sympy expression.

    Example:
        >>> log_partition([sp.Rational(1, 2), sp.Rational(1, 2)], [0, 0], 1)
        0
    """
    ref = _check_reference_probs(reference_probs)
    r = _check_values(rewards, "rewards", len(ref))
    check_positive(beta, "beta")
    b = sp.sympify(beta)
    return sp.log(sp.Add(*[p * sp.exp(x / b) for p, x in zip(ref, r, strict=True)]))


def kl_optimal_policy(
    reference_probs: Sequence[Any], rewards: Sequence[Any], beta: Any
) -> list[sp.Expr]:
    r"""The maximiser of :math:`\mathbb E_\pi[r] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{\mathrm{ref}})`.

    .. math::

       \pi^*(y) = \frac{\pi_{\mathrm{ref}}(y)\,e^{r(y)/\beta}}{Z}, \qquad
       Z = \sum_{y'} \pi_{\mathrm{ref}}(y')\,e^{r(y')/\beta}.

    Args:
        reference_probs: :math:`\pi_{\mathrm{ref}}(y) > 0` for every outcome (at least 2).
        rewards: :math:`r(y)`, one per outcome.
        beta: :math:`\beta > 0`.

    Returns:
        The list of :math:`\pi^*(y)`.

    Example:
        >>> kl_optimal_policy([sp.Rational(1, 2), sp.Rational(1, 2)], [0, 0], 1)
        [1/2, 1/2]
    """
    ref = _check_reference_probs(reference_probs)
    r = _check_values(rewards, "rewards", len(ref))
    check_positive(beta, "beta")
    b = sp.sympify(beta)
    unnormalised = [p * sp.exp(x / b) for p, x in zip(ref, r, strict=True)]
    Z = sp.Add(*unnormalised)
    return [u / Z for u in unnormalised]


def kl_regularized_objective(
    policy: Policy, reference: Policy, rewards: Sequence[Any], beta: Any
) -> sp.Expr:
    r"""The KL-regularised objective of a policy against a reference.

    .. math::

       J(\theta) = \mathbb E_{\pi_\theta}[r]
       - \beta\,\mathrm{KL}(\pi_\theta\,\|\,\pi_{\mathrm{ref}})
       = \sum_y \pi_\theta(y)\Big(r(y)
       - \beta\log\frac{\pi_\theta(y)}{\pi_{\mathrm{ref}}(y)}\Big).

    Args:
        policy: the policy.
        reference: the reference policy.
        rewards: :math:`r(y)`, one per outcome of ``policy``.
        beta: :math:`\beta > 0`.

    Returns:
        A sympy expression in the parameters of both policies.

    Example:
        >>> th, ph = softmax_policy(2), softmax_policy(2, "phi")
        >>> sp.simplify(kl_regularized_objective(th, ph, [1, 1], 1).subs(
        ...     reference_substitution(th, ph)))
        1
    """
    _check_policy(policy)
    _check_same_shape(policy, reference, "reference")
    r = _check_values(rewards, "rewards", len(policy.outcomes))
    check_positive(beta, "beta")
    b = sp.sympify(beta)
    terms = []
    for y, ry in zip(policy.outcomes, r, strict=True):
        terms.append(prob(policy, y) * (ry - b * (log_prob(policy, y) - log_prob(reference, y))))
    return sp.Add(*terms)


def importance_ratio(policy: Policy, old: Policy, y: Any) -> sp.Expr:
    r"""The sequence importance ratio :math:`\pi_\theta(y)/\pi_{\theta_{\mathrm{old}}}(y)`.

    Args:
        policy: the current policy :math:`\pi_\theta`.
        old: the sampling policy :math:`\pi_{\theta_{\mathrm{old}}}` (same shape, other symbols).
        y: an outcome (index or token tuple).

    Returns:
        A sympy expression (a product of per-token ratios).

    Example:
        >>> th, old = softmax_policy(2), softmax_policy(2, "old")
        >>> importance_ratio(th, old, 0).subs(reference_substitution(th, old))
        1
    """
    _check_policy(policy)
    _check_same_shape(policy, old, "old")
    return prob(policy, y) / prob(old, y)


def importance_ratio_gradient(policy: Policy, old: Policy, y: Any) -> sp.Matrix:
    r"""The closed-form gradient of the importance ratio (paper v2 App. B.3, Eq. 28).

    .. math::

       \nabla_\theta\frac{\pi_\theta(y)}{\pi_{\theta_{\mathrm{old}}}(y)}
       = \frac{\pi_\theta(y)}{\pi_{\theta_{\mathrm{old}}}(y)}
       \sum_{t} \nabla_\theta\log\pi_\theta(y_t \mid y_{<t}).

    Args:
        policy: the current policy.
        old: the sampling policy.
        y: an outcome (index or token tuple).

    Returns:
        A column matrix with one entry per parameter of ``policy``.

    Example:
        >>> th, old = softmax_policy(2), softmax_policy(2, "old")
        >>> g = importance_ratio_gradient(th, old, 0).subs(reference_substitution(th, old))
        >>> sp.simplify(g - score(th, 0).subs(reference_substitution(th, old)))
        Matrix([
        [0],
        [0]])
    """
    ratio = importance_ratio(policy, old, y)
    total = sp.zeros(len(policy.params), 1)
    for lp in token_log_probs(policy, y):
        total += sp.Matrix([sp.diff(lp, p) for p in policy.params])
    return ratio * total


def two_grpo_surrogate(policy: Policy, old: Policy, w: Any, l: Any) -> sp.Expr:
    r"""The unclipped 2-GRPO surrogate of a disagreeing pair sampled from the old policy.

    .. math::

       J(\theta) = \tfrac12\Big(A^+\frac{\pi_\theta(y_w)}{\pi_{\theta_{\mathrm{old}}}(y_w)}
       + A^-\frac{\pi_\theta(y_l)}{\pi_{\theta_{\mathrm{old}}}(y_l)}\Big), \qquad A^\pm = \pm1.

    Args:
        policy: the current policy.
        old: the sampling policy.
        w: the correct response.
        l: the incorrect response (different from ``w``).

    Returns:
        A sympy expression; its gradient at :math:`\theta = \theta_{\mathrm{old}}` is
        :func:`two_grpo_pair_gradient`.

    Example:
        >>> th, old = softmax_policy(2), softmax_policy(2, "old")
        >>> two_grpo_surrogate(th, old, 0, 1).subs(reference_substitution(th, old))
        0
    """
    _check_pair(policy, w, l)
    a_plus, a_minus = pair_advantages()
    half = two_grpo_pair_weight()
    return half * (a_plus * importance_ratio(policy, old, w)
                   + a_minus * importance_ratio(policy, old, l))


def token_coefficient_gradient(policy: Policy, y: Any, denominator: str = "token") -> sp.Matrix:
    r"""The contrastive expansion :math:`\sum_t \nabla_\theta\pi_\theta(y_t\mid y_{<t}) / d_t`.

    With ``denominator="token"``, :math:`d_t = \pi_\theta(y_t\mid y_{<t})` and the sum equals
    :math:`\nabla\log\pi_\theta(y)`. With ``denominator="sequence"``,
    :math:`d_t = \pi_\theta(y)` (the form printed in paper v2 App. B.4 Eq. 27 and v3 §3.3
    Eq. 9), which differs from :math:`\nabla\log\pi_\theta(y)` for sequences longer than one
    token.

    Args:
        policy: the policy.
        y: an outcome (index or token tuple).
        denominator: ``"token"`` or ``"sequence"``.

    Returns:
        A column matrix with one entry per parameter.

    Example:
        >>> th = softmax_policy(2)
        >>> sp.simplify(token_coefficient_gradient(th, 0) - score(th, 0))
        Matrix([
        [0],
        [0]])
    """
    if denominator not in ("token", "sequence"):
        raise ValueError(f"denominator must be 'token' or 'sequence', got {denominator!r}")
    probs = token_probs(policy, y)
    seq_prob = sp.Mul(*probs)
    total = sp.zeros(len(policy.params), 1)
    for p_t in probs:
        d = p_t if denominator == "token" else seq_prob
        total += sp.Matrix([sp.diff(p_t, p) for p in policy.params]) / d
    return total


# ----------------------------------------------------------------------------------------------
# Derivations
# ----------------------------------------------------------------------------------------------


def _abstract_symbols() -> dict[str, Any]:
    beta = sp.Symbol("beta", positive=True)
    m = sp.Symbol("m", real=True)  # the margin
    s_w, s_l = sp.symbols("s_w s_l")  # the scores grad log pi(y_w), grad log pi(y_l)
    lw, lrw, ll, lrl = sp.symbols(
        r"\log\pi_{\theta}(y_{w}) \log\pi_{ref}(y_{w}) "
        r"\log\pi_{\theta}(y_{l}) \log\pi_{ref}(y_{l})",
        real=True)
    return {"beta": beta, "m": m, "s_w": s_w, "s_l": s_l,
            "lw": lw, "lrw": lrw, "ll": ll, "lrl": lrl}


@derivation("dpo-gradient", "The DPO gradient (Rafailov et al. 2023; paper v2 Lemma B.1)")
def _dpo_gradient_derivation() -> Derivation:
    s = _abstract_symbols()
    beta, m, s_w, s_l = s["beta"], s["m"], s["s_w"], s["s_l"]
    z = sp.Symbol("z", real=True)
    margin = beta * (s["lw"] - s["lrw"]) - beta * (s["ll"] - s["lrl"])
    th, ph = softmax_policy(3), softmax_policy(3, "phi")
    seq = sequence_policy(2)
    steps = [
        Step("The loss is the logistic loss -log sigma(m) = log(1 + e^{-m}) of the margin "
             "m = r_w - r_l between the implicit rewards r = beta log(pi_theta / pi_ref):",
             sp.Symbol(r"\mathcal{L}_{DPO}"), neg_log_sigmoid(m)),
        Step("The margin is linear in the log-probabilities; the reference terms do not depend "
             "on theta:", m, margin),
        Step("The derivative of the logistic loss is -e^{-z}/(1 + e^{-z}) = -sigma(-z):",
             sp.Derivative(neg_log_sigmoid(z), z), sp.simplify(sp.diff(neg_log_sigmoid(z), z))),
        Step("Chain rule, with grad m = beta (s_w - s_l), s = grad log pi_theta (the score):",
             sp.Symbol(r"\nabla_{\theta}\mathcal{L}_{DPO}"), -beta * sigmoid(-m) * (s_w - s_l)),
        Step("The gradient is a weight beta sigma(r_l - r_w), which lies in (0, beta), times the "
             "contrast of the two scores. For a softmax the normalisers cancel in the margin "
             "(K = 3, y_w = 0, y_l = 1):", m, sp.expand(dpo_margin(th, ph, 0, 1, beta))),
        Step("and the score of outcome y is e_y - pi_theta, so the contrast is e_w - e_l, a "
             "constant vector:", sp.Symbol("s_{w} - s_{l}"),
             sp.simplify(score(th, 0) - score(th, 1))),
        Step("For a sequence policy log pi(y) is the sum of the token log-probabilities "
             "(length 2, vocabulary 2, y = (0, 1)), so the score is the sum of the token scores:",
             sp.Symbol(r"\log\pi_{\theta}((0, 1))"), log_prob(seq, (0, 1))),
        Step("Each token score is grad pi(y_t | y_<t) / pi(y_t | y_<t): the contrastive "
             "coefficient divides by the token probability, not by the sequence probability "
             "pi(y) (y = (0, 1) again; the two agree only for one-token sequences):",
             sp.Symbol(r"\sum_{t} \frac{\nabla\pi_{\theta}(y_{t}|y_{<t})}"
                       r"{\pi_{\theta}(y_{t}|y_{<t})}"),
             sp.simplify(token_coefficient_gradient(seq, (0, 1), "token"))),
    ]
    return Derivation("dpo-gradient", "The DPO gradient", steps,
                      ["dpo.logsigmoid-derivative", "dpo.gradient", "dpo.gradient.sequence",
                       "dpo.coefficient-as-printed", "dpo.coefficient-token-probability"])


@derivation("dpo-2grpo", "2-GRPO and DPO: equal at the reference, different elsewhere")
def _dpo_2grpo_derivation() -> Derivation:
    s = _abstract_symbols()
    beta, m, s_w, s_l = s["beta"], s["m"], s["s_w"], s["s_l"]
    r_w, r_l, log_z = sp.symbols(r"r(y_{w}) r(y_{l}) \log{Z}", real=True)
    a_plus, a_minus = pair_advantages()
    half = two_grpo_pair_weight()
    g2 = sp.Symbol(r"\hat{g}_{2GRPO}")
    neg_grad = beta * sigmoid(-m) * (s_w - s_l)
    steps = [
        Step("The KL-regularised optimum pi* = pi_ref e^{r/beta} / Z has implicit reward "
             "beta log(pi*/pi_ref) = r - beta log Z, so the margin of pi* is the reward gap "
             "(Z cancels):", sp.Symbol("m^{*}"), (r_w - beta * log_z) - (r_l - beta * log_z)),
        Step("2-GRPO with population std and epsilon = 0 gives a disagreeing pair the "
             "advantages:", sp.Tuple(sp.Symbol("A^+"), sp.Symbol("A^-")),
             sp.Tuple(a_plus, a_minus)),
        Step("On-policy and unclipped, the pair's ascent direction is the mean over the G = 2 "
             "responses of advantage times sequence-level score:", g2,
             half * (a_plus * s_w + a_minus * s_l)),
        Step("DPO's descent direction on the same pair:",
             sp.Symbol(r"-\nabla_{\theta}\mathcal{L}_{DPO}"), neg_grad),
        Step("The residual of g = -(1/beta) grad L is a scalar multiple of the contrast; the "
             "scalar 1/2 - sigma(-m) vanishes exactly at a zero margin:",
             sp.Symbol(r"\hat{g}_{2GRPO} + \frac{1}{\beta}\nabla_{\theta}\mathcal{L}_{DPO}"),
             sp.factor(sp.simplify(half * (s_w - s_l) - neg_grad / beta))),
        Step("At pi_theta = pi_ref both implicit rewards vanish, m = 0, sigma(0) = 1/2, and the "
             "relation holds exactly:",
             sp.Symbol(r"-\frac{1}{\beta}\nabla_{\theta}\mathcal{L}_{DPO}"),
             (neg_grad / beta).subs(m, 0)),
        Step("Away from it, the DPO weight beta sigma(-m) moves with theta, with m-derivative "
             "-beta sigma(m) sigma(-m) < 0 ...", sp.Derivative(beta * sigmoid(-m), m),
             -beta * sigmoid(m) * sigmoid(-m)),
        Step("... and saturates as the margin grows, while the 2-GRPO weight stays 1/2. Per "
             "pair the directions stay parallel, but pairs with different margins are "
             "reweighted, so sums over pairs differ:",
             sp.Limit(beta * sigmoid(-m), m, sp.oo), sp.limit(beta * sigmoid(-m), m, sp.oo)),
        Step("Off-policy, 2-GRPO's surrogate (1/2)(A+ rho(y_w) + A- rho(y_l)) with "
             "rho = pi_theta / pi_old has gradient rho times the sum of token scores "
             "(paper v2 App. B.3, Eq. 28); at theta = theta_old rho = 1 and it is the on-policy "
             "direction above."),
    ]
    return Derivation("dpo-2grpo", "2-GRPO and DPO: equal at the reference, different elsewhere",
                      steps,
                      ["dpo.implicit-reward", "dpo.at-reference", "dpo.2grpo-relation",
                       "dpo.2grpo-relation-everywhere", "dpo.weight-depends-on-theta",
                       "dpo.weight-saturates", "dpo.is-ratio-gradient"])
