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


def test_weights_json(capsys):
    assert main(["weights", "--group-size", "2", "3", "--p", "0.2", "0.7", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["weights"]
    assert len(rows) == 4
    assert set(rows[0]) == {"group_size", "p", "normalization", "eps", "weight"}
    for r in rows:
        expected = 1.0 if r["group_size"] == 2 else 2**0.5
        assert r["weight"] == pytest.approx(expected, rel=1e-12)
    assert main(["weights", "--group-size", "8", "--p", "0.3", "--normalization", "mean",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"][0]["weight"] == pytest.approx(7 / 8)


def test_weights_bad_p_is_a_clear_error(capsys):
    assert main(["weights", "--group-size", "4", "--p", "1.5"]) == 2
    assert "p must lie in [0, 1]" in capsys.readouterr().err


def test_moments_json(capsys):
    argv = ["moments", "--logits", "0.5", "0", "-1", "--rewards", "1", "0", "1",
            "--group-size", "4", "--estimator", "grpo", "--json"]
    assert main(argv) == 0
    exact = json.loads(capsys.readouterr().out)
    assert set(exact) == {"p", "mean", "cov", "cov_trace", "snr", "silent_probability", "method"}
    assert exact["method"] == "exact"
    assert main([*argv, "--method", "enumerate"]) == 0
    oracle = json.loads(capsys.readouterr().out)
    assert oracle["method"] == "enumerate"
    for key in ("p", "cov_trace", "snr", "silent_probability"):
        assert oracle[key] == pytest.approx(exact[key], rel=1e-12)


def test_moments_mismatched_lengths(capsys):
    assert main(["moments", "--logits", "0", "1", "--rewards", "1", "0", "1", "--group-size",
                 "2", "--estimator", "rloo"]) == 2
    assert "rewards" in capsys.readouterr().err


def test_advise_json(capsys):
    assert main(["advise", "--beta", "2", "8", "--budget", "64", "--group-sizes", "2", "4", "8",
                 "--estimator", "grpo", "rloo", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["recommendation"]) == set(payload["lemma53"]) == {"grpo", "rloo"}
    assert len(payload["table"]) == 6
    assert main(["advise", "--rates", "0.5", "--budget", "64", "--group-sizes", "2", "32"]) == 0
    out = capsys.readouterr().out
    assert "largest SNR per rollout with G = 32" in out


MOMENTS = ["moments", "--logits", "0.5", "0", "-1", "--rewards", "1", "0", "1", "--group-size",
           "4", "--estimator", "grpo"]


def test_moments_mc_json_agrees_with_exact(capsys):
    """Monte Carlo moments from the command line, against the exact method.

    100,000 groups, seed 0 (a fixed draw): every mean coordinate, the covariance trace and the
    silent probability lie within 5 standard errors of the exact values.
    """
    assert main([*MOMENTS, "--json"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert main([*MOMENTS, "--method", "mc", "--samples", "100000", "--seed", "0",
                 "--json"]) == 0
    mc = json.loads(capsys.readouterr().out)
    assert set(exact) | {"stderr", "samples", "seed", "dtype", "devices"} == set(mc)
    assert set(mc["stderr"]) == {"mean", "cov_trace", "silent_probability"}
    assert (mc["method"], mc["samples"], mc["seed"], mc["dtype"]) == ("mc", 100000, 0, "float64")
    assert mc["devices"] >= 1
    assert mc["p"] == pytest.approx(exact["p"], rel=1e-12)
    se = mc["stderr"]
    assert len(mc["mean"]) == len(se["mean"]) == 3 and len(mc["cov"]) == 3
    for got, want, err in zip(mc["mean"], exact["mean"], se["mean"], strict=True):
        assert 0 < err < 0.01 and abs(got - want) < 5 * err
    assert 0 < se["cov_trace"] < 0.01
    assert abs(mc["cov_trace"] - exact["cov_trace"]) < 5 * se["cov_trace"]
    assert 0 < se["silent_probability"] < 0.01
    assert abs(mc["silent_probability"] - exact["silent_probability"]) < (
        5 * se["silent_probability"])
    assert mc["snr"] == pytest.approx(exact["snr"], rel=0.05)


def test_moments_mc_table_and_float32(capsys):
    assert main([*MOMENTS, "--method", "mc", "--samples", "20000", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "method mc: 20,000 groups, seed 0, float32" in out
    assert out.count("±") == 3 + 2 and "P(silent group)" in out and "(exact)" in out


@pytest.mark.parametrize("extra, message", [
    (["--samples", "1000"], "--samples applies only to --method mc"),
    (["--seed", "1"], "--seed applies only to --method mc"),
    (["--dtype", "float32"], "--dtype applies only to --method mc"),
    (["--method", "mc", "--samples", "1"], "--samples must be an integer >= 2"),
    (["--method", "mc", "--seed", "-1"], "--seed must be an integer >= 0"),
])
def test_moments_mc_option_errors(capsys, extra, message):
    assert main([*MOMENTS, *extra]) == 2
    assert message in capsys.readouterr().err


def test_moments_mc_bad_sizes(capsys):
    assert main(["moments", "--logits", "0", "--rewards", "1", "--group-size", "2",
                 "--estimator", "grpo", "--method", "mc"]) == 2
    assert "--logits must give K >= 2 arms" in capsys.readouterr().err
    argv = [*MOMENTS, "--method", "mc"]
    argv[argv.index("--group-size") + 1] = "1"
    assert main(argv) == 2
    assert "--group-size must be an integer >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([*MOMENTS, "--method", "mc", "--dtype", "float16"])
    assert exc.value.code == 2
    assert "--dtype" in capsys.readouterr().err


def test_bench_mc_json(capsys):
    assert main(["bench", "mc", "--arms", "4", "--group-size", "2", "--samples", "4096",
                 "--baseline-samples", "2048", "--repeats", "1", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["arms"], out["group_size"], out["samples"], out["baseline_samples"]) == (
        4, 2, 4096, 2048)
    assert (out["dtype"], out["baseline_dtype"], out["seed"], out["repeats"]) == (
        "float32", "float32", 3, 1)
    assert (out["estimator"], out["chunk_size"]) == ("grpo", None)
    for key in ("rollouts_per_second", "numpy_rollouts_per_second", "ratio_vs_numpy",
                "first_call_seconds", "seconds"):
        assert out[key] > 0
    assert out["agree"] and {"device", "platform", "devices", "jax_version", "cpu"} <= set(out)


def test_bench_bandit_json(capsys):
    assert main(["bench", "bandit", "--seeds", "4", "--n-prompts", "8", "--n-arms", "4",
                 "--steps", "8", "--prompts-per-step", "4", "--repeats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == 4 and out["steps"] == 8 and out["rollouts"] == 8 * 4 * 2
    assert out["seconds_with_compile"] >= out["seconds_compiled"] > 0
    assert out["rollouts_per_second"] == pytest.approx(4 * 64 / out["seconds_compiled"])
    assert {"device", "platform", "cpu", "jax_version"} <= set(out)


def test_bench_exact_still_works(capsys):
    assert main(["bench", "exact", "--g-max", "16", "--n-p", "11", "--repeats", "1",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["g_max"], out["n_p"], len(out["runs"])) == (16, 11, 1)


@pytest.mark.parametrize("argv, message", [
    (["bench", "exact", "--arms", "4"], "--arms does not apply to 'bench exact'"),
    (["bench", "exact", "--samples", "100"], "--samples does not apply to 'bench exact'"),
    (["bench", "mc", "--g-max", "64"], "--g-max does not apply to 'bench mc'"),
    (["bench", "mc", "--arms", "1"], "--arms must be an integer >= 2"),
    (["bench", "mc", "--group-size", "1"], "--group-size must be an integer >= 2"),
    (["bench", "mc", "--samples", "1"], "--samples must be an integer >= 2"),
    (["bench", "mc", "--repeats", "0"], "--repeats must be an integer >= 1"),
    (["bench", "exact", "--repeats", "0"], "--repeats must be an integer >= 1"),
    (["bench", "bandit", "--arms", "4"], "--arms does not apply to 'bench bandit'"),
    (["bench", "mc", "--steps", "4"], "--steps does not apply to 'bench mc'"),
    (["bench", "bandit", "--seeds", "0"], "seeds must be an integer >= 1"),
    (["bench", "bandit", "--steps", "7"], "steps must be a multiple of"),
    (["bench", "transformer", "--arms", "4"], "--arms does not apply to 'bench transformer'"),
    (["bench", "mc", "--d-model", "16"], "--d-model does not apply to 'bench mc'"),
    (["bench", "transformer", "--prompts", "0"], "prompts must be an integer >= 1"),
])
def test_bench_option_errors(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bench_mc_bad_dtype_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "mc", "--dtype", "bfloat16"])
    assert exc.value.code == 2
    assert "--dtype" in capsys.readouterr().err
