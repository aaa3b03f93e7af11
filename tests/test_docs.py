"""The documentation's theory pages, generated from the claims registry, match the registry.

The generator (``docs/_ext/claims_pages.py``) is called directly into a temporary directory; the
full Sphinx build is the slow test at the end.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_theory.claims import TOPICS, Claim, Evidence, Kind, Outcome, registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_generator():
    spec = importlib.util.spec_from_file_location("claims_pages", DOCS / "_ext" / "claims_pages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


claims_pages = _load_generator()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The pages generated from the real registry (no checks run)."""
    out = tmp_path_factory.mktemp("theory")
    claims_pages.write_theory_pages(out)
    return out


def _claim(id: str, topic: str, *, source: str = "derived", expected: Outcome = Outcome.PROVED,
           corrects: str | None = None, statement: str | None = None, title: str = "") -> Claim:
    return Claim(
        id=id,
        statement=statement or f"For every $x$: $f_{{{id}}}(x) = 0$.",
        source=source,
        kind=Kind.SYMBOLIC,
        expected=expected,
        check=lambda: Evidence(expected, "not run"),
        topic=topic,
        title=title or f"Title of {id}",
        corrects=corrects,
    )


def test_every_topic_page_holds_its_claims(pages):
    claims = registry()
    assert claims, "the registry is empty"
    for claim in claims.values():
        page = pages / f"{claim.topic}.md"
        assert page.exists(), f"no page for topic {claim.topic!r}"
        text = page.read_text(encoding="utf-8")
        assert f"({claim.id})=" in text, f"no label for {claim.id}"
        assert f"`{claim.id}`" in text
        assert claim.statement.strip() in text, f"statement of {claim.id} missing"
        assert claim.expected.value in text
        if claim.corrects:
            assert f"{{ref}}`{claim.corrects} <{claim.corrects}>`" in text


def test_every_declared_topic_has_a_page_with_its_title(pages):
    for topic, title in TOPICS.items():
        text = (pages / f"{topic}.md").read_text(encoding="utf-8")
        assert text.splitlines()[2] == f"# {claims_pages._inline(title)}"


def test_index_fragment_lists_every_topic_and_claim(pages):
    text = (pages / "_toctree.md").read_text(encoding="utf-8")
    for topic in TOPICS:
        assert f"generated/{topic}\n" in text
    for claim_id in registry():
        assert f"{{ref}}`{claim_id} <{claim_id}>`" in text


def test_errata_hold_every_refuted_paper_claim_and_its_correction(pages):
    text = (pages / "_errata.md").read_text(encoding="utf-8")
    claims = registry()
    errata = [c for c in claims.values()
              if c.expected is Outcome.REFUTED and c.source.lower().startswith("paper")]
    for c in errata:
        assert c.statement.strip() in text
        for fix in claims.values():
            if fix.corrects == c.id:
                assert fix.statement.strip() in text
    if not errata:
        assert "No statement of the paper is registered as refuted." in text


def test_synthetic_registry(tmp_path):
    claims = {c.id: c for c in [
        _claim("t.one", "alpha", title="Uses $|x|$ and a_b * c"),
        _claim("t.wrong", "alpha", source="paper v2 Eq. 1", expected=Outcome.REFUTED),
        _claim("t.fixed", "beta", corrects="t.wrong"),
        _claim("t.derived-false", "beta", expected=Outcome.REFUTED),
        _claim("t.stray", "gamma"),
    ]}
    results = {
        "t.one": claims_pages.RunResult("proved", "proved", "residual {x_1: *0*}", 0.1),
        "t.wrong": claims_pages.RunResult("failed", "proved", "no counterexample", 0.1),
    }
    written = claims_pages.write_theory_pages(
        tmp_path, claims, {"alpha": "Alpha", "beta": "Beta", "empty": "Empty"}, results,
        intros={"alpha": "Intro with :math:`x`."})
    names = sorted(p.name for p in written)
    assert names == ["_errata.md", "_toctree.md", "alpha.md", "beta.md", "empty.md", "gamma.md"]

    alpha = (tmp_path / "alpha.md").read_text(encoding="utf-8")
    assert "```{eval-rst}\nIntro with :math:`x`.\n```" in alpha
    assert "## Uses $|x|$ and a\\_b \\* c" in alpha  # math kept, markdown escaped outside it
    assert "residual \\{x\\_1: \\*0\\*\\}" in alpha  # evidence summaries are literal text
    assert "failed (expected refuted, the check gave proved)" in alpha
    assert "**Corrected by:** {ref}`t.fixed <t.fixed>`" in alpha
    beta = (tmp_path / "beta.md").read_text(encoding="utf-8")
    assert "**Corrects:** {ref}`t.wrong <t.wrong>`" in beta
    assert "This build's run" not in beta  # no result for these claims
    assert "No claim is registered" in (tmp_path / "empty.md").read_text(encoding="utf-8")

    errata = (tmp_path / "_errata.md").read_text(encoding="utf-8")
    assert claims["t.wrong"].statement in errata and claims["t.fixed"].statement in errata
    assert "t.derived-false" not in errata  # refuted, but not a statement of the paper
    toc = (tmp_path / "_toctree.md").read_text(encoding="utf-8")
    assert "$\\vert x\\vert $" in toc  # a | inside math does not split the table row

    # Regenerating without a topic removes its stale page.
    del claims["t.stray"]
    claims_pages.write_theory_pages(tmp_path, claims, {"alpha": "Alpha"}, None, intros={})
    assert not (tmp_path / "gamma.md").exists()
    assert "grpo-theory claims" in (tmp_path / "alpha.md").read_text(encoding="utf-8")


def test_sync_notebooks(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "a.md").write_text("# A\n", encoding="utf-8")
    dest.mkdir()
    (dest / "stale.md").write_text("# old\n", encoding="utf-8")
    claims_pages.sync_notebooks(src, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["a.md"]
    assert (dest / "a.md").read_text(encoding="utf-8") == "# A\n"


def test_notebook_has_a_mystnb_header():
    text = (ROOT / "notebooks" / "01_contrastive_form.md").read_text(encoding="utf-8")
    header = text.split("---")[1]
    assert "file_format: mystnb" in header and "name: python3" in header


@pytest.mark.slow
def test_full_sphinx_build(tmp_path):
    """The whole site builds with warnings as errors (notebooks executed, checks not run)."""
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-D", "claims_evidence=0", "-d", str(tmp_path / "doctrees"), str(DOCS),
         str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = (tmp_path / "html" / "theory" / "generated" / "advantages.html").read_text()
    assert 'class="math' in html
    for claim in registry().values():
        if claim.topic == "advantages":
            assert f'id="{claim.id.replace(".", "-")}"' in html
