"""The exact-engine claims detect broken inputs: each check is run against a deliberately wrong
variant of what it checks and must then refute it."""

from __future__ import annotations

import numpy as np

from grpo_theory.claims import Outcome
from grpo_theory.claims import exact_binary as claims
from grpo_theory.exact import binary


def _perturbed(fn, factor):
    def wrong(*args, **kwargs):
        return np.asarray(fn(*args, **kwargs)) * factor
    return wrong


def test_weight_claims_refute_a_wrong_weight(monkeypatch):
    monkeypatch.setattr(claims, "expected_gradient_weight",
                        _perturbed(binary.expected_gradient_weight, 1 + 1e-9))
    assert claims._weight_matches_symbolic().outcome is Outcome.REFUTED
    assert claims._c2_c3().outcome is Outcome.REFUTED
    assert claims._mean_is_weight().outcome is Outcome.REFUTED


def test_large_g_refutes_a_missing_attenuation(monkeypatch):
    def arcsine(est, G, p, *args, **kwargs):  # the G -> infinity limit, no 1/G correction
        return 1 / np.sqrt(p * (1 - p))
    monkeypatch.setattr(claims, "expected_gradient_weight", arcsine)
    assert claims._large_g().outcome is Outcome.REFUTED


def test_dr_rloo_refutes_wrong_weights(monkeypatch):
    monkeypatch.setattr(claims, "weight_grid", _perturbed(binary.weight_grid, 1 + 1e-10))
    assert claims._dr_rloo_weights().outcome is Outcome.REFUTED


def test_covariance_claim_refutes_an_indefinite_matrix(monkeypatch):
    def indefinite(*args, **kwargs):
        cov = binary.estimator_covariance(*args, **kwargs)
        return cov - 2 * np.trace(cov) * np.eye(cov.shape[0])
    monkeypatch.setattr(claims, "estimator_covariance", indefinite)
    assert claims._covariance_psd().outcome is Outcome.REFUTED


def test_window_claim_refutes_a_narrow_window(monkeypatch):
    def narrow(G, p):
        lo, hi = binary.binomial_window(G, p)
        return np.minimum(lo + 1, hi), np.maximum(hi - 1, lo)
    monkeypatch.setattr(claims, "binomial_window", narrow)
    assert claims._window_truncation().outcome is Outcome.REFUTED


def test_fast_path_claim_refutes_a_wrong_trace(monkeypatch):
    def wrong(*args, method="auto", **kwargs):
        out = binary.covariance_trace_grid(*args, method=method, **kwargs)
        return out if method == "full" else out * (1 + 1e-10)
    monkeypatch.setattr(claims, "covariance_trace_grid", wrong)
    assert claims._fast_paths().outcome is Outcome.REFUTED


def test_silent_claim_refutes_a_wrong_rate(monkeypatch):
    monkeypatch.setattr(claims, "silent_probability",
                        lambda G, p: binary.silent_probability(G, p) * 1.001)
    assert claims._silent_rate().outcome is Outcome.REFUTED
