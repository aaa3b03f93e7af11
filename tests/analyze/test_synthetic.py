r"""Tests of the synthetic logs: structure, exact truths, and rewards consistent with the truth.

The statistical checks use the normal approximation to a sum of independent Bernoulli counts:
given ``truth_p``, group :math:`j` has :math:`k_j \sim \mathrm{Binomial}(G, p_j)`, so
:math:`T = \sum_j (k_j - G p_j) / \sqrt{\sum_j G p_j (1 - p_j)}` is approximately standard
normal (thousands of rollouts, so the approximation is accurate far into the tail) and
:math:`|T| < 4.9` fails with probability about :math:`9.6 \times 10^{-7} \le 10^{-6}`. Every
statistical test has its own false-positive budget of :math:`10^{-6}` (Bonferroni within a test),
fixed seeds, and a power check: a deliberately wrong truth fails the same check.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from grpo_theory.analyze import synthetic
from grpo_theory.analyze.synthetic import (
    SyntheticRun,
    answer_probabilities,
    bandit_run,
    beta_run,
    transformer_run,
)
from grpo_theory.experiments.bandit_env import TaskSpec
from grpo_theory.transformer.model import sequence_log_prob
from grpo_theory.transformer.sampling import sample_completions
from grpo_theory.transformer.tasks import EOS, PAD, completion_mask, reward

Z = 4.9
"""Two-sided normal bound: P(|Z| > 4.9) = 9.6e-7."""
ALPHA = 1e-6
"""Level of the exact tests (KS)."""


def _z(run: SyntheticRun, p: np.ndarray | None = None, weights: np.ndarray | None = None
       ) -> float:
    """Standardised sum of (k_j - G_j p_j), optionally weighted per group."""
    p = run.truth_p if p is None else np.asarray(p, dtype=float)
    w = np.ones_like(p) if weights is None else weights
    k, G = run.log.group_reduce(np.add), run.log.sizes
    return float(np.sum(w * (k - G * p)) / np.sqrt(np.sum(w**2 * G * p * (1 - p))))


def _shifted(p: np.ndarray, by: float = 0.05) -> np.ndarray:
    return np.clip(p + by, 0.0, 1.0 - 1e-9)


def _check_binary_log(run: SyntheticRun, G: int) -> None:
    log = run.log
    assert log.format == "synthetic"
    assert set(np.unique(log.rewards)) <= {0.0, 1.0}
    assert (log.sizes == G).all()
    assert run.truth_p.dtype == np.float64 and run.truth_p.shape == (log.n_groups,)
    assert ((run.truth_p >= 0) & (run.truth_p <= 1)).all()


# ----------------------------------------------------------------------------------------------
# beta_run
# ----------------------------------------------------------------------------------------------


def test_beta_run_structure_and_determinism():
    run = beta_run(3, 0.7, 2.5, steps=4, prompts_per_step=5, group_size=6)
    _check_binary_log(run, 6)
    assert run.log.n_groups == 20 and run.truth_beta == (0.7, 2.5)
    assert run.log.steps.tolist() == [0, 1, 2, 3]
    assert np.array_equal(run.log.group_prompt, np.arange(20))  # a fresh prompt per group
    assert "Beta(0.7, 2.5)" in run.description
    again = beta_run(3, 0.7, 2.5, steps=4, prompts_per_step=5, group_size=6)
    np.testing.assert_array_equal(again.log.rewards, run.log.rewards)
    np.testing.assert_array_equal(again.truth_p, run.truth_p)
    other = beta_run(4, 0.7, 2.5, steps=4, prompts_per_step=5, group_size=6)
    assert not np.array_equal(other.truth_p, run.truth_p)


def _big_beta_run() -> SyntheticRun:
    return beta_run(11, 1.0, 2.0, steps=50, prompts_per_step=100, group_size=8)


@pytest.mark.statistical
def test_beta_run_counts_match_truth():
    """5,000 groups of 8 (40,000 rollouts): |T| < 4.9; power: truth + 0.05 is rejected."""
    run = _big_beta_run()
    assert abs(_z(run)) < Z
    assert abs(_z(run, _shifted(run.truth_p))) > Z


@pytest.mark.statistical
def test_beta_run_truth_follows_the_beta_law():
    """KS test of the 5,000 rates against Beta(1, 2) at level 1e-6; power: Beta(1.5, 2)."""
    run = _big_beta_run()
    assert stats.kstest(run.truth_p, stats.beta(1.0, 2.0).cdf).pvalue > ALPHA
    assert stats.kstest(run.truth_p, stats.beta(1.5, 2.0).cdf).pvalue < ALPHA


@pytest.mark.statistical
def test_beta_run_counts_are_beta_binomial():
    """Counts of 5,000 groups against BetaBinomial(8, 1, 2): chi-square over the 9 values.

    The chi-square approximation (8 degrees of freedom, smallest expected cell about 140) at
    level 1e-6; power: BetaBinomial(8, 1.5, 2) is rejected.
    """
    run = _big_beta_run()
    k = run.log.group_reduce(np.add).astype(int)
    observed = np.bincount(k, minlength=9)

    def pvalue(a: float, b: float) -> float:
        expected = stats.betabinom(8, a, b).pmf(np.arange(9)) * k.size
        return float(stats.chisquare(observed, expected).pvalue)

    assert pvalue(1.0, 2.0) > ALPHA
    assert pvalue(1.5, 2.0) < ALPHA


# ----------------------------------------------------------------------------------------------
# bandit_run
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bandit() -> SyntheticRun:
    return bandit_run(0)


@pytest.fixture(scope="module")
def bandit_lagged() -> SyntheticRun:
    """The same training run and prompts, logged every 6 training steps instead of 4."""
    return bandit_run(0, log_every=6)


def test_bandit_run_structure(bandit):
    _check_binary_log(bandit, 8)
    log = bandit.log
    assert log.n_groups == 20 * 64 and bandit.truth_beta is None
    assert log.steps.tolist() == list(range(0, 80, 4))
    assert len(log.prompts) == 256 and log.group_prompt.max() < 256
    for s in log.steps:  # distinct prompts within a step, recurring across steps
        assert np.unique(log.group_prompt[log.group_step == s]).size == 64
    assert np.unique(log.group_prompt).size > 64


def test_bandit_run_starts_at_the_task_rates_and_drifts(bandit):
    task = TaskSpec(n_prompts=256, n_arms=16, difficulty=("beta", 1.0, 2.0), test_fraction=0.0,
                    seed=0).build()
    first = bandit.log.group_step == 0
    np.testing.assert_allclose(bandit.truth_p[first],
                               task.initial_success[bandit.log.group_prompt[first]], atol=1e-6)
    last = bandit.log.group_step == bandit.log.steps[-1]
    assert bandit.truth_p[last].mean() > bandit.truth_p[first].mean() + 0.2


def test_bandit_run_log_every_keeps_the_run_and_the_prompts(bandit, bandit_lagged):
    np.testing.assert_array_equal(bandit_lagged.log.group_prompt, bandit.log.group_prompt)
    assert bandit_lagged.log.steps.tolist() == list(range(0, 120, 6))
    first = bandit.log.group_step == 0
    np.testing.assert_array_equal(bandit_lagged.truth_p[first], bandit.truth_p[first])


@pytest.mark.statistical
def test_bandit_run_counts_match_truth(bandit, bandit_lagged):
    """1,280 groups of 8 (10,240 rollouts): |T| < 4.9.

    Power: truth + 0.05, and the truth of later checkpoints (training steps 6s instead of 4s,
    same prompts) are rejected.
    """
    assert abs(_z(bandit)) < Z
    assert abs(_z(bandit, _shifted(bandit.truth_p))) > Z
    assert abs(_z(bandit, bandit_lagged.truth_p)) > Z


@pytest.mark.statistical
def test_bandit_run_counts_match_truth_at_every_step(bandit, bandit_lagged):
    """Per logged step (64 groups of 8 each): |T_s| < 5.6 for all 20 steps.

    P(|Z| > 5.6) = 2.1e-8, times 20 steps = 4.3e-7 <= 1e-6 (normal approximation to a sum of
    512 Bernoulli draws). Power: the lagged checkpoints' truth fails at some step.
    """
    def worst(p):
        zs = [_z(bandit, p, (bandit.log.group_step == s).astype(float))
              for s in bandit.log.steps]
        return max(abs(z) for z in zs)

    assert worst(bandit.truth_p) < 5.6
    assert worst(bandit_lagged.truth_p) > 5.6


# ----------------------------------------------------------------------------------------------
# transformer_run
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transformer() -> SyntheticRun:
    return transformer_run(0, prompts=320, group_size=32)


@pytest.fixture(scope="module")
def transformer_hot() -> SyntheticRun:
    """The same prompts sampled at temperature 1.5."""
    return transformer_run(0, prompts=320, group_size=32, temperature=1.5)


def _answer_length(prompt: str) -> int:
    """Tokens of the answer of ``^ab+cd=`` (mod 20) including EOS."""
    a, b = prompt[1:-1].split("+")
    return len(str((int(a) + int(b)) % 20)) + 1


def test_transformer_run_structure(transformer):
    _check_binary_log(transformer, 32)
    log = transformer.log
    assert log.steps.tolist() == [0] and log.n_groups == 320
    assert all(p[0] == "^" and p[-1] == "=" and "+" in p for p in log.prompts)
    assert len(set(log.prompts)) == 320
    lengths = log.completion_length
    assert lengths is not None and ((lengths >= 1) & (lengths <= 3)).all()
    # A rewarded completion is the answer and its EOS: its length is the answer's.
    want = np.repeat([_answer_length(log.prompts[c]) for c in log.group_prompt], log.sizes)
    correct = log.rewards == 1
    np.testing.assert_array_equal(lengths[correct], want[correct])


def _warm():
    return synthetic._add_task(20), synthetic._warm_model(20, 0)[0]


def test_answer_probability_is_the_library_sequence_probability():
    task, model = _warm()
    prompts, answers = task.prompts[:16], task.answers[:16]
    p = answer_probabilities(model, prompts, answers)
    P = task.prompt_len
    seqs = jnp.concatenate([jnp.asarray(prompts), jnp.asarray(answers)], axis=1)
    masks = jax.vmap(completion_mask)(jnp.asarray(answers))
    lp = jax.vmap(lambda s, m: sequence_log_prob(model, s, P, m))(seqs, masks)
    np.testing.assert_allclose(p, np.exp(np.asarray(lp, dtype=float)), rtol=1e-5)


def test_answer_probability_is_the_sampled_log_probability_of_correct_rollouts():
    """At temperature 1 every rewarded rollout has log-probability log p_q (the sampler's own)."""
    task, model = _warm()
    idx = np.asarray(task.train_idx[:64])
    prompts, answers = jnp.asarray(task.prompts[idx]), jnp.asarray(task.answers[idx])
    out = sample_completions(jax.random.key(5), model, prompts, n_rollouts=16,
                             completion_len=task.completion_len)
    r = jax.vmap(jax.vmap(lambda c, a: reward("binary", c, a), in_axes=(0, None)))(
        out["tokens"], answers)
    logp = np.asarray(jnp.sum(out["log_probs"] * out["mask"], axis=-1), dtype=float)
    p = np.broadcast_to(answer_probabilities(model, prompts, answers)[:, None], logp.shape)
    correct = np.asarray(r) == 1
    assert correct.sum() > 50
    np.testing.assert_allclose(np.exp(logp[correct]), p[correct], rtol=1e-5)


def test_answer_probability_is_the_total_probability_of_rewarded_completions():
    """Brute force over every completion the sampler can write (PAD after the first EOS).

    With L = 3 and V = 17 there are 1 + 16 + 16^2 + 16^3 = 4,369 such completions; their
    probabilities under softmax(z / tau) sum to 1, and those with exact-match reward 1 sum to
    :func:`answer_probabilities` (so the correct completion is the only rewarded one).
    """
    task, model = _warm()
    L, P, V, tau = task.completion_len, task.prompt_len, task.vocab_size, 1.3
    not_eos = [t for t in range(V) if t != EOS]
    comps = [[EOS, PAD, PAD]]
    comps += [[a, EOS, PAD] for a in not_eos]
    comps += [[a, b, EOS] for a in not_eos for b in not_eos]
    comps += [[a, b, c] for a in not_eos for b in not_eos for c in not_eos]
    comps = jnp.asarray(comps, jnp.int32)
    assert comps.shape == (4369, L)
    lengths = np.asarray(task.answer_lengths)
    for q in (int(np.flatnonzero(lengths == 1)[0]), int(np.flatnonzero(lengths == 2)[0])):
        prompt, answer = jnp.asarray(task.prompts[q]), jnp.asarray(task.answers[q])

        def logp(comp, prompt=prompt):
            logits = model(jnp.concatenate([prompt, comp])[:-1])[P - 1:] / tau
            lp = jnp.take_along_axis(jax.nn.log_softmax(logits), comp[:, None], axis=-1)[:, 0]
            return jnp.sum(lp * completion_mask(comp))

        probs = np.exp(np.asarray(jax.jit(jax.vmap(logp))(comps), dtype=float))
        rewards = np.asarray(jax.vmap(lambda c, a=answer: reward("binary", c, a))(comps))
        assert rewards.sum() == 1
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        exact = answer_probabilities(model, task.prompts[q:q + 1], task.answers[q:q + 1],
                                     temperature=tau)
        assert probs @ rewards == pytest.approx(exact[0], rel=1e-5)


@pytest.mark.statistical
def test_transformer_run_counts_match_truth(transformer, transformer_hot):
    """320 groups of 32 (10,240 rollouts): |T| < 4.9.

    Power: truth + 0.05 is rejected, and so is the exact truth at temperature 1.5 (the same
    prompts), against the temperature-1 rewards.
    """
    assert np.array_equal(transformer_hot.log.prompts, transformer.log.prompts)
    assert abs(_z(transformer)) < Z
    assert abs(_z(transformer, _shifted(transformer.truth_p))) > Z
    assert abs(_z(transformer, transformer_hot.truth_p)) > Z


@pytest.mark.statistical
def test_transformer_run_counts_match_truth_at_temperature(transformer_hot, transformer):
    """At temperature 1.5: |T| < 4.9 with the truth at 1.5; power: the truth at 1 is rejected."""
    assert abs(_z(transformer_hot)) < Z
    assert abs(_z(transformer_hot, transformer.truth_p)) > Z


@pytest.mark.statistical
def test_transformer_run_truth_is_calibrated_across_prompts(transformer):
    """Counts regressed on the truth: weights p_j - mean(p) give |T_w| < 4.9.

    A truth that is right on average but wrong in spread (stretched by 1.3 about its mean,
    clipped to [0.001, 0.999]) keeps T near 0 and is rejected by T_w (power).
    """
    p = transformer.truth_p
    w = p - p.mean()
    assert abs(_z(transformer, weights=w)) < Z
    stretched = np.clip(p.mean() + 1.3 * w, 1e-3, 1 - 1e-3)
    assert abs(_z(transformer, stretched, weights=stretched - stretched.mean())) > Z


# ----------------------------------------------------------------------------------------------
# Argument validation
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"a": 0.0}, ValueError, "a must be > 0"),
    ({"b": -1.0}, ValueError, "b must be > 0"),
    ({"b": float("nan")}, ValueError, "b must be finite"),
    ({"seed": -1}, ValueError, "seed must be an integer in"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"steps": 0}, ValueError, "steps must be an integer >= 1"),
    ({"prompts_per_step": True}, TypeError, "prompts_per_step"),
    ({"group_size": 1}, ValueError, "group_size must be an integer >= 2"),
])
def test_beta_run_rejects_bad_arguments(kwargs, error, match):
    args = {"seed": 0, "a": 1.0, "b": 1.0, "steps": 2, "prompts_per_step": 2, "group_size": 2}
    with pytest.raises(error, match=match):
        beta_run(**{**args, **kwargs})


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"steps": 0}, ValueError, "steps must be an integer >= 1"),
    ({"prompts_per_step": 300}, ValueError, r"prompts_per_step must be an integer in \[1, "),
    ({"group_size": 1}, ValueError, "group_size"),
    ({"log_every": 0}, ValueError, "log_every"),
    ({"train_prompts": 257}, ValueError, "train_prompts"),
    ({"n_arms": 1}, ValueError, "n_arms"),
    ({"difficulty": ("beta", 0.0, 1.0)}, ValueError, "difficulty beta a"),
    ({"estimator": "ppo"}, ValueError, "estimator must be one of"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate"),
    ({"estimator": "2-grpo"}, ValueError, "train_group_size must be 2"),
    ({"train_group_size": 1}, ValueError, "train_group_size must be an integer >= 2"),
    ({"seed": 2**32}, ValueError, "seed"),
])
def test_bandit_run_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        bandit_run(**kwargs)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"prompts": 0}, ValueError, "prompts must be an integer >= 1"),
    ({"prompts": 321}, ValueError, r"prompts must be an integer in \[1, 320\]"),
    ({"group_size": 1}, ValueError, "group_size"),
    ({"temperature": 0.0}, ValueError, "temperature must be > 0"),
    ({"modulus": 1}, ValueError, "modulus"),
    ({"warmstart_seed": -1}, ValueError, "warmstart_seed"),
])
def test_transformer_run_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        transformer_run(**kwargs)


