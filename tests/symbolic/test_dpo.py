"""Tests of grpo_theory.symbolic.dpo: parametric policies, the DPO loss and gradient, 2-GRPO."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.claims._core import Outcome, prove_identity
from grpo_theory.claims.dpo import _rational_simplifier
from grpo_theory.symbolic import dpo
from grpo_theory.symbolic._derivation import get_derivation
from grpo_theory.symbolic.dpo import (
    Policy,
    dpo_gradient,
    dpo_gradient_closed_form,
    dpo_loss,
    dpo_margin,
    dpo_weight,
    implicit_reward,
    importance_ratio,
    importance_ratio_gradient,
    kl_optimal_policy,
    kl_regularized_objective,
    log_partition,
    log_prob,
    neg_log_sigmoid,
    outcome,
    pair_advantages,
    prob,
    reference_substitution,
    score,
    sequence_policy,
    sigmoid,
    softmax_policy,
    token_coefficient_gradient,
    token_log_probs,
    token_logits,
    token_probs,
    two_grpo_pair_gradient,
    two_grpo_pair_weight,
    two_grpo_surrogate,
)

BETA = sp.Symbol("beta", positive=True)


def _policies(kind: str) -> tuple[Policy, Policy]:
    if kind == "softmax":
        return softmax_policy(3), softmax_policy(3, "phi")
    return sequence_policy(2), sequence_policy(2, "phi")


def _point(theta: Policy, phi: Policy, rng: np.random.Generator, beta: float = 0.7) -> dict:
    values = {p: float(v)
              for p, v in zip(theta.params, rng.uniform(-2, 2, len(theta.params)), strict=True)}
    values.update({p: float(v)
                   for p, v in zip(phi.params, rng.uniform(-2, 2, len(phi.params)), strict=True)})
    values[BETA] = beta
    return values


def _num(expr, point) -> np.ndarray:
    """``expr`` evaluated at ``point`` (float64), flattened."""
    symbols = list(point)
    fn = sp.lambdify(symbols, sp.sympify(expr), "numpy")
    return np.asarray(fn(*[float(point[s]) for s in symbols]), dtype=float).ravel()


def _pairs(policy: Policy) -> list[tuple[int, int]]:
    """Ordered pairs to test numerically: all for a softmax; for sequences, pairs sharing the
    first token and pairs differing in it, in both orders (the claims cover every pair)."""
    n = len(policy.outcomes)
    if policy.length == 1:
        return [(w, l) for w in range(n) for l in range(n) if w != l]
    return [(0, 1), (1, 0), (0, 3), (3, 0), (2, 1)]


# ------------------------------------------------------------------------------------------------
# Policies
# ------------------------------------------------------------------------------------------------


def test_softmax_policy_structure():
    pol = softmax_policy(4, "phi")
    assert [p.name for p in pol.params] == ["phi_0", "phi_1", "phi_2", "phi_3"]
    assert pol.outcomes == ((0,), (1,), (2,), (3,))
    assert all(p.is_real for p in pol.params)
    assert (pol.vocab, pol.length) == (4, 1)


def test_sequence_policy_structure():
    pol = sequence_policy(3)
    assert len(pol.params) == 3 + 9
    assert len(pol.outcomes) == 9
    assert pol.outcomes[0] == (0, 0) and pol.outcomes[-1] == (2, 2)
    assert [p.name for p in token_logits(pol, ())] == ["theta_0", "theta_1", "theta_2"]
    assert [p.name for p in token_logits(pol, (2,))] == ["theta_20", "theta_21", "theta_22"]
    three = sequence_policy(2, length=3)
    assert len(three.params) == 2 + 4 + 8
    assert [p.name for p in token_logits(three, (1, 0))] == ["theta_100", "theta_101"]


def test_outcome_index_and_tuple():
    pol = sequence_policy(2)
    assert outcome(pol, 3) == (1, 1)
    assert outcome(pol, (0, 1)) == (0, 1)
    assert outcome(pol, [1, 0]) == (1, 0)
    assert outcome(softmax_policy(3), sp.Integer(2)) == (2,)
    assert outcome(softmax_policy(3), np.int64(1)) == (1,)


@pytest.mark.parametrize("pol", [softmax_policy(3), sequence_policy(2), sequence_policy(3),
                                 sequence_policy(2, length=3)])
def test_probabilities_sum_to_one(pol):
    total = sp.Add(*[prob(pol, y) for y in pol.outcomes])
    assert sp.simplify(total - 1) == 0


def test_softmax_log_prob_and_score():
    pol = softmax_policy(3)
    t = pol.params
    norm = sp.exp(t[0]) + sp.exp(t[1]) + sp.exp(t[2])
    assert sp.simplify(log_prob(pol, 1) - (t[1] - sp.log(norm))) == 0
    assert sp.simplify(prob(pol, 1) - sp.exp(t[1]) / norm) == 0
    # score = e_y - pi
    pi = sp.Matrix([sp.exp(x) / norm for x in t])
    for y in range(3):
        e_y = sp.Matrix([int(i == y) for i in range(3)])
        assert (score(pol, y) - (e_y - pi)).applyfunc(sp.simplify).is_zero_matrix


def test_sequence_log_prob_is_sum_of_token_log_probs():
    pol = sequence_policy(2)
    rng = np.random.default_rng(0)
    point = {p: float(v) for p, v in zip(pol.params, rng.normal(size=len(pol.params)), strict=True)}
    for y in pol.outcomes:
        lps = token_log_probs(pol, y)
        assert len(lps) == 2
        assert sp.simplify(log_prob(pol, y) - sp.Add(*lps)) == 0
        np.testing.assert_allclose(_num(log_prob(pol, y), point),
                                   np.log(_num(prob(pol, y), point)), atol=1e-12)
        np.testing.assert_allclose(_num(sp.Mul(*token_probs(pol, y)), point),
                                   _num(prob(pol, y), point), atol=1e-12)
    # second-token logits depend on the first token
    assert token_log_probs(pol, (1, 0))[1].free_symbols == set(token_logits(pol, (1,)))


def test_reference_substitution():
    th, ph = _policies("sequence")
    sub = reference_substitution(th, ph)
    assert sub == dict(zip(th.params, ph.params, strict=True))
    assert sp.simplify(log_prob(th, 2).subs(sub) - log_prob(ph, 2)) == 0


# ------------------------------------------------------------------------------------------------
# DPO
# ------------------------------------------------------------------------------------------------


def test_sigmoid_and_logistic_loss():
    z = sp.Symbol("z", real=True)
    assert sigmoid(0) == sp.Rational(1, 2)
    assert neg_log_sigmoid(0) == sp.log(2)
    assert sp.simplify(sigmoid(z) + sigmoid(-z) - 1) == 0
    assert sp.simplify(sp.diff(neg_log_sigmoid(z), z) + sigmoid(-z)) == 0
    assert abs(float(neg_log_sigmoid(3)) - np.log1p(np.exp(-3))) < 1e-15


@pytest.mark.parametrize("kind", ["softmax", "sequence"])
def test_dpo_values_at_reference(kind):
    th, ph = _policies(kind)
    sub = reference_substitution(th, ph)
    assert implicit_reward(th, ph, 1, BETA).subs(sub) == 0
    assert dpo_margin(th, ph, 0, 1, BETA).subs(sub) == 0
    assert dpo_loss(th, ph, 0, 1, BETA).subs(sub) == sp.log(2)
    assert dpo_weight(th, ph, 0, 1, BETA).subs(sub) == BETA / 2


def test_softmax_margin_is_linear_in_logits():
    th, ph = _policies("softmax")
    m = sp.expand(dpo_margin(th, ph, 2, 0, BETA))
    t, p = th.params, ph.params
    assert sp.expand(m - BETA * (t[2] - p[2] - t[0] + p[0])) == 0


@pytest.mark.parametrize("kind", ["softmax", "sequence"])
def test_dpo_loss_matches_numpy(kind):
    th, ph = _policies(kind)
    rng = np.random.default_rng(1)
    point = _point(th, ph, rng, beta=1.3)
    w, l = 0, len(th.outcomes) - 1

    def logp(pol, y):
        return float(_num(log_prob(pol, y), point)[0])

    margin = 1.3 * ((logp(th, w) - logp(ph, w)) - (logp(th, l) - logp(ph, l)))
    expected = np.log1p(np.exp(-margin))
    np.testing.assert_allclose(_num(dpo_loss(th, ph, w, l, BETA), point), expected, atol=1e-12)
    np.testing.assert_allclose(_num(dpo_weight(th, ph, w, l, BETA), point),
                               1.3 / (1 + np.exp(margin)), atol=1e-12)


@pytest.mark.parametrize("kind", ["softmax", "sequence"])
def test_gradient_matches_closed_form_at_random_points(kind):
    th, ph = _policies(kind)
    rng = np.random.default_rng(2)
    for w, l in _pairs(th):
        point = _point(th, ph, rng, beta=float(rng.uniform(0.1, 3)))
        np.testing.assert_allclose(_num(dpo_gradient(th, ph, w, l, BETA), point),
                                   _num(dpo_gradient_closed_form(th, ph, w, l, BETA), point),
                                   atol=1e-12)


def test_gradient_closed_form_symbolic_identity():
    th, ph = _policies("softmax")
    margin = dpo_margin(th, ph, 0, 2, BETA)
    ev = prove_identity(dpo_gradient(th, ph, 0, 2, BETA),
                        dpo_gradient_closed_form(th, ph, 0, 2, BETA),
                        simplifier=_rational_simplifier([th, ph], [margin]))
    assert ev.outcome is Outcome.PROVED


def test_broken_closed_form_is_not_proved():
    # sigma(r_w - r_l) in place of sigma(r_l - r_w): the check must not prove it
    th, ph = _policies("softmax")
    margin = dpo_margin(th, ph, 0, 1, BETA)
    wrong = -BETA * sigmoid(margin) * (score(th, 0) - score(th, 1))
    ev = prove_identity(dpo_gradient(th, ph, 0, 1, BETA), wrong,
                        simplifier=_rational_simplifier([th, ph], [margin]))
    assert ev.outcome is Outcome.REFUTED
    # the counterexample is a genuine point in the original variables
    assert set(ev.details["counterexample"]["point"]) <= {p.name for p in th.params + ph.params} | {
        "beta"}


@pytest.mark.parametrize("kind", ["softmax", "sequence"])
def test_at_reference_gradient_and_2grpo_relation(kind):
    th, ph = _policies(kind)
    sub = reference_substitution(th, ph)
    rng = np.random.default_rng(3)
    for w, l in _pairs(th):
        point = {p: float(v)
                 for p, v in zip(ph.params, rng.uniform(-2, 2, len(ph.params)), strict=True)}
        point[BETA] = 0.4
        grad = _num(dpo_gradient(th, ph, w, l, BETA).subs(sub), point)
        expected = _num((-BETA / 2 * (score(th, w) - score(th, l))).subs(sub), point)
        np.testing.assert_allclose(grad, expected, atol=1e-12)
        g2 = _num(two_grpo_pair_gradient(th, w, l).subs(sub), point)
        np.testing.assert_allclose(g2, -grad / 0.4, atol=1e-12)


def test_relation_fails_off_reference():
    th, ph = _policies("softmax")
    point = {p: 0.0 for p in th.params + ph.params}
    point[th.params[0]] = 1.0
    point[BETA] = 1.0
    g2 = _num(two_grpo_pair_gradient(th, 0, 2), point)
    grad = _num(dpo_gradient(th, ph, 0, 2, BETA), point)
    residual = g2 + grad
    # residual = (1/2 - sigma(-1)) (e_0 - e_2)
    factor = 0.5 - 1 / (1 + np.e)
    np.testing.assert_allclose(residual, [factor, 0.0, -factor], atol=1e-12)
    # yet the two directions stay parallel: -grad L = 2 sigma(-m) beta g2
    np.testing.assert_allclose(-grad, 2 / (1 + np.e) * g2, atol=1e-12)


def test_2grpo_pair_quantities():
    assert pair_advantages() == (1, -1)
    assert two_grpo_pair_weight() == sp.Rational(1, 2)
    th = sequence_policy(2)
    g = two_grpo_pair_gradient(th, (0, 1), (1, 1))
    expected = (score(th, (0, 1)) - score(th, (1, 1))) / 2
    assert (g - expected).applyfunc(sp.simplify).is_zero_matrix


def test_dpo_weight_bounds_and_saturation():
    m = sp.Symbol("m", real=True)
    weight = BETA * sigmoid(-m)
    assert sp.limit(weight, m, sp.oo) == 0
    assert sp.limit(weight, m, -sp.oo) == BETA
    th, ph = _policies("softmax")
    rng = np.random.default_rng(4)
    for _ in range(5):
        point = _point(th, ph, rng, beta=2.0)
        value = _num(dpo_weight(th, ph, 1, 2, BETA), point)[0]
        assert 0 < value < 2.0


# ------------------------------------------------------------------------------------------------
# KL optimum, importance ratios, token coefficients
# ------------------------------------------------------------------------------------------------


def test_kl_optimal_policy_and_partition():
    ref = [sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6)]
    r = [1, 0, -2]
    star = kl_optimal_policy(ref, r, 2)
    assert sp.simplify(sp.Add(*star) - 1) == 0
    log_z = log_partition(ref, r, 2)
    for y in range(3):
        assert sp.simplify(2 * sp.log(star[y] / ref[y]) - (r[y] - 2 * log_z)) == 0
    assert kl_optimal_policy([sp.Rational(1, 2)] * 2, [0, 0], 1) == [sp.Rational(1, 2)] * 2


def test_kl_objective_stationary_at_optimum():
    th, ph = _policies("softmax")
    rewards = [sp.Rational(1), sp.Rational(-1, 2), sp.Rational(3, 10)]
    beta = sp.Rational(7, 10)
    objective = kl_regularized_objective(th, ph, rewards, beta)
    point = {p: v
             for p, v in zip(ph.params, [sp.Rational(1, 5), -1, sp.Rational(1, 2)], strict=True)}
    point.update({t: point[p] + r / beta
                  for t, p, r in zip(th.params, ph.params, rewards, strict=True)})
    grad = _num(sp.Matrix([sp.diff(objective, t) for t in th.params]), point)
    np.testing.assert_allclose(grad, 0, atol=1e-12)
    # and pi_theta there is pi*
    ref = [prob(ph, y).subs(point) for y in range(3)]
    star = kl_optimal_policy(ref, rewards, beta)
    for y in range(3):
        assert abs(float(prob(th, y).subs(point) - star[y])) < 1e-12


def test_importance_ratio_and_its_gradient():
    th, old = sequence_policy(2), sequence_policy(2, "old")
    sub = reference_substitution(th, old)
    assert importance_ratio(th, old, 1).subs(sub) == 1
    rng = np.random.default_rng(5)
    point = _point(th, old, rng)
    for y in range(4):
        ratio = importance_ratio(th, old, y)
        autodiff = sp.Matrix([sp.diff(ratio, p) for p in th.params])
        np.testing.assert_allclose(_num(autodiff, point),
                                   _num(importance_ratio_gradient(th, old, y), point), atol=1e-12)
    # surrogate gradient at theta_old = on-policy pair gradient
    surrogate = two_grpo_surrogate(th, old, 0, 3)
    assert surrogate.subs(sub) == 0
    grad = sp.Matrix([sp.diff(surrogate, p) for p in th.params]).subs(sub)
    old_point = {p: point[p] for p in old.params}
    np.testing.assert_allclose(_num(grad, old_point),
                               _num(two_grpo_pair_gradient(th, 0, 3).subs(sub), old_point),
                               atol=1e-12)


def test_token_coefficient_gradient():
    seq = sequence_policy(2)
    rng = np.random.default_rng(6)
    point = {p: float(v) for p, v in zip(seq.params, rng.normal(size=len(seq.params)), strict=True)}
    for y in range(4):
        np.testing.assert_allclose(_num(token_coefficient_gradient(seq, y, "token"), point),
                                   _num(score(seq, y), point), atol=1e-12)
        printed = _num(token_coefficient_gradient(seq, y, "sequence"), point)
        assert np.max(np.abs(printed - _num(score(seq, y), point))) > 1e-3
    # for one-token outcomes the two denominators agree
    soft = softmax_policy(3)
    diff = token_coefficient_gradient(soft, 1, "sequence") - token_coefficient_gradient(soft, 1)
    assert diff.applyfunc(sp.simplify).is_zero_matrix


def test_derivations_are_registered():
    for name in ("dpo-gradient", "dpo-2grpo"):
        d = get_derivation(name)
        assert d.claims and all(c.startswith("dpo.") for c in d.claims)
        assert d.render() and d.render(latex=True)


def test_all_names_exist():
    for name in dpo.__all__:
        assert hasattr(dpo, name)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


def test_bad_sizes():
    with pytest.raises(ValueError, match="K"):
        softmax_policy(1)
    with pytest.raises(TypeError, match="K"):
        softmax_policy(2.5)
    with pytest.raises(ValueError, match="V"):
        sequence_policy(1)
    with pytest.raises(ValueError, match="V"):
        sequence_policy(10)
    with pytest.raises(ValueError, match="length"):
        sequence_policy(2, length=0)
    with pytest.raises(ValueError, match="length"):
        sequence_policy(2, length=5)
    with pytest.raises(ValueError, match="name"):
        softmax_policy(3, "not a name")


@pytest.mark.parametrize("beta", [0, -1, -0.5])
def test_bad_beta(beta):
    th, ph = _policies("softmax")
    for fn in (dpo_loss, dpo_gradient, dpo_gradient_closed_form, dpo_weight, dpo_margin):
        with pytest.raises(ValueError, match="beta"):
            fn(th, ph, 0, 1, beta)
    with pytest.raises(ValueError, match="beta"):
        implicit_reward(th, ph, 0, beta)
    with pytest.raises(ValueError, match="beta"):
        kl_optimal_policy([0.5, 0.5], [0, 1], beta)
    with pytest.raises(ValueError, match="beta"):
        log_partition([0.5, 0.5], [0, 1], beta)


def test_bad_indices():
    th, ph = _policies("softmax")
    with pytest.raises(ValueError, match="w"):
        dpo_loss(th, ph, 3, 1, 1)
    with pytest.raises(ValueError, match="l"):
        dpo_loss(th, ph, 0, -1, 1)
    with pytest.raises(ValueError, match="w and l"):
        dpo_gradient(th, ph, 1, 1, 1)
    with pytest.raises(ValueError, match="w and l"):
        two_grpo_pair_gradient(th, 2, 2)
    with pytest.raises(ValueError, match="y"):
        log_prob(th, 5)
    with pytest.raises(ValueError, match="y"):
        score(sequence_policy(2), (0, 2))
    with pytest.raises(TypeError, match="y"):
        prob(th, True)
    with pytest.raises(TypeError, match="y"):
        prob(th, "0")
    with pytest.raises(ValueError, match="prefix"):
        token_logits(sequence_policy(2), (0, 1))


def test_bad_policies():
    th = softmax_policy(3)
    with pytest.raises(ValueError, match="reference"):
        dpo_loss(th, softmax_policy(4, "phi"), 0, 1, 1)
    with pytest.raises(ValueError, match="reference"):
        dpo_loss(th, softmax_policy(3), 0, 1, 1)
    with pytest.raises(TypeError, match="reference"):
        implicit_reward(th, "phi", 0, 1)
    with pytest.raises(TypeError, match="policy"):
        score("theta", 0)
    with pytest.raises(ValueError, match="old"):
        importance_ratio(sequence_policy(2), sequence_policy(3, "old"), 0)
    with pytest.raises(ValueError, match="denominator"):
        token_coefficient_gradient(th, 0, "prefix")


def test_bad_reward_vectors():
    with pytest.raises(ValueError, match="rewards"):
        kl_optimal_policy([0.5, 0.5], [1, 2, 3], 1)
    with pytest.raises(ValueError, match="reference_probs"):
        log_partition([1], [1], 1)
    with pytest.raises(ValueError, match="reference_probs"):
        kl_optimal_policy([0.5, 0, 0.5], [1, 2, 3], 1)
    with pytest.raises(ValueError, match="rewards"):
        kl_regularized_objective(softmax_policy(2), softmax_policy(2, "phi"), [1], 1)


# ------------------------------------------------------------------------------------------------
# Property: the sympy gradient against finite differences
# ------------------------------------------------------------------------------------------------


@functools.cache
def _compiled(kind: str, w: int, l: int):
    th, ph = _policies(kind)
    args = [*th.params, *ph.params, BETA]
    loss = sp.lambdify(args, dpo_loss(th, ph, w, l, BETA), "numpy")
    grad = sp.lambdify(args, dpo_gradient(th, ph, w, l, BETA), "numpy")
    return len(th.params), loss, grad


_CASES = [("softmax", w, l) for w, l in itertools.permutations(range(3), 2)] + [
    ("sequence", w, l) for w, l in itertools.permutations(range(4), 2)]
_LOGITS = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False, width=64)


@pytest.mark.property
@given(case=st.sampled_from(_CASES), data=st.data(),
       beta=st.floats(0.05, 4.0, allow_nan=False, allow_infinity=False, width=64))
def test_sympy_gradient_matches_finite_differences(case, data, beta):
    """The sympy gradient, evaluated in float64, equals a central difference of the loss.

    Logits and reference logits in [-4, 4], beta in [0.05, 4], step 1e-6: the difference error
    is O(h^2) + O(eps / h), about 1e-10, well inside the 1e-6 tolerance.
    """
    n, loss, grad = _compiled(*case)
    theta = np.array(data.draw(st.lists(_LOGITS, min_size=n, max_size=n), label="theta"))
    phi = np.array(data.draw(st.lists(_LOGITS, min_size=n, max_size=n), label="phi"))
    analytic = np.asarray(grad(*theta, *phi, beta), dtype=float).ravel()
    h = 1e-6
    numeric = np.empty(n)
    for i in range(n):
        step = np.zeros(n)
        step[i] = h
        up, down = loss(*(theta + step), *phi, beta), loss(*(theta - step), *phi, beta)
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, atol=1e-6, rtol=1e-6)
