"""RolloutLog: grouping flat columns, repeated prompts, groups of one, views and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpo_theory.analyze.rollouts import LogFormatError, RolloutLog


def test_groups_are_contiguous_and_ordered_by_step():
    log = RolloutLog.from_rollouts(step=[1, 0, 1, 0, 0, 1], prompt=[5, 2, 5, 2, 2, 5],
                                   reward=[1, 0, 0, 1, 1, 1.0], prompts=list("abcdef"))
    assert log.group_step.tolist() == [0, 1]
    assert log.sizes.tolist() == [3, 3]
    assert log.rewards.tolist() == [0, 1, 1, 1, 0, 1]  # log order kept within a group
    assert [log.prompts[i] for i in log.group_prompt] == ["c", "f"]
    assert log.group_means().tolist() == pytest.approx([2 / 3, 2 / 3])


def test_group_column_separates_groups_of_one_prompt():
    log = RolloutLog.from_rollouts([0] * 4, [7] * 4, [1, 0, 1, 1.0], group=[0, 0, 1, 1])
    assert log.sizes.tolist() == [2, 2]
    assert log.silent().tolist() == [False, True]


def test_repeated_prompts_are_split_into_the_usual_size():
    log = RolloutLog.from_rollouts([0] * 8, [1] * 6 + [2] * 2, [1, 0, 1, 1, 0, 0, 1, 1],
                                   split_repeats=True)
    assert log.sizes.tolist() == [2, 2, 2, 2]
    assert log.rewards.tolist() == [1, 0, 1, 1, 0, 0, 1, 1]
    assert any("split" in n for n in log.notes)
    kept = RolloutLog.from_rollouts([0] * 8, [1] * 6 + [2] * 2, [1, 0, 1, 1, 0, 0, 1, 1])
    assert kept.sizes.tolist() == [6, 2]


def test_groups_of_one_never_set_the_usual_size():
    log = RolloutLog.from_rollouts([1, 1, 1], [0, 0, 1], [1, 0, 1.0], split_repeats=True,
                                   skip_singletons=True)
    assert log.sizes.tolist() == [2]
    assert log.skipped == {"singleton_groups": 1}


def test_group_of_one_is_an_error_naming_file_and_line():
    with pytest.raises(LogFormatError, match=r"run\.csv, line 4, column 'prompt'") as err:
        RolloutLog.from_rollouts([0, 0, 0], [1, 1, 2], [1, 0, 1.0], files=["run.csv"],
                                 line=[2, 3, 4])
    assert (err.value.file, err.value.line, err.value.column) == ("run.csv", 4, "prompt")


def test_non_finite_reward_and_empty_log():
    with pytest.raises(LogFormatError, match="column 'reward'.*finite"):
        RolloutLog.from_rollouts([0, 0], [1, 1], [1.0, np.nan])
    with pytest.raises(LogFormatError, match="no rollouts"):
        RolloutLog.from_rollouts([], [], [])
    with pytest.raises(LogFormatError, match="every group has a single rollout"):
        RolloutLog.from_rollouts([0, 0], [1, 2], [1.0, 0.0], skip_singletons=True)


def test_select_keeps_whole_groups():
    log = RolloutLog.from_rollouts([0] * 4 + [1] * 3, [0, 0, 1, 1, 0, 0, 0], np.arange(7.0),
                                   completion_length=np.arange(7.0) + 10)
    sub = log.select(np.array([False, True, True]))
    assert sub.sizes.tolist() == [2, 3]
    assert sub.rewards.tolist() == [2, 3, 4, 5, 6]
    assert sub.completion_length.tolist() == [12, 13, 14, 15, 16]
    with pytest.raises(ValueError, match="keep"):
        log.select(np.zeros(3, bool))


def test_wide_keys_fall_back_to_row_unique():
    big = 2**40
    log = RolloutLog.from_rollouts([0, 0, big, big], [0, 0, big, big], [1.0, 0, 1, 1],
                                   group=[0, 0, big, big])
    assert log.group_step.tolist() == [0, big]


@pytest.mark.property
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4), st.sampled_from([0.0, 1.0])),
                min_size=2, max_size=60))
def test_every_rollout_lands_in_its_group(rows):
    step = np.array([r[0] for r in rows])
    prompt = np.array([r[1] for r in rows])
    reward = np.array([r[2] for r in rows])
    keys, counts = np.unique(np.stack([step, prompt], 1), axis=0, return_counts=True)
    if np.all(counts < 2):
        return
    log = RolloutLog.from_rollouts(step, prompt, reward, skip_singletons=True)
    assert log.n_groups == int(np.sum(counts >= 2))
    assert log.n_rollouts == int(counts[counts >= 2].sum())
    for j in range(log.n_groups):
        mine = (step == log.group_step[j]) & (prompt == log.prompts[log.group_prompt[j]])
        assert sorted(log.rewards[log.offsets[j]:log.offsets[j + 1]]) == sorted(reward[mine])
