"""Symbolic derivations: contrastive."""
