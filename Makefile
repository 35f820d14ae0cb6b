# The two commands of the README: `make run` (the main job) and `make test` (the suite).
# Each installs what it needs: the virtual environment, Python packages, the broker jars.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install prometheus-tools run test lint schemas bench bench-suite clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Latitude needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $@

# Prometheus (with promtool) and Alertmanager (with amtool) from Debian's packages.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
prometheus-tools:
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager; }

install: $(BIN)/.installed prometheus-tools
	bash deploy/kafka/kafka.sh fetch

run: install
	$(BIN)/latitude run

lint: install
	$(BIN)/ruff check .
	$(BIN)/python -m schemas.jsonschema --check

test: lint
	$(BIN)/python -m pytest

schemas: install
	$(BIN)/python -m schemas.jsonschema

bench: install
	$(BIN)/python bench/bench_engine.py

# The suite against a real broker (README, Benchmarks); EVENTS=20000 for a smoke run.
EVENTS ?= 1000000
bench-suite: install
	$(BIN)/python -m pip install --quiet --editable '.[test,bench]'
	$(BIN)/python -m bench --events $(EVENTS)

clean:
	rm -rf $(VENV) .cache data
