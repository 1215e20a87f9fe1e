# tradeforge: the two commands a newcomer needs.
#   make run   - set everything up and start the server on embedded defaults
#   make test  - install test dependencies, lint, type-check and run the whole suite

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint typecheck imports pytest services bench clean help

help:
	@echo "make run   - install, migrate and serve on http://$(HOST):$(PORT)"
	@echo "make test  - lint, type checks, import contracts and the full test suite"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradeforge needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/tradeforge db upgrade
	$(BIN)/tradeforge serve --host $(HOST) --port $(PORT) --no-migrate

services:
	@bash scripts/ensure-services.sh

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

imports: install-dev
	$(BIN)/lint-imports

pytest: install-dev services
	$(BIN)/pytest

test: lint typecheck imports pytest

bench: install
	$(BIN)/python benchmarks/bench_candles.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
