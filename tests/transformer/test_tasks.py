"""Tests of the sequence tasks: vocabulary, prompts and answers, splits, masks and rewards."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.transformer.tasks import (
    BOS,
    EOS,
    EQUALS,
    PAD,
    PLUS,
    REVERSE,
    REWARD_KINDS,
    SORT,
    TASK_NAMES,
    TOKENS,
    VOCAB_SIZE,
    AddTask,
    ReverseTask,
    SequenceTask,
    SortTask,
    completion_mask,
    decode,
    encode,
    exact_match_reward,
    make_task,
    partial_credit_reward,
    reward,
)

# ----------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------


@pytest.mark.exact
def test_token_ids_are_documented_ones():
    assert VOCAB_SIZE == len(TOKENS) == 17
    assert [TOKENS[i] for i in range(10)] == [str(d) for d in range(10)]
    assert (TOKENS[PLUS], TOKENS[REVERSE], TOKENS[SORT], TOKENS[EQUALS]) == ("+", "r", "s", "=")
    assert (TOKENS[BOS], TOKENS[EOS], TOKENS[PAD]) == ("^", "$", "_")
    assert len(set(TOKENS)) == VOCAB_SIZE and all(len(t) == 1 for t in TOKENS)


@pytest.mark.property
@given(st.text(alphabet="".join(TOKENS), max_size=30))
def test_encode_decode_round_trip_strings(text):
    ids = encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert decode(ids) == text


@pytest.mark.property
@given(st.lists(st.integers(0, VOCAB_SIZE - 1), max_size=30))
def test_encode_decode_round_trip_ids(ids):
    assert encode(decode(np.asarray(ids, dtype=np.int32))).tolist() == ids


@pytest.mark.exact
def test_encode_and_decode_reject_bad_input():
    with pytest.raises(ValueError, match="text"):
        encode("12*3")
    with pytest.raises(ValueError, match="ids"):
        decode([0, VOCAB_SIZE])
    with pytest.raises(ValueError, match="ids"):
        decode([[1, 2]])


# ----------------------------------------------------------------------------------------------
# Tasks: every prompt's answer is recomputed from the decoded prompt
# ----------------------------------------------------------------------------------------------


def _check_layout(task: SequenceTask, name: str, P: int, L: int, N: int):
    assert task.name == name and task.vocab_size == VOCAB_SIZE
    assert (task.prompt_len, task.completion_len, task.seq_len) == (P, L, P + L)
    assert task.prompts.shape == (N, P) and task.answers.shape == (N, L)
    assert task.prompts.dtype == task.answers.dtype == np.int32
    assert task.answer_lengths.shape == (N,)
    rows = np.arange(N)
    assert np.all(task.answers[rows, task.answer_lengths] == EOS)
    assert np.all(task.prompts[:, 0] == BOS) and np.all(task.prompts[:, -1] == EQUALS)
    assert len({tuple(p) for p in task.prompts.tolist()}) == N, "prompts must be distinct"


def _answer_text(task: SequenceTask, i: int) -> str:
    """The decoded answer with its EOS and PAD stripped, after checking their layout."""
    text = decode(task.answers[i])
    body, eos, pad = text.partition("$")
    assert eos == "$" and set(pad) <= {"_"} and "_" not in body
    assert len(body) == task.answer_lengths[i]
    return body


@pytest.mark.exact
@pytest.mark.parametrize("modulus, n_prompts", [(10, None), (37, None), (100, 300), (1000, 200)])
def test_add_answers_are_sums_mod_m(modulus, n_prompts):
    task = AddTask(modulus=modulus, n_prompts=n_prompts).build(3)
    width = len(str(modulus - 1))
    N = modulus**2 if n_prompts is None else n_prompts
    _check_layout(task, "add", 2 * width + 3, width + 1, N)
    lengths = set()
    for i in range(N):
        prompt = decode(task.prompts[i])
        a, b = prompt[1:-1].split("+")
        assert len(a) == len(b) == width
        assert 0 <= int(a) < modulus and 0 <= int(b) < modulus
        body = _answer_text(task, i)
        assert body == str((int(a) + int(b)) % modulus)  # no leading zeros
        lengths.add(len(body))
    if n_prompts is None and modulus > 10:
        assert lengths == set(range(1, width + 1)), "answers have variable length"


@pytest.mark.exact
@pytest.mark.parametrize("spec, op", [(ReverseTask(n_digits=4, n_prompts=300), "r"),
                                      (SortTask(n_digits=4, n_prompts=300), "s"),
                                      (ReverseTask(n_digits=1), "r")])
def test_digit_task_answers(spec, op):
    task = spec.build(1)
    n = spec.n_digits
    N = min(10**n, 2000) if spec.n_prompts is None else spec.n_prompts
    _check_layout(task, "reverse" if op == "r" else "sort", n + 3, n + 1, N)
    for i in range(N):
        prompt = decode(task.prompts[i])
        assert prompt[1] == op and len(prompt) == n + 3
        digits = prompt[2:-1]
        expected = digits[::-1] if op == "r" else "".join(sorted(digits))
        assert _answer_text(task, i) == expected


@pytest.mark.exact
def test_default_tasks_have_the_documented_sizes():
    add = make_task("add")
    assert (add.n_prompts, add.n_train, add.n_test, add.prompt_len, add.completion_len) == (
        10000, 8000, 2000, 7, 3)
    for name in ("reverse", "sort"):
        task = make_task(name)
        assert (task.n_prompts, task.n_train, task.prompt_len, task.completion_len) == (
            2000, 1600, 8, 6)


@pytest.mark.exact
@pytest.mark.parametrize("name", TASK_NAMES)
def test_split_is_a_reproducible_partition(name):
    kwargs = {"modulus": 20} if name == "add" else {"n_digits": 3, "n_prompts": 250}
    task = make_task(name, 5, **kwargs)
    train, test = task.train_idx, task.test_idx
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(task.n_prompts))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert task.n_test == round(0.2 * task.n_prompts)
    again = make_task(name, 5, **kwargs)
    other = make_task(name, 6, **kwargs)
    assert np.array_equal(again.test_idx, test) and np.array_equal(again.prompts, task.prompts)
    assert not np.array_equal(other.test_idx, test)
    p, a = task.split("test")
    assert np.array_equal(p, task.prompts[test]) and np.array_equal(a, task.answers[test])
    assert make_task(name, 5, test_fraction=0.0, **kwargs).n_test == 0


@pytest.mark.exact
def test_task_is_a_pytree_with_static_metadata():
    task = make_task("add", 0, modulus=10)
    leaves = jax.tree_util.tree_leaves(task)
    assert len(leaves) == 5
    doubled = jax.tree_util.tree_map(lambda x: x, task)
    assert doubled.name == "add" and doubled.prompt_len == 5


@pytest.mark.exact
@pytest.mark.parametrize("call, name", [
    (lambda: AddTask(modulus=1), "modulus"),
    (lambda: AddTask(modulus=1001), "modulus"),
    (lambda: AddTask(modulus=10, n_prompts=101), "n_prompts"),
    (lambda: AddTask(modulus=10, n_prompts=1), "n_prompts"),
    (lambda: AddTask(test_fraction=1.0), "test_fraction"),
    (lambda: AddTask(test_fraction=-0.1), "test_fraction"),
    (lambda: ReverseTask(n_digits=0), "n_digits"),
    (lambda: SortTask(n_digits=13), "n_digits"),
    (lambda: ReverseTask(n_digits=2, n_prompts=101), "n_prompts"),
    (lambda: AddTask(modulus=10).build(-1), "seed"),
    (lambda: make_task("mul"), "name"),
    (lambda: make_task("add", 0, n_digits=3), "unknown argument"),
    (lambda: make_task("sort").split("valid"), "which"),
])
def test_bad_task_arguments_raise_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.exact
def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="modulus"):
        AddTask(modulus=10.0)
    with pytest.raises(TypeError, match="n_digits"):
        ReverseTask(n_digits=True)


# ----------------------------------------------------------------------------------------------
# Masks and rewards
# ----------------------------------------------------------------------------------------------

ANSWER = jnp.array([1, 9, EOS, PAD])  # "19$_"


@pytest.mark.exact
@pytest.mark.parametrize("completion, mask", [
    ([1, 9, EOS, PAD], [1, 1, 1, 0]),
    ([EOS, 3, EOS, 4], [1, 0, 0, 0]),
    ([1, 2, 3, 4], [1, 1, 1, 1]),
    ([1, 2, 3, EOS], [1, 1, 1, 1]),
])
def test_completion_mask_hand_cases(completion, mask):
    c = jnp.array(completion)
    assert completion_mask(c).tolist() == mask
    assert jax.jit(completion_mask)(c).tolist() == mask


@pytest.mark.exact
@pytest.mark.parametrize("completion, binary, partial", [
    ([1, 9, EOS, PAD], 1.0, 1.0),            # exact
    ([1, 9, EOS, 7], 1.0, 1.0),              # trailing junk after EOS is ignored
    ([1, 9, EOS, EOS], 1.0, 1.0),
    ([1, 8, EOS, PAD], 0.0, 2 / 3),          # one wrong digit
    ([1, 9, 9, PAD], 0.0, 2 / 3),            # missing EOS
    ([1, 9, 5, EOS], 0.0, 2 / 3),            # EOS too late
    ([1, EOS, 9, EOS], 0.0, 1 / 3),          # EOS too early; the 9 after it does not count
    ([EOS, 9, EOS, PAD], 0.0, 0.0),          # empty completion
    ([2, 1, 9, EOS], 0.0, 0.0),              # shifted by one
])
def test_rewards_hand_cases(completion, binary, partial):
    c = jnp.array(completion)
    assert exact_match_reward(c, ANSWER).item() == binary
    np.testing.assert_allclose(partial_credit_reward(c, ANSWER).item(), partial, rtol=1e-12)
    assert reward("binary", c, ANSWER).item() == binary
    assert jax.jit(lambda x, y: reward("partial", x, y))(c, ANSWER).item() == pytest.approx(
        partial)


@pytest.mark.exact
def test_rewards_vectorise_over_a_group():
    task = make_task("add", 0, modulus=10)
    answers = jnp.asarray(task.answers)
    assert jax.vmap(exact_match_reward)(answers, answers).tolist() == [1.0] * 100
    shifted = jnp.roll(answers, 1, axis=0)
    r = jax.vmap(exact_match_reward)(shifted, answers)
    expected = [float(x == y) for x, y in zip(shifted.tolist(), answers.tolist(), strict=True)]
    assert r.tolist() == expected


completions = st.lists(st.sampled_from([0, 1, 2, 9, EOS, PAD]), min_size=5, max_size=5)


@pytest.mark.property
@given(completions, st.lists(st.integers(0, 9), min_size=0, max_size=4))
def test_partial_credit_bounds_and_agreement_with_exact_match(completion, body):
    answer = jnp.array(body + [EOS] + [PAD] * (4 - len(body)))
    c = jnp.array(completion)
    binary = exact_match_reward(c, answer).item()
    partial = partial_credit_reward(c, answer).item()
    assert 0.0 <= partial <= 1.0 and binary in (0.0, 1.0)
    assert (partial == 1.0) == (binary == 1.0)
    assert partial * (len(body) + 1) == pytest.approx(round(partial * (len(body) + 1)))
    # Only the tokens up to the first EOS matter.
    cleaned = jnp.where(completion_mask(c) > 0, c, PAD)
    assert exact_match_reward(cleaned, answer).item() == binary
    assert partial_credit_reward(cleaned, answer).item() == partial


@pytest.mark.exact
def test_reward_arguments_are_checked():
    assert REWARD_KINDS == ("binary", "partial")
    with pytest.raises(ValueError, match="kind"):
        reward("dense", ANSWER, ANSWER)
    with pytest.raises(ValueError, match="completion and answer"):
        exact_match_reward(jnp.array([1, EOS]), ANSWER)
    with pytest.raises(ValueError, match="completion"):
        completion_mask(jnp.zeros((2, 2), jnp.int32))
