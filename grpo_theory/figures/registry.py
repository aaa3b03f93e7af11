"""The registry of named paper figures and :func:`build`, which draws and saves them.

Each :class:`Figure` has a name, a one-line title (the caption text; the figures carry no
title) and ``make(smoke, cache_dir)`` returning a matplotlib figure. ``smoke=True`` draws the
same figure from few samples in a few seconds; ``cache_dir`` points at saved results (the
``--out`` folders of ``grpo-theory bandit`` / ``transformer``) where a figure can use them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

from grpo_theory.figures import style

__all__ = ["Figure", "FIGURES", "PRIORITY", "register", "build", "load_all"]

_MODULES = ("grpo_theory.figures.exact_figures", "grpo_theory.figures.training_figures")
PRIORITY = ("weights", "implied-objective", "discard-rate", "budget-variance", "trainer-constants",
            "mroueh-fixed-point", "bandit-curves", "transformer-curves", "control-variates")
"""The order of :data:`FIGURES` (figures not listed here follow, in registration order)."""


@dataclass(frozen=True)
class Figure:
    """A named paper figure.

    Attributes:
        name: the figure's name (file stem).
        title: a one-line caption.
        make: ``make(smoke, cache_dir) -> matplotlib.figure.Figure``.
    """

    name: str
    title: str
    make: Callable[[bool, Path | None], MplFigure]


FIGURES: dict[str, Figure] = {}
"""Every registered figure by name, in priority order."""


def register(name: str, title: str) -> Callable[[Callable], Callable]:
    """Decorator: register ``make(smoke, cache_dir)`` as the figure ``name``.

    Args:
        name: unique figure name.
        title: one-line caption.

    Returns:
        The decorator (it returns the function unchanged).
    """
    def deco(fn: Callable[[bool, Path | None], MplFigure]) -> Callable:
        if name in FIGURES:
            raise ValueError(f"figure {name!r} is registered twice")
        FIGURES[name] = Figure(name, title, fn)
        return fn
    return deco


def load_all() -> dict[str, Figure]:
    """Import every figure module so that :data:`FIGURES` is complete.

    Returns:
        :data:`FIGURES`.

    Example:
        >>> "weights" in load_all()
        True
    """
    for mod in _MODULES:
        importlib.import_module(mod)
    order = [n for n in PRIORITY if n in FIGURES] + [n for n in FIGURES if n not in PRIORITY]
    if list(FIGURES) != order:
        entries = {n: FIGURES.pop(n) for n in list(FIGURES)}
        FIGURES.update((n, entries[n]) for n in order)
    return FIGURES


def build(
    names: Iterable[str] | None,
    out_dir: str | os.PathLike,
    smoke: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[str, list[Path]], None] | None = None,
) -> dict[str, list[Path]]:
    """Draw and save the named figures (all when ``names`` is empty or ``None``).

    Args:
        names: figure names, or ``None`` for every registered figure.
        out_dir: folder of the PDF and PNG files.
        smoke: draw from few samples (seconds per figure).
        cache_dir: folder of saved results a figure may use instead of computing.
        progress: called as ``progress(name, paths)`` after each figure is saved.

    Returns:
        ``{name: [pdf_path, png_path]}`` in the order built.

    Raises:
        ValueError: an unknown name (the message names it and lists the valid ones).
    """
    load_all()
    wanted = list(names) if names else list(FIGURES)
    unknown = [n for n in wanted if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure name(s): {', '.join(unknown)}; "
                         f"valid names: {', '.join(FIGURES)}")
    cache = Path(cache_dir) if cache_dir is not None else None
    out: dict[str, list[Path]] = {}
    for name in dict.fromkeys(wanted):
        fig = FIGURES[name].make(bool(smoke), cache)
        try:
            paths = style.save(fig, out_dir, name)
        finally:
            plt.close(fig)
        out[name] = paths
        if progress is not None:
            progress(name, paths)
    return out
