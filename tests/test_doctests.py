"""Every example in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import grpo_theory

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(grpo_theory.__path__, prefix="grpo_theory.")
    if not m.name.endswith("__main__")
)


def test_every_module_is_collected():
    assert len(MODULES) >= 40
    assert "grpo_theory.exact.binary" in MODULES and "grpo_theory._io" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                             verbose=False, report=True)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
