# Two commands do everything: `make demo` and `make test`. Both set up first (scripts/setup.sh).
VENV := .venv
BIN := $(VENV)/bin
PY_DIRS := protocol edge server provisioning support cli harness tests bench

.PHONY: setup demo test test-fast lint format bench clean

setup:
	@scripts/setup.sh

demo: setup
	$(BIN)/sohoa demo

## Everything CI checks: lint, format, types, the whole test suite (slow tests included).
test: setup lint
	$(BIN)/python -m pytest -q

## The quick loop while coding: lint and the tests not marked slow.
test-fast: setup lint
	$(BIN)/python -m pytest -q -m "not slow"

lint:
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/mypy $(PY_DIRS)

format: setup
	$(BIN)/ruff check --fix $(PY_DIRS)
	$(BIN)/ruff format $(PY_DIRS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
