r"""Readers and writers of logged GRPO runs: a generic table, verl rollout dumps, TRL tables.

Every reader returns a :class:`~grpo_theory.analyze.rollouts.RolloutLog` and raises
:class:`~grpo_theory.analyze.rollouts.LogFormatError` for a log it cannot read as given; the
message names the file, the 1-based line (CSV: the header is line 1, a record spanning several
lines is named by its first; JSONL: the physical line; Parquet and W&B tables: the 1-based data
row) and the column. With ``skip_bad=True`` malformed rows and bad values are skipped instead
and counted by reason in :attr:`~grpo_theory.analyze.rollouts.RolloutLog.skipped`
(``malformed_rows``, ``non_integer_step``,
``missing_prompt``, ``non_numeric_reward``, ``non_finite_reward``, ``missing_reward``,
``non_integer_group``, ``non_numeric_completion_length``, ``singleton_groups``); a row with
several problems counts once, under the first. A missing column is always an error. Blank lines
are not rows and are ignored; an empty file contributes no rollout (noted in ``notes``). A
directory is read file by file in natural name order (``2.jsonl`` before ``10.jsonl``), skipping
names that start with ``.`` or ``_`` and, of ``.json`` files, all but W&B ``*.table.json``.

**table**, the generic format: a CSV, JSONL or Parquet file with columns ``step`` (integer),
``prompt`` or ``prompt_id`` (any text or number naming the prompt; ``prompt_id`` is used when
both are present) and ``reward`` (a finite number); optional ``group`` (integer: with it a group
is ``(step, prompt, group)``, without it ``(step, prompt)``) and ``completion_length`` (a number;
empty or null is kept as NaN). Other columns are ignored. A directory of such files is one log::

    step,prompt,group,reward,completion_length
    1,What is 17 + 25?,0,1.0,112
    1,What is 17 + 25?,0,0.0,87

**verl**, the rollout dump verl writes when ``trainer.rollout_data_dir`` is set: a directory
of ``<step>.jsonl`` files (or one such file), one object per line with the prompt ``input``,
the completion ``output``, the reward ``score`` and the ``step`` (taken from the file name's
integer when the key is absent); ``gts`` and reward-info keys are ignored. A group is
``(step, input)``::

    {"input": "What is 17 + 25?", "output": "42", "score": 1.0, "step": 1, "gts": "42"}

**trl**, the completion tables of TRL's ``GRPOTrainer`` with ``log_completions=True``: columns
``step`` (TRL writes the integer as text; both are accepted), ``prompt``, ``completion``, one
numeric column per reward function, named after it, and ``advantage``. Files are Parquet
(``<output_dir>/completions/completions_00010.parquet``), CSV or JSONL exports, or a W&B table
(``*.table.json``: ``{"columns": [...], "data": [[...], ...]}``), or a directory of them. The
reward of a rollout is the sum of its reward-function columns, TRL's total reward with unit
weights: NaN or null entries are left out as ``nansum`` does, and a row whose every reward
column is NaN or null is a bad row (``missing_reward``). The reward columns are the ones given
as ``reward_columns``, or else every numeric column but ``step``, ``advantage``,
``completion_length`` and unnamed index columns (numeric: by type in Parquet; in other files,
most values of the first 65,536 rows are numbers, so a stray text value is reported as a bad
reward rather than hiding the column); ``notes`` records which were summed. The
``advantage`` column, when present, is kept in
:attr:`~grpo_theory.analyze.rollouts.RolloutLog.advantages` (NaN where it is not a number), from
which the analysis tells the run's advantage convention. A group is ``(step, prompt)``::

    {"columns": ["step", "prompt", "completion", "accuracy_reward", "advantage"],
     "data": [["1", "What is 17 + 25?", "42", 1.0, 0.8659], ...]}

verl and TRL logs, and tables without a ``group`` column, identify a group by its step and
prompt only, so a prompt drawn several times in one step is split into groups of the step's
usual size (``split_repeats`` of :meth:`RolloutLog.from_rollouts`, noted in ``notes``).

The writers produce each format from a :class:`~grpo_theory.analyze.rollouts.RolloutLog`
(atomically, file by file), and
:func:`write_examples` the small example run shipped in :data:`EXAMPLES_DIR`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from grpo_theory._io import write_atomic
from grpo_theory.analyze.rollouts import LogFormatError, RolloutLog

__all__ = [
    "FORMATS",
    "EXAMPLES_DIR",
    "detect_format",
    "read_log",
    "read_table",
    "read_verl",
    "read_trl",
    "write_table",
    "write_verl",
    "write_trl",
    "write_examples",
]

FORMATS = ("auto", "table", "verl", "trl")
"""The values of ``format`` accepted by :func:`read_log` (``auto`` detects the format)."""

EXAMPLES_DIR = Path(__file__).with_name("examples")
"""The example run shipped with the package, in every format (see :func:`write_examples`)."""

_CHUNK = 1 << 16  # rows converted at a time: bounded memory, vectorised checks
_SUFFIXES = {"table": (".csv", ".jsonl", ".ndjson", ".parquet"),
             "verl": (".jsonl", ".ndjson"),
             "trl": (".parquet", ".csv", ".jsonl", ".ndjson", ".json")}
_NOT_REWARDS = {"step", "prompt", "prompt_id", "completion", "completions", "advantage",
                "advantages", "completion_length", "image", "images", "group", "index",
                "__index_level_0__", ""}
_UNIQUE_PROMPTS_HINT = (
    " TRL logs a single completion per prompt when `log_unique_prompts` (called "
    "`wandb_log_unique_prompts` in older versions) is on; turn it off to log every completion "
    "of each group.")


# ================================================================================== reading
def detect_format(path: str | os.PathLike) -> str:
    """The format of a log file or directory: ``"table"``, ``"verl"`` or ``"trl"``.

    A ``*.json`` file is a W&B table (``trl``); otherwise the columns decide (the CSV header,
    the keys of the first JSON object, the Parquet schema): ``input`` and ``score`` make
    ``verl``; ``prompt`` and ``completion`` with ``advantage`` or without ``reward`` make
    ``trl``; ``step``, ``prompt`` or ``prompt_id`` and ``reward`` make ``table``. Every file of
    a directory must agree.

    Args:
        path: a log file or a directory of log files.

    Returns:
        The format name.

    Raises:
        LogFormatError: if the path does not exist, holds no log file, or its columns match no
            format (the message lists the columns found), or a directory mixes formats.
    """
    files = _list_files(path, _SUFFIXES["table"] + (".json",))
    found: dict[str, Path] = {}
    for f in files:
        fmt = _detect_file(f)
        if fmt is not None:
            found.setdefault(fmt, f)
    if not found:
        raise LogFormatError("cannot tell the format: no file has a header or a JSON object line "
                             "(empty files?)", str(path))
    if len(found) > 1:
        kinds = ", ".join(f"{fmt} ({f.name})" for fmt, f in found.items())
        raise LogFormatError(f"the directory mixes log formats: {kinds}; pass a directory of "
                             "one format", str(path))
    return next(iter(found))


def read_log(path: str | os.PathLike, format: str = "auto", *, skip_bad: bool = False,
             reward_columns: Sequence[str] | None = None) -> RolloutLog:
    """Read a logged run in any supported format (see the module docstring).

    Args:
        path: a log file or a directory of log files.
        format: one of :data:`FORMATS`; ``"auto"`` uses :func:`detect_format`.
        skip_bad: skip malformed rows, bad values and groups of one rollout, counting them in
            :attr:`RolloutLog.skipped`, instead of raising.
        reward_columns: for ``trl`` only, the reward-function columns to sum.

    Returns:
        The rollouts grouped by step and prompt.

    Raises:
        ValueError: for an unknown ``format``, or ``reward_columns`` with another format.
        LogFormatError: for a log that cannot be read (see the module docstring).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}, "
                         f"got {format!r}")
    fmt = detect_format(path) if format == "auto" else format
    if reward_columns is not None and fmt != "trl":
        raise ValueError(f"reward_columns applies to the trl format only, not {fmt!r}")
    if fmt == "trl":
        return read_trl(path, skip_bad=skip_bad, reward_columns=reward_columns)
    return (read_table if fmt == "table" else read_verl)(path, skip_bad=skip_bad)


