r"""A fixed data set of bandit "prompts" with a prescribed law of initial difficulty.

**Prompts.** A task holds :math:`N` prompts, each a :math:`K`-armed bandit: an answer is an arm
:math:`a`, and prompt :math:`q` pays :math:`r_{q,a}`. With *binary* rewards a subset of
:math:`c_q` arms is correct (:math:`r_{q,a} = 1`) and the others are not. With *continuous*
rewards every :math:`r_{q,a}` lies in :math:`[0, 1]` (each prompt has one arm paying 0 and one
paying 1); read :math:`r_{q,a}` as the probability that a verifier accepts answer :math:`a`, so
"success" means *expected reward* and all metrics below keep their meaning.

**Exact initial difficulty.** Each prompt's initial success rate
:math:`p_q = \sum_a \pi_{q,a} r_{q,a}` is drawn from a difficulty law (Beta, uniform, a fixed
value or given values) and the initial logits are built so that :math:`p_q` is attained exactly
(to rounding). Binary rewards: with free base logits :math:`u`, the correct arms are shifted by

.. math::

    \delta_q = \mathrm{logit}(p_q) - \Big(\log\sum_{a\,\mathrm{correct}} e^{u_a}
    - \log\sum_{a\,\mathrm{wrong}} e^{u_a}\Big),

so the softmax mass on the correct arms is :math:`\sigma(\mathrm{logit}\,p_q) = p_q`.
Continuous rewards: the logits are tilted, :math:`z = u + t_q r_q`, with :math:`t_q` the unique
root of :math:`\mathrm{softmax}(u + t r_q)^\top r_q = p_q` (the left side increases in :math:`t`
with derivative :math:`\mathrm{Var}_\pi(r_q) > 0`), found by bisection. Draws are clipped to
:math:`[p_{\min}, 1 - p_{\min}]` (default :math:`10^{-6}`) so that logits stay finite; the
clipped values are the ones stored and attained.

**Policy families** (pure functions of the parameters):

* ``"tabular"``: independent logits per prompt, parameters ``[N, K]`` initialised at the task's
  logits; updating one prompt never moves another;
* ``"shared"``: :math:`z_q = z^0_q + x_q^\top W` with fixed offsets :math:`z^0_q` (the task's
  initial logits), prompt features :math:`x_q \in \mathbb R^F` and shared parameters
  :math:`W \in \mathbb R^{F\times K}` initialised at zero (so the initial rates are exact).
  The features carry a noisy random projection of the prompt's centred reward vector, so a
  :math:`W` learnt on the training prompts transfers to the held-out test prompts.

**Exact metrics.** From the policy: mean success :math:`\frac1{|S|}\sum_{q\in S} p_q` (this is
also Mean@k, the expected fraction of correct answers among :math:`k` samples, for every
:math:`k`) and :math:`\mathrm{Pass@}k = \frac1{|S|}\sum_{q\in S} 1 - (1 - p_q)^k`, on the train
and the test split :math:`S`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from scipy import stats as sps
from scipy.special import logit, logsumexp

from grpo_theory._validate import check_nonnegative, check_positive, check_probability
from grpo_theory.montecarlo.engine import as_key

__all__ = [
    "DIFFICULTIES",
    "REWARD_KINDS",
    "POLICY_FAMILIES",
    "DEFAULT_P_MIN",
    "BanditTask",
    "TaskSpec",
    "make_task",
    "difficulty_moments",
    "difficulty_pvalue",
    "init_params",
    "policy_logits",
    "prompt_logits",
    "success_rates",
    "pass_at_k",
    "evaluate",
]

DIFFICULTIES = ("beta", "uniform", "fixed", "values")
"""Difficulty laws: ``("beta", a, b)``, ``("uniform", lo, hi)``, ``("fixed", p)``,
``("values", p_1, ..., p_N)``."""

REWARD_KINDS = ("binary", "continuous")
"""Reward kinds: ``binary`` (correct arms pay 1) or ``continuous`` (every arm pays in [0, 1])."""

POLICY_FAMILIES = ("tabular", "shared")
"""Policy families: independent logits per prompt, or offsets plus a shared linear map."""

DEFAULT_P_MIN = 1e-6
"""Initial rates are clipped to ``[p_min, 1 - p_min]`` so that every logit is finite."""


def _static(default: Any = dataclasses.MISSING) -> Any:
    return dataclasses.field(default=default, metadata={"static": True})


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BanditTask:
    r"""A data set of :math:`N` prompts with :math:`K` arms each (a JAX pytree).

    The array fields are leaves (numpy float64 as built by :func:`make_task`); ``difficulty``
    and ``reward`` are static metadata. Build one with :func:`make_task`.

    Attributes:
        rewards: ``[N, K]`` reward of every arm (0/1 for binary rewards, in [0, 1] otherwise).
        logits: ``[N, K]`` initial logits; the tabular initial parameters and the shared
            family's fixed offsets.
        features: ``[N, F]`` prompt features of the shared family.
        train_idx: ``[N_train]`` sorted indices of the training prompts.
        test_idx: ``[N_test]`` sorted indices of the held-out prompts (may be empty).
        initial_success: ``[N]`` the drawn (clipped) initial success rates :math:`p_q`.
        difficulty: the difficulty law, e.g. ``("beta", 1.0, 3.0)``.
        reward: ``"binary"`` or ``"continuous"``.
    """

    rewards: Any
    logits: Any
    features: Any
    train_idx: Any
    test_idx: Any
    initial_success: Any
    difficulty: tuple = _static(("beta", 1.0, 1.0))
    reward: str = _static("binary")

    @property
    def n_prompts(self) -> int:
        """:math:`N`."""
        return int(self.rewards.shape[0])

    @property
    def n_arms(self) -> int:
        """:math:`K`."""
        return int(self.rewards.shape[1])

    @property
    def n_features(self) -> int:
        """:math:`F`."""
        return int(self.features.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training prompts."""
        return int(self.train_idx.shape[0])

    @property
    def n_test(self) -> int:
        """Number of held-out prompts."""
        return int(self.test_idx.shape[0])

    def describe(self) -> dict[str, Any]:
        """A summary: sizes, the difficulty law with its mean and variance, the drawn rates.

        Returns:
            A dict of plain Python values.

        Example:
            >>> task = make_task(0, 8, 4, ("fixed", 0.25))
            >>> d = task.describe()
            >>> d["difficulty"], d["law_mean"], round(d["initial_success_mean"], 12)
            (('fixed', 0.25), 0.25, 0.25)
        """
        p = np.asarray(self.initial_success, dtype=float)
        train, test = np.asarray(self.train_idx), np.asarray(self.test_idx)
        law_mean, law_var = difficulty_moments(self.difficulty)
        correct = np.asarray(self.rewards) == 1
        return {
            "n_prompts": self.n_prompts,
            "n_arms": self.n_arms,
            "n_features": self.n_features,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "reward": self.reward,
            "difficulty": self.difficulty,
            "law_mean": law_mean,
            "law_var": law_var,
            "initial_success_mean": float(p.mean()),
            "initial_success_var": float(p.var()),
            "initial_success_quartiles": tuple(float(x) for x in np.quantile(p, [0.25, 0.5,
                                                                                  0.75])),
            "train_initial_success": float(p[train].mean()),
            "test_initial_success": float(p[test].mean()) if test.size else math.nan,
            "correct_arms_mean": float(correct.sum(axis=1).mean()),
        }


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """The arguments of :func:`make_task` as a hashable value (for configurations).

    Example:
        >>> TaskSpec(n_prompts=6, n_arms=3).build().rewards.shape
        (6, 3)
    """

    n_prompts: int = 64
    n_arms: int = 16
    difficulty: tuple = ("beta", 1.0, 1.0)
    n_correct: int | tuple[int, int] = 1
    test_fraction: float = 0.25
    n_features: int | None = None
    reward: str = "binary"
    logit_scale: float = 1.0
    feature_noise: float = 0.5
    p_min: float = DEFAULT_P_MIN
    seed: int = 0

    def build(self) -> BanditTask:
        """The task (:func:`make_task` with these arguments)."""
        return make_task(
            self.seed,
            self.n_prompts,
            self.n_arms,
            self.difficulty,
            n_correct=self.n_correct,
            test_fraction=self.test_fraction,
            n_features=self.n_features,
            reward=self.reward,
            logit_scale=self.logit_scale,
            feature_noise=self.feature_noise,
            p_min=self.p_min,
        )


