# Two commands do everything: `make demo` and `make test`. Both set up first (scripts/setup.sh).
VENV := .venv
BIN := $(VENV)/bin
PY_DIRS := protocol edge server provisioning support cli harness tests bench

.PHONY: setup demo test test-fast lint format bench clean

setup:
	@scripts/setup.sh

demo: setup
	$(BIN)/sohoa demo

## Everything CI checks: lint, format, types, the whole test suite (slow tests included), and no
## citizen name or ID number in the run's logs (every record, DEBUG included). On two
## pytest-xdist workers (one log file per worker; TEST_WORKERS=0 for one process).
TEST_LOG := build/test-run.log
TEST_WORKERS ?= 2

test: setup lint
	@mkdir -p $(dir $(TEST_LOG))
	@rm -f $(basename $(TEST_LOG))*.log
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=30 --log-file=$(TEST_LOG) --log-file-level=DEBUG
	$(BIN)/python -m tests.logcheck $(basename $(TEST_LOG))*.log

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
