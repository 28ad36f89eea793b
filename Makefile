# ClaimVault: `make run` serves the demo on https://localhost:8443, `make test` runs the whole suite.
# Needs only Python 3.11+ and make; the virtualenv is bootstrapped from the hash-pinned lock files.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.DEFAULT_GOAL := help
.PHONY: help run test lint test-only lock clean

help:
	@echo "make run    - set up .venv (runtime deps), init ./var, seed a demo practice, serve https://localhost:8443"
	@echo "make test   - set up .venv (dev deps), lint, type-check, run the suite (SQLite; + PostgreSQL if"
	@echo "              CLAIMVAULT_TEST_DATABASE_URL is set)"
	@echo "make lock   - re-resolve requirements/*.lock from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("ClaimVault needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements/runtime.lock pyproject.toml | $(BIN)/python
	$(PIP) install --require-hashes --no-deps -r requirements/runtime.lock
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements/dev.lock $(VENV)/.runtime-installed
	$(PIP) install --require-hashes --no-deps -r requirements/dev.lock
	touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/claimvault init
	$(BIN)/claimvault demo seed --if-empty
	$(BIN)/claimvault serve

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test-only: $(VENV)/.dev-installed
	$(BIN)/pytest -n auto

test: lint test-only

lock: | $(BIN)/python
	$(PIP) install uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --universal --generate-hashes -q -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal --generate-hashes --no-emit-package setuptools -q -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
