# Backroom: `make run` serves the whole system; `make test` runs the whole suite.
#
# Dependencies: pyproject.toml gives each one a range; the lock files pin every package,
# transitive ones too, by version and hash. requirements-dev.txt (runtime and the dev extra)
# is what .venv (make run, test, lint, CI) installs; requirements.txt (runtime only) is what
# the Dockerfile installs. `make lock` recompiles both with pip-tools (in .venv-lock/) after
# pyproject.toml changes, keeping every pin that still fits; `make lock LOCK_ARGS=--upgrade`
# moves every pin to the newest release its range allows, `LOCK_ARGS="-P flask"` only one.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SOURCES := app workflows views jobs
LOCK_VENV := .venv-lock
PIP_TOOLS := pip-tools==7.7.0
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet \
	--generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
	--no-emit-trusted-host $(LOCK_ARGS)

.PHONY: run test lint format bench clean lock

$(STAMP): pyproject.toml requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

# The dev file first; the runtime file is then held to its pins (same versions in both).
lock:
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet '$(PIP_TOOLS)'
	$(PIP_COMPILE) --extra dev --output-file requirements-dev.txt pyproject.toml
	$(PIP_COMPILE) --constraint requirements-dev.txt --output-file requirements.txt pyproject.toml

run: $(STAMP)
	$(BIN)/backroom serve

test: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-branch --cov-report=term-missing:skip-covered \
		--cov-fail-under=90 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