# ----------------------------------------------------------------------------------------------
# Construction
# ----------------------------------------------------------------------------------------------


def _int(x: Any, name: str, minimum: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(x).__name__} {x!r}")
    if int(x) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(x)


def _check_difficulty(difficulty: Any, n_prompts: int) -> tuple:
    """The difficulty law as a tuple of a name and floats; errors name ``difficulty``."""
    if isinstance(difficulty, str) or not isinstance(difficulty, tuple | list) or not difficulty:
        raise ValueError(
            f"difficulty must be a tuple (name, *parameters) with name in "
            f"{', '.join(DIFFICULTIES)}; got {difficulty!r}"
        )
    name, params = difficulty[0], tuple(difficulty[1:])
    if name not in DIFFICULTIES:
        raise ValueError(f"difficulty name must be one of {', '.join(DIFFICULTIES)}; got {name!r}")
    try:
        params = tuple(float(x) for x in params)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"difficulty parameters must be real numbers; got {params!r}") from exc
    arity = {"beta": 2, "uniform": 2, "fixed": 1}
    if name in arity and len(params) != arity[name]:
        raise ValueError(f"difficulty ({name!r}) takes {arity[name]} parameters, got {params!r}")
    if name == "beta":
        check_positive(params[0], "difficulty beta a")
        check_positive(params[1], "difficulty beta b")
    elif name == "uniform":
        lo, hi = params
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"difficulty uniform bounds must satisfy 0 <= lo < hi <= 1; got "
                             f"{params!r}")
    elif name == "fixed":
        check_probability(params[0], "difficulty fixed p", open_interval=True)
    else:
        if len(params) != n_prompts:
            raise ValueError(f"difficulty ('values', ...) needs one value per prompt "
                             f"(n_prompts = {n_prompts}), got {len(params)}")
        check_probability(np.asarray(params), "difficulty values", open_interval=True)
    return (name, *params)


