"""Sphinx configuration of the grpo-theory documentation.

Build with ``make docs`` (``sphinx-build -W --keep-going -b html docs build/docs``): every warning
is an error. Only Sphinx's own extensions and myst-nb are used; the theme is the built-in alabaster.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The local extension that writes the theory pages from the claims registry.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import grpo_theory  # noqa: E402  (after the path set-up, for the version)

project = "grpo-theory"
author = "grpo-theory contributors"
copyright = "2025, grpo-theory contributors"
release = grpo_theory.__version__
version = release

extensions = [
    "myst_nb",  # MyST markdown pages and executed MyST-NB notebooks (brings myst-parser)
    "sphinx.ext.autodoc",  # API reference from the docstrings
    "sphinx.ext.napoleon",  # Google-style Args/Returns/Example sections
    "sphinx.ext.mathjax",  # math in docstrings (.. math::, :math:) and in MyST ($...$)
    "sphinx.ext.viewcode",  # links from the API reference to the highlighted source
    "claims_pages",  # docs/_ext/claims_pages.py: theory pages, errata, notebook copies
]

# Pages are MyST markdown. Fragments that generated pages include are not pages themselves.
exclude_patterns = ["_build", "theory/generated/_*.md"]
templates_path: list[str] = []

# MyST: $...$ / $$...$$ math and LaTeX environments (claim statements) and definition lists.
# Claim ids are ``(label)=`` targets, referenced with {ref}; headings up to level 3 also get
# anchors from their text.
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# Notebooks (tutorials): executed at every build; an error in a cell fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 120
nb_execution_show_tb = True

# autodoc: members in source order; the modules' __all__ decides what is public.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as :ivar: fields, not duplicate attribute entries

# Theory pages show each claim's expected outcome; `grpo-theory claims` (and `make test`) run the
# checks. ``sphinx-build -D claims_evidence=1`` also runs every check during the build (in
# parallel, one process per CPU) and shows its outcome and evidence; that takes as long as the
# whole registry, so it is off by default.
claims_evidence = False
claims_evidence_workers = 0

html_theme = "alabaster"
html_title = f"grpo-theory {release}"
html_theme_options = {
    "description": "Theory and verification toolkit for group-based policy gradients",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_static_path: list[str] = []
