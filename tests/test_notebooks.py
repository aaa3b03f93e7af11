"""Every tutorial notebook (``notebooks/*.md``, MyST-NB text notebooks) and every executed how-to
page (``docs/howto-*.md``) runs without error.

The ``{code-cell}`` blocks of each notebook are parsed into an nbformat notebook and run headlessly
with nbclient in a fresh ``python3`` kernel (the same execution the docs build does with myst-nb).
Each notebook is one test with a 60-second budget; its duration is printed (``pytest -s``) and
recorded as a user property of the test report.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md")) + sorted((ROOT / "docs").glob("howto-*.md"))
TIMEOUT_S = 60.0

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\{code-cell\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                    re.DOTALL | re.MULTILINE)


def _strip_options(body: str) -> str:
    """A code cell's source without its ``:key: value`` options or ``---`` YAML options block."""
    lines = body.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        lines = lines[end + 1:]
    else:
        while lines and re.match(r"^:[\w-]+:", lines[0]):
            lines = lines[1:]
    return "\n".join(lines).strip("\n")


def read_myst_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook of a MyST-NB text file: markdown between the ``{code-cell}`` blocks."""
    text = _FRONT_MATTER.sub("", path.read_text(encoding="utf-8"), count=1)
    cells = []
    pos = 0
    for m in _FENCE.finditer(text):
        md = text[pos:m.start()].strip()
        if md:
            cells.append(nbformat.v4.new_markdown_cell(md))
        cells.append(nbformat.v4.new_code_cell(_strip_options(m.group("body"))))
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        cells.append(nbformat.v4.new_markdown_cell(tail))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def test_notebooks_found() -> None:
    assert NOTEBOOKS, "no notebooks/*.md"
    for path in NOTEBOOKS:
        assert read_myst_notebook(path).cells, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, record_property: pytest.RecordProperty) -> None:
    nb = read_myst_notebook(path)
    assert any(c.cell_type == "code" for c in nb.cells), f"{path.name} has no code cell"
    # The kernel (ipykernel's native ``python3``, i.e. this interpreter) runs in the notebook's
    # directory with a non-interactive matplotlib backend.
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    client = nbclient.NotebookClient(
        nb, timeout=int(TIMEOUT_S), kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised\n{err}", pytrace=False)
    except nbclient.exceptions.CellTimeoutError as err:
        pytest.fail(f"{path.name}: a cell ran past {TIMEOUT_S:g} s\n{err}", pytrace=False)
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend
    seconds = time.perf_counter() - start
    record_property("duration_s", round(seconds, 2))
    print(f"{path.name}: executed in {seconds:.1f} s")
    assert seconds < TIMEOUT_S, f"{path.name} took {seconds:.1f} s (budget {TIMEOUT_S:g} s)"
