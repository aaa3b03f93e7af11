r"""The paper's published tables, loaded from CSV into typed, immutable records.

The tables of "It Takes Two: Your GRPO Is Secretly DPO" (arXiv 2510.00977) are stored as CSV files
in ``grpo_theory/paper/data``, one file per table, transcribed exactly as printed:

=====================================  ==========================================================
file                                   content
=====================================  ==========================================================
``v2_table1_mean32_pass32.csv``        paper v2 Table 1: 2-GRPO vs 16-GRPO (and the base model),
                                       training hours, Mean@32 / Pass@32 on five benchmarks
``v2_table1_printed_deltas.csv``       the printed :math:`\Delta` row of paper v2 Table 1 (time
                                       change in percent, score changes), signs and digits as
                                       printed
``v3_table1_mean32.csv``               paper v3 Table 1: Mean@32 with 2-GRPO+RS and an Avg column
``v3_table1_printed_gaps.csv``         the printed gaps in parentheses of paper v3 Table 1
``v3_table2_covariance.csv``           paper v3 App. B.8, Table 2 (covariances)
``v3_table3_discard_rate.csv``         paper v3 App. D.3, Table 3 (2-GRPO discard rate by step)
``v3_table4_group_size_ablation.csv``  paper v3 Table 4 (group-size ablation, Mean@32 / Pass@32)
=====================================  ==========================================================

A training run is identified by its :class:`Setting` (training data set and model) and a group
size label (``"w/o"`` for the base model, ``"2"``, ``"16"``, ``"2+RS"``, ``"2†"``, ...). Scores
on the five evaluation benchmarks are held in a :class:`PerBenchmark` named tuple, in the order
of :data:`BENCHMARKS`. Printed differences keep their printed precision as
:class:`PrintedNumber` values, so that recomputed numbers can be compared "to the printed
precision".

Every loader takes an optional ``path`` (a CSV file with the same columns); by default it reads
the packaged file. A missing file raises :class:`FileNotFoundError`, a malformed one
:class:`TableError` naming the file, line and column.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = [
    "BENCHMARKS",
    "METRICS",
    "BASE_MODEL",
    "DATA_FILES",
    "TableError",
    "Setting",
    "PerBenchmark",
    "PrintedNumber",
    "V2Table1Row",
    "V2PrintedDeltaRow",
    "V3Table1Row",
    "V3PrintedGapRow",
    "V3Table4Row",
    "CovarianceEntry",
    "DiscardRateRow",
    "parse_printed",
    "data_file_text",
    "load_v2_table1",
    "load_v2_table1_printed_deltas",
    "load_v3_table1",
    "load_v3_table1_printed_gaps",
    "load_v3_table2",
    "load_v3_table3",
    "load_v3_table4",
    "find_row",
]

BENCHMARKS: tuple[str, ...] = ("MATH-500", "AMC 2023", "Minerva", "AIME 2025", "OlympiadBench")
"""The five evaluation benchmarks, in the paper's column order (that of :class:`PerBenchmark`)."""

METRICS: tuple[str, ...] = ("mean@32", "pass@32")
"""The two metrics: mean accuracy over 32 samples, and at least one of 32 samples correct."""

BASE_MODEL = "w/o"
"""Group size label of the base model before reinforcement learning."""

DATA_FILES: dict[str, str] = {
    "v2_table1": "v2_table1_mean32_pass32.csv",
    "v2_table1_printed_deltas": "v2_table1_printed_deltas.csv",
    "v3_table1": "v3_table1_mean32.csv",
    "v3_table1_printed_gaps": "v3_table1_printed_gaps.csv",
    "v3_table2": "v3_table2_covariance.csv",
    "v3_table3": "v3_table3_discard_rate.csv",
    "v3_table4": "v3_table4_group_size_ablation.csv",
}
"""Packaged CSV file of each table."""

T = TypeVar("T")
PathLike = str | os.PathLike[str]


