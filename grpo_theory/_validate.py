"""Argument validation shared by every public function.

Each check raises :class:`ValueError` (or :class:`TypeError` for a wrong type) whose message names
the parameter and its valid range, and returns the validated value unchanged. Symbolic (sympy)
arguments with free symbols are accepted as they are: their range is the business of the symbol's
assumptions.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import sympy as sp

__all__ = [
    "check_real",
    "check_group_size",
    "check_int",
    "check_count",
    "check_probability",
    "check_nonnegative",
    "check_positive",
    "check_rewards",
]


def _is_symbolic(x: Any) -> bool:
    return isinstance(x, sp.Basic) and bool(getattr(x, "free_symbols", False))


def _as_real(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real | sp.Basic | np.generic):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r}")
    try:
        value = float(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {x!r}") from exc
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return value


def check_real(x: Any, name: str) -> Any:
    """Validate a finite real number (symbolic values pass through unchanged)."""
    if not _is_symbolic(x):
        _as_real(x, name)
    return x


def check_int(x: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    """Validate an integer ``>= minimum`` (and ``<= maximum`` if given) and return it as ``int``.

    A non-integer (a bool included) raises :class:`TypeError`, an integer out of range
    :class:`ValueError`; both messages name the parameter and the range.

    Example:
        >>> check_int(3, "n", 1, 5)
        3
    """
    rng = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be {rng}, got {type(x).__name__} {x!r}")
    if int(x) < minimum or (maximum is not None and int(x) > maximum):
        raise ValueError(f"{name} must be {rng}, got {x!r}")
    return int(x)


def check_group_size(G: Any, name: str = "G", minimum: int = 2, maximum: int | None = None) -> Any:
    """Validate a group size: an integer ``>= minimum`` (and ``<= maximum`` if given)."""
    if _is_symbolic(G):
        return G
    rng = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(G, bool) or not isinstance(G, numbers.Integral | sp.Integer | np.integer):
        raise TypeError(f"{name} must be {rng}, got {type(G).__name__} {G!r}")
    if int(G) < minimum or (maximum is not None and int(G) > maximum):
        raise ValueError(f"{name} must be {rng}, got {G!r}")
    return G


def check_count(k: Any, G: Any, name: str = "k", *, interior: bool = False) -> Any:
    """Validate a number of correct responses ``k`` in ``0..G`` (``1..G-1`` if ``interior``)."""
    if _is_symbolic(k) or _is_symbolic(G):
        return k
    lo, hi = (1, int(G) - 1) if interior else (0, int(G))
    rng = f"an integer in {lo}..{hi} (G = {G})"
    if isinstance(k, bool) or not isinstance(k, numbers.Integral | sp.Integer | np.integer):
        raise TypeError(f"{name} must be {rng}, got {type(k).__name__} {k!r}")
    if not lo <= int(k) <= hi:
        raise ValueError(f"{name} must be {rng}, got {k!r}")
    return k


def check_probability(p: Any, name: str = "p", *, open_interval: bool = False) -> Any:
    """Validate a probability in ``[0, 1]`` (or ``(0, 1)`` when ``open_interval``).

    Arrays are checked element-wise.
    """
    if _is_symbolic(p):
        return p
    if isinstance(p, np.ndarray | list | tuple):
        arr = np.asarray(p, dtype=float)
        bad = ~np.isfinite(arr) | (arr <= 0 if open_interval else arr < 0)
        bad |= arr >= 1 if open_interval else arr > 1
        if bad.any():
            rng = "(0, 1)" if open_interval else "[0, 1]"
            raise ValueError(
                f"{name} must lie in {rng}, got {float(arr[bad].ravel()[0])} at index "
                f"{tuple(int(i) for i in np.argwhere(bad)[0])}"
            )
        return p
    value = _as_real(p, name)
    ok = 0 < value < 1 if open_interval else 0 <= value <= 1
    if not ok:
        raise ValueError(f"{name} must lie in {'(0, 1)' if open_interval else '[0, 1]'}, got {p!r}")
    return p


def check_nonnegative(x: Any, name: str) -> Any:
    """Validate a finite real ``>= 0`` (for example the std epsilon)."""
    if _is_symbolic(x):
        return x
    if _as_real(x, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return x


def check_positive(x: Any, name: str) -> Any:
    """Validate a finite real ``> 0`` (for example DPO's beta)."""
    if _is_symbolic(x):
        return x
    if _as_real(x, name) <= 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return x


def check_rewards(rewards: Any, name: str = "rewards", min_size: int = 2) -> Any:
    """Validate a group's reward vector: one-dimensional, at least ``min_size`` finite entries.

    Sequences of sympy expressions are returned as a list; numeric input as a float array.
    """
    if isinstance(rewards, sp.MatrixBase):
        rewards = list(rewards)
    if isinstance(rewards, list | tuple) and any(isinstance(r, sp.Basic) for r in rewards):
        if len(rewards) < min_size:
            raise ValueError(
                f"{name} must have at least {min_size} entries (a group), got {len(rewards)}"
            )
        for i, r in enumerate(rewards):
            if not _is_symbolic(r):
                _as_real(r, f"{name}[{i}]")
        return list(rewards)
    try:
        arr = np.asarray(rewards, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a one-dimensional array of real numbers") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one group), got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} entries (a group), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ValueError(f"{name} must be finite, got {float(arr[bad])} at index {bad}")
    return arr
