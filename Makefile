SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 3000
export DAGSTER_HOME ?= $(CURDIR)/.amc_reports/dagster_home

.PHONY: dev test lint format install bench clean-state

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml setup.py
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	mkdir -p "$(DAGSTER_HOME)"
	cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(VENV)/bin/amc-reports init-pools
	$(VENV)/bin/dagster dev -h $(HOST) -p $(PORT)

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

clean-state:
	rm -rf .amc_reports
