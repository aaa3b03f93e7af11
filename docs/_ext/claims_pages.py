"""Sphinx extension: theory pages generated from the claims registry.

On ``builder-inited`` this extension

* writes one MyST page per theory topic into ``docs/theory/generated/<topic>.md``: every claim of
  the topic as a section labelled with the claim id, with its statement (LaTeX, rendered by MyST's
  ``dollarmath``/``amsmath``), source, kind, expected outcome, the claim it corrects, and, when
  ``claims_evidence`` is on, the outcome and evidence summary of this build's run of the check;
* writes two fragments that static pages include: ``_toctree.md`` (the topic toctree and a table of
  every claim, for ``theory/index.md``) and ``_errata.md`` (every statement of the paper that is
  refuted, next to its correction, for ``errata.md``);
* copies the MyST-NB notebooks ``notebooks/*.md`` into ``docs/tutorials/generated/`` so that
  myst-nb executes them as part of the site.

Nothing here names a claim or a topic: the pages follow whatever the registry holds, so the docs
cannot drift from the checks. :func:`write_theory_pages` is the generator itself; it has no Sphinx
dependency and is what the tests call.

Configuration values (``conf.py`` or ``sphinx-build -D name=value``):

* ``claims_evidence`` (bool, default ``False``): run every claim's check during the build and
  show its outcome and evidence summary (as long as the whole registry takes).
* ``claims_evidence_workers`` (int, default ``0`` = one per CPU): processes running the checks.
* ``claims_notebooks_dir`` (str, default ``"../notebooks"``, relative to ``docs/``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunResult", "write_theory_pages", "run_checks", "render_topic", "render_errata",
           "render_index_fragment", "sync_notebooks", "setup"]

GENERATED = Path("theory") / "generated"
"""Where the theory pages are written, relative to the Sphinx source directory."""

TUTORIALS = Path("tutorials") / "generated"
"""Where the notebooks are copied, relative to the Sphinx source directory."""


@dataclass(frozen=True)
class RunResult:
    """What one run of a claim's check produced (a picklable digest of a ``ClaimResult``)."""

    outcome: str
    evidence_outcome: str
    summary: str
    seconds: float


# ------------------------------------------------------------------------------------------------
# Markdown helpers
# ------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|$~&])")
_MATH_SPAN = re.compile(r"(\$\$.+?\$\$|\$[^$]+\$)", re.DOTALL)


def _escape(text: str) -> str:
    """Plain text (an evidence summary) as literal MyST inline text on one line."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))


def _inline(text: str) -> str:
    """Short text that may contain ``$...$`` math (a title, a source): escape outside the math."""
    parts = _MATH_SPAN.split(" ".join(str(text).split()))
    return "".join(p if i % 2 else _escape(p) for i, p in enumerate(parts))


def _cell(text: str) -> str:
    """Like :func:`_inline`, for a table cell: a ``|`` inside math becomes ``\\vert``."""
    parts = _MATH_SPAN.split(" ".join(str(text).split()))
    return "".join(p.replace("|", r"\vert ") if i % 2 else _escape(p) for i, p in enumerate(parts))


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run in ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _ref(claim_id: str) -> str:
    return f"{{ref}}`{claim_id} <{claim_id}>`"


def _is_paper(source: str) -> bool:
    """Whether a claim's source is the paper itself (``"paper v2 Prop 3.1 ..."``)."""
    return re.match(r"paper\b", source.strip(), flags=re.IGNORECASE) is not None


def _value(x: Any) -> str:
    """The string value of an enum member (or of a plain string)."""
    return str(getattr(x, "value", x))


# ------------------------------------------------------------------------------------------------
# Page rendering (pure functions of the registry)
# ------------------------------------------------------------------------------------------------


def _claim_section(claim: Any, corrected_by: Sequence[Any], result: RunResult | None) -> str:
    lines = [f"({claim.id})=", f"## {_inline(claim.title or claim.id)}", ""]
    lines += [f"`{claim.id}`", "", claim.statement.strip(), ""]
    lines.append(f"- **Source:** {_inline(claim.source)}")
    lines.append(f"- **Check:** {_value(claim.kind)}; "
                 f"expected outcome **{_value(claim.expected)}**")
    if claim.corrects:
        lines.append(f"- **Corrects:** {_ref(claim.corrects)}")
    if corrected_by:
        lines.append("- **Corrected by:** " + ", ".join(_ref(c.id) for c in corrected_by))
    if result is not None:
        outcome = result.outcome
        if outcome == "failed":
            outcome = (f"failed (expected {_value(claim.expected)}, "
                       f"the check gave {result.evidence_outcome})")
        lines.append(f"- **This build's run:** {outcome}: {_escape(result.summary.strip())}")
    return "\n".join(lines) + "\n"