def difficulty_moments(difficulty: tuple) -> tuple[float, float]:
    r"""Mean and variance of a difficulty law (before clipping to :math:`[p_{\min}, 1-p_{\min}]`).

    For ``("values", ...)`` these are the mean and (population) variance of the values.

    Args:
        difficulty: a law, see :data:`DIFFICULTIES`.

    Returns:
        ``(mean, variance)``.

    Example:
        >>> difficulty_moments(("beta", 1.0, 3.0))
        (0.25, 0.0375)
    """
    name, *params = difficulty
    if name == "beta":
        a, b = params
        return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    if name == "uniform":
        lo, hi = params
        return (lo + hi) / 2, (hi - lo) ** 2 / 12
    if name == "fixed":
        return float(params[0]), 0.0
    if name == "values":
        v = np.asarray(params, dtype=float)
        return float(v.mean()), float(v.var())
    raise ValueError(f"difficulty name must be one of {', '.join(DIFFICULTIES)}; got {name!r}")


def _draw_rates(rng: np.random.Generator, difficulty: tuple, n: int) -> np.ndarray:
    name, *params = difficulty
    if name == "beta":
        return rng.beta(params[0], params[1], size=n)
    if name == "uniform":
        return rng.uniform(params[0], params[1], size=n)
    if name == "fixed":
        return np.full(n, params[0])
    return np.asarray(params, dtype=float)


def _as_rng(seed_or_key: Any) -> np.random.Generator:
    """A numpy generator from an int seed or a JAX key (the key's words seed it)."""
    key = as_key(seed_or_key)
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).astype(np.uint64))