def test_answer_probabilities_rejects_bad_arguments():
    task, model = _warm()
    with pytest.raises(TypeError, match="model must be a Transformer"):
        answer_probabilities("model", task.prompts[:2], task.answers[:2])
    with pytest.raises(ValueError, match="same N"):
        answer_probabilities(model, task.prompts[:2], task.answers[:3])
    with pytest.raises(ValueError, match="max_len"):
        answer_probabilities(model, task.prompts[:2], np.zeros((2, 9), np.int32))
    with pytest.raises(ValueError, match="temperature"):
        answer_probabilities(model, task.prompts[:2], task.answers[:2], temperature=-1.0)


def test_bandit_run_shared_policy_and_two_grpo():
    run = bandit_run(2, steps=3, prompts_per_step=8, group_size=4, log_every=2, n_prompts=32,
                     n_arms=4, difficulty=("uniform", 0.2, 0.8), policy="shared",
                     estimator="2-grpo", train_prompts=8, train_group_size=2)
    _check_binary_log(run, 4)
    assert run.log.steps.tolist() == [0, 2, 4] and "uniform(0.2, 0.8)" in run.description
    task = TaskSpec(n_prompts=32, n_arms=4, difficulty=("uniform", 0.2, 0.8), test_fraction=0.0,
                    seed=2).build()
    first = run.log.group_step == 0
    np.testing.assert_allclose(run.truth_p[first],
                               task.initial_success[run.log.group_prompt[first]], atol=1e-6)
    assert not np.allclose(run.truth_p[~first],
                           task.initial_success[run.log.group_prompt[~first]], atol=1e-3)
