# 碳管 Tanguan — `make run` serves the demo, `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Installs exactly what CI tested: constraints.txt pins every transitive dependency.
$(VENV)/.installed-runtime: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,bench]'
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/tanguan db upgrade
	$(BIN)/tanguan demo --if-empty
	$(BIN)/tanguan serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check engine web tests bench
	$(BIN)/mypy

bench: install-test
	for name in audit engine calc http emissions signing; do $(BIN)/python -m bench.$$name || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
