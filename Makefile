# Tamis: `make serve` sets up and starts the service; `make test` sets up and runs every check.
# durable-rules 2.0.28 builds from source and imports on CPython 3.11 and 3.12 only.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test lint typecheck policies pytest serve proto foldtables schema clean

setup: $(STAMP)

$(STAMP): pyproject.toml engine/_lexscan.c engine/_words.c
	@test -n "$(PYTHON)" || { echo "Tamis needs CPython 3.11 or 3.12 (durable-rules does not import on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: lint typecheck policies pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy does not read pyproject's package-dir mapping: give it the installed layout as links.
TYPECHECK_TREE := build/typecheck/tamis
typecheck: setup
	@mkdir -p $(TYPECHECK_TREE)
	@ln -sfn $(CURDIR)/proto/tamis/__init__.py $(TYPECHECK_TREE)/__init__.py
	@ln -sfn $(CURDIR)/proto/tamis/v1 $(TYPECHECK_TREE)/v1
	@ln -sfn $(CURDIR)/engine $(TYPECHECK_TREE)/engine
	@ln -sfn $(CURDIR)/service $(TYPECHECK_TREE)/service
	$(BIN)/mypy

policies: setup
	$(BIN)/tamis check policies
	$(BIN)/tamis test policies --min-coverage 100

# One worker per core (at most four): the suite is mostly independent processes and schemas.
pytest: setup
	$(BIN)/pytest -q -n auto --maxprocesses 4

schema: setup
	$(BIN)/tamis schema --policies policies --out policies/schema

# The gRPC service on 127.0.0.1:50051 with the bundled policies (options: README, "Configuration").
serve: setup
	$(BIN)/tamis serve

# Regenerate the Python code of proto/tamis/v1 (messages, stubs, mypy stubs); commit the result.
proto: setup
	$(BIN)/python proto/generate.py
	$(BIN)/buf lint

# Regenerate engine/foldtables.py (lookalikes, ignorable characters, scripts) from the Unicode data
# the test dependencies ship; commit the result.
foldtables: setup
	$(BIN)/python -m tools.generate_foldtables

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