class TableError(ValueError):
    """A table file is malformed (missing column, wrong field count, unreadable number)."""


class Setting(NamedTuple):
    """A training setting: the training data set and the model."""

    dataset: str
    """Training data: ``"MATH"`` or ``"DAPO-Math-Sub"``."""
    model: str
    """Model: ``"Qwen-1.5B"``, ``"Qwen-7B"`` or ``"DS-1.5B"``."""

    @property
    def label(self) -> str:
        """Short label, e.g. ``"Qwen-1.5B / MATH"``."""
        return f"{self.model} / {self.dataset}"


class PerBenchmark(NamedTuple, Generic[T]):
    """One value per evaluation benchmark, in the order of :data:`BENCHMARKS`."""

    math500: T
    amc2023: T
    minerva: T
    aime2025: T
    olympiadbench: T

    def by_name(self, benchmark: str) -> T:
        """The value of a benchmark given by its printed name (one of :data:`BENCHMARKS`)."""
        try:
            return self[BENCHMARKS.index(benchmark)]
        except ValueError:
            raise KeyError(
                f"benchmark must be one of {', '.join(BENCHMARKS)}; got {benchmark!r}"
            ) from None

    def items(self) -> Iterator[tuple[str, T]]:
        """Pairs ``(benchmark name, value)`` in column order."""
        return zip(BENCHMARKS, self, strict=True)


class PrintedNumber(NamedTuple):
    """A number as printed in the paper: its value, its number of decimals, its text."""

    value: float
    decimals: int
    text: str

    @property
    def unit(self) -> float:
        """One unit of the last printed digit, :math:`10^{-d}`."""
        return 10.0 ** (-self.decimals)


class _TwoMetrics:
    """Rows holding ``mean32`` and ``pass32``: :meth:`metric` selects one by name."""

    mean32: PerBenchmark[Any]
    pass32: PerBenchmark[Any]

    def metric(self, metric: str) -> PerBenchmark[Any]:
        """The values of one metric, ``"mean@32"`` or ``"pass@32"``."""
        if metric == "mean@32":
            return self.mean32
        if metric == "pass@32":
            return self.pass32
        raise KeyError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


@dataclass(frozen=True)
class V2Table1Row(_TwoMetrics):
    """A row of paper v2 Table 1 (one run: setting and group size)."""

    setting: Setting
    group_size: str
    """``"w/o"``, ``"2"`` or ``"16"``."""
    time_h: float | None
    """Training time in hours (``None`` for the base model)."""
    mean32: PerBenchmark[float]
    pass32: PerBenchmark[float]


@dataclass(frozen=True)
class V2PrintedDeltaRow(_TwoMetrics):
    r"""The printed :math:`\Delta` row of one setting of paper v2 Table 1 (2-GRPO vs 16-GRPO)."""

    setting: Setting
    time_pct: PrintedNumber
    """Printed change of the training time, in percent."""
    mean32: PerBenchmark[PrintedNumber]
    pass32: PerBenchmark[PrintedNumber]


@dataclass(frozen=True)
class V3Table1Row:
    """A row of paper v3 Table 1 (Mean@32 only, with the printed average)."""

    setting: Setting
    group_size: str
    """``"w/o"``, ``"16"``, ``"2"`` or ``"2+RS"``."""
    time_h: float | None
    mean32: PerBenchmark[float]
    avg_mean32: float
    """The printed Avg column."""


@dataclass(frozen=True)
class V3PrintedGapRow:
    """The printed gaps to 16-GRPO (in parentheses) of one row of paper v3 Table 1."""

    setting: Setting
    group_size: str
    """``"2"`` or ``"2+RS"``."""
    time_pct: PrintedNumber
    mean32: PerBenchmark[PrintedNumber]
    avg_mean32: PrintedNumber


