"""Exact layer (numpy/scipy): closed-form and enumerated moments of group estimators.

Modules: :mod:`.estimators` (the count-based advantage coefficients of every estimator),
:mod:`.binary` (closed forms for binary rewards, any group size), :mod:`.bandit` (softmax
bandits, one or many prompts), :mod:`.enumeration` (the multiset enumeration oracle),
:mod:`.budget` (fixed-budget comparisons across group sizes), :mod:`.related` (results of
related papers), :mod:`.bench` (timing of the exact engine).
"""
