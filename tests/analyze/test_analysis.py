"""Analysing a run: reward kinds, diagnostics, the JSON schema, the report files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grpo_theory.analyze.analysis import analyze_log, binarise
from grpo_theory.analyze.difficulty import expected_silent
from grpo_theory.analyze.report import FIGURES, markdown, summary, write_report
from grpo_theory.analyze.rollouts import RolloutLog

DELTA = 1e-6


def _run(seed=0, a=0.8, b=1.5, steps=60, Q=32, G=8, reward=None) -> RolloutLog:
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, size=(steps, Q))
    r = (rng.random((steps, Q, G)) < p[..., None]).astype(float)
    if reward is not None:
        r = reward(r, rng)
    step = np.repeat(np.arange(steps), Q * G)
    prompt = np.tile(np.repeat(np.arange(Q), G), steps)
    return RolloutLog.from_rollouts(step, prompt, r.reshape(-1), source="test",
                                    completion_length=np.arange(step.size) % 50 + 10)


@pytest.fixture(scope="module")
def analysis():
    return analyze_log(_run(), draws=40)


def test_json_has_the_documented_keys(analysis):
    d = analysis.as_dict()
    for key in ("rollouts", "steps", "group_size", "silent_fraction", "silent_fraction_expected",
                "difficulty_fit", "recommended_group_size", "predictions"):
        assert key in d
    assert d["rollouts"] == 60 * 32 * 8 and d["steps"] == 60 and d["group_size"] == 8
    assert {"a", "b", "mean", "overdispersion", "goodness_of_fit"} <= set(d["difficulty_fit"])
    for p in d["predictions"]:
        assert {"group_size", "convention", "variance", "mse", "snr_per_rollout",
                "variance_interval"} <= set(p)
    json.dumps(d)  # JSON-ready


def test_per_step_diagnostics(analysis):
    ps = analysis.per_step
    assert ps["step"].tolist() == list(range(60))
    assert np.all(ps["groups"] == 32) and np.all(ps["rollouts"] == 256)
    assert np.all(ps["group_size"] == 8)
    assert "completion_length" in ps
    silent = analysis.log.silent()
    assert ps["silent_fraction"].mean() == pytest.approx(silent.mean())


@pytest.mark.statistical
def test_silent_groups_agree_with_their_expectation(analysis):
    # 1,920 groups from Beta(0.8, 1.5): the observed count lies within z = 4.89
    # (false-positive probability 1e-6, normal approximation) of the fitted expectation.
    assert abs(analysis.silent_z) < 4.89
    truth = float(expected_silent(0.8, 1.5, 8))
    fitted = analysis.fit.interval(lambda a, b: float(expected_silent(a, b, 8)), 1 - DELTA,
                                   "logit")
    assert fitted.covers(truth)
    assert not fitted.covers(truth + 0.08)  # power: 1,920 groups resolve about 0.05


@pytest.mark.statistical
def test_silent_mismatch_is_detected():
    # Power: a run whose groups come from a two-point difficulty mixture (p = 0.02 or 0.98
    # half the time, else 0.5) is far from the fitted Beta in its silent count.
    def mixture(r, rng):
        steps, Q, G = r.shape
        p = np.where(rng.random((steps, Q)) < 0.5, np.where(rng.random((steps, Q)) < 0.5,
                                                            0.02, 0.98), 0.5)
        return (rng.random((steps, Q, G)) < p[..., None]).astype(float)

    an = analyze_log(_run(1, steps=200, reward=mixture), draws=0)
    assert an.goodness["p_value"] < DELTA


def test_binarise_binary_continuous_and_constant():
    log = RolloutLog.from_rollouts([0] * 6, [0, 0, 0, 1, 1, 1], [-1, 2, 2, -1, -1, -1.0])
    k, s = binarise(log)
    assert s.kind == "binary" and s.threshold == 2.0 and k.tolist() == [2, 0]
    log = RolloutLog.from_rollouts([0] * 6, [0, 0, 0, 1, 1, 1], [0, 0.4, 1.0, 0.2, 0.9, 0.6])
    k, s = binarise(log)
    assert s.kind == "continuous" and s.threshold == 0.5 and k.tolist() == [1, 2]
    k, s = binarise(log, threshold=0.3)
    assert k.tolist() == [2, 2]
    log = RolloutLog.from_rollouts([0] * 4, [0, 0, 1, 1], [1.0] * 4)
    k, s = binarise(log)
    assert s.kind == "constant" and k.tolist() == [2, 2]
    with pytest.raises(TypeError, match="threshold"):
        binarise(log, threshold="high")


def test_continuous_rewards_are_thresholded_and_said_so():
    an = analyze_log(_run(2, reward=lambda r, rng: r * 0.9 + 0.1 * rng.random(r.shape)),
                     draws=0)
    assert an.rewards.kind == "continuous"
    assert any("continuous rewards" in n for n in an.as_dict()["notes"])
    # No two continuous rewards tie: no raw group is silent, while thresholded ones can be.
    assert an.silent_observed.value == 0.0 and an.silent_binarised > 0.0


def test_budget_not_divisible_is_noted():
    an = analyze_log(_run(3, steps=20, Q=15, G=4), draws=0)
    assert an.budget == 60 and an.prediction_budget == 64
    assert any("predictions are made at 64" in n for n in an.as_dict()["notes"])


def test_windows_cover_the_run(analysis):
    ws = analysis.windows
    assert ws[0].first_step == 0 and ws[-1].last_step == 59
    assert sum(w.groups for w in ws) == analysis.log.n_groups
    assert all(w.first_step <= w.last_step for w in ws)


def test_summary_markdown_and_files(analysis, tmp_path):
    text = summary(analysis)
    assert "recommended group size" in text and "silent groups" in text
    md = markdown(analysis)
    assert "| convention | G |" in md and "figures/variance.png" in md
    paths = write_report(analysis, tmp_path)
    for name in ("analysis.json", "report.md", "report.html", *FIGURES):
        assert paths[name].exists()
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.pdf").exists()
    data = json.loads((tmp_path / "analysis.json").read_text())
    assert data["recommended_group_size"] == analysis.recommendation.group_size
    assert "<table>" in (tmp_path / "report.html").read_text()
    assert not list(tmp_path.rglob("*.tmp*"))


def test_bad_options():
    log = _run(4, steps=4, Q=4, G=4)
    with pytest.raises(ValueError, match="estimator must be one of"):
        analyze_log(log, convention="ppo")
    with pytest.raises(ValueError, match="windows"):
        analyze_log(log, windows=0)
    with pytest.raises(ValueError, match="level"):
        analyze_log(log, level=0)
    with pytest.raises(ValueError, match="epsilon"):
        analyze_log(log, epsilon=-1.0)


def _logged(rule: str, eps: float = 0.0, seed: int = 5):
    from grpo_theory.exact.estimators import advantages

    rng = np.random.default_rng(seed)
    steps, Q, G = 30, 16, 8
    r = (rng.random((steps, Q, G)) < rng.beta(1, 1, (steps, Q, 1))).astype(float)
    if rule == "batch-std":
        centred = r - r.mean(-1, keepdims=True)
        sd = r.reshape(steps, -1).std(-1, ddof=1)[:, None, None]
        adv = (centred / (sd + eps)).reshape(-1)
    else:
        adv = np.concatenate([advantages(rule, g, eps) for g in r.reshape(-1, G)])
    step = np.repeat(np.arange(steps), Q * G)
    prompt = np.tile(np.repeat(np.arange(Q), G), steps)
    return RolloutLog.from_rollouts(step, prompt, r.reshape(-1), advantages=adv)


@pytest.mark.parametrize(("rule", "eps"), [("grpo", 1e-6), ("grpo-bessel", 1e-4),
                                           ("dr-grpo", 0.0), ("rloo", 0.0), ("batch-std", 1e-4)])
def test_detect_convention_recognises_each_rule(rule, eps):
    from grpo_theory.analyze.analysis import detect_convention

    d = detect_convention(_logged(rule, eps))
    assert d["rule"] == rule and d["matched"][rule] == 1.0
    assert d["estimator"] == ("dr-grpo" if rule == "batch-std" else rule)
    assert all(v < 0.5 for k, v in d["matched"].items() if k != rule)


def test_detect_convention_without_a_match_or_without_advantages():
    from grpo_theory.analyze.analysis import detect_convention

    log = _logged("grpo")
    noisy = RolloutLog.from_rollouts(np.repeat(log.group_step, log.sizes),
                                     np.repeat(log.group_prompt, log.sizes), log.rewards,
                                     advantages=log.advantages * 1.05)
    assert detect_convention(noisy)["rule"] is None
    assert detect_convention(_run(0, steps=2)) is None
    an = analyze_log(noisy, draws=0)
    assert an.convention == "grpo-bessel" and an.convention_source == "default"


def test_analysis_uses_the_detected_convention_unless_one_is_given():
    log = _logged("dr-grpo")
    an = analyze_log(log, draws=0)
    assert (an.convention, an.convention_source) == ("dr-grpo",
                                                    "detected from the logged advantages")
    assert an.as_dict()["convention_detected"]["rule"] == "dr-grpo"
    given = analyze_log(log, convention="rloo", draws=0)
    assert (given.convention, given.convention_source) == ("rloo", "given")


def test_figures_plot_the_analysis_numbers(analysis):
    import matplotlib.pyplot as plt

    from grpo_theory.analyze import report

    fig = report._fig_variance(analysis)
    try:
        left, right = fig.axes[:2]
        for conv in ("grpo", "grpo-bessel", "dr-grpo", "rloo"):
            mine = [p for p in analysis.predictions if p.convention == conv]
            for ax, name in ((left, "variance"), (right, "relative_mse_best_step")):
                (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"estimator:{conv}"]
                np.testing.assert_allclose(line.get_xdata(), [p.group_size for p in mine])
                np.testing.assert_allclose(line.get_ydata(),
                                           [getattr(p, name).value for p in mine])
    finally:
        plt.close(fig)
    fig = report._fig_silent(analysis)
    try:
        (points,) = [ln for ln in fig.axes[0].get_lines()
                     if ln.get_label() == "observed, per step"]
        np.testing.assert_allclose(points.get_ydata(), analysis.per_step["silent_fraction"])
        expected = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
        assert [ln.get_ydata()[0] for ln in expected] == pytest.approx(
            [w.silent_expected for w in analysis.windows])
    finally:
        plt.close(fig)
    fig = report._fig_success(analysis)
    try:
        image = np.asarray(fig.axes[0].get_images()[0].get_array())
        assert image.shape == (analysis.group_size + 1, len(analysis.windows))
        np.testing.assert_allclose(image.sum(axis=0), 1.0)
        first = analysis.log.group_step <= analysis.windows[0].last_step
        counts = np.bincount(analysis.successes[first], minlength=analysis.group_size + 1)
        np.testing.assert_allclose(image[:, 0], counts / first.sum())
    finally:
        plt.close(fig)