@dataclass(frozen=True)
class V3Table4Row(_TwoMetrics):
    """A row of paper v3 Table 4 (group-size ablation)."""

    setting: Setting
    group_size: str
    """``"w/o"``, ``"2†"`` (256 prompts / 512 rollouts), ``"2"``, ``"4"``, ``"8"`` or ``"16"``."""
    prompts_rollouts: str
    """The printed #P/#R column (prompts and rollouts per mini-batch), as text."""
    mean32: PerBenchmark[float]
    pass32: PerBenchmark[float]
    avg_mean32: float
    avg_pass32: float

    def average(self, metric: str) -> float:
        """The printed average of one metric."""
        if metric == "mean@32":
            return self.avg_mean32
        if metric == "pass@32":
            return self.avg_pass32
        raise KeyError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


class CovarianceEntry(NamedTuple):
    """A cell of paper v3 Table 2."""

    metric: str
    value: float


class DiscardRateRow(NamedTuple):
    """A column of paper v3 Table 3: the training step and the printed discard rate."""

    step: int
    p_discard: float


# ----------------------------------------------------------------------------------------------
# Reading and parsing
# ----------------------------------------------------------------------------------------------


def parse_printed(text: str) -> PrintedNumber:
    """Parse a number as printed (optional sign, digits, optional decimals).

    Args:
        text: the printed text, e.g. ``"-0.96"``, ``"+5.4"``, ``"0.09"``; a Unicode minus sign is
            accepted.

    Returns:
        The :class:`PrintedNumber` with the value and the number of decimals.

    Raises:
        ValueError: if ``text`` is not a finite decimal number.

    Example:
        >>> parse_printed("+5.4")
        PrintedNumber(value=5.4, decimals=1, text='+5.4')
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    clean = text.strip().replace("\u2212", "-")
    try:
        dec = Decimal(clean)
    except InvalidOperation:
        raise ValueError(f"text must be a printed decimal number, got {text!r}") from None
    if not dec.is_finite() or "e" in clean.lower():
        raise ValueError(f"text must be a printed decimal number, got {text!r}")
    exponent = dec.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return PrintedNumber(float(dec), decimals, text.strip())


def data_file_text(name: str) -> str:
    """The text of a packaged data file (a file name from :data:`DATA_FILES`).

    Raises:
        FileNotFoundError: if the package has no such data file.
    """
    resource = resources.files("grpo_theory.paper").joinpath("data", name)
    if not resource.is_file():
        known = ", ".join(sorted(DATA_FILES.values()))
        raise FileNotFoundError(
            f"paper table file {name!r} is missing from grpo_theory/paper/data (expected one of "
            f"{known})"
        )
    return resource.read_text(encoding="utf-8")


def _read_text(key: str, path: PathLike | None) -> tuple[str, str]:
    """``(source name, text)`` of the packaged table ``key`` or of ``path``."""
    if path is None:
        name = DATA_FILES[key]
        return name, data_file_text(name)
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"table file {p!r} does not exist")
    with open(p, encoding="utf-8") as fh:
        return p, fh.read()


class _Record:
    """One CSV record with its origin, for error messages."""

    def __init__(self, source: str, line: int, fields: Mapping[str, str]):
        self.source = source
        self.line = line
        self.fields = fields

    def error(self, column: str, message: str) -> TableError:
        return TableError(f"{self.source}, line {self.line}, column {column!r}: {message}")

    def text(self, column: str) -> str:
        value = self.fields[column].strip()
        if not value:
            raise self.error(column, "empty field")
        return value

    def number(self, column: str) -> float:
        raw = self.text(column)
        try:
            value = float(raw.replace("\u2212", "-"))
        except ValueError:
            raise self.error(column, f"expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise self.error(column, f"expected a finite number, got {raw!r}")
        return value

    def optional_number(self, column: str) -> float | None:
        return None if not self.fields[column].strip() else self.number(column)

    def integer(self, column: str) -> int:
        raw = self.text(column)
        try:
            return int(raw)
        except ValueError:
            raise self.error(column, f"expected an integer, got {raw!r}") from None

    def printed(self, column: str) -> PrintedNumber:
        raw = self.text(column)
        try:
            return parse_printed(raw)
        except ValueError:
            raise self.error(column, f"expected a printed number, got {raw!r}") from None

    def setting(self) -> Setting:
        return Setting(self.text("dataset"), self.text("model"))


def _records(source: str, text: str, required: Sequence[str]) -> list[_Record]:
    """Parse CSV text, checking the header and the number of fields of every line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TableError(f"{source}: the file is empty (no header line)") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise TableError(f"{source}: missing column(s) {', '.join(map(repr, missing))}")
    out = []
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise TableError(
                f"{source}, line {line}: expected {len(header)} fields, got {len(fields)}"
            )
        out.append(_Record(source, line, dict(zip(header, fields, strict=True))))
    if not out:
        raise TableError(f"{source}: the table has no rows")
    return out


