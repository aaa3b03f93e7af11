"""The single place for the style of the paper figures: rcParams, sizes, colours and saving.

Every figure of :mod:`grpo_theory.figures` is drawn under :func:`apply` (Agg backend, mathtext
instead of LaTeX, TrueType fonts embedded in PDF and PostScript) and saved by :func:`save`.
Each estimator has one fixed colour (:data:`ESTIMATOR_COLOURS`, from the colour-blind-safe
Okabe-Ito palette) used by every figure that draws it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from grpo_theory._io import write_atomic  # noqa: E402

__all__ = [
    "SINGLE",
    "DOUBLE",
    "DPI",
    "OKABE_ITO",
    "ESTIMATOR_COLOURS",
    "ESTIMATOR_LABELS",
    "RC_PARAMS",
    "apply",
    "group_colour",
    "estimator_line",
    "new_figure",
    "save",
]

SINGLE = (3.25, 2.4)
"""Size in inches of a single-column figure."""
DOUBLE = (6.75, 2.6)
"""Size in inches of a double-column figure."""
DPI = 300
"""Resolution of the PNG files."""

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "grey": "#999999",
}
"""The Okabe-Ito colour-blind-safe palette (plus grey)."""

ESTIMATOR_COLOURS = {
    "grpo": OKABE_ITO["blue"],
    "grpo-bessel": OKABE_ITO["sky blue"],
    "2-grpo": OKABE_ITO["vermillion"],
    "dr-grpo": OKABE_ITO["bluish green"],
    "rloo": OKABE_ITO["orange"],
    "reinforce": OKABE_ITO["reddish purple"],
    "online-dpo": OKABE_ITO["grey"],
    "infinity": OKABE_ITO["black"],
}
"""One fixed colour per estimator (``"infinity"``: the large-group limit of GRPO)."""

ESTIMATOR_LABELS = {
    "grpo": "GRPO",
    "grpo-bessel": "GRPO (Bessel)",
    "2-grpo": "2-GRPO",
    "dr-grpo": "Dr. GRPO",
    "rloo": "RLOO",
    "reinforce": "REINFORCE",
    "online-dpo": "online DPO",
    "infinity": r"$G \to \infty$",
}
"""Legend label of each estimator; a line with this label has the estimator's colour."""

RC_PARAMS: dict[str, Any] = {
    "text.usetex": False,
    "mathtext.fontset": "dejavusans",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.3,
    "lines.markersize": 3.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "figure.dpi": 100,
    "svg.hashsalt": "grpo-theory",
}
"""The rcParams every figure is drawn and saved under."""


def apply() -> None:
    """Set :data:`RC_PARAMS` on matplotlib's global rcParams.

    Example:
        >>> apply()
        >>> matplotlib.rcParams["pdf.fonttype"]
        42
    """
    matplotlib.rcParams.update(RC_PARAMS)


def group_colour(G: int, sizes: tuple[int, ...] = (2, 3, 4, 8, 16, 32, 64)) -> Any:
    """A colour per group size, from the colour-blind-safe ``viridis`` map (2-GRPO's own colour
    for ``G = 2``).

    Args:
        G: group size.
        sizes: the ordered group sizes spread over the colour map.

    Returns:
        A matplotlib colour.

    Example:
        >>> group_colour(2) == ESTIMATOR_COLOURS["2-grpo"]
        True
    """
    if G == 2:
        return ESTIMATOR_COLOURS["2-grpo"]
    rest = [g for g in sizes if g != 2]
    i = rest.index(G) if G in rest else len(rest) - 1
    return plt.get_cmap("viridis")(0.9 * i / max(1, len(rest) - 1))


def estimator_line(ax: Any, x: Any, y: Any, estimator: str, label: str | None = None,
                   **kwargs: Any) -> Any:
    """Plot a line in the estimator's fixed colour, tagged ``gid="estimator:NAME"``.

    Args:
        ax: the axes.
        x: abscissae.
        y: ordinates.
        estimator: a key of :data:`ESTIMATOR_COLOURS`.
        label: legend label (default: :data:`ESTIMATOR_LABELS` of the estimator).
        **kwargs: passed to ``ax.plot``.

    Returns:
        The line.
    """
    (line,) = ax.plot(x, y, color=ESTIMATOR_COLOURS[estimator],
                      label=ESTIMATOR_LABELS[estimator] if label is None else label, **kwargs)
    line.set_gid(f"estimator:{estimator}")
    return line


def new_figure(size: tuple[float, float] = SINGLE, ncols: int = 1, **kwargs: Any
               ) -> tuple[Figure, Any]:
    """A figure of ``size`` inches with ``ncols`` axes, under :func:`apply`'s style.

    Args:
        size: ``(width, height)`` in inches, :data:`SINGLE` or :data:`DOUBLE`.
        ncols: number of panels side by side.
        **kwargs: passed to ``plt.subplots``.

    Returns:
        ``(figure, axes)``.
    """
    apply()
    fig, axes = plt.subplots(1, ncols, figsize=size, layout="constrained", **kwargs)
    return fig, axes


def save(fig: Figure, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write ``name.pdf`` and ``name.png`` (:data:`DPI` dpi) atomically into ``out_dir``.

    Args:
        fig: the figure.
        out_dir: the folder (created if missing).
        name: the file stem.

    Returns:
        The two paths written, PDF first.

    Example:
        >>> import tempfile
        >>> fig, ax = new_figure()
        >>> _ = ax.plot([0, 1], [0, 1])
        >>> [p.suffix for p in save(fig, tempfile.mkdtemp(), "demo")]
        ['.pdf', '.png']
        >>> plt.close(fig)
    """
    apply()
    out = Path(out_dir)
    paths = []
    for fmt in ("pdf", "png"):
        buf = io.BytesIO()
        kwargs = {"dpi": DPI} if fmt == "png" else {}
        fig.savefig(buf, format=fmt, metadata=_metadata(fmt), **kwargs)
        paths.append(write_atomic(out / f"{name}.{fmt}", buf.getvalue()))
    return paths


def _metadata(fmt: str) -> dict[str, Any]:
    if fmt == "pdf":
        return {"Creator": "grpo-theory", "Producer": None, "CreationDate": None}
    return {"Software": "grpo-theory"}
