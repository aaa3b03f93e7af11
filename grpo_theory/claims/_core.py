r"""The claims registry: one statement, its source, its check, its outcome.

A :class:`Claim` pairs a statement (LaTeX) with a check. The check returns :class:`Evidence`: the
outcome it established (``proved``, ``verified``, ``refuted`` or ``inconclusive``) together with
what shows it (the simplified residual, the largest error, the counterexample). Evaluating a claim
compares that outcome with the outcome the registry expects; a mismatch, or an exception inside the
check, makes the claim ``failed``.

Check helpers turn sympy and numpy results into evidence:

* :func:`prove_identity`: ``simplify(lhs - rhs) == 0`` proves it; otherwise a numeric search over
  the free symbols looks for a counterexample (``refuted``), else ``inconclusive``.
* :func:`prove_cases`: the same over a finite family of cases (every group size in a range, ...).
* :func:`verify_close`: a numeric comparison with a stated tolerance.
"""

from __future__ import annotations

import enum
import inspect
import math
import random
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

__all__ = [
    "Outcome",
    "Kind",
    "Evidence",
    "Claim",
    "ClaimResult",
    "register",
    "registry",
    "get_claim",
    "select",
    "evaluate",
    "run_claims",
    "prove_identity",
    "prove_cases",
    "verify_close",
    "refuted",
    "find_counterexample",
]


class Outcome(enum.StrEnum):
    """Outcome of a claim's check."""

    PROVED = "proved"
    """Symbolic: holds for all values of the free symbols (or every case of a stated range)."""
    VERIFIED = "verified"
    """Numeric or statistical: holds to the stated tolerance or error probability."""
    REFUTED = "refuted"
    """The statement is false; the evidence carries a counterexample."""
    INCONCLUSIVE = "inconclusive"
    """The check could neither establish nor refute the statement."""
    FAILED = "failed"
    """The check's outcome differs from the expected one, or the check raised."""


class Kind(enum.StrEnum):
    """How a claim is checked."""

    SYMBOLIC = "symbolic"
    EXACT = "exact"
    STATISTICAL = "statistical"


@dataclass(frozen=True)
class Evidence:
    """What a check established, and why.

    Attributes:
        outcome: the outcome the check established (never ``failed``).
        summary: one line for a report ("residual 0", "max error 3e-16", "counterexample ...").
        details: JSON-serialisable data (residuals as strings, errors, counterexamples).
    """

    outcome: Outcome
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    r"""One checkable statement.

    Attributes:
        id: stable identifier, ``topic.name`` (for example ``grpo.contrastive-form``).
        statement: the statement in LaTeX (rendered by the docs).
        source: where it comes from: paper, version, section or equation; a related paper;
            or ``"derived"``.
        kind: symbolic proof, exact numeric check or statistical check.
        expected: the outcome the check must return for the claim to pass.
        check: zero-argument callable returning :class:`Evidence`.
        topic: the theory topic (docs page) the claim belongs to.
        corrects: for a corrected statement, the id of the refuted claim it replaces.
        title: a short human title.
    """

    id: str
    statement: str
    source: str
    kind: Kind
    expected: Outcome
    check: Callable[[], Evidence]
    topic: str
    title: str = ""
    corrects: str | None = None


@dataclass(frozen=True)
class ClaimResult:
    """A claim after evaluation.

    ``outcome`` is the evidence's outcome when it matches ``claim.expected``, else ``failed``.
    """

    claim: Claim
    outcome: Outcome
    evidence: Evidence
    seconds: float

    @property
    def passed(self) -> bool:
        return self.outcome is not Outcome.FAILED

    def as_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "id": c.id,
            "title": c.title,
            "outcome": self.outcome.value,
            "expected": c.expected.value,
            "kind": c.kind.value,
            "topic": c.topic,
            "source": c.source,
            "statement": c.statement,
            "corrects": c.corrects,
            "evidence": {
                "outcome": self.evidence.outcome.value,
                "summary": self.evidence.summary,
                **_jsonable(dict(self.evidence.details)),
            },
            "seconds": round(self.seconds, 4),
        }


_REGISTRY: dict[str, Claim] = {}