def _softmax_np(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _binary_logits(rng, p, n_correct, K, logit_scale):
    """Rewards with ``n_correct[q]`` correct arms and logits giving mass ``p[q]`` to them."""
    N = p.size
    rewards = np.zeros((N, K))
    for q in range(N):
        rewards[q, rng.choice(K, size=n_correct[q], replace=False)] = 1.0
    u = logit_scale * rng.standard_normal((N, K))
    correct = rewards == 1
    lse_c = logsumexp(np.where(correct, u, -np.inf), axis=1)
    lse_w = logsumexp(np.where(correct, -np.inf, u), axis=1)
    delta = logit(p) - (lse_c - lse_w)
    z = u + np.where(correct, delta[:, None], 0.0)
    return rewards, z - z.mean(axis=1, keepdims=True)


def _continuous_logits(rng, p, K, logit_scale):
    """Rewards spanning [0, 1] per prompt and tilted logits with expected reward ``p[q]``."""
    N = p.size
    raw = rng.uniform(size=(N, K))
    lo, hi = raw.min(axis=1, keepdims=True), raw.max(axis=1, keepdims=True)
    rewards = (raw - lo) / (hi - lo)
    u = logit_scale * rng.standard_normal((N, K))

    def mean_reward(t):
        return np.sum(_softmax_np(u + t[:, None] * rewards) * rewards, axis=1)

    width = np.ones(N)
    for _ in range(80):  # bracket the root: f(-w) < p < f(w)
        bad = (mean_reward(-width) >= p) | (mean_reward(width) <= p)
        if not bad.any():
            break
        width = np.where(bad, 2 * width, width)
    lo_t, hi_t = -width, width.copy()
    for _ in range(200):
        mid = 0.5 * (lo_t + hi_t)
        below = mean_reward(mid) < p
        lo_t, hi_t = np.where(below, mid, lo_t), np.where(below, hi_t, mid)
    t = 0.5 * (lo_t + hi_t)
    z = u + t[:, None] * rewards
    return rewards, z - z.mean(axis=1, keepdims=True)


def _features(rng, rewards, F, noise):
    """Unit-norm centred reward signal, randomly projected to F dimensions, plus noise."""
    N, K = rewards.shape
    signal = rewards - rewards.mean(axis=1, keepdims=True)
    signal = signal / np.maximum(np.linalg.norm(signal, axis=1, keepdims=True), 1e-12)
    proj = rng.standard_normal((K, F)) / math.sqrt(F)
    return signal @ proj + noise * rng.standard_normal((N, F)) / math.sqrt(F)


def make_task(
    seed_or_key: Any,
    n_prompts: int,
    n_arms: int,
    difficulty: tuple = ("beta", 1.0, 1.0),
    *,
    n_correct: int | tuple[int, int] = 1,
    test_fraction: float = 0.25,
    n_features: int | None = None,
    reward: str = "binary",
    logit_scale: float = 1.0,
    feature_noise: float = 0.5,
    p_min: float = DEFAULT_P_MIN,
) -> BanditTask:
    r"""Draw a task whose initial success rates follow ``difficulty`` exactly.

    Every random choice comes from one numpy generator seeded by ``seed_or_key``: the rates
    :math:`p_q`, the correct arms (binary) or arm rewards (continuous), base logits
    :math:`u \sim \mathcal N(0, s^2)` with :math:`s` = ``logit_scale``, the features and the
    train/test split (a random subset of :math:`\mathrm{round}(fN)` test prompts).

    Args:
        seed_or_key: a non-negative int seed or a JAX PRNG key.
        n_prompts: :math:`N \ge 1`.
        n_arms: :math:`K \ge 2`.
        difficulty: ``("beta", a, b)``, ``("uniform", lo, hi)``, ``("fixed", p)`` or
            ``("values", p_1, ..., p_N)``.
        n_correct: correct arms per prompt (binary rewards): an integer in ``1..K-1`` or a pair
            ``(lo, hi)`` drawn uniformly per prompt; ignored for continuous rewards.
        test_fraction: the fraction :math:`f \in [0, 1)` of held-out prompts.
        n_features: :math:`F \ge 1` (default :math:`K`).
        reward: ``"binary"`` or ``"continuous"``.
        logit_scale: spread :math:`s \ge 0` of the base logits within a prompt.
        feature_noise: noise level of the features relative to their signal (:math:`\ge 0`).
        p_min: clipping of the drawn rates, in :math:`(0, 1/2)`.

    Returns:
        A :class:`BanditTask`.

    Example:
        >>> task = make_task(1, 5, 4, ("fixed", 0.3), n_correct=2)
        >>> np.allclose(np.asarray(success_rates(task.logits, task)), 0.3, atol=1e-12)
        True
    """
    N = _int(n_prompts, "n_prompts", 1)
    K = _int(n_arms, "n_arms", 2)
    difficulty = _check_difficulty(difficulty, N)
    if reward not in REWARD_KINDS:
        raise ValueError(f"reward must be one of {', '.join(REWARD_KINDS)}; got {reward!r}")
    if isinstance(n_correct, tuple | list):
        if len(n_correct) != 2:
            raise ValueError(f"n_correct must be an integer or a pair (lo, hi); got {n_correct!r}")
        lo_c = _int(n_correct[0], "n_correct lo", 1)
        hi_c = _int(n_correct[1], "n_correct hi", lo_c)
    else:
        lo_c = hi_c = _int(n_correct, "n_correct", 1)
    if reward == "binary" and hi_c > K - 1:
        raise ValueError(f"n_correct must be at most n_arms - 1 = {K - 1}; got {n_correct!r}")
    check_nonnegative(test_fraction, "test_fraction")
    if test_fraction >= 1:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction!r}")
    F = K if n_features is None else _int(n_features, "n_features", 1)
    check_nonnegative(logit_scale, "logit_scale")
    check_nonnegative(feature_noise, "feature_noise")
    check_probability(p_min, "p_min", open_interval=True)
    if p_min >= 0.5:
        raise ValueError(f"p_min must be < 0.5, got {p_min!r}")
    n_test = int(round(test_fraction * N))
    if n_test >= N:
        raise ValueError(f"test_fraction leaves no training prompt (n_prompts = {N}, "
                         f"test_fraction = {test_fraction})")

    rng = _as_rng(seed_or_key)
    p = np.clip(_draw_rates(rng, difficulty, N), p_min, 1.0 - p_min)
    if reward == "binary":
        counts = rng.integers(lo_c, hi_c + 1, size=N)
        rewards, z = _binary_logits(rng, p, counts, K, float(logit_scale))
    else:
        rewards, z = _continuous_logits(rng, p, K, float(logit_scale))
    features = _features(rng, rewards, F, float(feature_noise))
    perm = rng.permutation(N)
    test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return BanditTask(
        rewards=rewards,
        logits=z,
        features=features,
        train_idx=train_idx.astype(np.int32),
        test_idx=test_idx.astype(np.int32),
        initial_success=p,
        difficulty=difficulty,
        reward=reward,
    )