def _corrections(claims: Mapping[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for c in claims.values():
        if c.corrects:
            out.setdefault(c.corrects, []).append(c)
    return out


def _topics(claims: Mapping[str, Any], topics: Mapping[str, str]) -> dict[str, str]:
    """Topics in order: the declared ones, then any topic a claim uses that is not declared."""
    out = dict(topics)
    for c in claims.values():
        out.setdefault(c.topic, c.topic.replace("_", " ").capitalize())
    return out


def _counts(results: Sequence[RunResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


def render_topic(
    topic: str,
    title: str,
    claims: Mapping[str, Any],
    results: Mapping[str, RunResult] | None = None,
    intro: str | None = None,
) -> str:
    """The MyST page of one topic: a heading, the topic's introduction and one section a claim.

    Args:
        topic: the topic name (the module of :mod:`grpo_theory.claims` that registers its claims).
        title: the page title.
        claims: every registered claim, by id (the topic's are picked out, in registry order).
        results: this build's run of the checks, by claim id, or ``None`` to show none.
        intro: the topic module's docstring (reST), rendered above the claims.
    """
    mine = [c for c in claims.values() if c.topic == topic]
    corrected_by = _corrections(claims)
    lines = [
        "% Generated by docs/_ext/claims_pages.py from the claims registry: do not edit.",
        "",
        f"# {_inline(title)}",
        "",
    ]
    if intro and intro.strip():
        fence = _fence(intro)
        lines += [f"% The docstring of grpo_theory.claims.{topic} (reST):",
                  fence + "{eval-rst}", intro.strip(), fence, ""]
    n = len(mine)
    lines.append(f"Topic `{topic}`: {n} claim{'s' if n != 1 else ''}, registered in "
                 f"`grpo_theory.claims.{topic}`.")
    if results is not None:
        ran = [results[c.id] for c in mine if c.id in results]
        if ran:
            lines[-1] += f" This build ran every check: {_counts(ran)}."
    else:
        lines[-1] += " Run `grpo-theory claims` for the evidence of each check."
    lines.append("")
    if not mine:
        lines += ["No claim is registered under this topic yet.", ""]
    for c in mine:
        lines.append(_claim_section(c, corrected_by.get(c.id, []),
                                    None if results is None else results.get(c.id)))
    return "\n".join(lines).rstrip() + "\n"


def render_errata(claims: Mapping[str, Any]) -> str:
    """Every statement of the paper that is refuted, each next to the claims that correct it."""
    corrected_by = _corrections(claims)
    errata = [c for c in claims.values()
              if _value(c.expected) == "refuted" and _is_paper(c.source)]
    lines = ["% Generated by docs/_ext/claims_pages.py from the claims registry: do not edit.", ""]
    if not errata:
        lines.append("No statement of the paper is registered as refuted.")
        return "\n".join(lines) + "\n"
    n = len(errata)
    lines += [f"{n} statement{'s' if n != 1 else ''} of the paper "
              f"{'are' if n != 1 else 'is'} refuted by the checks.", ""]
    for c in errata:
        lines += [
            f"## {_inline(c.title or c.id)}",
            "",
            f"**As stated** ({_inline(c.source)}; claim {_ref(c.id)}, expected outcome "
            f"**refuted**):",
            "",
            c.statement.strip(),
            "",
        ]
        fixes = corrected_by.get(c.id, [])
        if not fixes:
            lines += ["No corrected statement is registered for it.", ""]
        for fix in fixes:
            lines += [
                f"**Corrected** (claim {_ref(fix.id)}, {_inline(fix.source)}; expected outcome "
                f"**{_value(fix.expected)}**):",
                "",
                fix.statement.strip(),
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def render_index_fragment(
    claims: Mapping[str, Any],
    topics: Mapping[str, str],
    results: Mapping[str, RunResult] | None = None,
) -> str:
    """The theory index fragment: a toctree of the topic pages and a table of every claim."""
    topics = _topics(claims, topics)
    lines = [
        "% Generated by docs/_ext/claims_pages.py from the claims registry: do not edit.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *[f"generated/{t}" for t in topics],
        "```",
        "",
        "## Every claim",
        "",
    ]
    if not claims:
        return "\n".join(lines + ["No claim is registered."]) + "\n"
    run = results is not None
    lines.append("| claim | title | check | expected |" + (" this build |" if run else ""))
    lines.append("|---|---|---|---|" + ("---|" if run else ""))
    for c in claims.values():
        row = (f"| {_ref(c.id)} | {_cell(c.title)} | {_value(c.kind)} "
               f"| {_value(c.expected)} |")
        if run:
            r = results.get(c.id) if results else None
            row += f" {r.outcome if r else 'not run'} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    """Write only when the content differs, so that Sphinx does not re-read unchanged pages."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_theory_pages(
    outdir: Path | str,
    claims: Mapping[str, Any] | None = None,
    topics: Mapping[str, str] | None = None,
    results: Mapping[str, RunResult] | None = None,
    intros: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the topic pages and the two fragments into ``outdir``; return the paths written.

    Args:
        outdir: the directory (``docs/theory/generated`` in a build).
        claims: claims by id; defaults to :func:`grpo_theory.claims.registry`.
        topics: topic -> title in order; defaults to :data:`grpo_theory.claims.TOPICS`.
        results: this build's run of the checks by claim id (see :func:`run_checks`), or ``None``.
        intros: topic -> reST introduction; defaults to each topic module's docstring.

    Topic pages of topics that no longer exist are removed.
    """
    if claims is None or topics is None or intros is None:
        import importlib

        import grpo_theory.claims as registry_module

        if claims is None:
            claims = registry_module.registry()
        if topics is None:
            topics = registry_module.TOPICS
        if intros is None:
            intros = {}
            for t in _topics(claims, topics):
                try:
                    doc = importlib.import_module(f"grpo_theory.claims.{t}").__doc__
                except ImportError:
                    doc = None
                intros[t] = doc or ""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    all_topics = _topics(claims, topics)
    written = []
    for topic, title in all_topics.items():
        path = out / f"{topic}.md"
        _write_if_changed(path, render_topic(topic, title, claims, results, intros.get(topic)))
        written.append(path)
    for name, text in (("_toctree.md", render_index_fragment(claims, all_topics, results)),
                       ("_errata.md", render_errata(claims))):
        _write_if_changed(out / name, text)
        written.append(out / name)
    for stale in set(out.glob("*.md")) - set(written):
        stale.unlink()
    return written


# ------------------------------------------------------------------------------------------------
# Running the checks
# ------------------------------------------------------------------------------------------------


def _evaluate_id(claim_id: str) -> tuple[str, RunResult]:
    """Evaluate one claim by id (runs in a worker process)."""
    from grpo_theory.claims import evaluate, get_claim

    r = evaluate(get_claim(claim_id))
    return claim_id, RunResult(_value(r.outcome), _value(r.evidence.outcome),
                               r.evidence.summary, r.seconds)


def run_checks(claim_ids: Sequence[str], workers: int = 0) -> dict[str, RunResult]:
    """Run the checks of ``claim_ids`` in ``workers`` processes (0: one per CPU, 1: in-process)."""
    workers = workers or os.cpu_count() or 1
    workers = min(workers, max(len(claim_ids), 1))
    if workers <= 1:
        return dict(_evaluate_id(i) for i in claim_ids)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": a fresh interpreter per worker, safe whatever threads the parent has started.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        done = dict(pool.map(_evaluate_id, claim_ids))
    return {i: done[i] for i in claim_ids}


# ------------------------------------------------------------------------------------------------
# Notebooks
# ------------------------------------------------------------------------------------------------


def sync_notebooks(src: Path, dest: Path) -> list[Path]:
    """Copy ``src/*.md`` into ``dest`` (changed files only) and remove copies of deleted ones."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in sorted(src.glob("*.md")):
        target = dest / nb.name
        if not target.exists() or target.read_bytes() != nb.read_bytes():
            shutil.copyfile(nb, target)
        written.append(target)
    for stale in set(dest.glob("*.md")) - set(written):
        stale.unlink()
    return written


# ------------------------------------------------------------------------------------------------
# Sphinx glue
# ------------------------------------------------------------------------------------------------


def _on_builder_inited(app: Any) -> None:
    from sphinx.util import logging

    import grpo_theory.claims as registry_module

    log = logging.getLogger(__name__)
    srcdir = Path(app.srcdir)
    claims = registry_module.registry()
    results = None
    if app.config.claims_evidence:
        import time

        start = time.perf_counter()
        results = run_checks(list(claims), app.config.claims_evidence_workers)
        log.info("claims_pages: ran %d claim checks in %.1fs", len(results),
                 time.perf_counter() - start)
        for claim_id, r in results.items():
            if r.outcome == "failed":
                log.warning("claim %s failed: expected %s, the check gave %s: %s", claim_id,
                            _value(claims[claim_id].expected), r.evidence_outcome, r.summary,
                            type="claims_pages", subtype="failed")
    write_theory_pages(srcdir / GENERATED, claims, registry_module.TOPICS, results)
    notebooks = (srcdir / app.config.claims_notebooks_dir).resolve()
    if notebooks.is_dir():
        sync_notebooks(notebooks, srcdir / TUTORIALS)


def setup(app: Any) -> dict[str, Any]:
    app.add_config_value("claims_evidence", False, "env", bool)
    app.add_config_value("claims_evidence_workers", 0, "env", int)
    app.add_config_value("claims_notebooks_dir", "../notebooks", "env", str)
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
