r"""A logged GRPO run as groups of rewards: the one data structure every reader produces.

A run is a sequence of steps; each step samples :math:`G` completions for each of its prompts and
scores them. :class:`RolloutLog` keeps the rewards of every group contiguously, the groups ordered
by step, so per-group statistics are one ``np.*.reduceat`` each:

* ``rewards[offsets[j]:offsets[j + 1]]`` are the rewards of group ``j``;
* ``group_step[j]`` is its step, ``group_prompt[j]`` an index into ``prompts`` (the prompt text
  or id as logged).

:meth:`RolloutLog.from_rollouts` builds one from flat per-rollout columns: a group is a
``(step, prompt)`` pair, or ``(step, prompt, group)`` when the log has a group column. A group of
one rollout carries no group-relative signal and is an error (:class:`LogFormatError`, naming the
file and line) unless the caller asks to skip it; what was skipped is counted in
:attr:`RolloutLog.skipped`, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LogFormatError", "RolloutLog"]


class LogFormatError(ValueError):
    """A log that cannot be read as given; the message names the file, line and column.

    Attributes:
        file: the file, or ``None``.
        line: the 1-based line (CSV/JSONL) or row (Parquet, W&B table), or ``None``.
        column: the column, or ``None``.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        where = ", ".join(part for part in (
            str(file) if file is not None else None,
            f"line {line}" if line is not None else None,
            f"column {column!r}" if column is not None else None) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.line, self.column = file, line, column


@dataclass(frozen=True, eq=False)
class RolloutLog:
    r"""Rewards of a logged run, grouped (see the module docstring).

    Attributes:
        rewards: every rollout's reward, float64, shape ``[R]``, contiguous by group.
        offsets: group boundaries, int64, shape ``[M + 1]``, ``offsets[0] = 0``,
            ``offsets[-1] = R``.
        group_step: the step of each group, int64, shape ``[M]``, non-decreasing.
        group_prompt: index of each group's prompt into ``prompts``, int64, shape ``[M]``.
        prompts: the distinct prompts as logged (text or id).
        completion_length: per-rollout completion length, float64 ``[R]``, or ``None``.
        advantages: per-rollout advantages as the trainer logged them, float64 ``[R]`` (NaN
            where missing), or ``None``.
        source: where the log came from (a path, or a description).
        format: the reader that produced it (``table``, ``verl``, ``trl``, ``synthetic``).
        skipped: reason -> number of rows or groups skipped (only with skipping asked for).
        notes: remarks of the reader (for example groups split or columns summed).
    """

    rewards: np.ndarray
    offsets: np.ndarray
    group_step: np.ndarray
    group_prompt: np.ndarray
    prompts: tuple[Any, ...]
    completion_length: np.ndarray | None = None
    advantages: np.ndarray | None = None
    source: str = ""
    format: str = "table"
    skipped: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        r, off = self.rewards, self.offsets
        if r.ndim != 1 or off.ndim != 1 or off.size < 2:
            raise ValueError("a RolloutLog needs at least one group")
        if off[0] != 0 or off[-1] != r.size or np.any(np.diff(off) < 2):
            raise ValueError("offsets must start at 0, end at len(rewards) and make groups of >= 2")
        if self.group_step.shape != (off.size - 1,) or self.group_prompt.shape != (off.size - 1,):
            raise ValueError("group_step and group_prompt need one entry per group")
        if np.any(np.diff(self.group_step) < 0):
            raise ValueError("groups must be ordered by step")
        if not np.all(np.isfinite(r)):
            raise ValueError("rewards must be finite")
        for name in ("completion_length", "advantages"):
            values = getattr(self, name)
            if values is not None and values.shape != r.shape:
                raise ValueError(f"{name} needs one entry per rollout")

    # ----------------------------------------------------------------------------- views
    @property
    def n_rollouts(self) -> int:
        """Number of rollouts :math:`R`."""
        return int(self.rewards.size)

    @property
    def n_groups(self) -> int:
        """Number of groups :math:`M`."""
        return int(self.offsets.size - 1)

    @property
    def sizes(self) -> np.ndarray:
        """Group sizes, int64 ``[M]``."""
        return np.diff(self.offsets)

    @property
    def steps(self) -> np.ndarray:
        """The distinct steps, in order."""
        return np.unique(self.group_step)

    def group_reduce(self, ufunc: np.ufunc, values: np.ndarray | None = None) -> np.ndarray:
        """``ufunc.reduceat`` of ``values`` (default: the rewards) over the groups, ``[M]``."""
        v = self.rewards if values is None else values
        return ufunc.reduceat(v, self.offsets[:-1])

    def group_means(self) -> np.ndarray:
        """Mean reward of each group, ``[M]``."""
        return self.group_reduce(np.add) / self.sizes

    def silent(self, rtol: float = 1e-9) -> np.ndarray:
        """Whether each group is silent (all its rewards equal within ``rtol`` of their scale)."""
        hi, lo = self.group_reduce(np.maximum), self.group_reduce(np.minimum)
        scale = np.maximum(1.0, np.maximum(np.abs(hi), np.abs(lo)))
        return (hi - lo) <= rtol * scale

    # ------------------------------------------------------------------------ building
    @classmethod
    def from_rollouts(
        cls,
        step: Any,
        prompt: Any,
        reward: Any,
        *,
        prompts: Sequence[Any] | None = None,
        group: Any = None,
        completion_length: Any = None,
        advantages: Any = None,
        split_repeats: bool = False,
        skip_singletons: bool = False,
        files: Sequence[str] = (),
        file_index: Any = None,
        line: Any = None,
        source: str = "",
        format: str = "table",
        skipped: Mapping[str, int] | None = None,
        notes: Sequence[str] = (),
    ) -> RolloutLog:
        """Group flat per-rollout columns into a :class:`RolloutLog`.

        Args:
            step: integer step of each rollout, ``[R]``.
            prompt: integer prompt code of each rollout, ``[R]`` (an index into ``prompts``).
            reward: finite reward of each rollout, ``[R]``.
            prompts: the prompt of each code (default: the distinct codes themselves).
            group: optional integer group label of each rollout, ``[R]``; with it a group is
                ``(step, prompt, group)``, without it ``(step, prompt)``.
            completion_length: optional per-rollout lengths, ``[R]``.
            advantages: optional per-rollout logged advantages, ``[R]`` (NaN where missing).
            split_repeats: without a group column, a prompt drawn ``m > 1`` times in one step
                shows up as one group of ``m`` times the step's usual size; split it, in log
                order, into ``m`` groups of that size (noted in ``notes``).
            skip_singletons: drop groups of one rollout (counted in ``skipped``) instead of
                raising.
            files, file_index, line: where each rollout was read (file name, 1-based line), for
                error messages.
            source, format, skipped, notes: recorded on the result.

        Raises:
            LogFormatError: for a group of one rollout (unless skipped), or for no rollouts.
        """
        step = np.asarray(step, dtype=np.int64)
        code = np.asarray(prompt, dtype=np.int64)
        reward = np.asarray(reward, dtype=np.float64)
        n = reward.size
        if n == 0:
            raise LogFormatError("the log holds no rollouts", files[0] if files else source or None)
        if step.shape != (n,) or code.shape != (n,):
            raise ValueError("step, prompt and reward need one entry per rollout")
        if not np.all(np.isfinite(reward)):
            i = int(np.argmin(np.isfinite(reward)))
            raise LogFormatError(f"reward must be a finite number, got {reward[i]!r}",
                                 *_where(files, file_index, line, i), column="reward")
        keys = [step, code] if group is None else [step, code, np.asarray(group, np.int64)]
        labels = _labels(np.stack(keys, axis=1))
        order = np.argsort(labels, kind="stable")
        notes = list(notes)
        if split_repeats and group is None:
            labels, order, n_split = _split_repeats(labels, order, step)
            if n_split:
                notes.append(f"{n_split} (step, prompt) groups holding a prompt drawn several "
                             "times in one step were split into groups of the step's usual size")
        sorted_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        sizes = np.diff(np.r_[starts, n])
        skipped = dict(skipped or {})
        if np.any(sizes == 1):
            if not skip_singletons:
                i = int(order[starts[np.argmax(sizes == 1)]])
                raise LogFormatError(
                    "this rollout's prompt has no other rollout at its step (a group of one "
                    "carries no group-relative signal; was the log deduplicated by prompt?)",
                    *_where(files, file_index, line, i), column="prompt")
            keep_group = sizes >= 2
            skipped["singleton_groups"] = skipped.get("singleton_groups", 0) + int(
                np.sum(~keep_group))
            keep_row = np.repeat(keep_group, sizes)
            order = order[keep_row]
            starts, sizes = starts[keep_group], sizes[keep_group]
            if order.size == 0:
                raise LogFormatError("every group has a single rollout; nothing to analyse",
                                     files[0] if files else source or None)
            starts = np.r_[0, np.cumsum(sizes)[:-1]]
        first = order[starts]
        offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        length = None if completion_length is None else np.asarray(
            completion_length, dtype=np.float64)[order]
        adv = None if advantages is None else np.asarray(advantages, dtype=np.float64)[order]
        if prompts is None:  # the codes are the prompts: index the distinct ones
            distinct, code = np.unique(code, return_inverse=True)
            labels_out = tuple(int(c) for c in distinct)
        else:
            labels_out = tuple(prompts)
        return cls(
            rewards=reward[order], offsets=offsets, group_step=step[first],
            group_prompt=code[first], prompts=labels_out, completion_length=length,
            advantages=adv, source=source, format=format, skipped=skipped, notes=tuple(notes),
        )

    def select(self, keep: np.ndarray) -> RolloutLog:
        """The log restricted to the groups where ``keep`` (bool ``[M]``) is true."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_groups,) or not keep.any():
            raise ValueError("keep must be a boolean mask over the groups with a true entry")
        rows = np.repeat(keep, self.sizes)
        sizes = self.sizes[keep]
        return RolloutLog(
            rewards=self.rewards[rows], offsets=np.r_[0, np.cumsum(sizes)].astype(np.int64),
            group_step=self.group_step[keep], group_prompt=self.group_prompt[keep],
            prompts=self.prompts,
            completion_length=None if self.completion_length is None
            else self.completion_length[rows],
            advantages=None if self.advantages is None else self.advantages[rows],
            source=self.source, format=self.format, skipped=self.skipped, notes=self.notes)


def _where(files: Sequence[str], file_index: Any, line: Any, i: int
           ) -> tuple[str | None, int | None]:
    f = None
    if files:
        f = files[int(np.asarray(file_index)[i])] if file_index is not None else files[0]
    ln = int(np.asarray(line)[i]) if line is not None else None
    return f, ln


def _labels(keys: np.ndarray) -> np.ndarray:
    """Dense labels of the rows of ``keys`` [R, C], ordered lexicographically (step first).

    The columns are packed into one int64 (mixed radix, first column most significant) when
    their ranges allow, which makes this a 1-D ``np.unique``."""
    shifted = keys - keys.min(axis=0)
    radix = shifted.max(axis=0).astype(object) + 1
    if int(np.prod(radix)) < 2**62:
        packed = np.zeros(keys.shape[0], dtype=np.int64)
        for c in range(keys.shape[1]):
            packed = packed * int(radix[c]) + shifted[:, c]
        _, inverse = np.unique(packed, return_inverse=True)
    else:
        _, inverse = np.unique(keys, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _split_repeats(labels: np.ndarray, order: np.ndarray, step: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    sorted_labels = labels[order]
    n = labels.size
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, n])
    g_step = step[order[starts]]
    # The usual group size of each step: its most common size among groups of two or more
    # (0 when it has none; such a step is left alone).
    usual = np.zeros_like(sizes)
    for s in np.unique(g_step):
        mine = g_step == s
        real = sizes[mine][sizes[mine] >= 2]
        if real.size:
            values, counts = np.unique(real, return_counts=True)
            usual[mine] = values[np.argmax(counts)]
    split = (usual >= 2) & (sizes > usual) & (sizes % np.maximum(usual, 1) == 0)
    if not split.any():
        return labels, order, 0
    rank = np.arange(n) - np.repeat(starts, sizes)
    chunk = np.where(np.repeat(split, sizes), rank // np.repeat(np.maximum(usual, 1), sizes), 0)
    new_sorted = _labels(np.stack([sorted_labels, chunk], axis=1))
    new = np.empty_like(labels)
    new[order] = new_sorted
    return new, np.argsort(new, kind="stable"), int(split.sum())
