r"""Verifiable sequence tasks for a tiny transformer: vocabulary, prompts, answers, rewards.

**Vocabulary.** Every task uses the same :data:`VOCAB_SIZE` = 17 tokens, one character each, so
that :func:`encode` and :func:`decode` are exact inverses on strings over :data:`TOKENS`:

.. list-table::
   :header-rows: 1

   * - ids
     - text
     - meaning
   * - 0 to 9
     - ``0`` to ``9``
     - the digits (token id = digit value)
   * - 10
     - ``+``
     - addition operator
   * - 11
     - ``r``
     - "reverse the digits" operator
   * - 12
     - ``s``
     - "sort the digits" operator
   * - 13
     - ``=``
     - end of the question (every prompt ends with it)
   * - 14
     - ``^``
     - BOS, the first token of every prompt
   * - 15
     - ``$``
     - EOS, ends every answer
   * - 16
     - ``_``
     - PAD, fills the completion buffer after EOS

**Tasks.** A task is a set of :math:`N` prompts of one length :math:`P` with their answers, split
at random into train and held-out test prompts (80/20 by default):

* ``"add"`` (:class:`AddTask`): modular addition, ``^07+25=`` :math:`\to` ``32$``. Operands
  :math:`a, b \in [0, m)` are written with a fixed width :math:`w` (the number of digits of
  :math:`m - 1`, zero-padded) so that :math:`P = 2w + 3`; the answer :math:`(a + b) \bmod m` is
  written *without* leading zeros, so answers have 1 to :math:`w` digits (variable length),
  then EOS; :math:`L = w + 1`.
* ``"reverse"`` (:class:`ReverseTask`): ``^r31425=`` :math:`\to` ``52413$``, with :math:`n`
  digits: :math:`P = n + 3`, :math:`L = n + 1`.
* ``"sort"`` (:class:`SortTask`): ``^s31425=`` :math:`\to` ``12345$`` (ascending).

**Completions and rewards.** A completion is a row of :math:`L` tokens. Only its tokens up to and
including the first EOS count (:func:`completion_mask`); anything after that is ignored. With
:math:`k` the position of EOS in the answer :math:`y` and :math:`\tilde c` the completion with
every token after its first EOS replaced by PAD,

.. math::

    r_{\mathrm{binary}}(c, y) = \prod_{i=0}^{k} [\tilde c_i = y_i], \qquad
    r_{\mathrm{partial}}(c, y) = \frac{1}{k + 1}\sum_{i=0}^{k} [\tilde c_i = y_i] \in [0, 1],

so the binary reward is 1 iff the completion is the answer followed by EOS, and the partial
reward is the fraction of answer positions (EOS included) matched position-wise. Both act on
*one* completion and are jittable; batch them with :func:`jax.vmap`.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from grpo_theory._validate import check_int as _int

__all__ = [
    "TOKENS",
    "VOCAB_SIZE",
    "PLUS",
    "REVERSE",
    "SORT",
    "EQUALS",
    "BOS",
    "EOS",
    "PAD",
    "TASK_NAMES",
    "REWARD_KINDS",
    "encode",
    "decode",
    "SequenceTask",
    "AddTask",
    "ReverseTask",
    "SortTask",
    "make_task",
    "completion_mask",
    "exact_match_reward",
    "partial_credit_reward",
    "reward",
]

TOKENS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "r", "s", "=", "^", "$", "_")
"""The text of each token, indexed by token id (one character each)."""

VOCAB_SIZE = len(TOKENS)
"""Number of tokens shared by every task (17)."""

PLUS = 10
"""Id of ``+``, the addition operator."""
REVERSE = 11
"""Id of ``r``, the "reverse the digits" operator."""
SORT = 12
"""Id of ``s``, the "sort the digits" operator."""
EQUALS = 13
"""Id of ``=``, the end of every question."""
BOS = 14
"""Id of ``^``, the first token of every prompt."""
EOS = 15
"""Id of ``$``, the end of every answer."""
PAD = 16
"""Id of ``_``, which fills the completion buffer after EOS."""

TASK_NAMES = ("add", "reverse", "sort")
"""Names accepted by :func:`make_task`."""

REWARD_KINDS = ("binary", "partial")
"""Reward kinds of :func:`reward`: exact match (0/1) or position-wise partial credit."""

_TOKEN_ID = {t: i for i, t in enumerate(TOKENS)}


# ----------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------


def encode(text: str) -> np.ndarray:
    """Token ids of a string over :data:`TOKENS` (one token per character).

    Args:
        text: a string whose characters are all in :data:`TOKENS`.

    Returns:
        ``Int[ndarray, "T"]`` int32 token ids.

    Example:
        >>> encode("^12+7=").tolist()
        [14, 1, 2, 10, 7, 13]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    bad = sorted({c for c in text if c not in _TOKEN_ID})
    if bad:
        raise ValueError(f"text must only use the characters {''.join(TOKENS)!r}; got {bad}")
    return np.asarray([_TOKEN_ID[c] for c in text], dtype=np.int32)