def _columns(metric: str) -> list[str]:
    return [f"{b} {metric}" for b in BENCHMARKS]


def _scores(rec: _Record, metric: str, parse: Callable[[_Record, str], T]) -> PerBenchmark[T]:
    return PerBenchmark(*(parse(rec, c) for c in _columns(metric)))


def _num(rec: _Record, column: str) -> float:
    return rec.number(column)


def _printed(rec: _Record, column: str) -> PrintedNumber:
    return rec.printed(column)


# ----------------------------------------------------------------------------------------------
# Loaders
# ----------------------------------------------------------------------------------------------


def load_v2_table1(path: PathLike | None = None) -> tuple[V2Table1Row, ...]:
    """Load paper v2 Table 1 (15 rows: 5 settings x base model, 2-GRPO, 16-GRPO).

    Args:
        path: a CSV file with the same columns; the packaged table by default.

    Returns:
        The rows in printed order.

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed.

    Example:
        >>> rows = load_v2_table1()
        >>> rows[1].setting.label, rows[1].group_size, rows[1].time_h
        ('Qwen-1.5B / MATH', '2', 2.05)
    """
    source, text = _read_text("v2_table1", path)
    cols = ["dataset", "model", "group_size", "time_h", *_columns("mean@32"),
            *_columns("pass@32")]
    rows = []
    for rec in _records(source, text, cols):
        group = rec.text("group_size")
        time_h = rec.optional_number("time_h")
        if time_h is None and group != BASE_MODEL:
            raise rec.error("time_h", f"a trained run (group size {group}) needs a time")
        rows.append(V2Table1Row(rec.setting(), group, time_h, _scores(rec, "mean@32", _num),
                                _scores(rec, "pass@32", _num)))
    return tuple(rows)


def load_v2_table1_printed_deltas(path: PathLike | None = None) -> tuple[V2PrintedDeltaRow, ...]:
    r"""Load the printed :math:`\Delta` rows of paper v2 Table 1 (one per setting, 5 rows).

    The values keep their printed signs and decimals (e.g. the time change of DS-1.5B is printed
    with one decimal, ``-81.6``).

    Args:
        path: a CSV file with the same columns; the packaged table by default.

    Returns:
        The rows in printed order.

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed.
    """
    source, text = _read_text("v2_table1_printed_deltas", path)
    cols = ["dataset", "model", "time_delta_pct", *_columns("mean@32"), *_columns("pass@32")]
    return tuple(
        V2PrintedDeltaRow(rec.setting(), rec.printed("time_delta_pct"),
                          _scores(rec, "mean@32", _printed), _scores(rec, "pass@32", _printed))
        for rec in _records(source, text, cols)
    )


def load_v3_table1(path: PathLike | None = None) -> tuple[V3Table1Row, ...]:
    """Load paper v3 Table 1 (16 rows: 4 settings x base model, 16, 2, 2+RS).

    Args:
        path: a CSV file with the same columns; the packaged table by default.

    Returns:
        The rows in printed order.

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed.
    """
    source, text = _read_text("v3_table1", path)
    cols = ["dataset", "model", "group_size", "time_h", *_columns("mean@32"), "Avg mean@32"]
    rows = []
    for rec in _records(source, text, cols):
        group = rec.text("group_size")
        time_h = rec.optional_number("time_h")
        if time_h is None and group != BASE_MODEL:
            raise rec.error("time_h", f"a trained run (group size {group}) needs a time")
        rows.append(V3Table1Row(rec.setting(), group, time_h, _scores(rec, "mean@32", _num),
                                rec.number("Avg mean@32")))
    return tuple(rows)


