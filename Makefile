# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch is pinned here (a CPU build is served by the local registry); the package itself accepts torch>=2.2.
TORCH  ?= torch==2.13.0
# test processes (pytest-xdist workers): the suite is sized for CI's two cores, each worker on one
TEST_WORKERS ?= 2

.PHONY: demo test install install-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/rnagen demo --out demo_out

# Lint (ruff: pyflakes, pycodestyle, import order, docstrings on public names) and type-check (mypy on src/rnagen,
# configured in pyproject.toml) before the tests, so a finding fails `make test` like a failing test.
test: $(VENV)/.installed-test
	$(PY) -m ruff check src tests
	$(PY) -m mypy
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

clean:
	rm -rf $(VENV) demo_out .pytest_cache
