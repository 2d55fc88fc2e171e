# The two commands of the README, and a few helpers. Everything installs itself:
# a virtual environment in .venv, the Python packages from PyPI, and (on first use) the
# Apache Kafka broker from Maven Central into ~/.cache/mchub.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the hub's main job on the embedded default (local broker, sample feeds, summary)
demo: $(STAMP)
	$(BIN)/mchub demo

## test: every tier (unit, integration on a real broker, slow) plus ruff and mypy
test: $(STAMP) lint
	$(BIN)/python -m pytest

## test-fast: the unit tier only (no broker)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m unit -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	-$(BIN)/mchub kafka down
	-$(BIN)/mchub schema-registry down
	rm -rf var