def decode(ids: Any) -> str:
    """The string of a sequence of token ids (the inverse of :func:`encode`).

    Args:
        ids: ``Int[Array, "T"]`` token ids in ``[0, VOCAB_SIZE)``.

    Returns:
        One character per token.

    Example:
        >>> decode([14, 1, 2, 10, 7, 13, 1, 9, 15, 16])
        '^12+7=19$_'
    """
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids must have rank 1, got shape {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0
                     or arr.max() >= VOCAB_SIZE):
        raise ValueError(f"ids must be integers in [0, {VOCAB_SIZE}), got {arr.tolist()}")
    return "".join(TOKENS[int(i)] for i in arr)


# ----------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------


def _static(default: Any = dataclasses.MISSING) -> Any:
    return dataclasses.field(default=default, metadata={"static": True})


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SequenceTask:
    """A verifiable sequence task: :math:`N` prompts of length :math:`P` and their answers.

    A JAX pytree: the arrays are leaves (numpy int32 as built), the rest is static metadata.
    Build one with :func:`make_task` or a spec's ``build(seed)``.

    Attributes:
        prompts: ``Int[ndarray, "N P"]`` int32 prompts (BOS first, ``=`` last).
        answers: ``Int[ndarray, "N L"]`` int32 answer tokens, then EOS, then PAD up to
            ``completion_len``.
        answer_lengths: ``Int[ndarray, "N"]`` number of answer tokens *before* EOS (so that
            ``answers[i, answer_lengths[i]] == EOS``).
        train_idx: ``Int[ndarray, "N_train"]`` sorted indices of the training prompts.
        test_idx: ``Int[ndarray, "N_test"]`` sorted indices of the held-out prompts.
        name: the task's name, one of :data:`TASK_NAMES`.
        vocab_size: :data:`VOCAB_SIZE`.
        prompt_len: :math:`P`.
        completion_len: :math:`L` (the longest answer plus EOS).
    """

    prompts: Any
    answers: Any
    answer_lengths: Any
    train_idx: Any
    test_idx: Any
    name: str = _static()
    vocab_size: int = _static(VOCAB_SIZE)
    prompt_len: int = _static(0)
    completion_len: int = _static(0)

    @property
    def n_prompts(self) -> int:
        """:math:`N`."""
        return int(self.prompts.shape[0])

    @property
    def n_train(self) -> int:
        """Number of training prompts."""
        return int(self.train_idx.shape[0])

    @property
    def n_test(self) -> int:
        """Number of held-out prompts."""
        return int(self.test_idx.shape[0])

    @property
    def seq_len(self) -> int:
        """:math:`P + L`, the context a model needs for a prompt and its completion."""
        return self.prompt_len + self.completion_len

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """The prompts and answers of one split.

        Args:
            which: ``"train"``, ``"test"`` or ``"all"``.

        Returns:
            ``(prompts [N_split, P], answers [N_split, L])``.

        Example:
            >>> task = make_task("reverse", 0, n_digits=2, n_prompts=10)
            >>> [a.shape for a in task.split("test")]
            [(2, 5), (2, 3)]
        """
        if which == "all":
            return np.asarray(self.prompts), np.asarray(self.answers)
        idx = {"train": self.train_idx, "test": self.test_idx}.get(which)
        if idx is None:
            raise ValueError(f"which must be one of 'train', 'test', 'all'; got {which!r}")
        return np.asarray(self.prompts)[idx], np.asarray(self.answers)[idx]