def read_table(path: str | os.PathLike, *, skip_bad: bool = False) -> RolloutLog:
    """Read a log in the generic table format (CSV, JSONL or Parquet, or a directory of them).

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.parquet`` file, or a directory of them (read in
            natural name order, ``2.csv`` before ``10.csv``).
        skip_bad: skip and count bad rows and groups of one instead of raising.

    Returns:
        The log, ``format="table"``.

    Raises:
        LogFormatError: naming file, line (row for Parquet) and column, for a missing column,
            a malformed row, a bad value, a group of one rollout, or no rollout at all.
    """
    return _read(path, "table", skip_bad)


def read_verl(path: str | os.PathLike, *, skip_bad: bool = False) -> RolloutLog:
    """Read a verl rollout dump (a directory of ``<step>.jsonl`` files, or one of them).

    Args:
        path: the ``trainer.rollout_data_dir`` directory, or one of its files.
        skip_bad: skip and count bad rows and groups of one instead of raising.

    Returns:
        The log, ``format="verl"``, groups ``(step, input)``.

    Raises:
        LogFormatError: naming file, line and column, for a missing ``input`` or ``score``
            (or ``step`` with a file name that is not an integer), a malformed line, a bad
            value, a group of one rollout, or no rollout at all.
    """
    return _read(path, "verl", skip_bad)


def read_trl(path: str | os.PathLike, *, skip_bad: bool = False,
             reward_columns: Sequence[str] | None = None) -> RolloutLog:
    """Read TRL completion tables (Parquet, CSV, JSONL or W&B ``*.table.json``, or a directory).

    Args:
        path: a table file or a directory of them (e.g. ``<output_dir>/completions``).
        skip_bad: skip and count bad rows and groups of one instead of raising.
        reward_columns: the reward-function columns to sum (default: every numeric column but
            ``step``, ``advantage``, ``completion_length`` and index columns).

    Returns:
        The log, ``format="trl"``; ``notes`` names the columns summed into the reward.

    Raises:
        LogFormatError: naming file, line (row for Parquet and W&B tables) and column, for a
            missing column or no reward column, a malformed row, a bad value, a group of one
            rollout (with a hint about ``log_unique_prompts``), or no rollout at all.
    """
    if reward_columns is not None:
        if isinstance(reward_columns, str) or not all(isinstance(c, str) for c in reward_columns):
            raise ValueError("reward_columns must be a list of column names")
        if not reward_columns:
            raise ValueError("reward_columns must name at least one column")
        reward_columns = tuple(reward_columns)
    return _read(path, "trl", skip_bad, reward_columns)


