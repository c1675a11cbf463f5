# Arks: the two commands are `make run` and `make test`. Every target installs what it needs, idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
ARKS_CACHE ?= $(HOME)/.cache/arks
export ARKS_CACHE
UV := $(shell command -v uv 2>/dev/null || echo $(ARKS_CACHE)/uv/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: help deps gen run stop test lint fmt unit integration e2e clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(ARKS_CACHE)/uv/bin/uv:
	python3 -m venv $(ARKS_CACHE)/uv
	$(ARKS_CACHE)/uv/bin/pip install --quiet 'uv>=0.5'

$(STAMP): $(UV) pyproject.toml uv.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)
	$(UV) sync --all-packages --frozen
	@touch $@

uv.lock: $(UV) pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)
	$(UV) lock
	@touch $@

deps: $(STAMP) ## install the Python workspace into .venv

lint: $(STAMP) ## ruff and mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

run: $(STAMP) cluster-build ## start the local cluster, NATS and all services; apply the quickstart; show it Running
	$(UV) run --frozen python tools/dev/run.py up

stop: $(STAMP) ## stop everything `make run` started
	$(UV) run --frozen python tools/dev/run.py down

gen: $(STAMP) ## regenerate the CRDs, the AsyncAPI document, and the monitoring chart's rules and dashboards
	$(UV) run --frozen arks-gen
	$(UV) run --frozen arks-monitoring-gen

fmt: $(STAMP) ## format the code
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

unit: $(STAMP) ## pure-logic tests only
	$(UV) run --frozen pytest tests/unit -q

integration: $(STAMP) ## tests on a real nats-server
	$(UV) run --frozen pytest tests/integration -q

e2e: $(STAMP) cluster-build ## tests on the real local cluster (builds it once)
	$(UV) run --frozen pytest tests/e2e -q

test: $(STAMP) cluster-build ## install what is missing and run every test
	$(UV) run --frozen pytest -q -p no:cacheprovider

.PHONY: charts
charts: $(STAMP) cluster-build ## helm lint and helm template every chart in deploy/charts (helm as built for the local cluster)
	@helm=$$($(UV) run --frozen python -c 'from arks_localcluster.cluster import Binaries; print(Binaries.resolve().helm)'); \
	for chart in $(dir $(wildcard deploy/charts/*/Chart.yaml)); do \
	  $$helm lint --strict $$chart && $$helm template arks $$chart > /dev/null || exit 1; \
	done; echo "charts: lint and template passed"

clean: ## remove the virtualenv (the binary cache in $(ARKS_CACHE) stays)
	rm -rf $(VENV)

-include tools/localcluster/cluster.mk

.PHONY: runtime-check
runtime-check: $(STAMP) ## parse every rendered launch command with the runtime release its profile names (installs each; not in `make test`)
	UV=$(UV) $(UV) run --frozen python tools/runtime_check/check.py $(RUNTIME_CHECK_ARGS)

.PHONY: images image-test
images: $(STAMP) ## build the five service images, the downloader's and the endpoint router's without Docker (buildah; installs what is missing)
	UV=$(UV) $(UV) run --frozen python tools/images/build.py $(IMAGES_ARGS)

image-test: images cluster-build ## run each image against a real nats-server and the local cluster: /readyz, SIGTERM (CI runs it)
	$(UV) run --frozen pytest tests/images -q -p no:cacheprovider
