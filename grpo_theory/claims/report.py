"""Reports of evaluated claims: a text table, JSON, and a markdown section."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Sequence

from grpo_theory.claims._core import ClaimResult, Outcome

__all__ = ["summary_counts", "format_table", "format_json", "format_markdown"]


def summary_counts(results: Sequence[ClaimResult]) -> dict[str, int]:
    """Number of claims per outcome, every outcome listed (zeros included)."""
    counts = Counter(r.outcome.value for r in results)
    order = [Outcome.PROVED, Outcome.VERIFIED, Outcome.REFUTED, Outcome.FAILED]
    return {o.value: counts.get(o.value, 0) for o in order}


def _summary_line(results: Sequence[ClaimResult]) -> str:
    counts = summary_counts(results)
    parts = ", ".join(f"{n} {name}" for name, n in counts.items())
    return f"{len(results)} claims: {parts}"


def format_table(results: Sequence[ClaimResult], width: int = 110) -> str:
    """Plain-text table: id, outcome, source, evidence."""
    id_w = max([len(r.claim.id) for r in results] + [2])
    out_w = 8
    src_w = 30
    ev_w = max(width - id_w - out_w - src_w - 6, 30)
    lines = [
        f"{'id':<{id_w}}  {'outcome':<{out_w}}  {'source':<{src_w}}  evidence",
        f"{'-' * id_w}  {'-' * out_w}  {'-' * src_w}  {'-' * ev_w}",
    ]
    for r in results:
        outcome = r.outcome.value.upper() if r.outcome is Outcome.FAILED else r.outcome.value
        source = textwrap.shorten(r.claim.source, src_w, placeholder="...")
        evidence = r.evidence.summary
        if r.outcome is Outcome.FAILED:
            evidence = f"expected {r.claim.expected.value}, check gave " \
                       f"{r.evidence.outcome.value}: {evidence}"
        ev_lines = textwrap.wrap(evidence, ev_w) or [""]
        lines.append(f"{r.claim.id:<{id_w}}  {outcome:<{out_w}}  {source:<{src_w}}  {ev_lines[0]}")
        pad = " " * (id_w + out_w + src_w + 6)
        lines.extend(pad + extra for extra in ev_lines[1:3])
    lines.append("")
    lines.append(_summary_line(results))
    return "\n".join(lines)


def format_json(results: Sequence[ClaimResult]) -> str:
    """``{"claims": [{"id", "outcome", "kind", "source", "statement", "evidence", ...}], ...}``."""
    payload = {
        "claims": [r.as_dict() for r in results],
        "summary": summary_counts(results),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _md_cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def format_markdown(results: Sequence[ClaimResult], heading_level: int = 2) -> str:
    """A markdown report section: a summary line and one table row per claim."""
    h = "#" * heading_level
    lines = [
        f"{h} Claims report",
        "",
        _summary_line(results) + ".",
        "",
        "| id | outcome | kind | source | evidence |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        outcome = f"**{r.outcome.value}**" if r.outcome is Outcome.FAILED else r.outcome.value
        lines.append(
            f"| `{r.claim.id}` | {outcome} | {r.claim.kind.value} | {_md_cell(r.claim.source)} "
            f"| {_md_cell(r.evidence.summary)} |"
        )
    return "\n".join(lines) + "\n"
