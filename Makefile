# 碳管 Tanguan — `make run` serves the demo, `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

DATA_DIR := $(or $(TANGUAN_DATA_DIR),var)

.PHONY: run demo-reset test lint install install-test bench clean

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

# The demo keeps its installation key in the data dir (docs/adr/0017); elsewhere set TANGUAN_SECRET_KEY.
run demo-reset: export TANGUAN_DEMO ?= 1

run: install
	$(BIN)/tanguan db upgrade
	$(BIN)/tanguan demo --if-empty
	$(BIN)/tanguan serve --with-scheduler --host $(HOST) --port $(PORT)

# Deletes the demo's data dir (database, evidence files, key) and seeds it again; `make run` serves it.
demo-reset: install
	@if [ -n "$$TANGUAN_DATABASE_URL" ]; then echo "TANGUAN_DATABASE_URL is set: not a demo, nothing deleted" >&2; exit 2; fi
	rm -rf $(DATA_DIR)
	$(BIN)/tanguan demo

test: install-test
	$(BIN)/pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check engine web tests bench
	$(BIN)/mypy

bench: install-test
	for name in audit engine calc http emissions signing scheduler record_import review; do $(BIN)/python -m bench.$$name || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