# ----------------------------------------------------------------------------------------------
# Policies and exact metrics (pure JAX)
# ----------------------------------------------------------------------------------------------


def _check_family(family: Any) -> str:
    if family not in POLICY_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(POLICY_FAMILIES)}; got {family!r}")
    return family


def init_params(task: BanditTask, family: str = "tabular", dtype: Any = None) -> Array:
    """Initial parameters: the task's logits ``[N, K]`` (tabular) or zeros ``[F, K]`` (shared).

    Args:
        task: a :class:`BanditTask`.
        family: one of :data:`POLICY_FAMILIES`.
        dtype: floating dtype of the parameters (default: JAX's default float).

    Returns:
        The parameter array.

    Example:
        >>> task = make_task(0, 3, 2, n_features=5)
        >>> init_params(task, "shared").shape
        (5, 2)
    """
    family = _check_family(family)
    if family == "tabular":
        return jnp.asarray(task.logits, dtype=dtype)
    return jnp.zeros((task.n_features, task.n_arms), dtype=dtype or jnp.result_type(float))


def prompt_logits(params: Any, task: BanditTask, family: str, idx: Any) -> Array:
    r"""Logits of the prompts ``idx``: ``params[idx]`` or :math:`z^0_{idx} + x_{idx} W`.

    Args:
        params: tabular ``[N, K]`` or shared ``[F, K]`` parameters.
        task: the task.
        family: one of :data:`POLICY_FAMILIES`.
        idx: integer prompt indices, shape ``[Q]``.

    Returns:
        ``[Q, K]`` logits.

    Example:
        >>> task = make_task(0, 4, 3)
        >>> prompt_logits(init_params(task), task, "tabular", jnp.array([2, 0])).shape
        (2, 3)
    """
    family = _check_family(family)
    params = jnp.asarray(params)
    if family == "tabular":
        return params[idx]
    offsets = jnp.asarray(task.logits, params.dtype)[idx]
    return offsets + jnp.asarray(task.features, params.dtype)[idx] @ params


def policy_logits(params: Any, task: BanditTask, family: str = "tabular") -> Array:
    """Logits of every prompt, ``[N, K]`` (see :func:`prompt_logits`).

    Example:
        >>> task = make_task(0, 4, 3)
        >>> bool(jnp.allclose(policy_logits(init_params(task, "shared"), task, "shared"),
        ...                   task.logits))
        True
    """
    family = _check_family(family)
    params = jnp.asarray(params)
    if family == "tabular":
        return params
    offsets = jnp.asarray(task.logits, params.dtype)
    return offsets + jnp.asarray(task.features, params.dtype) @ params


def success_rates(params: Any, task: BanditTask, family: str = "tabular") -> Array:
    r"""Exact success rate (expected reward) of every prompt, :math:`p_q = \pi_q^\top r_q`.

    Args:
        params: parameters of the family.
        task: the task.
        family: one of :data:`POLICY_FAMILIES`.

    Returns:
        ``[N]`` rates.

    Example:
        >>> task = make_task(0, 4, 3, ("fixed", 0.2))
        >>> [round(float(p), 6) for p in success_rates(task.logits, task)]
        [0.2, 0.2, 0.2, 0.2]
    """
    return _success_rates(params, task, _check_family(family))


