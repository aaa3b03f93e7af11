"""Named paper figures: ``FIGURES``, :func:`build` and the ``grpo-theory figures`` command.

Example:
    >>> from grpo_theory.figures import FIGURES, load_all
    >>> list(load_all())[:3]
    ['weights', 'implied-objective', 'discard-rate']
"""

from grpo_theory.figures.registry import FIGURES, Figure, build, load_all, register

__all__ = ["FIGURES", "Figure", "build", "load_all", "register"]