def load_v3_table1_printed_gaps(path: PathLike | None = None) -> tuple[V3PrintedGapRow, ...]:
    """Load the printed gaps to 16-GRPO of paper v3 Table 1 (rows 2 and 2+RS of 4 settings).

    Args:
        path: a CSV file with the same columns; the packaged table by default.

    Returns:
        The rows in printed order.

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed.
    """
    source, text = _read_text("v3_table1_printed_gaps", path)
    cols = ["dataset", "model", "group_size", "time_gap_pct", *_columns("mean@32"),
            "Avg mean@32"]
    return tuple(
        V3PrintedGapRow(rec.setting(), rec.text("group_size"), rec.printed("time_gap_pct"),
                        _scores(rec, "mean@32", _printed), rec.printed("Avg mean@32"))
        for rec in _records(source, text, cols)
    )


def load_v3_table2(path: PathLike | None = None) -> tuple[CovarianceEntry, ...]:
    """Load paper v3 App. B.8, Table 2 (two covariances).

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed.
    """
    source, text = _read_text("v3_table2", path)
    return tuple(CovarianceEntry(rec.text("metric"), rec.number("value"))
                 for rec in _records(source, text, ["metric", "value"]))


def load_v3_table3(path: PathLike | None = None) -> tuple[DiscardRateRow, ...]:
    """Load paper v3 App. D.3, Table 3 (discard rate of 2-GRPO at five training steps).

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed (including a rate outside ``[0, 1]``).
    """
    source, text = _read_text("v3_table3", path)
    rows = []
    for rec in _records(source, text, ["step", "p_discard_as_printed"]):
        p = rec.number("p_discard_as_printed")
        if not 0.0 <= p <= 1.0:
            raise rec.error("p_discard_as_printed", f"a rate must lie in [0, 1], got {p!r}")
        rows.append(DiscardRateRow(rec.integer("step"), p))
    return tuple(rows)


def load_v3_table4(path: PathLike | None = None) -> tuple[V3Table4Row, ...]:
    """Load paper v3 Table 4 (24 rows: 4 settings x base model, 2†, 2, 4, 8, 16).

    Raises:
        FileNotFoundError: if the file does not exist.
        TableError: if the file is malformed.
    """
    source, text = _read_text("v3_table4", path)
    cols = ["dataset", "model", "group_size", "prompts_rollouts", *_columns("mean@32"),
            *_columns("pass@32"), "Average mean@32", "Average pass@32"]
    return tuple(
        V3Table4Row(rec.setting(), rec.text("group_size"), rec.text("prompts_rollouts"),
                    _scores(rec, "mean@32", _num), _scores(rec, "pass@32", _num),
                    rec.number("Average mean@32"), rec.number("Average pass@32"))
        for rec in _records(source, text, cols)
    )


R = TypeVar("R", V2Table1Row, V3Table1Row, V3Table4Row, V3PrintedGapRow)


def find_row(rows: Sequence[R], setting: Setting, group_size: str) -> R:
    """The unique row of ``rows`` with this setting and group size label.

    Raises:
        KeyError: if there is no such row, or more than one.

    Example:
        >>> find_row(load_v2_table1(), Setting("MATH", "DS-1.5B"), "16").time_h
        38.4
    """
    found = [r for r in rows if r.setting == setting and r.group_size == group_size]
    if len(found) != 1:
        raise KeyError(f"expected one row for {setting.label}, group size {group_size!r}; "
                       f"found {len(found)}")
    return found[0]
