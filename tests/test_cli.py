"""The ``grpo-theory`` command: claims report formats, selection, exit status, derivations."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grpo_theory.claims import _core
from grpo_theory.claims._core import Evidence, Outcome
from grpo_theory.cli import main

FAST = "adv.rloo-centred-ratio"  # a claim that checks in well under a second


def test_claims_json_schema(capsys):
    assert main(["claims", "--json", "--only", FAST, "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in payload["claims"]] == [FAST]
    claim = payload["claims"][0]
    assert {"id", "outcome", "kind", "source", "statement", "evidence"} <= set(claim)
    assert claim["outcome"] == "proved"
    assert payload["summary"]["proved"] == 1


def test_claims_table_and_progress(capsys):
    assert main(["claims", "--only", FAST]) == 0
    captured = capsys.readouterr()
    assert FAST in captured.out and "1 claims: 1 proved" in captured.out
    assert "[  1/1] proved" in captured.err


def test_claims_markdown_written_atomically(tmp_path, capsys):
    out = tmp_path / "reports" / "claims.md"
    assert main(["claims", "--format", "markdown", "--only", FAST, "--out", str(out),
                 "--quiet"]) == 0
    text = out.read_text()
    assert text.startswith("## Claims report")
    assert f"| `{FAST}` | proved |" in text
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_unknown_prefix_is_a_usage_error(capsys):
    assert main(["claims", "--only", "no-such."]) == 2
    assert "no claim id starts with" in capsys.readouterr().err


def test_exit_status_is_nonzero_when_a_claim_fails(capsys):
    _core.register("zz-test.wrong", statement="$1 = 2$", source="derived", kind="exact",
                   expected="verified", title="wrong")(
        lambda: Evidence(Outcome.REFUTED, "1 != 2"))
    try:
        assert main(["claims", "--only", "zz-test.", "--quiet"]) == 1
        assert "FAILED" in capsys.readouterr().out
    finally:
        _core._REGISTRY.pop("zz-test.wrong")


def test_derive_list_and_render(capsys):
    assert main(["derive", "--list"]) == 0
    names = capsys.readouterr().out
    assert "advantages" in names
    assert main(["derive", "advantages"]) == 0
    assert "Backs the claims" in capsys.readouterr().out
    assert main(["derive", "advantages", "--latex"]) == 0
    assert "$$" in capsys.readouterr().out


def test_derive_unknown_name(capsys):
    assert main(["derive", "no-such-derivation"]) == 2
    assert "unknown derivation" in capsys.readouterr().err


def test_console_script_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "grpo_theory", "claims", "--json", "--only",
                           FAST, "--quiet"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["claims"][0]["id"] == FAST


@pytest.mark.parametrize("argv", [[], ["claims", "--format", "pdf"]])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
