"""Tests of the paper-figure registry: every figure builds under smoke, PDF/PNG properties,
one colour per estimator across figures, and the ``figures`` command."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pytest

from grpo_theory.figures import FIGURES, build, load_all, style
from grpo_theory.figures.command import add_parser, run

NAMES = list(load_all())
LABEL_TO_ESTIMATOR = {label: key for key, label in style.ESTIMATOR_LABELS.items()}


def _write_transformer_cache(cache: Path) -> None:
    """A small ``curves.json`` in the layout of ``grpo-theory transformer --out`` (training the
    tiny transformer takes ~30 s of compilation, so the fast tests draw from this file)."""
    def seed(scale: float, rollouts: int, t: float) -> dict[str, list[float]]:
        return {"step": [0, 1, 2], "rollouts": [0, rollouts, 2 * rollouts],
                "train_time_s": [0.0, t, 2 * t],
                "mean_at_k": [0.1, 0.1 + 0.1 * scale, 0.1 + 0.2 * scale],
                "pass_at_k": [0.2, 0.3, 0.4]}
    runs = [{"method": "16-GRPO", "group_size": 16, "prompts_per_step": 32,
             "seeds": [seed(1.0, 512, 1.0), seed(0.9, 512, 1.1)]},
            {"method": "2-GRPO", "group_size": 2, "prompts_per_step": 256,
             "seeds": [seed(0.95, 64, 0.2), seed(0.85, 64, 0.25)]}]
    (cache / "transformer").mkdir(parents=True)
    (cache / "transformer" / "curves.json").write_text(json.dumps({"runs": runs}))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each figure drawn once under smoke: its saved files and the (estimator, colour) of every
    line tagged with an estimator."""
    out = tmp_path_factory.mktemp("figures")
    cache = tmp_path_factory.mktemp("cache")
    _write_transformer_cache(cache)
    result = {}
    for name in NAMES:
        fig = FIGURES[name].make(True, cache)
        try:
            lines = []
            for ax in fig.axes:
                for line in ax.get_lines():
                    gid = line.get_gid() or ""
                    est = (gid.split(":", 1)[1] if gid.startswith("estimator:")
                           else LABEL_TO_ESTIMATOR.get(line.get_label()))
                    if est is not None:
                        lines.append((est, mcolors.to_hex(line.get_color())))
            texts = sum(len(ax.texts) + len(ax.get_xticklabels()) for ax in fig.axes)
            labelled = all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes
                           if ax.get_visible())
            result[name] = {"paths": style.save(fig, out, name), "lines": lines,
                            "texts": texts, "labelled": labelled,
                            "legend": any(ax.get_legend() for ax in fig.axes) or bool(fig.legends),
                            "title": any(ax.get_title() for ax in fig.axes)}
        finally:
            plt.close(fig)
    return result


def test_registry_order_and_titles() -> None:
    assert NAMES[:3] == ["weights", "implied-objective", "discard-rate"]
    for fig in FIGURES.values():
        assert fig.title and "\n" not in fig.title


@pytest.mark.parametrize("name", NAMES)
def test_figure_writes_pdf_and_png(drawn: dict, name: str) -> None:
    pdf, png = drawn[name]["paths"]
    assert pdf.name == f"{name}.pdf" and png.name == f"{name}.png"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert not re.search(rb"/Subtype\s*/Type3", data), "Type 3 font in the PDF"
    assert b"/FontFile2" in data, "no embedded TrueType font"
    from PIL import Image

    with Image.open(png) as im:
        dpi = im.info["dpi"]
    assert dpi == pytest.approx((style.DPI, style.DPI), abs=0.5)
    d = drawn[name]
    assert d["labelled"] and d["legend"] and not d["title"]


def test_same_estimator_same_colour_everywhere(drawn: dict) -> None:
    seen: dict[str, set[str]] = {}
    for d in drawn.values():
        for est, colour in d["lines"]:
            seen.setdefault(est, set()).add(colour)
    assert seen, "no estimator lines found"
    for est, colours in seen.items():
        assert colours == {mcolors.to_hex(style.ESTIMATOR_COLOURS[est])}, est
    assert len(set(style.ESTIMATOR_COLOURS.values())) == len(style.ESTIMATOR_COLOURS)