@functools.partial(jax.jit, static_argnames=("family",))
def _success_rates(params: Any, task: BanditTask, family: str) -> Array:
    logits = policy_logits(params, task, family)
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * jnp.asarray(task.rewards, logits.dtype),
                   axis=-1)


def pass_at_k(p: Any, k: Any) -> Array:
    r"""Pass@k of rates :math:`p`: :math:`1 - (1-p)^k`, as ``-expm1(k log1p(-p))``.

    Args:
        p: rates, any shape.
        k: sample counts (scalar or ``[M]``); the result has shape ``p.shape + k.shape``.

    Returns:
        Pass@k per rate and k.

    Example:
        >>> pass_at_k(jnp.array([0.5]), jnp.array([1, 2])).tolist()
        [[0.5, 0.75]]
    """
    p = jnp.asarray(p)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.result_type(float))
    return _pass_at_k(p, jnp.asarray(k, p.dtype))


@jax.jit
def _pass_at_k(p: Array, k: Array) -> Array:
    return -jnp.expm1(jnp.expand_dims(jnp.log1p(-p), tuple(range(p.ndim, p.ndim + k.ndim))) * k)


def _split_mean(values: Array, idx: Any) -> Array:
    """Mean over the prompts ``idx`` (axis 0); NaN for an empty split."""
    if np.shape(idx)[0] == 0:
        return jnp.full(values.shape[1:], jnp.nan, values.dtype)
    return jnp.mean(values[jnp.asarray(idx)], axis=0)


def evaluate(params: Any, task: BanditTask, family: str = "tabular",
             ks: tuple[int, ...] = (1, 8, 32)) -> dict[str, Array]:
    r"""Exact success metrics of a policy on the train and test splits.

    Args:
        params: parameters of the family.
        task: the task.
        family: one of :data:`POLICY_FAMILIES`.
        ks: the :math:`k` of Pass@k (positive integers).

    Returns:
        ``train_success`` and ``test_success`` (scalars; mean :math:`p_q`, which is also
        Mean@k), ``train_pass_at_k`` and ``test_pass_at_k`` (``[len(ks)]``). An empty test
        split gives NaN.

    Example:
        >>> task = make_task(0, 10, 3, ("fixed", 0.5), test_fraction=0.2)
        >>> m = evaluate(task.logits, task, ks=(1, 2))
        >>> round(float(m["test_success"]), 6), [round(float(x), 6) for x in m["train_pass_at_k"]]
        (0.5, [0.5, 0.75])
    """
    ks = tuple(_int(k, "ks entry", 1) for k in ks)
    return _evaluate(params, task, _check_family(family), ks)


@functools.partial(jax.jit, static_argnames=("family", "ks"))
def _evaluate(params: Any, task: BanditTask, family: str, ks: tuple[int, ...]
              ) -> dict[str, Array]:
    p = _success_rates(params, task, family)
    passes = pass_at_k(p, jnp.asarray(ks))
    return {
        "train_success": _split_mean(p, task.train_idx),
        "test_success": _split_mean(p, task.test_idx),
        "train_pass_at_k": _split_mean(passes, task.train_idx),
        "test_pass_at_k": _split_mean(passes, task.test_idx),
    }


def difficulty_pvalue(task: BanditTask) -> float:
    """Kolmogorov-Smirnov p-value of the drawn initial rates against the task's difficulty law.

    The law is the unclipped one; clipping at ``p_min`` moves a draw by at most ``p_min``.

    Args:
        task: a task with a ``beta`` or ``uniform`` law.

    Returns:
        The two-sided KS p-value.

    Example:
        >>> difficulty_pvalue(make_task(0, 500, 2, ("beta", 2.0, 5.0))) > 1e-6
        True
    """
    name, *params = task.difficulty
    p = np.asarray(task.initial_success)
    if name == "beta":
        return float(sps.kstest(p, sps.beta(*params).cdf).pvalue)
    if name == "uniform":
        return float(sps.kstest(p, sps.uniform(params[0], params[1] - params[0]).cdf).pvalue)
    raise ValueError(f"a KS test needs a continuous law (beta, uniform); got {name!r}")
