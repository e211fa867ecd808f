SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 3000
export DAGSTER_HOME ?= $(CURDIR)/.amc_reports/dagster_home
# `make dev`, `make test` and the benches run on the local stand-ins (the AMC sandbox, and the
# embedded PostgreSQL unless AMC_REPORTS_DATABASE_URL is set). `AMC_REPORTS_ENV=production make dev`
# runs the UI against live AMC and your Postgres instead.
dev: export AMC_REPORTS_ENV ?= local
test bench: export AMC_REPORTS_ENV = local

.PHONY: dev test lint format install bench clean-state stop-local

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml setup.py
	$(PY) -m pip install -q -e '.[dev,local]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	mkdir -p "$(DAGSTER_HOME)"
	cp deploy/dev/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(VENV)/bin/amc-reports init-pools
	# `dagster dev` is superseded by `dg dev` (dagster-dg-cli, not a dependency): used knowingly.
	$(PY) -W 'ignore:Function `dev_command` is superseded' -m dagster dev -h $(HOST) -p $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/sandbox_load.py

stop-local: $(STAMP)
	$(VENV)/bin/amc-reports stop-local

clean-state: stop-local
	rm -rf .amc_reports

# Browser tests: Playwright drives Debian's chromium (never a Playwright browser download) against
# a live stack; screenshots in $(BROWSER_ARTIFACTS). Installs chromium with apt-get when missing.
# `make test-browser README_SCREENS=docs/screens` also retakes the screens the README shows.
BROWSER_STAMP := $(VENV)/.browser-installed-$(shell cat pyproject.toml setup.py | sha1sum | cut -c1-12)
CHROMIUM ?= /usr/bin/chromium
BROWSER_ARTIFACTS ?= $(CURDIR)/test-artifacts/browser
README_SCREENS ?=

.PHONY: test-browser

$(BROWSER_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,local,browser]'
	rm -f $(VENV)/.browser-installed-*
	touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP)
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "test-browser: $(CHROMIUM) is missing. Install Debian's chromium as root" \
	      "(apt-get install chromium), or set CHROMIUM=/path/to/chromium." >&2; \
	    exit 1; \
	  fi; \
	  echo "test-browser: installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	rm -rf "$(BROWSER_ARTIFACTS)"
	mkdir -p "$(BROWSER_ARTIFACTS)"
	AMC_REPORTS_BROWSER_TESTS=1 AMC_REPORTS_BROWSER_ARTIFACTS="$(BROWSER_ARTIFACTS)" \
	  AMC_REPORTS_README_SCREENS="$(README_SCREENS)" \
	  AMC_REPORTS_CHROMIUM="$(CHROMIUM)" $(VENV)/bin/pytest -q amc_reports_tests/browser_tests

# The Compose deployment, really run (amc_reports_tests/compose_tests): its own Docker daemon (own
# socket and data root, no bridge), a debootstrapped Debian base cached in $(DEPLOY_CACHE), the
# image built on it, every container on the host network, production against the sandbox on the
# host. Installs Debian's docker.io, docker-compose and debootstrap with apt-get when missing
# (needs root, as dockerd does). Prints how long it took.
DEPLOY_CACHE ?= $(CURDIR)/.amc_reports/test-deploy
DEPLOY_ARTIFACTS ?= $(CURDIR)/test-artifacts/deploy

.PHONY: test-deploy

test-deploy: $(STAMP)
	@started=$$(date +%s); \
	if [ "$$(id -u)" -ne 0 ]; then \
	  echo "test-deploy: needs root (it starts its own dockerd and runs debootstrap)" >&2; exit 1; \
	fi; \
	missing=""; \
	for pair in dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap; do \
	  command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "test-deploy: installing Debian's$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
	    || exit 1; \
	fi; \
	AMC_REPORTS_DEPLOY_TESTS=1 AMC_REPORTS_DEPLOY_CACHE="$(DEPLOY_CACHE)" \
	  AMC_REPORTS_DEPLOY_ARTIFACTS="$(DEPLOY_ARTIFACTS)" \
	  $(VENV)/bin/pytest -q -s -p no:cacheprovider amc_reports_tests/compose_tests; rc=$$?; \
	echo "test-deploy: $$(( $$(date +%s) - started )) s"; exit $$rc