# ================================================================================== writing
def write_table(log: RolloutLog, path: str | os.PathLike) -> Path:
    """Write a log in the table format, as CSV, JSONL or Parquet by the suffix of ``path``.

    Columns: ``step``, ``prompt`` (the logged prompt), ``group`` (the group's index within its
    step, which keeps repeated prompts apart), ``reward`` and, if the log has lengths,
    ``completion_length``.

    Args:
        log: the log.
        path: a ``.csv``, ``.jsonl`` or ``.parquet`` file (written atomically).

    Returns:
        The path written.

    Raises:
        ValueError: for another suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".parquet"):
        raise ValueError(f"path must end in .csv, .jsonl or .parquet, got {path.name!r}")
    cols = _rollout_columns(log)
    names = ["step", "prompt", "group", "reward"]
    if log.completion_length is not None:
        names.append("completion_length")
    if suffix == ".parquet":
        arrays = {"step": pa.array(cols["step"], pa.int64()),
                  "prompt": _arrow_prompts(cols["prompt"]),
                  "group": pa.array(cols["group"], pa.int64()),
                  "reward": pa.array(cols["reward"], pa.float64())}
        if log.completion_length is not None:
            arrays["completion_length"] = pa.array(log.completion_length, pa.float64())
        return _write_parquet(pa.table(arrays), path)
    step, group = cols["step"].tolist(), cols["group"].tolist()
    reward = cols["reward"].tolist()
    length = (None if log.completion_length is None
              else [_number(v) for v in log.completion_length.tolist()])
    rows: Any = zip(step, cols["prompt"], group, reward, *([length] if length else []),
                    strict=True)
    if suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        return write_atomic(path, buf.getvalue())
    dumps = json.dumps
    text = "".join(dumps(dict(zip(names, row, strict=True))) + "\n" for row in rows)
    return write_atomic(path, text)


def write_verl(log: RolloutLog, directory: str | os.PathLike) -> Path:
    """Write a log as a verl rollout dump: one ``<step>.jsonl`` file per step.

    Each line holds ``input`` (the prompt), ``output`` (a placeholder, ``"completion K"`` for
    the K-th rollout of its group), ``score`` (the reward) and ``step``.

    Args:
        log: the log.
        directory: the folder to write into (created if missing).

    Returns:
        The directory.
    """
    directory = Path(directory)
    cols = _rollout_columns(log)
    dumps = json.dumps
    for s, lo, hi in _step_slices(cols["step"]):
        text = "".join(
            dumps({"input": p, "output": f"completion {k}", "score": r, "step": s}) + "\n"
            for p, k, r in zip(cols["prompt"][lo:hi], cols["rank"][lo:hi].tolist(),
                               cols["reward"][lo:hi].tolist(), strict=True))
        write_atomic(directory / f"{s}.jsonl", text)
    return directory


def write_trl(log: RolloutLog, path: str | os.PathLike) -> Path:
    """Write a log as TRL completion tables.

    Columns ``step`` (as text, as TRL writes it), ``prompt``, ``completion`` (a placeholder),
    ``accuracy_reward`` (the reward, as one reward function) and ``advantage`` (TRL's
    :math:`(r - \\bar r)/(s + 10^{-4})` with :math:`s` the group's Bessel-corrected standard
    deviation).

    Args:
        log: the log.
        path: a directory, which gets one ``completions_{step:05d}.parquet`` file per step, or
            a file name ending in ``.table.json``, which gets one W&B table of every step.

    Returns:
        The directory or file written.
    """
    path = Path(path)
    cols = _rollout_columns(log)
    sizes = log.sizes
    with np.errstate(all="ignore"):
        mean = log.group_means()
        std = np.sqrt(log.group_reduce(np.add, (log.rewards - np.repeat(mean, sizes)) ** 2)
                      / (sizes - 1))
    advantage = ((log.rewards - np.repeat(mean, sizes)) / np.repeat(std + 1e-4, sizes)).tolist()
    step_text = [str(s) for s in cols["step"].tolist()]
    completion = [f"completion {k}" for k in cols["rank"].tolist()]
    reward = cols["reward"].tolist()
    names = ["step", "prompt", "completion", "accuracy_reward", "advantage"]
    if path.name.endswith(".table.json"):
        data = [list(row) for row in zip(step_text, cols["prompt"], completion, reward,
                                         advantage, strict=True)]
        return write_atomic(path, json.dumps({"columns": names, "data": data}) + "\n")
    for s, lo, hi in _step_slices(cols["step"]):
        table = pa.table({"step": pa.array(step_text[lo:hi], pa.string()),
                          "prompt": _arrow_prompts(cols["prompt"][lo:hi]),
                          "completion": pa.array(completion[lo:hi], pa.string()),
                          "accuracy_reward": pa.array(reward[lo:hi], pa.float64()),
                          "advantage": pa.array(advantage[lo:hi], pa.float64())})
        _write_parquet(table, path / f"completions_{s:05d}.parquet")
    return path


def write_examples(directory: str | os.PathLike) -> list[Path]:
    """Write the example run shipped in :data:`EXAMPLES_DIR` in every format.

    The run: 6 steps of 8 prompts (drawn without repetition within a step from 20 prompts
    ``"What is A + B?"``) with 4 completions each; each prompt's success probability is drawn
    from Beta(1.5, 2.5), rewards are Bernoulli, completion lengths integers; all drawn from
    ``np.random.default_rng(2510)``. Written: ``table.csv``, ``table.jsonl``, ``table.parquet``
    (with lengths), ``verl/<step>.jsonl``, ``trl/completions_<step>.parquet`` and
    ``trl.table.json``.

    Args:
        directory: the folder to write into (created if missing).

    Returns:
        Every file written.
    """
    directory = Path(directory)
    log = _example_log()
    written = [write_table(log, directory / f"table.{ext}") for ext in ("csv", "jsonl", "parquet")]
    write_verl(log, directory / "verl")
    written += [directory / "verl" / f"{s}.jsonl" for s in log.steps.tolist()]
    write_trl(log, directory / "trl")
    written += [directory / "trl" / f"completions_{s:05d}.parquet" for s in log.steps.tolist()]
    written.append(write_trl(log, directory / "trl.table.json"))
    return written


# ======================================================================== writer internals
def _rollout_columns(log: RolloutLog) -> dict[str, Any]:
    sizes = log.sizes
    first_of_step = np.searchsorted(log.group_step, log.group_step, side="left")
    group_in_step = np.arange(log.n_groups) - first_of_step
    prompts = log.prompts
    return {"step": np.repeat(log.group_step, sizes),
            "prompt": [prompts[c] for c in np.repeat(log.group_prompt, sizes).tolist()],
            "group": np.repeat(group_in_step, sizes),
            "rank": np.arange(log.n_rollouts) - np.repeat(log.offsets[:-1], sizes),
            "reward": log.rewards}


def _step_slices(step: np.ndarray) -> Iterator[tuple[int, int, int]]:
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    ends = np.r_[starts[1:], step.size]
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        yield int(step[lo]), lo, hi


def _number(v: float) -> Any:
    """A length for text output: an integer when whole, ``None`` (empty) when NaN."""
    if v != v:
        return None
    return int(v) if v.is_integer() else v


def _arrow_prompts(prompts: list[Any]) -> pa.Array:
    if all(isinstance(p, str) for p in prompts):
        return pa.array(prompts, pa.string())
    if all(isinstance(p, int) and not isinstance(p, bool) for p in prompts):
        return pa.array(prompts, pa.int64())
    return pa.array([str(p) for p in prompts], pa.string())


def _write_parquet(table: pa.Table, path: Path) -> Path:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return write_atomic(path, sink.getvalue().to_pybytes())


def _example_log() -> RolloutLog:
    rng = np.random.default_rng(2510)
    n_prompts, steps, per_step, G = 20, 6, 8, 4
    pairs = rng.choice(90 * 90, size=n_prompts, replace=False)
    prompts = [f"What is {10 + a // 90} + {10 + a % 90}?" for a in pairs.tolist()]
    p = rng.beta(1.5, 2.5, size=n_prompts)
    step, code, reward, length = [], [], [], []
    for s in range(1, steps + 1):
        chosen = rng.choice(n_prompts, size=per_step, replace=False)
        r = (rng.random((per_step, G)) < p[chosen, None]).astype(float)
        ln = rng.integers(40, 400, size=(per_step, G))
        step.append(np.full(per_step * G, s))
        code.append(np.repeat(chosen, G))
        reward.append(r.ravel())
        length.append(ln.ravel())
    return RolloutLog.from_rollouts(
        np.concatenate(step), np.concatenate(code), np.concatenate(reward), prompts=prompts,
        completion_length=np.concatenate(length), source="grpo_theory example run",
        format="synthetic")


# ======================================================================== reader internals
@dataclass
class _Block:
    """Rows of one file (all of it, or a chunk), before conversion."""

    columns: list[str] | None  # the file's columns (None until a first row was seen)
    header_line: int | None  # where a missing column is reported
    lines: np.ndarray  # int64 [n], 1-based line or row of each row
    get: Callable[[str], Any]  # raw values of a column: a list or a pyarrow array
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    arrow_types: dict[str, pa.DataType] | None = None  # Parquet: the column types


@dataclass
class _Plan:
    """Which columns of a file feed which field."""

    step: str | None
    step_from_name: int | None
    prompt: str
    reward: tuple[str, ...]
    group: str | None = None
    length: str | None = None
    advantage: str | None = None


def _natural_key(name: str) -> list[Any]:
    parts = re.split(r"(\d+)", name, flags=re.ASCII)
    return [int(t) if i % 2 else t for i, t in enumerate(parts)]


def _list_files(path: str | os.PathLike, suffixes: Sequence[str]) -> list[Path]:
    path = Path(path)
    if not path.exists():
        raise LogFormatError("no such file or directory", str(path))
    if path.is_file():
        return [path]
    entries = [p for p in path.iterdir() if not p.name.startswith((".", "_"))]
    files = sorted((p for p in entries if p.is_file() and _wanted(p, suffixes)),
                   key=lambda p: _natural_key(p.name))
    if files:
        return files
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in entries)
    hint = ""
    nested = [p.name for p in entries if p.is_dir()
              and any(_wanted(q, suffixes) for q in p.iterdir())]
    if nested:
        hint = f"; its subdirectory {nested[0]!r} holds log files: pass that instead"
    raise LogFormatError(
        f"no log file here (looked for {', '.join(suffixes)}; found "
        f"{', '.join(found[:10]) + (' ...' if len(found) > 10 else '') or 'nothing'}){hint}",
        str(path))


def _wanted(path: Path, suffixes: Sequence[str]) -> bool:
    """Whether a directory entry is a log file (a ``.json`` one only as ``*.table.json``)."""
    suffix = path.suffix.lower()
    return suffix in suffixes and (suffix != ".json" or path.name.lower().endswith(".table.json"))


def _file_kind(path: Path, fmt: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES[fmt]:
        raise LogFormatError(f"cannot read a {suffix or 'suffix-less'} file as a {fmt} log "
                             f"(expected {', '.join(_SUFFIXES[fmt])})", str(path))
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
            ".json": "wandb"}[suffix]


def _detect_file(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "trl"
    if suffix not in _SUFFIXES["table"]:
        raise LogFormatError(f"cannot tell the format of a {suffix or 'suffix-less'} file "
                             "(expected .csv, .jsonl, .parquet or a W&B .table.json)", str(path))
    columns, line = _peek_columns(path, _file_kind(path, "table"))
    if columns is None:
        return None
    cols = set(columns)
    if {"input", "score"} <= cols:
        return "verl"
    if {"prompt", "completion"} <= cols and ("advantage" in cols or "reward" not in cols):
        return "trl"
    if {"step", "reward"} <= cols and cols & {"prompt", "prompt_id"}:
        return "table"
    raise LogFormatError(
        f"cannot tell the log format from the columns {_names(columns)}: a table needs step, "
        "prompt (or prompt_id) and reward; a verl dump input and score; a TRL table prompt, "
        "completion and reward-function columns", str(path), line)


def _peek_columns(path: Path, kind: str) -> tuple[list[str] | None, int | None]:
    """The columns of a file and the line naming them, reading as little as possible."""
    if kind == "parquet":
        try:
            return list(pq.read_schema(path).names), None
        except (pa.ArrowException, OSError) as exc:
            raise LogFormatError(f"not a readable Parquet file ({exc})", str(path)) from None
    try:
        with open(path, newline="" if kind == "csv" else None, encoding="utf-8-sig") as fh:
            if kind == "csv":
                old_limit = csv.field_size_limit(2**31 - 1)
                try:
                    reader = csv.reader(fh)
                    for row in reader:
                        if row:
                            return [c.strip() for c in row], reader.line_num
                except csv.Error as exc:
                    raise LogFormatError(f"unreadable CSV ({exc})", str(path),
                                         reader.line_num or None) from None
                finally:
                    csv.field_size_limit(old_limit)
                return None, None
            for ln, text in enumerate(fh, start=1):
                if text.strip():
                    try:
                        obj = json.loads(text)
                    except (ValueError, RecursionError):
                        continue
                    if type(obj) is dict:
                        return [str(k) for k in obj], ln
    except UnicodeDecodeError as exc:
        raise LogFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                             str(path)) from None
    return None, None


def _names(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:30])
    return f"[{shown}{', ...' if len(columns) > 30 else ''}]"


def _blocks(path: Path, kind: str) -> Iterator[_Block]:
    if kind == "csv":
        return _csv_blocks(path)
    if kind == "jsonl":
        return _jsonl_blocks(path)
    if kind == "parquet":
        return _parquet_blocks(path)
    return _wandb_blocks(path)


def _csv_blocks(path: Path) -> Iterator[_Block]:
    old_limit = csv.field_size_limit(2**31 - 1)  # long completions exceed the 128 KiB default
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                header: list[str] = []
                while not header:
                    header = next(reader)
                header_line = reader.line_num
                columns = [c.strip() for c in header]
                index = {}
                for i, c in enumerate(columns):
                    index.setdefault(c, i)
                ncol = len(columns)
                previous = reader.line_num
                while True:
                    rows = list(islice(reader, _CHUNK))
                    if not rows and previous != header_line:
                        return
                    starts = _record_starts(rows, previous, reader.line_num)
                    yield _csv_block(rows, starts, columns, index, ncol, header_line)
                    if not rows:
                        return
                    previous = reader.line_num
            except StopIteration:
                return
            except csv.Error as exc:
                raise LogFormatError(f"unreadable CSV ({exc})", str(path),
                                     reader.line_num or None) from None
    except UnicodeDecodeError as exc:
        raise LogFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); is this "
                             "really a CSV file?", str(path)) from None
    finally:
        csv.field_size_limit(old_limit)


def _record_starts(rows: list[list[str]], previous: int, last: int) -> np.ndarray:
    """The first line of each CSV record, given the lines before and after the records."""
    if last - previous == len(rows):  # one line each (the usual case)
        return np.arange(previous + 1, last + 1, dtype=np.int64)
    # Quoted fields with line breaks: a record spans one line more per break ("\r\n" is one).
    spans = np.fromiter((1 + sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in row)
                         for row in rows), np.int64, len(rows))
    return previous + 1 + np.r_[0, np.cumsum(spans)[:-1]].astype(np.int64)


def _csv_block(rows: list[list[str]], starts: np.ndarray, columns: list[str],
               index: dict[str, int], ncol: int, header_line: int) -> _Block:
    lengths = np.fromiter(map(len, rows), np.int64, len(rows))
    malformed: list[tuple[int, str]] = []
    if np.any(lengths != ncol):
        bad = lengths != ncol
        for i in np.flatnonzero(bad & (lengths > 0)).tolist():
            malformed.append((int(starts[i]), f"malformed row: {lengths[i]} fields where the "
                              f"header has {ncol}"))
        keep = ~bad
        rows = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
        starts = starts[keep]

    def get(name: str) -> list[str]:
        return list(map(itemgetter(index[name]), rows))

    return _Block(columns, header_line, starts, get, malformed)


def _jsonl_blocks(path: Path) -> Iterator[_Block]:
    loads = json.loads
    columns: list[str] | None = None
    header_line: int | None = None
    base = 0
    try:
        with open(path, encoding="utf-8-sig") as fh:
            while True:
                texts = list(islice(fh, _CHUNK))
                if not texts:
                    return
                malformed: list[tuple[int, str]] = []
                try:
                    objs = list(map(loads, texts))
                    fast = all(type(o) is dict for o in objs)
                except (ValueError, RecursionError):
                    fast = False
                if fast:
                    lines = np.arange(base + 1, base + 1 + len(texts), dtype=np.int64)
                else:
                    objs, kept = [], []
                    for ln, text in enumerate(texts, start=base + 1):
                        if not text.strip():
                            continue
                        try:
                            obj = loads(text)
                        except (ValueError, RecursionError) as exc:
                            msg = getattr(exc, "msg", str(exc))
                            col = getattr(exc, "colno", None)
                            malformed.append((ln, f"malformed line: not valid JSON ({msg}"
                                              + (f" at character {col})" if col else ")")))
                            continue
                        if type(obj) is not dict:
                            malformed.append((ln, "malformed line: a JSON "
                                              f"{type(obj).__name__} where an object was "
                                              "expected"))
                            continue
                        objs.append(obj)
                        kept.append(ln)
                    lines = np.asarray(kept, dtype=np.int64)
                if columns is None and objs:
                    columns, header_line = [str(k) for k in objs[0]], int(lines[0])
                base += len(texts)
                yield _Block(columns, header_line, lines, _dict_getter(objs), malformed)
    except UnicodeDecodeError as exc:
        raise LogFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); is this "
                             "really a JSONL file?", str(path)) from None


def _dict_getter(objs: list[dict[str, Any]]) -> Callable[[str], list[Any]]:
    def get(name: str) -> list[Any]:
        return [o.get(name) for o in objs]
    return get


def _parquet_blocks(path: Path) -> Iterator[_Block]:
    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise LogFormatError(f"not a readable Parquet file ({exc})", str(path)) from None
    columns = list(meta.schema.to_arrow_schema().names)
    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            try:
                cache[name] = pq.read_table(path, columns=[name]).column(name)
            except (pa.ArrowException, OSError) as exc:
                raise LogFormatError(f"unreadable Parquet column ({exc})", str(path),
                                     column=name) from None
        return cache[name]

    schema = meta.schema.to_arrow_schema()
    yield _Block(columns, None, np.arange(1, meta.num_rows + 1, dtype=np.int64), get,
                 arrow_types={name: schema.field(name).type for name in columns})


def _wandb_blocks(path: Path) -> Iterator[_Block]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise LogFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                             str(path)) from None
    except ValueError as exc:
        raise LogFormatError(f"not valid JSON ({exc})", str(path),
                             getattr(exc, "lineno", None)) from None
    if (not isinstance(obj, dict) or not isinstance(obj.get("columns"), list)
            or not isinstance(obj.get("data"), list)):
        raise LogFormatError('not a W&B table: expected an object {"columns": [...], '
                             '"data": [[...], ...]}', str(path))
    columns = [str(c) for c in obj["columns"]]
    index = {}
    for i, c in enumerate(columns):
        index.setdefault(c, i)
    ncol = len(columns)
    rows, lines, malformed = [], [], []
    for i, row in enumerate(obj["data"], start=1):
        if isinstance(row, list) and len(row) == ncol:
            rows.append(row)
            lines.append(i)
        else:
            what = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
            malformed.append((i, f"malformed row: {what} where the table has {ncol} columns"))

    def get(name: str) -> list[Any]:
        return list(map(itemgetter(index[name]), rows))

    yield _Block(columns, None, np.asarray(lines, dtype=np.int64), get, malformed)


# ---------------------------------------------------------------------- column conversion
_INT64_MAX = 2**63 - 1


def _int_or_none(v: Any) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v if -_INT64_MAX <= v <= _INT64_MAX else None
    if isinstance(v, str):
        try:
            return _int_or_none(int(v))
        except ValueError:
            try:
                v = float(v)
            except ValueError:
                return None
    if isinstance(v, float) and v.is_integer():
        return _int_or_none(int(v))
    return None


def _ints(raw: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Integers of a column and the mask of values that are not integers (or None)."""
    if isinstance(raw, pa.ChunkedArray):
        t = raw.type
        if raw.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t)
                                    or pa.types.is_string(t) or pa.types.is_large_string(t)):
            try:
                return np.asarray(pc.cast(raw, pa.int64()).combine_chunks()
                                  .to_numpy(zero_copy_only=False), np.int64), None
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        raw = raw.to_pylist()
    types = set(map(type, raw))
    try:
        if types <= {int}:
            return np.array(raw, dtype=np.int64), None
        if types <= {str}:
            return np.array(list(map(int, raw)), dtype=np.int64), None
    except (ValueError, OverflowError):
        pass
    out = np.zeros(len(raw), np.int64)
    bad = np.zeros(len(raw), bool)
    for i, v in enumerate(raw):
        x = _int_or_none(v)
        if x is None:
            bad[i] = True
        else:
            out[i] = x
    return out, bad if bad.any() else None


