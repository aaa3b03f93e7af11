"""Test configuration: tiers, the slow marker, hypothesis profiles, float64 for theory tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# float64 everywhere: theory tests compare JAX with numpy and sympy.
os.environ.setdefault("JAX_ENABLE_X64", "1")

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test with no explicit tier marker belongs to the exact tier.
    tiers = {"exact", "property", "statistical"}
    for item in items:
        if not tiers & {m.name for m in item.iter_markers()}:
            item.add_marker(pytest.mark.exact)