def register(
    id: str,
    *,
    statement: str,
    source: str,
    kind: Kind | str,
    expected: Outcome | str,
    title: str = "",
    topic: str | None = None,
    corrects: str | None = None,
) -> Callable[[Callable[[], Evidence]], Callable[[], Evidence]]:
    """Decorator adding a check function to the registry as a claim.

    The topic defaults to the name of the module that defines the check.
    """
    kind = Kind(kind)
    expected = Outcome(expected)
    if expected in (Outcome.FAILED, Outcome.INCONCLUSIVE):
        raise ValueError(f"expected must be proved, verified or refuted, got {expected.value!r}")
    if not statement.strip():
        raise ValueError(f"claim {id!r}: statement must not be empty")

    def decorator(fn: Callable[[], Evidence]) -> Callable[[], Evidence]:
        if id in _REGISTRY:
            raise ValueError(f"duplicate claim id {id!r}")
        _REGISTRY[id] = Claim(
            id=id,
            statement=inspect.cleandoc(statement),
            source=source,
            kind=kind,
            expected=expected,
            check=fn,
            topic=topic or fn.__module__.rsplit(".", 1)[-1],
            title=title,
            corrects=corrects,
        )
        return fn

    return decorator


def registry() -> dict[str, Claim]:
    """All registered claims, by id, in registration order."""
    from grpo_theory import claims as _claims  # noqa: F401  (imports every topic module)

    return dict(_REGISTRY)


def get_claim(claim_id: str) -> Claim:
    """The claim with this id; ``KeyError`` naming the known ids otherwise."""
    reg = registry()
    if claim_id not in reg:
        raise KeyError(f"unknown claim id {claim_id!r}; known ids: {', '.join(sorted(reg))}")
    return reg[claim_id]


def select(prefixes: Iterable[str] | None = None) -> list[Claim]:
    """Claims whose id starts with any of ``prefixes`` (all claims when ``None`` or empty)."""
    claims = list(registry().values())
    prefixes = list(prefixes or [])
    if not prefixes:
        return claims
    chosen = [c for c in claims if any(c.id.startswith(p) for p in prefixes)]
    if not chosen:
        raise ValueError(f"no claim id starts with any of {prefixes!r}")
    return chosen


def evaluate(claim: Claim) -> ClaimResult:
    """Run a claim's check and compare its outcome with the expected one."""
    start = time.perf_counter()
    try:
        evidence = claim.check()
        if not isinstance(evidence, Evidence):
            raise TypeError(f"check returned {type(evidence).__name__}, not Evidence")
    except Exception as exc:  # a crashing check is a failed claim, with its traceback
        evidence = Evidence(
            Outcome.FAILED,
            f"check raised {type(exc).__name__}: {exc}",
            {"traceback": traceback.format_exc(limit=8)},
        )
    seconds = time.perf_counter() - start
    outcome = evidence.outcome if evidence.outcome == claim.expected else Outcome.FAILED
    return ClaimResult(claim, outcome, evidence, seconds)


def run_claims(
    prefixes: Iterable[str] | None = None,
    progress: Callable[[int, int, ClaimResult], None] | None = None,
) -> list[ClaimResult]:
    """Evaluate the selected claims in registry order, calling ``progress(i, n, result)``."""
    claims = select(prefixes)
    results = []
    for i, claim in enumerate(claims, 1):
        result = evaluate(claim)
        results.append(result)
        if progress is not None:
            progress(i, len(claims), result)
    return results


# ----------------------------------------------------------------------------------------------
# Check helpers
# ----------------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else str(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return str(obj)


def _sample_value(sym: sp.Symbol, rng: random.Random) -> sp.Rational:
    """A random rational value compatible with the symbol's assumptions."""
    if sym.is_integer:
        lo = 1 if sym.is_positive else (0 if sym.is_nonnegative else -5)
        return sp.Integer(rng.randint(lo, lo + 6))
    if sym.is_positive:
        return sp.Rational(rng.randint(1, 40), 10)
    if sym.is_nonnegative:
        return sp.Rational(rng.randint(0, 40), 10)
    return sp.Rational(rng.randint(-30, 30), 10)


def find_counterexample(
    expr: sp.Expr,
    *,
    samples: int = 40,
    seed: int = 0,
    tol: float = 1e-9,
    constraint: Callable[[dict[sp.Symbol, Any]], bool] | None = None,
    values: Mapping[sp.Symbol, Iterable[Any]] | None = None,
) -> dict[str, Any] | None:
    """Search random points (respecting symbol assumptions) where ``expr`` is not zero.

    ``values`` fixes the candidate values of chosen symbols; ``constraint`` rejects points outside
    the statement's domain. Returns ``{"point": ..., "value": ...}`` or ``None``.
    """
    rng = random.Random(seed)
    syms = sorted(expr.free_symbols, key=lambda s: s.name)
    values = {k: list(v) for k, v in (values or {}).items()}
    for _ in range(samples * 5):
        point = {
            s: (rng.choice(values[s]) if s in values else _sample_value(s, rng)) for s in syms
        }
        if constraint is not None and not constraint(point):
            continue
        try:
            evaluated = sp.N(expr.subs(point), 30)
            if isinstance(evaluated, sp.MatrixBase):  # the entry of largest magnitude
                entries = [complex(e) for e in evaluated]
                val = max(entries, key=abs) if entries else 0j
            else:
                val = complex(evaluated)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if not (math.isfinite(val.real) and math.isfinite(val.imag)):
            continue
        if abs(val) > tol:
            return {"point": {str(k): str(v) for k, v in point.items()},
                    "value": str(sp.N(val, 12))}
        samples -= 1
        if samples <= 0:
            break
    return None