def test_build_writes_and_reports(tmp_path: Path) -> None:
    calls = []
    out = build(["weights"], tmp_path, smoke=True, progress=lambda n, p: calls.append(n))
    assert list(out) == ["weights"] and calls == ["weights"]
    assert all(p.is_file() and p.parent == tmp_path for p in out["weights"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_build_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no-such-figure") as err:
        build(["weights", "no-such-figure"], tmp_path, smoke=True)
    assert "weights" in str(err.value)  # the valid names are listed
    assert not list(tmp_path.iterdir())


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["figures", *argv])


def test_command_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_parse(["--list"])) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == NAMES


def test_command_bad_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(_parse(["bogus", "--out", str(tmp_path)])) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "weights" in err


def test_command_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(_parse(["discard-rate", "--smoke", "--out", str(tmp_path)])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [str(tmp_path / "discard-rate.pdf"), str(tmp_path / "discard-rate.png")]


@pytest.mark.slow
def test_transformer_curves_trains_without_cache(tmp_path: Path) -> None:
    out = build(["transformer-curves"], tmp_path, smoke=True, cache_dir=tmp_path / "empty")
    assert all(p.is_file() for p in out["transformer-curves"])


def test_implied_objective_matches_symbolic() -> None:
    import numpy as np
    import sympy as sp

    from grpo_theory.symbolic.expected_gradient import P, implied_objective

    fig = FIGURES["implied-objective"].make(True, None)
    try:
        lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
        for G in (2, 3, 4, 8):
            x, y = (np.asarray(a, dtype=float) for a in lines[f"GRPO, G = {G}"].get_data())
            exact = sp.lambdify(P, implied_objective(G), "numpy")(x)
            np.testing.assert_allclose(y, exact, atol=2e-4)
    finally:
        plt.close(fig)


def test_bandit_curves_from_cache(tmp_path: Path) -> None:
    folder = tmp_path / "bandit"
    folder.mkdir()
    curve = [0.3, 0.4, 0.5]
    metrics = {"runs": [{"label": "16-GRPO", "group_size": 16, "prompts_per_step": 32,
                         "epochs": 1, "rollouts_per_step": 512,
                         "curves": {"test_success": curve}, "silent_fraction": [0.1, 0.1]},
                        {"label": "2-GRPO", "group_size": 2, "prompts_per_step": 256,
                         "epochs": 1, "rollouts_per_step": 512,
                         "curves": {"test_success": curve}, "silent_fraction": [0.5, 0.5]}]}
    summary = {"runs": [{"label": "16-GRPO", "estimator": "grpo", "wall_time_s": 2.0,
                         "final": {"test_success": [0.5, 0.45, 0.55]}},
                        {"label": "2-GRPO", "estimator": "grpo", "wall_time_s": 0.5,
                         "final": {"test_success": [0.5, 0.45, 0.55]}}]}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "summary.json").write_text(json.dumps(summary))
    fig = FIGURES["bandit-curves"].make(True, tmp_path)
    try:
        lines = {line.get_label(): line for line in fig.axes[1].get_lines()}
        assert mcolors.to_hex(lines["2-GRPO"].get_color()) == mcolors.to_hex(
            style.ESTIMATOR_COLOURS["2-grpo"])
        assert list(lines["2-GRPO"].get_xdata()) == [0.0, 0.25, 0.5]  # time per step 0.25 s
    finally:
        plt.close(fig)


def test_gallery_shows_every_registered_figure():
    from pathlib import Path

    from grpo_theory.figures import load_all

    docs = Path(__file__).resolve().parents[2] / "docs"
    gallery = (docs / "gallery.md").read_text(encoding="utf-8")
    for name in load_all():
        assert f"![{name}](figures/{name}.png)" in gallery, name
        assert (docs / "figures" / f"{name}.png").is_file(), name


def test_cli_smoke_draws_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``grpo-theory figures --smoke`` (with a small transformer cache, so that no study runs)
    writes a PDF and a PNG of every registered figure."""
    from grpo_theory.cli import main

    cache = tmp_path / "cache"
    _write_transformer_cache(cache)
    assert main(["figures", "--smoke", "--cache", str(cache), "--out", str(tmp_path / "f")]) == 0
    written = {p.name for p in (tmp_path / "f").iterdir()}
    assert written == {f"{n}.{ext}" for n in NAMES for ext in ("pdf", "png")}
