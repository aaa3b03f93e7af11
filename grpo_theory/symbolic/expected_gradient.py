"""Symbolic derivations: expected_gradient."""