def prove_identity(
    lhs: sp.Expr,
    rhs: sp.Expr,
    *,
    what: str = "",
    simplifier: Callable[[sp.Expr], sp.Expr] = sp.simplify,
    constraint: Callable[[dict[sp.Symbol, Any]], bool] | None = None,
    values: Mapping[sp.Symbol, Iterable[Any]] | None = None,
) -> Evidence:
    """Prove ``lhs == rhs`` for all values of the free symbols by ``simplify(lhs - rhs) == 0``.

    Matrices are compared entry by entry (the simplifier is applied to each entry).

    If the residual does not simplify to zero, a numeric search for a counterexample decides
    between ``refuted`` (with the point) and ``inconclusive`` (with the residual).
    """
    residual = sp.sympify(lhs) - sp.sympify(rhs)
    if isinstance(residual, sp.MatrixBase):  # entry-wise, and a zero matrix is 0
        residual = residual.applyfunc(simplifier)
        if residual.is_zero_matrix:
            residual = sp.Integer(0)
    else:
        residual = simplifier(residual)
    prefix = f"{what}: " if what else ""
    if residual == 0:
        return Evidence(Outcome.PROVED, f"{prefix}simplify(lhs - rhs) = 0", {"residual": "0"})
    ce = find_counterexample(residual, constraint=constraint, values=values)
    if ce is not None:
        return Evidence(
            Outcome.REFUTED,
            f"{prefix}counterexample at {ce['point']}: lhs - rhs = {ce['value']}",
            {"residual": str(residual), "counterexample": ce},
        )
    return Evidence(
        Outcome.INCONCLUSIVE,
        f"{prefix}residual {residual} did not simplify to 0 and no counterexample was found",
        {"residual": str(residual)},
    )


def prove_cases(
    cases: Iterable[tuple[str, sp.Expr, sp.Expr]],
    *,
    scope: str,
    simplifier: Callable[[sp.Expr], sp.Expr] = sp.simplify,
) -> Evidence:
    """Prove ``lhs == rhs`` in every case of a finite family (``scope`` describes the family).

    Each case is ``(label, lhs, rhs)``. The first case whose residual is not zero is reported:
    ``refuted`` with its label if a counterexample is found, ``inconclusive`` otherwise.
    """
    n = 0
    for label, lhs, rhs in cases:
        ev = prove_identity(lhs, rhs, what=label, simplifier=simplifier)
        if ev.outcome is not Outcome.PROVED:
            return Evidence(ev.outcome, ev.summary, {**ev.details, "case": label, "scope": scope})
        n += 1
    if n == 0:
        raise ValueError("prove_cases needs at least one case")
    return Evidence(
        Outcome.PROVED,
        f"simplify(lhs - rhs) = 0 in all {n} cases ({scope})",
        {"cases": n, "scope": scope, "residual": "0"},
    )


def verify_close(
    computed: Any,
    expected: Any,
    *,
    atol: float,
    rtol: float = 0.0,
    what: str = "",
) -> Evidence:
    """``verified`` if ``|computed - expected| <= atol + rtol |expected|`` element-wise."""
    c = np.asarray(computed, dtype=float)
    e = np.asarray(expected, dtype=float)
    err = np.abs(c - e)
    bound = atol + rtol * np.abs(e)
    max_err = float(err.max()) if err.size else 0.0
    prefix = f"{what}: " if what else ""
    details = {"max_error": max_err, "atol": atol, "rtol": rtol,
               "computed": c.tolist(), "expected": e.tolist()}
    if np.all(err <= bound):
        return Evidence(Outcome.VERIFIED, f"{prefix}max error {max_err:.3g} <= {atol:g}", details)
    worst = int(np.argmax(err - bound)) if err.ndim else 0
    return Evidence(
        Outcome.REFUTED,
        f"{prefix}max error {max_err:.3g} exceeds tolerance {atol:g} (entry {worst}: "
        f"{c.ravel()[worst]:.6g} vs {e.ravel()[worst]:.6g})",
        {**details, "counterexample": {"index": worst}},
    )


def refuted(summary: str, counterexample: Any, **details: Any) -> Evidence:
    """Evidence that a statement is false, with its counterexample."""
    return Evidence(Outcome.REFUTED, summary, {"counterexample": counterexample, **details})
