"""Symbolic derivations: variance."""
