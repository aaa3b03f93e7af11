"""Symbolic derivations: control_variates."""
