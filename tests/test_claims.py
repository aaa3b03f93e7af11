"""Every claim of the registry is a test: its check must return the expected outcome.

The registry's structure is checked too: enough claims, every topic represented, unique ids,
and every refuted statement of the paper paired with the claim that corrects it.
"""

from __future__ import annotations

import pytest

from grpo_theory.claims import TOPICS, Kind, Outcome, evaluate, registry

CLAIMS = registry()


@pytest.mark.parametrize("claim_id", list(CLAIMS))
def test_claim(claim_id):
    claim = CLAIMS[claim_id]
    result = evaluate(claim)
    assert result.outcome is not Outcome.FAILED, (
        f"{claim_id}: expected {claim.expected.value}, check gave "
        f"{result.evidence.outcome.value}: {result.evidence.summary}\n"
        f"{result.evidence.details.get('traceback', '')}"
    )
    assert result.outcome is claim.expected
    assert result.evidence.summary


def test_registry_size_and_topics():
    assert len(CLAIMS) >= 40
    assert {c.topic for c in CLAIMS.values()} == set(TOPICS)


def test_claim_fields_are_well_formed():
    for cid, claim in CLAIMS.items():
        assert cid == claim.id
        prefix, _, name = cid.partition(".")
        assert prefix and name, f"{cid}: ids are 'topic-prefix.name'"
        assert claim.statement.strip() and claim.source.strip() and claim.title.strip(), cid
        assert claim.statement.count("$") % 2 == 0, f"{cid}: unbalanced $ in statement"
        if claim.expected is Outcome.PROVED:
            assert claim.kind is Kind.SYMBOLIC, f"{cid}: 'proved' needs a symbolic check"
        if claim.kind is Kind.STATISTICAL:
            assert claim.expected is not Outcome.PROVED, cid


def test_refuted_paper_statements_have_corrected_twins():
    corrected = {c.corrects: c for c in CLAIMS.values() if c.corrects}
    for cid in corrected:
        assert cid in CLAIMS, f"{corrected[cid].id} corrects unknown claim {cid}"
        assert CLAIMS[cid].expected is Outcome.REFUTED, f"{cid} is corrected but not refuted"
    for cid, claim in CLAIMS.items():
        if claim.expected is Outcome.REFUTED and claim.source.lower().startswith("paper"):
            assert cid in corrected, f"refuted paper statement {cid} has no corrected twin"
            assert corrected[cid].expected in (Outcome.PROVED, Outcome.VERIFIED)