def _float_or_flag(v: Any) -> tuple[float, int]:
    """``(value, flag)``: flag 0 a number, 1 missing (null, empty), 2 not a number."""
    if v is None:
        return np.nan, 1
    if isinstance(v, bool):
        return np.nan, 2
    if isinstance(v, int | float):
        try:
            return float(v), 0
        except OverflowError:
            return (np.inf if v > 0 else -np.inf), 0
    if isinstance(v, str):
        if not v.strip():
            return np.nan, 1
        try:
            return float(v), 0
        except ValueError:
            return np.nan, 2
    return np.nan, 2


def _floats(raw: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Floats of a column (NaN where bad), the mask of missing values and of non-numbers."""
    if isinstance(raw, pa.ChunkedArray):
        t = raw.type
        if pa.types.is_null(t):
            return np.full(len(raw), np.nan), np.ones(len(raw), bool), None
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            values = pc.cast(raw, pa.float64()).combine_chunks().to_numpy(zero_copy_only=False)
            missing = (raw.is_null().combine_chunks().to_numpy(zero_copy_only=False)
                       if raw.null_count else None)
            return np.asarray(values, np.float64), missing, None
        raw = raw.to_pylist()
    types = set(map(type, raw))
    try:
        if types <= {float, int}:
            return np.array(raw, dtype=np.float64), None, None
        if types <= {str}:
            return np.array(list(map(float, raw)), dtype=np.float64), None, None
    except (ValueError, OverflowError):
        pass
    n = len(raw)
    out = np.empty(n, np.float64)
    flag = np.zeros(n, np.int8)
    for i, v in enumerate(raw):
        out[i], flag[i] = _float_or_flag(v)
    missing, nonnum = flag == 1, flag == 2
    return out, missing if missing.any() else None, nonnum if nonnum.any() else None


def _canonical(v: Any) -> Any:
    try:
        hash(v)
        return v
    except TypeError:
        return json.dumps(v, sort_keys=True, default=str)


def _codes(raw: Any, table: dict[Any, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer codes of the prompts (new prompts added to ``table``) and the missing mask."""
    setdefault = table.setdefault
    if isinstance(raw, pa.ChunkedArray):
        try:
            encoded = raw.combine_chunks().dictionary_encode()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            raw = raw.to_pylist()
        else:
            local = np.array([setdefault(_canonical(v), len(table))
                              for v in encoded.dictionary.to_pylist()] or [0], np.int64)
            indices = encoded.indices
            missing = None
            if indices.null_count:
                missing = indices.is_null().to_numpy(zero_copy_only=False)
                indices = indices.fill_null(0)
            codes = local[np.asarray(indices.to_numpy(zero_copy_only=False), np.int64)]
            return codes, _or(missing, _missing_codes(codes, table))
    try:
        codes = np.array([setdefault(p, len(table)) for p in raw], np.int64)
    except TypeError:
        codes = np.array([setdefault(_canonical(p), len(table)) for p in raw], np.int64)
    return codes, _missing_codes(codes, table)


def _missing_codes(codes: np.ndarray, table: dict[Any, int]) -> np.ndarray | None:
    absent = [table[k] for k in (None, "") if k in table]
    if not absent:
        return None
    mask = np.isin(codes, absent)
    return mask if mask.any() else None


def _or(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a | b


def _raw_at(raw: Any, i: int) -> Any:
    if isinstance(raw, pa.ChunkedArray):
        return raw[i].as_py()
    return raw[i]


def _shown(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- the builder
class _Builder:
    """Accumulates converted rows of every file, then groups them."""

    def __init__(self, fmt: str, source: str, skip_bad: bool) -> None:
        self.fmt, self.source, self.skip_bad = fmt, source, skip_bad
        self.table: dict[Any, int] = {}
        self.files: list[str] = []
        self.parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("step", "prompt", "reward", "group", "length", "advantage", "file",
                            "line")}
        self.skipped: Counter[str] = Counter()
        self.empty: list[str] = []
        self.reward_sets: dict[tuple[str, ...], int] = {}
        self.group_files: list[bool] = []
        self.length_files: list[bool] = []
        self.advantage_files: list[bool] = []

    def add(self, file_index: int, block: _Block, plan: _Plan | None) -> None:
        lines, n = block.lines, block.lines.size
        problems: list[tuple[str, str | None, np.ndarray, Callable[[int], str]]] = []
        file = self.files[file_index]
        if plan is None or n == 0:
            self._settle(block, problems, np.ones(n, bool), file)
            return
        if plan.step is None:
            step = np.full(n, plan.step_from_name, np.int64)
        else:
            raw_step = block.get(plan.step)
            step, bad = _ints(raw_step)
            if bad is not None:
                problems.append(("non_integer_step", plan.step, bad,
                                 lambda i: f"step must be an integer, got "
                                           f"{_shown(_raw_at(raw_step, i))}"))
        raw_prompt = block.get(plan.prompt)
        code, missing = _codes(raw_prompt, self.table)
        if missing is not None:
            problems.append(("missing_prompt", plan.prompt, missing,
                             lambda i: f"the prompt is missing (got "
                                       f"{_shown(_raw_at(raw_prompt, i))})"))
        reward = self._rewards(block, plan, problems)
        group = length = None
        if plan.group is not None:
            raw_group = block.get(plan.group)
            group, bad = _ints(raw_group)
            if bad is not None:
                problems.append(("non_integer_group", plan.group, bad,
                                 lambda i: f"group must be an integer, got "
                                           f"{_shown(_raw_at(raw_group, i))}"))
        if plan.length is not None:
            raw_length = block.get(plan.length)
            length, _, bad = _floats(raw_length)
            if bad is not None:
                problems.append(("non_numeric_completion_length", plan.length, bad,
                                 lambda i: f"completion_length must be a number, got "
                                           f"{_shown(_raw_at(raw_length, i))}"))
        # Logged advantages are read where they are numbers (NaN elsewhere); they never make a
        # row bad, since the analysis only compares them with the rewards.
        advantage = None if plan.advantage is None else _floats(block.get(plan.advantage))[0]
        keep = self._settle(block, problems, np.ones(n, bool), file)
        if not keep.all():
            step, code, reward, lines = step[keep], code[keep], reward[keep], lines[keep]
            group = None if group is None else group[keep]
            length = None if length is None else length[keep]
            advantage = None if advantage is None else advantage[keep]
        parts = self.parts
        parts["step"].append(step)
        parts["prompt"].append(code)
        parts["reward"].append(reward)
        parts["group"].append(group if group is not None else np.zeros(step.size, np.int64))
        parts["length"].append(length if length is not None else np.full(step.size, np.nan))
        parts["advantage"].append(advantage if advantage is not None
                                  else np.full(step.size, np.nan))
        parts["file"].append(np.full(step.size, file_index, np.int32))
        parts["line"].append(lines)

    def _rewards(self, block: _Block, plan: _Plan, problems: list[Any]) -> np.ndarray:
        if self.fmt != "trl":
            name = plan.reward[0]
            raw = block.get(name)
            reward, missing, nonnum = _floats(raw)
            bad = _or(missing, nonnum)
            if bad is not None:
                problems.append(("non_numeric_reward", name, bad,
                                 lambda i: f"{name} must be a number, got "
                                           f"{_shown(_raw_at(raw, i))}"))
            nonfinite = ~np.isfinite(reward)
            if bad is not None:
                nonfinite &= ~bad
            if nonfinite.any():
                problems.append(("non_finite_reward", name, nonfinite,
                                 lambda i: f"{name} must be finite, got "
                                           f"{_shown(float(reward[i]))}"))
            return reward
        values = []
        for name in plan.reward:
            raw = block.get(name)
            v, _, nonnum = _floats(raw)
            if nonnum is not None:
                problems.append(("non_numeric_reward", name, nonnum,
                                 lambda i, name=name, raw=raw: f"reward column {name!r} must "
                                 f"hold numbers, got {_shown(_raw_at(raw, i))}"))
            values.append(v)
        matrix = np.stack(values)
        nan = np.isnan(matrix)
        all_missing = nan.all(axis=0)
        with np.errstate(all="ignore"):
            total = np.where(nan, 0.0, matrix).sum(axis=0)
        cols = ", ".join(map(repr, plan.reward))
        if all_missing.any():
            problems.append(("missing_reward", plan.reward[0], all_missing,
                             lambda i: f"every reward column ({cols}) is empty or NaN in this "
                                       "row"))
        nonfinite = ~np.isfinite(total) & ~all_missing
        if nonfinite.any():
            def where(i: int) -> str:
                parts = ", ".join(f"{c}={_shown(float(matrix[k, i]))}"
                                  for k, c in enumerate(plan.reward))
                return f"the summed reward must be finite ({parts})"
            problems.append(("non_finite_reward", plan.reward[0], nonfinite, where))
        return total

    def _settle(self, block: _Block, problems: list[Any], keep: np.ndarray,
                file: str) -> np.ndarray:
        """Raise for the first problem of the block, or count and drop every bad row."""
        if not problems and not block.malformed:
            return keep
        if not self.skip_bad:
            best: tuple[int, int, str, str | None] | None = None
            for k, (_, column, mask, message) in enumerate(problems):
                i = int(np.argmax(mask))
                cand = (int(block.lines[i]), k, message(i), column)
                best = cand if best is None or cand[:2] < best[:2] else best
            if block.malformed:
                line, message = block.malformed[0]
                if best is None or line <= best[0]:
                    best = (line, -1, message, None)
            assert best is not None
            raise LogFormatError(best[2], file, best[0], best[3])
        for reason, _, mask, _ in problems:
            count = int(np.count_nonzero(mask & keep))
            if count:
                self.skipped[reason] += count
            keep &= ~mask
        if block.malformed:
            self.skipped["malformed_rows"] += len(block.malformed)
        return keep

    def result(self, split_repeats: bool, notes: list[str], hint: str = "") -> RolloutLog:
        parts = self.parts
        if not parts["step"] or sum(p.size for p in parts["step"]) == 0:
            if self.skipped:
                counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
                raise LogFormatError(f"no usable rollout: every row was skipped as bad "
                                     f"({counts})", self.source)
            where = (self.files[0] if len(self.files) == 1 else self.source)
            raise LogFormatError("the log holds no rollouts (no data rows)", where)
        cat = {k: np.concatenate(v) for k, v in parts.items()}
        code = cat["prompt"]
        prompts = list(self.table)
        used = np.zeros(len(prompts), bool)
        used[code] = True
        if not used.all():
            remap = np.cumsum(used) - 1
            code = remap[code]
            prompts = [p for p, u in zip(prompts, used.tolist(), strict=True) if u]
        has_group = any(self.group_files)
        has_length = any(self.length_files)
        has_advantage = any(self.advantage_files)
        if has_length and not all(self.length_files):
            notes.append("completion_length is missing from some files; their lengths are NaN")
        if self.empty:
            notes.append(f"{len(self.empty)} empty file(s) held no rollout: "
                         + ", ".join(self.empty[:5]) + (" ..." if len(self.empty) > 5 else ""))
        try:
            return RolloutLog.from_rollouts(
                cat["step"], code, cat["reward"], prompts=prompts,
                group=cat["group"] if has_group else None,
                completion_length=cat["length"] if has_length else None,
                advantages=cat["advantage"] if has_advantage else None,
                split_repeats=split_repeats and not has_group, skip_singletons=self.skip_bad,
                files=self.files, file_index=cat["file"], line=cat["line"],
                source=self.source, format=self.fmt, skipped=dict(self.skipped), notes=notes)
        except LogFormatError as exc:
            if not hint:
                raise
            err = LogFormatError(f"{exc}{hint}")  # same file, line and column, hint added
            err.file, err.line, err.column = exc.file, exc.line, exc.column
            raise err from None


def _missing_column(name: str, block: _Block, file: str, fmt: str, extra: str = "") -> None:
    cols = block.columns or []
    guess = ""
    if fmt != "verl" and {"input", "score"} <= set(cols):
        guess = " (this looks like a verl dump: read it with format='verl')"
    elif fmt != "trl" and {"prompt", "completion"} <= set(cols):
        guess = " (this looks like a TRL completions table: read it with format='trl')"
    elif fmt != "table" and {"step", "reward"} <= set(cols):
        guess = " (this looks like a table: read it with format='table')"
    raise LogFormatError(f"missing required column {name!r} of the {fmt} format; columns found: "
                         f"{_names(cols)}{extra}{guess}", file, block.header_line, name)


def _plan(fmt: str, block: _Block, path: Path, file: str,
          reward_columns: tuple[str, ...] | None) -> _Plan:
    cols = block.columns or []
    present = set(cols)
    if fmt == "table":
        for name in ("step", "reward"):
            if name not in present:
                _missing_column(name, block, file, fmt)
        prompt = "prompt_id" if "prompt_id" in present else "prompt"
        if prompt not in present:
            _missing_column("prompt", block, file, fmt, " (or 'prompt_id')")
        return _Plan("step", None, prompt, ("reward",),
                     "group" if "group" in present else None,
                     "completion_length" if "completion_length" in present else None)
    if fmt == "verl":
        for name in ("input", "score"):
            if name not in present:
                _missing_column(name, block, file, fmt)
        if "step" in present:
            return _Plan("step", None, "input", ("score",))
        stem = path.name.split(".")[0]
        if not re.fullmatch(r"-?\d+", stem, flags=re.ASCII):
            _missing_column("step", block, file, fmt,
                            " (and the file name is not a step number like '12.jsonl')")
        return _Plan(None, int(stem), "input", ("score",))
    for name in ("step", "prompt"):
        if name not in present:
            _missing_column(name, block, file, fmt)
    length = "completion_length" if "completion_length" in present else None
    advantage = next((c for c in ("advantage", "advantages") if c in present), None)
    if reward_columns is not None:
        for name in reward_columns:
            if name not in present:
                _missing_column(name, block, file, fmt, " (named in reward_columns)")
        return _Plan("step", None, "prompt", reward_columns, None, length, advantage)
    rewards = tuple(c for c in cols if c not in _NOT_REWARDS and not c.startswith("Unnamed:")
                    and _numeric_column(block, c))
    if not rewards:
        raise LogFormatError(
            f"the table has no reward column: TRL logs one numeric column per reward function "
            f"(e.g. 'accuracy_reward') next to step, prompt, completion and advantage, and this "
            f"file has only {_names(cols)}. Completion tables of older TRL versions hold only "
            "step, prompt and completion, and no rewards; name the columns with reward_columns "
            "(--reward-column) if they are there under other names", file, block.header_line)
    return _Plan("step", None, "prompt", rewards, None, length, advantage)


def _numeric_column(block: _Block, name: str) -> bool:
    """Whether a column holds numbers (Parquet: by type; else: most of its first rows' values)."""
    if block.arrow_types is not None:
        t = block.arrow_types[name]
        return (pa.types.is_integer(t) or pa.types.is_floating(t)
                or pa.types.is_decimal(t))
    if block.lines.size == 0:
        return True  # no rows to judge by (and none to sum)
    flags = Counter(_float_or_flag(v)[1] for v in block.get(name))
    return flags[0] > flags[2]  # mostly numbers: a stray text value is a bad value, not a label


def _read(path: str | os.PathLike, fmt: str, skip_bad: bool,
          reward_columns: tuple[str, ...] | None = None) -> RolloutLog:
    files = _list_files(path, _SUFFIXES[fmt])
    builder = _Builder(fmt, str(path), skip_bad)
    for file_index, f in enumerate(files):
        kind = _file_kind(f, fmt)
        name = str(f)
        builder.files.append(name)
        plan: _Plan | None = None
        rows = 0
        for block in _blocks(f, kind):
            if plan is None and block.columns is not None:
                plan = _plan(fmt, block, f, name, reward_columns)
                builder.group_files.append(plan.group is not None)
                builder.length_files.append(plan.length is not None)
                builder.advantage_files.append(plan.advantage is not None)
                if fmt == "trl":
                    builder.reward_sets[plan.reward] = builder.reward_sets.get(plan.reward, 0) + 1
            builder.add(file_index, block, plan)
            rows += block.lines.size + len(block.malformed)
        if plan is None and rows == 0:
            builder.empty.append(f.name)
    if fmt == "table" and any(builder.group_files) and not all(builder.group_files):
        lacking = files[builder.group_files.index(False)]
        raise LogFormatError("missing column 'group', which other files of this log have",
                             str(lacking), 1 if lacking.suffix.lower() == ".csv" else None,
                             "group")
    notes: list[str] = []
    for cols, count in builder.reward_sets.items():
        which = "" if len(builder.reward_sets) == 1 else f" in {count} file(s)"
        notes.append(f"reward = sum of the columns {' + '.join(map(repr, cols))}{which} "
                     "(TRL's total reward with unit weights; NaN entries left out)")
    return builder.result(split_repeats=True, notes=notes,
                          hint=_UNIQUE_PROMPTS_HINT if fmt == "trl" else "")
