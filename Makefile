# grpo-theory: every target creates the virtual environment on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: reproduce test test-slow lint docs claims env clean

$(STAMP): pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "grpo-theory needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e ".[test,docs]"
	@touch $(STAMP)

env: $(STAMP)

# The main job: every claim, the exact tables, the default bandit and transformer studies and
# every figure; writes build/report.md and build/report.html. Interrupted, it resumes.
reproduce: $(STAMP)
	$(VENV)/bin/grpo-theory reproduce --out build

# Every claim, printed as a table.
claims: $(STAMP)
	$(VENV)/bin/grpo-theory claims

# Fast tiers (exact, property, statistical); slow tests are skipped.
# pytest's exit status 5 (no test collected) is a failure too.
test: $(STAMP)
	@$(PY) -m pytest -m "not slow" -n 2 $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

# Everything, slow statistical tests included.
test-slow: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# ruff: errors, style, imports, modern syntax, bugbear.
lint: $(STAMP)
	$(VENV)/bin/ruff check grpo_theory tests docs

# Sphinx + MyST site, warnings are errors.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs build/docs

clean:
	rm -rf build docs/_build docs/theory/generated docs/tutorials/generated .pytest_cache .hypothesis
