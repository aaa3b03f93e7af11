"""Counterfactual group sizes: agreement with the exact engine, closed forms, intervals, the
recommendation and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from grpo_theory.analyze.counterfactual import (
    CONVENTIONS,
    GROUP_SIZES,
    predict,
    prediction_budget,
    recommend_group_size,
)
from grpo_theory.analyze.difficulty import fit_beta_binomial
from grpo_theory.exact.budget import Population, budget_row


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(0)
    k = rng.binomial(8, rng.beta(0.9, 1.6, size=6000))
    return fit_beta_binomial(k, np.full(k.size, 8))


@pytest.fixture(scope="module")
def predictions(fit):
    return predict(fit, 1024)


def test_one_prediction_per_convention_and_size(predictions):
    assert [(p.convention, p.group_size) for p in predictions] == [
        (c, G) for c in CONVENTIONS for G in GROUP_SIZES]
    assert all(p.prompts * p.group_size == 1024 for p in predictions)


def test_values_equal_the_exact_engine_at_the_fit(fit, predictions):
    pop = Population.from_beta(fit.a, fit.b, nodes=64)
    for p in predictions:
        row = budget_row(pop, p.convention, p.group_size, 1024)
        assert p.variance.value == pytest.approx(row.variance, rel=1e-12)
        assert p.mse.value == pytest.approx(row.mse, rel=1e-12)
        assert p.snr_per_rollout.value == pytest.approx(row.snr_per_rollout, rel=1e-12)
        assert p.relative_mse_best_step.value == pytest.approx(row.relative_mse_best_step,
                                                               rel=1e-12)
        assert p.silent_fraction.value == pytest.approx(row.silent_fraction, rel=1e-12)


def test_weight_closed_forms(predictions):
    for p in predictions:
        G = p.group_size
        if p.convention == "dr-grpo":
            assert p.weight_mean.value == pytest.approx((G - 1) / G, rel=1e-12)
        elif p.convention == "rloo":
            assert p.weight_mean.value == pytest.approx(1.0, rel=1e-12)
        elif G == 2:  # c_2 = 1 (population std), 1/sqrt(2) with Bessel's std
            expected = 1.0 if p.convention == "grpo" else 2**-0.5
            assert p.weight_mean.value == pytest.approx(expected, rel=1e-9)


def test_intervals_bracket_the_values_and_widen_with_the_level(fit, predictions):
    wide = predict(fit, 1024, (2, 16), ("grpo",), level=0.999)
    for p in predictions:
        for name in ("variance", "mse", "snr_per_rollout", "relative_mse_best_step",
                     "silent_fraction", "weight_mean"):
            e = getattr(p, name)
            assert e.low <= e.value <= e.high, (p.convention, p.group_size, name)
    narrow = {(p.convention, p.group_size): p for p in predictions}
    for p in wide:
        n = narrow[(p.convention, p.group_size)]
        assert p.variance.high - p.variance.low > n.variance.high - n.variance.low


def test_scale_free_mse_is_shared_by_conventions_of_one_family(predictions):
    # GRPO with either std differs by a constant factor per group size: the same MSE at the
    # best step size; so do the mean-centred and leave-one-out estimators.
    by = {(p.convention, p.group_size): p.relative_mse_best_step.value for p in predictions}
    for G in GROUP_SIZES:
        assert by[("grpo", G)] == pytest.approx(by[("grpo-bessel", G)], rel=1e-9)
        assert by[("dr-grpo", G)] == pytest.approx(by[("rloo", G)], rel=1e-9)


def test_recommendation_is_the_least_relative_mse(fit, predictions):
    rec = recommend_group_size(fit, 1024, "grpo", draws=50, seed=1)
    mine = [p for p in predictions if p.convention == "grpo"]
    assert rec.group_size == min(mine, key=lambda p: p.relative_mse_best_step.value).group_size
    assert rec.interval is not None and rec.interval[0] <= rec.group_size <= rec.interval[1]
    assert sum(rec.support.values()) == pytest.approx(1.0)
    again = recommend_group_size(fit, 1024, "grpo", draws=50, seed=1)
    assert again == rec  # deterministic given the seed


def test_prediction_budget():
    assert prediction_budget(1024, GROUP_SIZES) == 1024
    assert prediction_budget(1000, GROUP_SIZES) == 992
    assert prediction_budget(10, GROUP_SIZES) == 32
    assert prediction_budget(48, (2, 3, 4)) == 48


def test_bad_input(fit):
    with pytest.raises(ValueError, match="divide the budget 1000"):
        predict(fit, 1000)
    with pytest.raises(ValueError, match="group_sizes"):
        predict(fit, 1024, (1, 2))
    with pytest.raises(ValueError, match="estimator must be one of"):
        predict(fit, 1024, (2,), ("ppo",))
    with pytest.raises(ValueError, match="level"):
        predict(fit, 1024, level=1.0)
    with pytest.raises(ValueError, match="draws"):
        recommend_group_size(fit, 1024, draws=-1)
    with pytest.raises(ValueError, match="budget"):
        prediction_budget(0, GROUP_SIZES)
