r"""The discard rate on a transformer: sampled group counts and the silent-group fraction against
its exact prediction and the paper's printed formula.

**Discard rate** (:func:`sample_group_counts`, :func:`discard_check`). The fraction of silent
groups (all rewards equal) against :math:`\mathbb E_q[p_q^G + (1-p_q)^G]`, estimated without
bias from an independent sample of :math:`n` completions per prompt by the hypergeometric
U-statistic :math:`[\binom{n^+_q}{G} + \binom{n^-_q}{G}]/\binom nG`; and against paper v3 App.
D.3's printed :math:`1 - \bar r^2 - (1-\bar r)^2`, which is at most 1/2 (the corrected plug-in
:math:`\bar r^2 + (1-\bar r)^2` is a lower bound by Jensen).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy import special

from grpo_theory.transformer.analysis._common import _check_prompt_set, _int, _level, _sample_rows
from grpo_theory.transformer.analysis.scores import CHUNK_ROWS
from grpo_theory.transformer.model import Transformer

__all__ = [
    "sample_group_counts",
    "DiscardCheck",
    "discard_check",
]


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
