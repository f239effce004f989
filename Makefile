# Atoms Realtime: `make run` serves the demo canvas; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ATOMS := $(VENV)/bin/atoms
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= ./atoms-data

.PHONY: install system-deps python-deps js-deps run test test-python test-js test-e2e lint schemas schemas-check bench clean

install: system-deps python-deps js-deps

# Debian packages the real components need (redis-server, chromium); installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/bin/python:
	python3 -m venv $(VENV)

python-deps: $(VENV)/bin/python
	$(PY) -m pip install -q -e 'atoms-core[dev]'

js-deps:
	@if [ -f atoms-ui/package.json ]; then cd atoms-ui && npm ci --no-audit --no-fund --loglevel=error && npm run build; fi
	@if [ -f atoms-app/package.json ]; then cd atoms-app && npm ci --no-audit --no-fund --loglevel=error && npm run build; fi

run: install
	$(ATOMS) serve --demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: install lint schemas-check test-python test-js test-e2e

test-python:
	cd atoms-core && ../$(PY) -m pytest -q -n 2 -p no:cacheprovider

test-js:
	@if [ -f atoms-ui/package.json ]; then cd atoms-ui && npm test; fi

test-e2e:
	@if [ -f atoms-app/package.json ]; then cd atoms-app && npm run e2e; fi

lint:
	$(VENV)/bin/ruff check atoms-core
	cd atoms-core && ../$(VENV)/bin/mypy
	@if [ -f atoms-ui/package.json ]; then cd atoms-ui && npm run lint; fi
	@if [ -f atoms-app/package.json ]; then cd atoms-app && npm run lint; fi

schemas:
	$(PY) -m atoms_core.schemas docs/schemas

schemas-check:
	$(PY) -m atoms_core.schemas docs/schemas --check

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) atoms-ui/node_modules atoms-ui/dist atoms-app/node_modules atoms-app/dist