def _fraction(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not 0.0 <= float(x) < 1.0:
        raise ValueError(f"{name} must be a real number in [0, 1), got {x!r}")
    return float(x)


def _split(rng: np.random.Generator, n: int, test_fraction: float) -> tuple[np.ndarray, ...]:
    """A random train/test split: ``round(test_fraction * n)`` test prompts, at least 1 train."""
    n_test = min(int(round(test_fraction * n)), n - 1)
    perm = rng.permutation(n)
    return np.sort(perm[n_test:]).astype(np.int32), np.sort(perm[:n_test]).astype(np.int32)


def _pad_answers(bodies: np.ndarray, lengths: np.ndarray, L: int) -> np.ndarray:
    """``[N, L]`` answers: the first ``lengths[i]`` tokens of ``bodies[i]``, EOS, then PAD."""
    n, width = bodies.shape
    pos = np.arange(L)[None, :]
    body = np.take_along_axis(bodies, np.minimum(pos, width - 1).repeat(n, axis=0), axis=1)
    answers = np.where(pos < lengths[:, None], body, PAD)
    answers = np.where(pos == lengths[:, None], EOS, answers)
    return answers.astype(np.int32)


def _digits(x: np.ndarray, width: int) -> np.ndarray:
    """``[N, width]`` decimal digits of non-negative integers, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1)
    return (x[:, None] // powers[None, :]) % 10


@dataclasses.dataclass(frozen=True)
class AddTask:
    r"""Modular addition ``a+b=`` :math:`\to` :math:`(a + b) \bmod m` (variable-length answers).

    Attributes:
        modulus: :math:`m` in ``[2, 1000]``; operands are drawn from ``[0, m)``.
        n_prompts: number of distinct pairs :math:`(a, b)`, drawn without replacement, in
            ``[2, m^2]``; ``None`` (default) takes all :math:`m^2` pairs in order.
        test_fraction: held-out fraction in ``[0, 1)`` (default 0.2).

    Example:
        >>> task = AddTask(modulus=10).build(0)
        >>> task.prompt_len, task.completion_len, task.n_prompts, task.n_test
        (5, 2, 100, 20)
        >>> decode(task.prompts[37]), decode(task.answers[37])
        ('^3+7=', '0$')
    """

    modulus: int = 100
    n_prompts: int | None = None
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        m = _int(self.modulus, "modulus", 2, 1000)
        if self.n_prompts is not None:
            _int(self.n_prompts, "n_prompts", 2, m * m)
        _fraction(self.test_fraction, "test_fraction")

    def build(self, seed: int = 0) -> SequenceTask:
        """The task's prompts, answers and a train/test split drawn from ``seed``.

        Args:
            seed: a non-negative integer seeding the prompt subset and the split.

        Returns:
            A :class:`SequenceTask` named ``"add"``.
        """
        rng = np.random.default_rng(_int(seed, "seed", 0))
        m = self.modulus
        width = len(str(m - 1))
        pairs = np.arange(m * m)
        if self.n_prompts is not None:
            pairs = np.sort(rng.choice(m * m, size=self.n_prompts, replace=False))
        a, b = pairs // m, pairs % m
        n = pairs.size
        prompts = np.concatenate(
            [np.full((n, 1), BOS), _digits(a, width), np.full((n, 1), PLUS), _digits(b, width),
             np.full((n, 1), EQUALS)], axis=1).astype(np.int32)
        total = (a + b) % m
        lengths = np.ones(n, dtype=np.int32)  # digits of the sum, without leading zeros
        for k in range(1, width):
            lengths += (total >= 10**k).astype(np.int32)
        digits = _digits(total, width)
        shift = (width - lengths)[:, None] + np.arange(width)[None, :]
        bodies = np.take_along_axis(digits, np.minimum(shift, width - 1), axis=1)
        answers = _pad_answers(bodies, lengths, width + 1)
        train, test = _split(rng, n, self.test_fraction)
        return SequenceTask(prompts, answers, lengths, train, test, name="add",
                            prompt_len=2 * width + 3, completion_len=width + 1)


def _digit_lists(rng: np.random.Generator, n_digits: int, n_prompts: int | None) -> np.ndarray:
    total = 10**n_digits
    if n_prompts is None:
        n_prompts = min(total, 2000)
    codes = np.sort(rng.choice(total, size=n_prompts, replace=False))
    return _digits(codes, n_digits)


def _check_digit_task(n_digits: Any, n_prompts: Any, test_fraction: Any) -> None:
    n = _int(n_digits, "n_digits", 1, 12)
    if n_prompts is not None:
        _int(n_prompts, "n_prompts", 2, 10**n)
    _fraction(test_fraction, "test_fraction")


def _digit_task(name: str, op: int, digits: np.ndarray, answers_body: np.ndarray,
                rng: np.random.Generator, test_fraction: float) -> SequenceTask:
    n, k = digits.shape
    prompts = np.concatenate(
        [np.full((n, 1), BOS), np.full((n, 1), op), digits, np.full((n, 1), EQUALS)],
        axis=1).astype(np.int32)
    lengths = np.full(n, k, dtype=np.int32)
    answers = _pad_answers(answers_body, lengths, k + 1)
    train, test = _split(rng, n, test_fraction)
    return SequenceTask(prompts, answers, lengths, train, test, name=name, prompt_len=k + 3,
                        completion_len=k + 1)


@dataclasses.dataclass(frozen=True)
class ReverseTask:
    """Reverse a list of :math:`n` digits: ``^r31425=`` -> ``52413$``.

    Attributes:
        n_digits: :math:`n` in ``[1, 12]`` (default 5).
        n_prompts: number of distinct digit lists, drawn without replacement, in
            ``[2, 10^n]``; ``None`` (default) means ``min(10^n, 2000)``.
        test_fraction: held-out fraction in ``[0, 1)`` (default 0.2).

    Example:
        >>> task = ReverseTask(n_digits=3, n_prompts=50).build(1)
        >>> p, a = decode(task.prompts[0]), decode(task.answers[0])
        >>> p[2:5][::-1] == a[:3], a[3]
        (True, '$')
    """

    n_digits: int = 5
    n_prompts: int | None = None
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        _check_digit_task(self.n_digits, self.n_prompts, self.test_fraction)

    def build(self, seed: int = 0) -> SequenceTask:
        """The task's prompts, answers and a train/test split drawn from ``seed``.

        Args:
            seed: a non-negative integer seeding the digit lists and the split.

        Returns:
            A :class:`SequenceTask` named ``"reverse"``.
        """
        rng = np.random.default_rng(_int(seed, "seed", 0))
        digits = _digit_lists(rng, self.n_digits, self.n_prompts)
        return _digit_task("reverse", REVERSE, digits, digits[:, ::-1], rng, self.test_fraction)


@dataclasses.dataclass(frozen=True)
class SortTask:
    """Sort a list of :math:`n` digits in ascending order: ``^s31425=`` -> ``12345$``.

    Attributes:
        n_digits: :math:`n` in ``[1, 12]`` (default 5).
        n_prompts: number of distinct digit lists, drawn without replacement, in
            ``[2, 10^n]``; ``None`` (default) means ``min(10^n, 2000)``.
        test_fraction: held-out fraction in ``[0, 1)`` (default 0.2).

    Example:
        >>> task = SortTask(n_digits=4, n_prompts=20).build(0)
        >>> a = decode(task.answers[3])
        >>> list(a[:4]) == sorted(decode(task.prompts[3])[2:6]), a[4]
        (True, '$')
    """

    n_digits: int = 5
    n_prompts: int | None = None
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        _check_digit_task(self.n_digits, self.n_prompts, self.test_fraction)

    def build(self, seed: int = 0) -> SequenceTask:
        """The task's prompts, answers and a train/test split drawn from ``seed``.

        Args:
            seed: a non-negative integer seeding the digit lists and the split.

        Returns:
            A :class:`SequenceTask` named ``"sort"``.
        """
        rng = np.random.default_rng(_int(seed, "seed", 0))
        digits = _digit_lists(rng, self.n_digits, self.n_prompts)
        return _digit_task("sort", SORT, digits, np.sort(digits, axis=1), rng, self.test_fraction)


_SPECS = {"add": AddTask, "reverse": ReverseTask, "sort": SortTask}


def make_task(name: str, seed: int = 0, **kwargs: Any) -> SequenceTask:
    """Build a task by name: ``make_task("add", seed, modulus=100)`` and so on.

    Args:
        name: one of :data:`TASK_NAMES`.
        seed: a non-negative integer seeding the prompts and the split.
        **kwargs: the fields of the task's spec (:class:`AddTask`, :class:`ReverseTask`,
            :class:`SortTask`).

    Returns:
        A :class:`SequenceTask`.

    Example:
        >>> task = make_task("add", 0)
        >>> task.n_prompts, task.n_train, task.prompt_len, task.completion_len
        (10000, 8000, 7, 3)
    """
    if name not in _SPECS:
        raise ValueError(f"name must be one of {', '.join(TASK_NAMES)}; got {name!r}")
    spec_cls = _SPECS[name]
    fields = {f.name for f in dataclasses.fields(spec_cls)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for task {name!r}; valid: "
                         f"{sorted(fields)}")
    return spec_cls(**kwargs).build(seed)


# ----------------------------------------------------------------------------------------------
# Masks and rewards (one completion; batch with vmap)
# ----------------------------------------------------------------------------------------------


def _first_eos(tokens: Array) -> Array:
    """Index of the first EOS, or ``L`` if there is none."""
    is_eos = tokens == EOS
    return jnp.where(jnp.any(is_eos), jnp.argmax(is_eos), tokens.shape[0])


def completion_mask(completion: Array) -> Array:
    r"""1 for the tokens up to and including the first EOS, 0 after it (all ones if no EOS).

    .. math::

        m_i = [\,i \le \min\{j : c_j = \mathrm{EOS}\}\,]

    Args:
        completion: ``Int[Array, "L"]`` one completion.

    Returns:
        ``Float[Array, "L"]`` in the default float dtype.

    Example:
        >>> completion_mask(jnp.array([3, EOS, 7, PAD])).tolist()
        [1.0, 1.0, 0.0, 0.0]
    """
    completion = jnp.asarray(completion)
    if completion.ndim != 1:
        raise ValueError(f"completion must have rank 1 (shape [L]), got shape {completion.shape}")
    pos = jnp.arange(completion.shape[0])
    return (pos <= _first_eos(completion)).astype(jnp.result_type(float))


def _answer_matches(completion: Array, answer: Array) -> tuple[Array, Array]:
    """Position-wise matches over the answer's positions, and those positions' mask."""
    completion, answer = jnp.asarray(completion), jnp.asarray(answer)
    if completion.ndim != 1 or answer.ndim != 1 or completion.shape != answer.shape:
        raise ValueError(
            f"completion and answer must both have shape [L] with the same L, got "
            f"{completion.shape} and {answer.shape}"
        )
    cleaned = jnp.where(completion_mask(completion) > 0, completion, PAD)
    answer_positions = completion_mask(answer) > 0
    return (cleaned == answer) & answer_positions, answer_positions


def exact_match_reward(completion: Array, answer: Array) -> Array:
    r"""Binary reward: 1.0 iff the completion up to its first EOS is the answer up to its EOS.

    .. math::

        r(c, y) = \prod_{i=0}^{k}[\tilde c_i = y_i], \quad k = \text{EOS position of } y,

    where :math:`\tilde c` is :math:`c` with every token after its first EOS replaced by PAD,
    so trailing tokens after EOS are ignored and a missing EOS earns 0.

    Args:
        completion: ``Int[Array, "L"]`` one completion.
        answer: ``Int[Array, "L"]`` its answer (tokens, EOS, PAD).

    Returns:
        ``Float[Array, ""]`` 0.0 or 1.0.

    Example:
        >>> ans = jnp.array([1, 9, EOS])
        >>> exact_match_reward(jnp.array([1, 9, EOS]), ans).item()
        1.0
        >>> exact_match_reward(jnp.array([1, 9, 9]), ans).item()
        0.0
    """
    match, positions = _answer_matches(completion, answer)
    return jnp.all(match | ~positions).astype(jnp.result_type(float))


def partial_credit_reward(completion: Array,
                          answer: Array) -> Array:
    r"""Continuous reward in [0, 1]: the fraction of answer positions (EOS included) matched.

    .. math::

        r(c, y) = \frac{1}{k + 1}\sum_{i=0}^{k}[\tilde c_i = y_i],

    with :math:`k` and :math:`\tilde c` as in :func:`exact_match_reward`. It equals 1 iff the
    binary reward does.

    Args:
        completion: ``Int[Array, "L"]`` one completion.
        answer: ``Int[Array, "L"]`` its answer (tokens, EOS, PAD).

    Returns:
        ``Float[Array, ""]`` in ``[0, 1]``.

    Example:
        >>> round(partial_credit_reward(jnp.array([1, 8, EOS]), jnp.array([1, 9, EOS])).item(), 6)
        0.666667
    """
    match, positions = _answer_matches(completion, answer)
    dtype = jnp.result_type(float)
    return jnp.sum(match.astype(dtype)) / jnp.sum(positions.astype(dtype))


_REWARDS = {"binary": exact_match_reward, "partial": partial_credit_reward}


def reward(kind: str, completion: Array, answer: Array) -> Array:
    """The reward of one completion: ``"binary"`` (exact match) or ``"partial"`` (partial credit).

    ``kind`` is a Python string (static under ``jit``).

    Args:
        kind: one of :data:`REWARD_KINDS`.
        completion: ``Int[Array, "L"]`` one completion.
        answer: ``Int[Array, "L"]`` its answer.

    Returns:
        ``Float[Array, ""]`` the reward.

    Example:
        >>> reward("partial", jnp.array([2, EOS, PAD]), jnp.array([1, 9, EOS])).item()
        0.0
    """
    if kind not in _REWARDS:
        raise ValueError(f"kind must be one of {', '.join(REWARD_KINDS)}; got {kind!r}")
    return _REWARDS[kind](completion, answer)
