r"""Claims: ``grpo-theory analyze`` recovers the truth of synthetic runs
(:mod:`grpo_theory.analyze.validation`).

Each synthetic run (:mod:`grpo_theory.analyze.synthetic`) knows the true success rate of every
logged group, hence the true value of every prediction of the analyser. The statistical claims
compare them at an overall false-positive probability of :math:`10^{-6}` (union bound over the
compared quantities, each interval from the normal approximation of the maximum-likelihood fit),
with fixed seeds.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from grpo_theory.analyze.validation import Recovery, recovery
from grpo_theory.claims._core import Evidence, Kind, Outcome, register

__all__: list[str] = []

DELTA = 1e-6
"""Overall false-positive probability of each statistical claim."""
BETA = (0.6, 1.4)
"""True difficulty distribution of the Beta run."""
BANDIT_VARIANCE_RTOL = 0.15
"""Relative error allowed for the raw variance on the (non-Beta) bandit run."""


def _transformer_run():
    from grpo_theory.analyze.synthetic import transformer_run

    return transformer_run(0, prompts=320, group_size=16)


@functools.lru_cache(maxsize=1)
def _beta_run():
    from grpo_theory.analyze.synthetic import beta_run

    return beta_run(0, *BETA, steps=100, prompts_per_step=64, group_size=8)


def _canonical(log) -> list[tuple]:
    """The run as a sorted list of (step, prompt as text, rewards in log order) per group."""
    return sorted((int(log.group_step[j]), str(log.prompts[log.group_prompt[j]]),
                   tuple(log.rewards[log.offsets[j]:log.offsets[j + 1]].tolist()))
                  for j in range(log.n_groups))


def _line(r: Recovery) -> str:
    w = r.worst
    return (f"{sum(x['covered'] for x in r.rows)}/{len(r.rows)} predictions cover the truth "
            f"(each at level 1 - {1 - r.level:.2g}); worst relative error "
            f"{w['relative_error']:.3f} ({w['name']}, {w['convention']}, G = {w['group_size']}); "
            f"mean success {r.mean[0]:.4f} in [{r.mean[2]:.4f}, {r.mean[3]:.4f}]")


@register(
    "analyze.formats-agree",
    title="Every log format reads back to the same run and the same analysis",
    statement=r"""
    A synthetic bandit run (1,280 groups of 8 binary rewards over 20 steps) written as a CSV, a
    JSONL and a Parquet table, as a verl rollout directory, as TRL per-step Parquet completion
    tables and as a TRL W\&B table is read back by `read_log` with the format detected from the
    path, to the same groups (step, prompt and rewards in order), and `analyze_log` returns
    the identical JSON for each (apart from the file name, the format, and where the
    advantage convention came from: the TRL tables log advantages, which name it).
    """,
    source="derived (grpo_theory.analyze.formats)",
    kind=Kind.EXACT,
    expected=Outcome.VERIFIED,
)
def _formats_agree() -> Evidence:
    import json

    from grpo_theory.analyze.analysis import analyze_log
    from grpo_theory.analyze.formats import read_log, write_table, write_trl, write_verl
    from grpo_theory.analyze.synthetic import bandit_run

    log = bandit_run(0).log
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {
            "table.csv": write_table(log, root / "run.csv"),
            "table.jsonl": write_table(log, root / "run.jsonl"),
            "table.parquet": write_table(log, root / "run.parquet"),
            "verl": write_verl(log, root / "verl"),
            "trl.parquet": write_trl(log, root / "trl"),
            "trl.table.json": write_trl(log, root / "run.table.json"),
        }
        original = _canonical(log)
        for name, path in paths.items():
            back = read_log(path)
            same = _canonical(back) == original
            an = analyze_log(back, draws=20).as_dict()
            # What only some formats carry (TRL's logged advantages name the convention) is
            # compared apart from the numbers.
            for key in ("source", "format", "notes", "convention_source", "convention_detected"):
                an.pop(key)
            results[name] = (same, json.dumps(an, sort_keys=True), back.format)
    reference = results["table.csv"][1]
    agree = {k: v[0] and v[1] == reference for k, v in results.items()}
    line = ", ".join(f"{k} ({v[2]}): {'same' if agree[k] else 'DIFFERENT'}"
                     for k, v in results.items())
    outcome = Outcome.VERIFIED if all(agree.values()) else Outcome.REFUTED
    return Evidence(outcome, line, {"agree": agree, "groups": log.n_groups})


@register(
    "analyze.recovers-beta",
    title="On a Beta-distributed run the analyser recovers the difficulty and every prediction",
    statement=r"""
    For a run of 100 steps of 64 fresh prompts with success rates $p \sim \mathrm{Beta}(0.6, 1.4)$
    and $G = 8$ binary rewards each (51,200 rollouts), the beta-binomial fit's confidence
    ellipse contains $(0.6, 1.4)$, and the analyser's intervals contain the exact-engine value
    under the true distribution of the variance, the relative MSE at the best step size, the SNR
    per rollout and the silent fraction, for $G \in \{2, 4, 8, 16, 32\}$ at 512 rollouts per
    step and every convention (GRPO with either std, Dr. GRPO, RLOO), and the mean success rate:
    81 quantities, each at level $1 - 10^{-6}/81$ under the normal approximation of the fit.
    """,
    source="derived (grpo_theory.analyze.validation)",
    kind=Kind.STATISTICAL,
    expected=Outcome.VERIFIED,
)
def _recovers_beta() -> Evidence:
    r = recovery(_beta_run(), delta=DELTA)
    line = _line(r) + f"; ellipse contains (a, b): {r.fit_contains_truth}"
    return Evidence(Outcome.VERIFIED if r.covered else Outcome.REFUTED, line, r.as_dict())


@register(
    "analyze.recovers-transformer",
    title="On a tiny transformer's rollouts the analyser's intervals contain the exact truth",
    statement=r"""
    For the 320 training prompts of modular addition (modulus 20) with $G = 16$ completions
    each, sampled at temperature 1 from a warm-started TINY transformer and scored by exact
    match, the true
    success rate of each prompt is the probability that the sampler writes the answer (one
    teacher-forced pass). Against the empirical distribution of these rates, the analyser's
    intervals contain the true variance, relative MSE at the best step size, SNR per rollout
    and silent fraction for $G \in \{2, 4, 8, 16, 32\}$ and every convention, and the mean
    success rate (81 quantities, overall false-positive probability $10^{-6}$ under the normal
    approximation), although these rates are not drawn from a Beta distribution.
    """,
    source="derived (grpo_theory.analyze.validation)",
    kind=Kind.STATISTICAL,
    expected=Outcome.VERIFIED,
)
def _recovers_transformer() -> Evidence:
    r = recovery(_transformer_run(), delta=DELTA)
    return Evidence(Outcome.VERIFIED if r.covered else Outcome.REFUTED, _line(r), r.as_dict())


@register(
    "analyze.recovers-bandit",
    title="On a drifting bandit run the scale-free predictions hold; raw variances within 15%",
    statement=r"""
    For 20 logged steps (every 4th of a GRPO training run on a tabular bandit whose success
    rates drift from a mean of 0.36 to 0.88) of 64 prompts with $G = 8$ rewards each, against
    the empirical distribution of the logged groups' true rates: the analyser's intervals
    contain the true relative MSE at the best step size and SNR per rollout for
    $G \in \{2, 4, 8, 16, 32\}$ and every convention, and the mean success rate (overall
    false-positive probability $10^{-6}$, normal approximation); its raw batch variances are
    within 15% of the truth, although not always within their intervals: the pooled rates of a
    drifting run are not Beta-distributed, which the goodness-of-fit test reports.
    """,
    source="derived (grpo_theory.analyze.validation)",
    kind=Kind.STATISTICAL,
    expected=Outcome.VERIFIED,
)
def _recovers_bandit() -> Evidence:
    from grpo_theory.analyze.synthetic import bandit_run

    ok, line, details = bandit_verdict(recovery(bandit_run(0), delta=DELTA))
    return Evidence(Outcome.VERIFIED if ok else Outcome.REFUTED, line, details)


def bandit_verdict(r: Recovery) -> tuple[bool, str, dict]:
    """The acceptance rule of ``analyze.recovers-bandit``: every scale-free prediction and the
    mean covered, every raw variance within :data:`BANDIT_VARIANCE_RTOL`."""
    scale_free = [x for x in r.rows if x["name"] in ("relative_mse_best_step",
                                                      "snr_per_rollout")]
    variance = [x for x in r.rows if x["name"] == "variance"]
    covered = all(x["covered"] for x in scale_free) and r.mean[2] <= r.mean[0] <= r.mean[3]
    worst_var = max(x["relative_error"] for x in variance)
    line = (f"scale-free: {sum(x['covered'] for x in scale_free)}/{len(scale_free)} covered; "
            f"raw variance: worst relative error {worst_var:.3f} (bound "
            f"{BANDIT_VARIANCE_RTOL}), {sum(x['covered'] for x in variance)}/{len(variance)} "
            f"within their intervals; mean success {r.mean[0]:.4f} in "
            f"[{r.mean[2]:.4f}, {r.mean[3]:.4f}]")
    return covered and worst_var <= BANDIT_VARIANCE_RTOL, line, r.as_dict()
