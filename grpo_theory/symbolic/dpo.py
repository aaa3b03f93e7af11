"""Symbolic derivations: dpo."""
