"""Symbolic derivations: two_grpo."""
