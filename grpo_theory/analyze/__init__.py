"""Analyse a practitioner's logged GRPO run with the exact engine: readers for table, verl and
TRL logs, the difficulty fit, counterfactual group sizes and the report of ``grpo-theory
analyze``."""
