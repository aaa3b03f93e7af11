"""Shared fixtures of the transformer tests: a small model and a small task (built once)."""

from __future__ import annotations

import dataclasses

import jax
import pytest

from grpo_theory.transformer.model import ModelConfig, init_model
from grpo_theory.transformer.tasks import VOCAB_SIZE, make_task

SMALL_TEST_CONFIG = ModelConfig(vocab_size=VOCAB_SIZE, max_len=12, d_model=16, n_heads=2,
                                n_layers=2)
"""A 2-layer, width-16 model: compiles in about a second, enough to test every code path."""


@pytest.fixture(scope="session")
def small_config() -> ModelConfig:
    """:data:`SMALL_TEST_CONFIG` (float32)."""
    return SMALL_TEST_CONFIG


@pytest.fixture(scope="session")
def small_model(small_config):
    """A float32 model of :data:`SMALL_TEST_CONFIG` from a fixed key."""
    return init_model(jax.random.key(0), small_config)


@pytest.fixture(scope="session")
def small_model64(small_config):
    """The same architecture in float64 (the test suite runs with ``jax_enable_x64``)."""
    return init_model(jax.random.key(0), dataclasses.replace(small_config, dtype="float64"))


@pytest.fixture(scope="session")
def add_task():
    """Addition modulo 10: 100 prompts ``^a+b=`` of length 5, completions of length 2."""
    return make_task("add", 0, modulus=10)


@pytest.fixture(scope="session")
def reverse_task():
    """Reversal of 3 digits: 200 prompts of length 6, completions of length 4."""
    return make_task("reverse", 0, n_digits=3, n_prompts=200)
