"""Tests of the main job: stages, the report, resumption, failure status."""

from __future__ import annotations

import pytest

import grpo_theory.claims as claims_pkg
from grpo_theory import reproduce
from grpo_theory.cli import main


@pytest.fixture
def few_claims(monkeypatch):
    """The claims stage on two cheap claims (the whole registry is `make reproduce`'s job)."""
    real = claims_pkg.run_claims
    monkeypatch.setattr(claims_pkg, "run_claims",
                        lambda progress=None: real(["paper.rollout-ratio", "adv."], progress))


def test_report_with_claims_and_exact_tables_then_resume(tmp_path, few_claims, monkeypatch,
                                                         capsys):
    args = ["reproduce", "--out", str(tmp_path), "--skip", "bandit", "transformer", "figures"]
    assert main(args) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## Claims report" in report and "paper.rollout-ratio" in report
    assert "### Expected-gradient weights" in report and "| 0.5 | 1.0000 | 1.4142 |" in report
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html
    assert "[reproduce] stage 1/2: claims" in capsys.readouterr().err

    # Started again: the stages on disk are loaded, not run.
    def boom(*a, **k):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(claims_pkg, "run_claims", boom)
    monkeypatch.setattr(reproduce, "exact_tables", boom)
    assert main(args) == 0
    assert (tmp_path / "report.md").read_text().split("Report written")[0] == \
        report.split("Report written")[0]
    with pytest.raises(AssertionError, match="ran again"):
        main(args + ["--fresh"])


def test_failed_claim_gives_status_1(tmp_path, monkeypatch):
    from grpo_theory.claims import Evidence, Outcome, get_claim
    from grpo_theory.claims._core import ClaimResult

    claim = get_claim("paper.rollout-ratio")
    bad = ClaimResult(claim, Outcome.FAILED, Evidence(Outcome.REFUTED, "broken on purpose"), 0.0)
    monkeypatch.setattr(claims_pkg, "run_claims", lambda progress=None: [bad])
    args = ["reproduce", "--out", str(tmp_path), "--skip", "exact", "bandit", "transformer",
            "figures"]
    assert main(args) == 1
    assert "failed" in (tmp_path / "report.md").read_text()


def test_render_html_escapes_nothing_it_should_not():
    html = reproduce.render_html("# Title\n\n![fig](figures/a.png)\n")
    assert "<h1>Title</h1>" in html and '<img src="figures/a.png" alt="fig"' in html


def test_unknown_stage_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--skip", "nothing"])
    assert "invalid choice" in capsys.readouterr().err


def test_figures_stage_puts_every_figure_in_the_report(tmp_path, monkeypatch):
    import grpo_theory.figures as figures

    calls = []

    def fake_build(names, out_dir, smoke=False, cache_dir=None, progress=None):
        calls.append((list(names), smoke, cache_dir))
        for n in names:
            path = out_dir / f"{n}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"png")
            progress(n, [path])
        return {}

    monkeypatch.setattr(figures, "build", fake_build)
    args = ["reproduce", "--out", str(tmp_path), "--skip", "claims", "exact", "bandit",
            "transformer"]
    assert main(args) == 0
    names = list(figures.load_all())
    assert calls == [(names, False, tmp_path / "reproduce")]
    report = (tmp_path / "report.md").read_text()
    for n in names:
        assert f"![{n}](figures/{n}.png)" in report
    assert main(args) == 0 and len(calls) == 1  # figures on disk are not drawn again
