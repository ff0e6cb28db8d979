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

.PHONY: run test lint env lock clean references docs

# A kept run: results/<date>-<host>-<commit>/ (results.json, summary.md, index.html),
# then the README's and docs' generated tables refreshed from it.
run: references $(SYNCED)
	$(VENV)/bin/perflab run --scale quick --keep
	$(VENV)/bin/perflab report --docs

# Every generated region of README.md and docs/*.md, from the newest kept results
# (or the directory a region names); tests/unit/test_generated_docs.py fails until then.
docs: $(SYNCED)
	$(VENV)/bin/perflab report --docs

# The gateway's peers are Debian packages, not Python ones: nginx (the reference) and
# wrk (the load generator). Installed when we may (root with apt); else, or if that
# fails, the run goes on and its table marks them "not available".
REFERENCE_TOOLS := nginx wrk
references:
	@missing=""; for tool in $(REFERENCE_TOOLS); do \
		command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (apt) for the gateway's references"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null) \
		|| echo "could not install$$missing: those references will say not available"; \
	else \
		echo "no$$missing (apt install$$missing): those references will say not available"; \
	fi

test: lint
	$(VENV)/bin/pytest

lint: $(SYNCED)
	$(VENV)/bin/ruff check src tests benchmarks examples
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
