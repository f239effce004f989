# Atoms Realtime: `make run` serves the demo canvas; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ATOMS := $(VENV)/bin/atoms
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= ./atoms-data
# `make dist` writes the atoms-core wheel and sdist here.
DIST_DIR ?= atoms-core/dist
# `make install` is incremental: each step reruns only when its target is older than its inputs.
UI_SOURCES := $(shell find atoms-ui/src atoms-ui/scripts -type f 2>/dev/null) atoms-ui/tsconfig.json atoms-ui/tsconfig.build.json
APP_SOURCES := $(shell find atoms-app/src atoms-app/public -type f 2>/dev/null) atoms-app/index.html \
  atoms-app/vite.config.ts atoms-app/tsconfig.json

.PHONY: install system-deps python-deps js-deps run dist test test-python test-js test-e2e lint schemas schemas-check \
  bench clean

install: system-deps python-deps js-deps

# Debian packages the real components need (redis-server, chromium, nginx, openssl, systemd-analyze);
# installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v nginx >/dev/null || missing="$$missing nginx-light"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# Each step's target lives beside what it makes (the venv, node_modules, dist), so deleting those
# reruns the step; the app is rebuilt when its own or atoms-ui's sources change.
PY_STAMP := $(VENV)/.atoms-deps
UI_DEPS := atoms-ui/node_modules/.atoms-deps
UI_BUILD := atoms-ui/dist/index.js
APP_DEPS := atoms-app/node_modules/.atoms-deps
APP_BUILD := atoms-app/dist/index.html

python-deps: $(PY_STAMP)
js-deps: $(UI_BUILD) $(APP_BUILD)

$(PY_STAMP): atoms-core/pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e 'atoms-core[dev]'
	@touch $@

$(UI_DEPS): atoms-ui/package.json atoms-ui/package-lock.json
	cd atoms-ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(UI_BUILD): $(UI_DEPS) $(UI_SOURCES)
	cd atoms-ui && npm run build
	@touch $@

$(APP_DEPS): atoms-app/package.json atoms-app/package-lock.json
	cd atoms-app && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(APP_BUILD): $(APP_DEPS) $(APP_SOURCES) $(UI_SOURCES) | $(UI_BUILD)
	cd atoms-app && npm run build
	@touch $@

run: install
	@$(ATOMS) serve --demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# The atoms-core wheel and sdist, carrying the built canvas: built from a temporary copy of atoms-core
# with atoms-app/dist as its demo_app, so the source tree (which the editable install and running
# servers use) is never touched, and two builds at once do not meet.
dist: $(PY_STAMP) $(APP_BUILD)
	@stage=$$(mktemp -d) && trap 'rm -rf "$$stage"' EXIT && \
	  tar -C atoms-core -ch --exclude=./dist --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ \
	    --exclude=.hypothesis --exclude=.pytest_cache --exclude=./src/atoms_core/demo_app . | tar -C "$$stage" -x && \
	  cp -r atoms-app/dist "$$stage/src/atoms_core/demo_app" && \
	  $(PY) -m build --no-isolation --outdir $(abspath $(DIST_DIR)) "$$stage" >/dev/null && \
	  ls $(abspath $(DIST_DIR))/atoms_core-*

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
	cd atoms-core && ../$(VENV)/bin/lint-imports
	@if [ -f atoms-ui/package.json ]; then cd atoms-ui && npm run lint; fi
	@if [ -f atoms-app/package.json ]; then cd atoms-app && npm run lint; fi

schemas:
	$(PY) -m atoms_core.app.schemas docs/schemas

schemas-check:
	$(PY) -m atoms_core.app.schemas docs/schemas --check

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) atoms-ui/node_modules atoms-ui/dist atoms-app/node_modules atoms-app/dist atoms-core/dist
