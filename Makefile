# NeuroScale Portal. `make run` starts the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint install install-dev browser-deps node-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet ".[dev,kserve]"
	touch $@

install: $(VENV)/.installed

# Debian's chromium for browser tests (never a downloaded browser build).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }

# Test-only JavaScript: axe-core for accessibility checks, Backstage's catalog client.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: node_modules/.installed

# With no cluster configured (PORTAL_KUBECONFIG unset), the sandbox process stands in for one
# (Kubernetes API, ArgoCD, KServe, Kyverno admission and OpenCost on SANDBOX_PORT) and its
# kubeconfig, in the data directory, is the one web, worker and beat read; the shared KServe
# model server answers the sandbox's endpoints on MODEL_SERVER_PORT.
SANDBOX_PORT ?= 8766
MODEL_SERVER_PORT ?= 8767
SANDBOX_KUBECONFIG := $(abspath $(or $(PORTAL_DATA_DIR),var))/sandbox.kubeconfig

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	@echo ""
ifeq ($(PORTAL_KUBECONFIG),)
	@echo "NeuroScale Portal: http://127.0.0.1:$(PORT)/  (Ctrl+C stops web, worker, beat and the sandbox cluster)"
	@echo ""
	PORTAL_BIND=127.0.0.1:$(PORT) PORTAL_KUBECONFIG=$(SANDBOX_KUBECONFIG) \
	  PORTAL_SANDBOX_KUBECONFIG=$(SANDBOX_KUBECONFIG) PORTAL_SANDBOX_PORT=$(SANDBOX_PORT) \
	  PORTAL_MODEL_SERVER_PORT=$(MODEL_SERVER_PORT) PORTAL_OPENCOST_URL=$${PORTAL_OPENCOST_URL:-http://127.0.0.1:$(SANDBOX_PORT)} \
	  $(BIN)/honcho start -f Procfile
else
	@echo "NeuroScale Portal: http://127.0.0.1:$(PORT)/  (Ctrl+C stops web, worker and beat)"
	@echo ""
	PORTAL_BIND=127.0.0.1:$(PORT) $(BIN)/honcho start -f Procfile web worker beat
endif

test: install browser-deps node-deps
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf var/test $(VENV) node_modules
