# The README's promise: on a machine with only Python >= 3.11 and make,
# `make run` and `make test` build .venv/ from uv.lock on first use (and again
# whenever the lock or pyproject changes), then run.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .uv/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint env lock clean

run: $(SYNCED)
	$(VENV)/bin/perflab run --scale quick

test: lint
	$(VENV)/bin/pytest

lint: $(SYNCED)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

env: $(SYNCED)

# Bytecode is compiled at install time, as pip does: this environment may set
# PYTHONDONTWRITEBYTECODE, and every start-up would then recompile from source.

# uv itself lives in its own small venv so `uv sync` never removes it.
$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q src
	touch $@

# After editing dependencies in pyproject.toml: `make lock`, then commit uv.lock.
lock: | $(UV)
	$(UV) lock --python $(PYTHON)

clean:
	rm -rf $(VENV) .uv perflab-report
